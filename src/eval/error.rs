//! Evaluation errors: each names the file and line, the task or the setting at fault.

use std::path::PathBuf;

use super::metrics::MetricError;
use crate::adapters::AdapterError;
use crate::backbone::GenerateError;
use crate::backbone::embed::EmbedError;
use crate::data::DataError;
use crate::text::TokenizerError;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path}:{line}: {message}")]
    Prediction { path: PathBuf, line: usize, message: String },
    #[error("{path}:{line}: test row of {task} has no reference answer")]
    MissingReference { path: PathBuf, line: usize, task: String },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: `{field}` was {saved} when these predictions were made, now {current}; use a fresh --out or the same settings")]
    Settings { path: PathBuf, field: String, saved: String, current: String },
    #[error("{task}: {source}")]
    Metric { task: String, source: MetricError },
    #[error("{task}: {message}")]
    Task { task: String, message: String },
    #[error("no test split found: {dir} has no <task>/{split}.jsonl")]
    NoTasks { dir: PathBuf, split: String },
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

impl EvalError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        EvalError::Io { path: path.to_path_buf(), message: e.to_string() }
    }
}
