//! End-to-end pipelines that recipes run. Each takes a checked [`Recipe`](crate::config::Recipe),
//! a run directory and a device, and writes its outputs to the run directory atomically.

pub mod quickstart;
pub mod quickstart_recbase;
pub mod recbase;
pub mod recfound;

use std::path::PathBuf;

/// Errors from running a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] crate::backbone::ConfigError),
    #[error(transparent)]
    Weights(#[from] crate::backbone::WeightError),
    #[error(transparent)]
    Generate(#[from] crate::backbone::GenerateError),
    #[error(transparent)]
    Embed(#[from] crate::backbone::embed::EmbedError),
    #[error(transparent)]
    Adapter(#[from] crate::adapters::AdapterError),
    #[error(transparent)]
    RecBase(#[from] crate::recbase::RecBaseError),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("training: {0}")]
    Train(String),
    #[error("serialising {what}: {message}")]
    Serialize { what: &'static str, message: String },
}

/// Writes `bytes` atomically into the run directory.
pub(crate) fn write_output(path: PathBuf, bytes: &[u8]) -> Result<(), PipelineError> {
    crate::io::write_atomic(&path, bytes).map_err(|source| PipelineError::Write { path, source })
}
