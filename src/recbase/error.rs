//! RecBase's error type (issue 9, "bad input"): every variant names its culprit (the file and
//! line, the item, the token or the setting), so bad input ends in a message, never a panic.

use std::path::PathBuf;

use crate::data::DataError;
use crate::itemtok::ItemTokError;

/// Everything that can go wrong in `recbase`.
#[derive(Debug, thiserror::Error)]
pub enum RecBaseError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    ItemTok(#[from] ItemTokError),
    #[error(transparent)]
    Weights(#[from] crate::backbone::WeightError),
    #[error(transparent)]
    Config(#[from] crate::backbone::ConfigError),
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that exists but does not say what it should; the message names the line or key.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// An item id tuple the vocabulary cannot write (wrong length, or a code past its level).
    #[error("item `{item_id}`: {message}")]
    Unencodable { item_id: String, message: String },
    #[error("invalid setting `{field}`: {message}")]
    InvalidConfig { field: String, message: String },
    #[error("empty input: {what}")]
    Empty { what: String },
    /// The step loop had to stop (a non-finite loss, a checkpoint it cannot read); the last good
    /// checkpoint is kept.
    #[error("training: {0}")]
    Train(String),
}

impl RecBaseError {
    pub(crate) fn config(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidConfig { field: field.to_string(), message: message.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Format { path: path.into(), message: message.into() }
    }
}
