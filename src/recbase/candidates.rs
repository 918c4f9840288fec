//! The rows `recbase zero-shot` scores: `(user, history, candidates, labels)`, either read from a
//! candidates file (the domain folder's `candidates.jsonl` format) or built RecBench-style from
//! the domain's sequences (the last item as the positive plus sampled negatives the user never
//! touched, seeded: `DomainFolder::make_candidates`).
//!
//! Bad input: a line that does not parse, a row whose candidates and labels differ in length,
//! labels that are not 0/1 with at least one 1, or an item the domain does not have is an error
//! naming the file and line; a row with an empty history cannot be scored (no context) and is a
//! reported [`Skip`] naming its line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::data::DataError;
use crate::data::domain::{Candidate, DomainFolder, read_jsonl};

use super::{BOS, RecBaseError};

/// One evaluation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalRow {
    /// The row's line in the candidates file (1-based); `None` for generated rows.
    pub line: Option<usize>,
    pub user_id: String,
    pub history: Vec<String>,
    pub candidates: Vec<String>,
    pub labels: Vec<u8>,
}

impl From<Candidate> for EvalRow {
    fn from(c: Candidate) -> Self {
        Self { line: None, user_id: c.user_id, history: c.history, candidates: c.candidates, labels: c.labels }
    }
}

/// A row left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skip {
    pub line: usize,
    pub user_id: String,
    pub reason: String,
}

/// Where the rows came from (written into `report.json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum CandidateSource {
    /// Read from a candidates file.
    File { path: PathBuf },
    /// Built from the domain's sequences: the last item of each user with at least two items,
    /// plus `negatives` items the user never touched, sampled uniformly with `seed`.
    Generated { negatives: usize, seed: u64 },
}

/// Reads a candidates file and checks every row against the domain's items (`known`).
pub fn read_candidates(path: &Path, known: impl Fn(&str) -> bool) -> Result<(Vec<EvalRow>, Vec<Skip>), RecBaseError> {
    let lines: Vec<(usize, Candidate)> = read_jsonl(path)?;
    let mut rows = Vec::with_capacity(lines.len());
    let mut skipped = Vec::new();
    for (line, c) in lines {
        check_row(path, line, &c, &known)?;
        if c.history.is_empty() {
            skipped.push(Skip { line, user_id: c.user_id, reason: "empty history".into() });
            continue;
        }
        rows.push(EvalRow { line: Some(line), ..EvalRow::from(c) });
    }
    if rows.is_empty() {
        return Err(RecBaseError::Empty { what: format!("{}: no row with a history to score", path.display()) });
    }
    Ok((rows, skipped))
}

/// RecBench-style rows built from `folder`'s sequences (users with fewer than two items, or who
/// touched too much of the catalogue to leave `negatives` untouched items, have none).
pub fn generate_candidates(folder: &DomainFolder, negatives: usize, seed: u64) -> Result<Vec<EvalRow>, RecBaseError> {
    let rows: Vec<EvalRow> = folder.make_candidates(negatives, seed).into_iter().map(EvalRow::from).collect();
    if rows.is_empty() {
        let what = format!("no user has two items and {negatives} untouched items to sample negatives from");
        return Err(RecBaseError::Empty { what });
    }
    Ok(rows)
}

/// A history as decoder tokens: `BOS` + the tokens of its last `max_items` items (0 = all).
/// An item missing from `tokens` is an error naming it.
pub fn history_tokens(history: &[String], tokens: &HashMap<String, Vec<u32>>, max_items: usize) -> Result<Vec<u32>, RecBaseError> {
    let keep = if max_items == 0 { history.len() } else { history.len().min(max_items) };
    let mut out = vec![BOS];
    for id in &history[history.len() - keep..] {
        out.extend_from_slice(item_tokens(id, tokens)?);
    }
    Ok(out)
}

/// One item's tokens, or an error naming the item.
pub fn item_tokens<'a>(id: &str, tokens: &'a HashMap<String, Vec<u32>>) -> Result<&'a [u32], RecBaseError> {
    tokens.get(id).map(Vec::as_slice).ok_or_else(|| RecBaseError::Unencodable {
        item_id: id.to_string(),
        message: "the item tokenizer gave it no ids".into(),
    })
}

fn check_row(path: &Path, line: usize, c: &Candidate, known: &impl Fn(&str) -> bool) -> Result<(), DataError> {
    if c.candidates.len() != c.labels.len() {
        let message = format!("user `{}`: {} candidates but {} labels", c.user_id, c.candidates.len(), c.labels.len());
        return Err(DataError::parse(path, line, message));
    }
    if c.labels.iter().any(|&l| l > 1) || !c.labels.contains(&1) {
        return Err(DataError::parse(path, line, format!("user `{}`: labels must be 0 or 1 with at least one 1", c.user_id)));
    }
    match c.history.iter().chain(&c.candidates).find(|id| !known(id)) {
        Some(id) => Err(DataError::UnknownItem { path: path.to_path_buf(), line, item_id: id.clone() }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rows_name_their_line_and_empty_histories_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let known = |id: &str| ["a", "b", "c"].contains(&id);
        let good = r#"{"user_id":"u1","history":["a"],"candidates":["b","c"],"labels":[1,0]}"#;
        let empty = r#"{"user_id":"u2","history":[],"candidates":["b","c"],"labels":[0,1]}"#;
        std::fs::write(&path, format!("{good}\n\n{empty}\n")).unwrap();
        let (rows, skipped) = read_candidates(&path, known).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, Some(1));
        assert_eq!(skipped, vec![Skip { line: 3, user_id: "u2".into(), reason: "empty history".into() }]);

        let short = r#"{"user_id":"u3","history":["a"],"candidates":["b","c"],"labels":[1]}"#;
        std::fs::write(&path, format!("{good}\n{short}\n")).unwrap();
        let err = read_candidates(&path, known).unwrap_err().to_string();
        assert!(err.contains("c.jsonl:2") && err.contains("2 candidates but 1 labels"), "{err}");

        let unknown = r#"{"user_id":"u4","history":["zz"],"candidates":["b"],"labels":[1]}"#;
        std::fs::write(&path, format!("{unknown}\n")).unwrap();
        let err = read_candidates(&path, known).unwrap_err().to_string();
        assert!(err.contains("c.jsonl:1") && err.contains("zz"), "{err}");

        std::fs::write(&path, format!("{empty}\n")).unwrap();
        assert!(matches!(read_candidates(&path, known), Err(RecBaseError::Empty { .. })));
    }
}
