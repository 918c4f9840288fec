//! Amazon 2014 review data (McAuley et al.), e.g. `reviews_Musical_Instruments_5.json.gz`: gzipped
//! JSON lines `{"reviewerID", "asin", "reviewerName"?, "helpful": [yes, total], "reviewText",
//! "overall": 1.0-5.0, "summary", "unixReviewTime", "reviewTime"}`.

use std::path::Path;

use serde::Deserialize;

use super::{DataError, Encoding, for_each_line, json_error, open_gz};

/// One review line. Field names are the file's keys in snake case.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Review {
    #[serde(rename = "reviewerID")]
    pub reviewer_id: String,
    pub asin: String,
    /// Absent on some reviews.
    #[serde(rename = "reviewerName", default)]
    pub reviewer_name: Option<String>,
    /// `[helpful votes, total votes]`.
    #[serde(default)]
    pub helpful: [u32; 2],
    #[serde(rename = "reviewText", default)]
    pub review_text: String,
    /// Star rating, 1.0 to 5.0.
    pub overall: f32,
    #[serde(default)]
    pub summary: String,
    #[serde(rename = "unixReviewTime")]
    pub unix_review_time: i64,
}

/// Calls `f` on every review of a gzipped JSON-lines file without holding them all in memory.
pub fn for_each_review(path: &Path, mut f: impl FnMut(Review)) -> Result<(), DataError> {
    for_each_line(path, open_gz(path)?, Encoding::Utf8, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let review: Review = serde_json::from_str(text).map_err(|e| json_error(path, line, &e))?;
        if !(1.0..=5.0).contains(&review.overall) {
            return Err(DataError::parse(path, line, format!("`overall` = {} is outside 1-5", review.overall)));
        }
        f(review);
        Ok(())
    })
}

/// Reads every review of a gzipped JSON-lines file.
pub fn read_reviews(path: &Path) -> Result<Vec<Review>, DataError> {
    let mut out = Vec::new();
    for_each_review(path, |r| out.push(r))?;
    Ok(out)
}
