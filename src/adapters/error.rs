//! Adapter errors: each names the file, key or tensor at fault.

use std::path::PathBuf;

/// Errors from adapter configs and weights.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("adapter config: `{key}` {message}")]
    Config { key: String, message: String },
    #[error("adapter config: target module `{name}` matches no module of the model")]
    UnknownTarget { name: String },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: tensor `{key}` {message}")]
    Tensor { path: PathBuf, key: String, message: String },
    #[error("{path}: adapter config targets `{module}` but the file has no `{key}`")]
    MissingTensor { path: PathBuf, module: String, key: String },
    #[error("task {task}: {message}")]
    Task { task: String, message: String },
}
