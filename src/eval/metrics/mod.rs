//! The metrics of RecFound's Tables 2-3 (DESIGN.md §7), each a pure function on parsed
//! predictions and labels. [`parse`] turns model outputs into option letters or yes/no by the
//! authors' rules; an output that fails to parse counts as a wrong answer, and every
//! corpus-level [`Score`] says how many outputs that was.

pub mod auc;
pub mod ave;
pub mod bertscore;
pub mod classify;
pub mod parse;
pub mod ranking;
pub mod token_f1;
pub mod topk;

pub use auc::{GaucWeight, auc, gauc};
pub use bertscore::{BertScore, bertscore, idf_weights};
pub use ave::{AveScore, Triple, ave_f1, parse_triples};
pub use classify::{accuracy, macro_f1, yes_f1};
pub use parse::{LetterRule, parse_label_letter, parse_label_yes_no, parse_option_letter, parse_yes_no};
pub use ranking::{mrr_at_k, ndcg_at_k};
pub use token_f1::{normalize_answer, token_f1, token_f1_corpus};

/// A metric over a test split.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Score {
    /// The metric, in [0, 1].
    pub value: f64,
    /// Rows scored.
    pub count: usize,
    /// Outputs that failed to parse (scored as wrong), the script's `#invalid`.
    pub invalid: usize,
}

/// Input a metric cannot score; each names the metric and the culprit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    #[error("{metric}: {predictions} predictions but {labels} labels")]
    Length { metric: &'static str, predictions: usize, labels: usize },
    #[error("{metric}: no rows to score")]
    Empty { metric: &'static str },
    #[error("{metric}: label of row {row} is unusable: {reason}")]
    BadLabel { metric: &'static str, row: usize, reason: String },
    #[error("{metric}: score {index} is not finite")]
    NonFiniteScore { metric: &'static str, index: usize },
    #[error("{metric}: positive index {index} out of {len} candidates")]
    PositiveOutOfRange { metric: &'static str, index: usize, len: usize },
    #[error("{metric}: no positive candidate")]
    NoPositive { metric: &'static str },
    #[error("{metric}: the labels hold one class only")]
    SingleClass { metric: &'static str },
    #[error("{metric}: k must be > 0")]
    ZeroK { metric: &'static str },
}

/// Errors unless `predictions` and `labels` have the same, non-zero length.
fn check_lengths(metric: &'static str, predictions: usize, labels: usize) -> Result<(), MetricError> {
    if predictions != labels {
        return Err(MetricError::Length { metric, predictions, labels });
    }
    if labels == 0 {
        return Err(MetricError::Empty { metric });
    }
    Ok(())
}

/// F1 from counts, 0 when there is nothing to score (scikit-learn's `zero_division=0`).
fn f1_from_counts(tp: usize, fp: usize, fn_: usize) -> f64 {
    let den = 2 * tp + fp + fn_;
    if den == 0 { 0.0 } else { (2 * tp) as f64 / den as f64 }
}

/// Float equality for the hand-computed test values.
#[cfg(test)]
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}
