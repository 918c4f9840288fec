//! The item tokenizer's error type (issue 8, "bad input"): every variant names its culprit, the
//! item, the tuple, the row or the file, so no bad input ends in a panic.

use std::path::PathBuf;

use crate::data::DataError;

/// Everything that can go wrong in `itemtok`.
#[derive(Debug, thiserror::Error)]
pub enum ItemTokError {
    /// Reading a file: the message names the file and the line.
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    /// Loading the checkpoint text encoder's weights: the message names the file and tensor.
    #[error(transparent)]
    Weights(#[from] crate::backbone::WeightError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("item `{item_id}` has no text (empty title)")]
    EmptyItem { item_id: String },
    #[error("empty input: {what}")]
    Empty { what: String },
    #[error("row {row}: expected dimension {expected}, found {found}")]
    DimensionMismatch { row: usize, expected: usize, found: usize },
    #[error("row {row}: value at column {column} is not finite")]
    NotFinite { row: usize, column: usize },
    #[error("invalid setting `{field}`: {message}")]
    InvalidConfig { field: String, message: String },
    #[error("id tuple {tuple:?}: {colliding} colliding item(s) to move but only {free} free last-level code(s)")]
    NoFreeCode { tuple: Vec<u32>, colliding: usize, free: usize },
    #[error("epoch {epoch}: the loss is not finite")]
    NonFiniteLoss { epoch: usize },
    #[error("item {item}: last-level code {code} out of range for {codebook_size} distances")]
    CodeOutOfRange { item: usize, code: u32, codebook_size: usize },
}

impl ItemTokError {
    pub(crate) fn config(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidConfig { field: field.to_string(), message: message.into() }
    }
}
