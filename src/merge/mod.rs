//! Model merge (RecFound §4.4; DESIGN.md §6): TIES-Merging and plain averaging of adapter
//! checkpoints on flattened `f32` tensors, and the rank-r factorisation that turns a merged
//! ΔW = B A back into LoRA factors, as pure arithmetic; [`adapter_merge`] applies them to
//! adapter directories read as plain named tensors ([`named_tensors`]).

pub mod adapter_merge;
pub mod average;
pub mod named_tensors;
pub mod svd_factors;
pub mod ties;

pub use adapter_merge::{
    AdapterCheckpoint, AdapterMergeConfig, AdapterMergeError, MergeMethod, MergeSummary, merge_adapter_dirs, merge_adapters,
    read_adapter_checkpoint,
};
pub use named_tensors::{NamedTensor, NamedTensors, TensorFileError, read_named_tensors, write_named_tensors};

pub use average::average;
pub use svd_factors::{LowRankFactors, delta_weight, factorize_delta};
pub use ties::{TiesConfig, TrimScope, merge_ties, merge_ties_tensor, trim_to_density};

/// Tensors that cannot be merged; each names the tensor (its index in the adapter's tensor
/// list) and, where it applies, the checkpoint.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("no checkpoints to merge")]
    NoCheckpoints,
    #[error("checkpoint {checkpoint} has {found} tensors, the base has {expected}")]
    TensorCount { checkpoint: usize, expected: usize, found: usize },
    #[error("tensor {tensor} of checkpoint {checkpoint} has {found} values, the base has {expected}")]
    TensorLength { tensor: usize, checkpoint: usize, expected: usize, found: usize },
    #[error("tensor {tensor} of checkpoint {checkpoint} holds a non-finite value at {index}")]
    NotFinite { tensor: usize, checkpoint: usize, index: usize },
    #[error("merge `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
    #[error("matrix of {rows} x {cols} needs {expected} values, found {found}")]
    Shape { rows: usize, cols: usize, expected: usize, found: usize },
}
