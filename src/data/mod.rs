//! Readers of the public recommendation datasets in their original formats (issue 5; DESIGN §1
//! `data/`). One file per source, each returning plain Rust structs (no backend); large files are
//! read line by line. Every error is a [`DataError`] naming the file and, where there is one, the
//! 1-based line. [`domain`] writes and validates the RecBase domain folder built from them.

pub mod amazon_google;
pub mod amazon_lcrec;
pub mod amazon_minionerec;
pub mod amazon_qa;
pub mod amazon_reviews;
pub mod domain;
pub mod export;
pub mod goodbooks;
pub mod lastfm;
pub mod movielens;
pub mod mudoco;
pub mod pylit;
pub mod steam;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Everything that can go wrong reading a dataset. Messages name the file (and the line).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Parse { path: PathBuf, line: usize, message: String },
    #[error("{}: missing column `{column}`", path.display())]
    MissingColumn { path: PathBuf, column: String },
    #[error("{}:{line}: item `{item_id}` has no item text", path.display())]
    UnknownItem { path: PathBuf, line: usize, item_id: String },
    /// A RecFound builder found nothing to build a task from (an empty source, or every record
    /// skipped); `task` is the released task name.
    #[error("task `{task}`: empty task pool, no row could be built ({reason})")]
    EmptyTask { task: &'static str, reason: String },
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn parse(path: &Path, line: usize, message: impl Into<String>) -> Self {
        Self::Parse { path: path.to_path_buf(), line, message: message.into() }
    }
}

/// How a text file's bytes map to characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// ISO-8859-1: byte `b` is the character `U+00bb`, so decoding cannot fail.
    Latin1,
}

pub(crate) fn open(path: &Path) -> Result<BufReader<File>, DataError> {
    File::open(path).map(BufReader::new).map_err(|e| DataError::io(path, e))
}

/// Opens a gzip file as a buffered, decompressing reader (concatenated members read as one).
pub(crate) fn open_gz(path: &Path) -> Result<BufReader<flate2::read::MultiGzDecoder<File>>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    Ok(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
}

/// Calls `f(line_number, line)` for every line of `reader` (1-based, without the `\n` or `\r\n`),
/// reusing one buffer. `path` only labels errors.
pub(crate) fn for_each_line<R: BufRead>(
    path: &Path,
    mut reader: R,
    encoding: Encoding,
    mut f: impl FnMut(usize, &str) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut bytes = Vec::new();
    let mut text = String::new();
    let mut line = 0;
    loop {
        bytes.clear();
        if reader.read_until(b'\n', &mut bytes).map_err(|e| DataError::io(path, e))? == 0 {
            return Ok(());
        }
        line += 1;
        let end = bytes.iter().rposition(|&b| b != b'\n' && b != b'\r').map_or(0, |i| i + 1);
        let raw = &bytes[..end];
        let decoded = match encoding {
            Encoding::Utf8 => {
                std::str::from_utf8(raw).map_err(|e| DataError::parse(path, line, format!("invalid UTF-8: {e}")))?
            }
            Encoding::Latin1 => {
                text.clear();
                text.extend(raw.iter().map(|&b| char::from(b)));
                text.as_str()
            }
        };
        f(line, decoded)?;
    }
}

/// A CSV file with a header row, read record by record; columns are looked up by name.
pub(crate) struct CsvFile<R: Read> {
    path: PathBuf,
    reader: csv::Reader<BufReader<R>>,
    headers: csv::StringRecord,
    /// Added to the csv crate's line numbers: 1 for CRLF files (see [`CsvFile::from_reader`]).
    line_offset: usize,
}

impl CsvFile<File> {
    pub(crate) fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        Self::from_reader(path, file)
    }
}

impl<R: Read> CsvFile<R> {
    pub(crate) fn from_reader(path: &Path, inner: R) -> Result<Self, DataError> {
        // csv 1.x starts a record's position after the `\r` of a CRLF, before its `\n`, so its
        // line numbers are one short in CRLF files. Peek at the header's line end to correct that.
        let mut inner = BufReader::new(inner);
        let head = inner.fill_buf().map_err(|e| DataError::io(path, e))?;
        let line_offset =
            head.iter().position(|&b| b == b'\n').map_or(0, |i| usize::from(i > 0 && head[i - 1] == b'\r'));
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(inner);
        let headers = reader.headers().map_err(|e| csv_error(path, &e, 0))?.clone();
        Ok(Self { path: path.to_path_buf(), reader, headers, line_offset })
    }

    /// Index of the column called `name`, or [`DataError::MissingColumn`].
    pub(crate) fn column(&self, name: &str) -> Result<usize, DataError> {
        self.headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::MissingColumn { path: self.path.clone(), column: name.to_string() })
    }

    /// Like [`Self::column`], but a missing column is `None`.
    pub(crate) fn optional_column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Calls `f(row)` for every record after the header.
    pub(crate) fn for_each(
        &mut self,
        mut f: impl FnMut(&CsvRow<'_>) -> Result<(), DataError>,
    ) -> Result<(), DataError> {
        let mut record = csv::StringRecord::new();
        loop {
            match self.reader.read_record(&mut record) {
                Ok(false) => return Ok(()),
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line() as usize + self.line_offset);
                    f(&CsvRow { path: &self.path, line, record: &record })?;
                }
                Err(e) => return Err(csv_error(&self.path, &e, self.line_offset)),
            }
        }
    }
}

/// One CSV record with the file and line it came from, for error messages.
pub(crate) struct CsvRow<'a> {
    pub(crate) path: &'a Path,
    pub(crate) line: usize,
    record: &'a csv::StringRecord,
}

impl CsvRow<'_> {
    /// The raw text of column `index` (from [`CsvFile::column`]).
    pub(crate) fn get(&self, index: usize) -> Result<&str, DataError> {
        self.record
            .get(index)
            .ok_or_else(|| self.error(format!("expected at least {} fields, found {}", index + 1, self.record.len())))
    }

    /// Column `index` parsed as `T`; `name` labels the error.
    pub(crate) fn parse<T: FromStr>(&self, index: usize, name: &str) -> Result<T, DataError>
    where
        T::Err: std::fmt::Display,
    {
        parse_field(self.path, self.line, name, self.get(index)?)
    }

    /// Column `index` parsed as `T`, or `None` when the field is empty.
    pub(crate) fn parse_optional<T: FromStr>(&self, index: usize, name: &str) -> Result<Option<T>, DataError>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.get(index)?;
        if text.trim().is_empty() { Ok(None) } else { parse_field(self.path, self.line, name, text).map(Some) }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> DataError {
        DataError::parse(self.path, self.line, message)
    }
}

/// Parses one field, naming the file, line, field and text on failure.
pub(crate) fn parse_field<T: FromStr>(path: &Path, line: usize, name: &str, text: &str) -> Result<T, DataError>
where
    T::Err: std::fmt::Display,
{
    text.trim().parse().map_err(|e| DataError::parse(path, line, format!("field `{name}` = {text:?}: {e}")))
}

fn csv_error(path: &Path, e: &csv::Error, line_offset: usize) -> DataError {
    let line = e.position().map_or(0, |p| p.line() as usize + line_offset);
    DataError::parse(path, line, format!("malformed CSV: {e}"))
}

/// Reads a whole JSON document, reporting the line of a syntax or type error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DataError> {
    serde_json::from_reader(open(path)?).map_err(|e| json_error(path, 0, &e))
}

/// A serde_json error as a [`DataError`]; `line` is the file line for one-document-per-line
/// formats (0: the error's own line within a whole-file document).
pub(crate) fn json_error(path: &Path, line: usize, e: &serde_json::Error) -> DataError {
    if e.is_io() {
        return DataError::io(path, std::io::Error::other(e.to_string()));
    }
    if line == 0 {
        DataError::parse(path, e.line(), format!("malformed JSON: {e}"))
    } else {
        DataError::parse(path, line, format!("malformed JSON: {e}"))
    }
}

/// Splits a tab-separated line into exactly `n` fields.
pub(crate) fn split_tabs<'a>(path: &Path, line: usize, text: &'a str, n: usize) -> Result<Vec<&'a str>, DataError> {
    let fields: Vec<&str> = text.split('\t').collect();
    if fields.len() != n {
        return Err(DataError::parse(path, line, format!("expected {n} tab-separated fields, found {}", fields.len())));
    }
    Ok(fields)
}

/// Sort key that puts decimal ids in numeric order ("2" before "10"), other strings after them.
pub(crate) fn id_order(id: &str) -> (u8, u64, &str) {
    match id.parse::<u64>() {
        Ok(n) => (0, n, id),
        Err(_) => (1, 0, id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8], encoding: Encoding) -> Result<Vec<(usize, String)>, DataError> {
        let mut out = Vec::new();
        for_each_line(Path::new("f.dat"), bytes, encoding, |n, text| {
            out.push((n, text.to_string()));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn lines_drop_crlf_and_decode_latin1() {
        let got = lines(b"a\tb\r\n\r\nc", Encoding::Utf8).unwrap();
        assert_eq!(got, [(1, "a\tb".to_string()), (2, String::new()), (3, "c".to_string())]);
        // 0xE1 is "á" in Latin-1 and an invalid lone byte in UTF-8.
        assert_eq!(lines(b"x\ntropic\xe1lia\n", Encoding::Latin1).unwrap()[1].1, "tropicália");
        let err = lines(b"x\ntropic\xe1lia\n", Encoding::Utf8).unwrap_err().to_string();
        assert!(err.starts_with("f.dat:2: invalid UTF-8"), "{err}");
    }

    #[test]
    fn ids_sort_numerically_first() {
        let mut ids = ["10", "b", "2", "a", "0"];
        ids.sort_by_key(|id| id_order(id));
        assert_eq!(ids, ["0", "2", "10", "a", "b"]);
    }
}
