//! goodbooks-10k (Zajac 2017) `books.csv`: book metadata only (`book_id, authors,
//! original_publication_year, title, average_rating, ...`; years written as `2008.0`, sometimes
//! empty). Item-profile prompts are built from it.

use std::path::Path;

use super::{CsvFile, DataError};

/// One book; empty optional fields are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    pub book_id: u32,
    pub goodreads_book_id: u64,
    /// Comma-separated in the file.
    pub authors: Vec<String>,
    pub original_publication_year: Option<i32>,
    pub original_title: Option<String>,
    pub title: String,
    pub language_code: Option<String>,
    pub average_rating: f32,
    pub ratings_count: u64,
}

/// Reads `books.csv`.
pub fn read_books(path: &Path) -> Result<Vec<Book>, DataError> {
    let mut csv = CsvFile::open(path)?;
    let (id, gr_id, authors) = (csv.column("book_id")?, csv.column("goodreads_book_id")?, csv.column("authors")?);
    let (year, original_title, title) =
        (csv.column("original_publication_year")?, csv.column("original_title")?, csv.column("title")?);
    let (language, rating, count) =
        (csv.column("language_code")?, csv.column("average_rating")?, csv.column("ratings_count")?);
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let mut out = Vec::new();
    csv.for_each(|row| {
        // "2008.0" in the file; a fractional year would be a format change worth failing on.
        let year: Option<f64> = row.parse_optional(year, "original_publication_year")?;
        let original_publication_year = match year {
            Some(y) if y.fract() == 0.0 => Some(y as i32),
            Some(y) => return Err(row.error(format!("field `original_publication_year` = {y} is not a whole year"))),
            None => None,
        };
        out.push(Book {
            book_id: row.parse(id, "book_id")?,
            goodreads_book_id: row.parse(gr_id, "goodreads_book_id")?,
            authors: row
                .get(authors)?
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
            original_publication_year,
            original_title: text(row.get(original_title)?),
            title: row.get(title)?.trim().to_string(),
            language_code: text(row.get(language)?),
            average_rating: row.parse(rating, "average_rating")?,
            ratings_count: row.parse(count, "ratings_count")?,
        });
        Ok(())
    })?;
    Ok(out)
}
