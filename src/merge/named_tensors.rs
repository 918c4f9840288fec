//! A safetensors file as a plain map from tensor name to shape and `f32` values, the form the
//! merge works on: no backend, no model. Half-precision and f64 inputs are widened to `f32` on
//! read; writing always produces `f32` (what `save_adapter` writes and `load_adapter` reads).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::adapters::peft::to_f32;

/// One tensor: its shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Tensors by name, in name order.
pub type NamedTensors = BTreeMap<String, NamedTensor>;

/// A file that cannot be read or written as named `f32` tensors.
#[derive(Debug, thiserror::Error)]
pub enum TensorFileError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: tensor `{key}` has dtype {dtype}; expected a float type")]
    Dtype { path: PathBuf, key: String, dtype: String },
}

/// Reads every tensor of the safetensors file at `path`.
pub fn read_named_tensors(path: &Path) -> Result<NamedTensors, TensorFileError> {
    let io = |message: String| TensorFileError::Io { path: path.to_path_buf(), message };
    let bytes = std::fs::read(path).map_err(|e| io(e.to_string()))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| io(e.to_string()))?;
    let mut out = NamedTensors::new();
    for (key, view) in file.tensors() {
        let values = to_f32(view.dtype(), view.data())
            .ok_or_else(|| TensorFileError::Dtype { path: path.to_path_buf(), key: key.clone(), dtype: format!("{:?}", view.dtype()) })?;
        out.insert(key, NamedTensor { shape: view.shape().to_vec(), values });
    }
    Ok(out)
}

/// Writes `tensors` as an `f32` safetensors file with PEFT's `{"format": "pt"}` metadata,
/// atomically (temporary file, then rename).
pub fn write_named_tensors(path: &Path, tensors: &NamedTensors) -> Result<(), TensorFileError> {
    let io = |message: String| TensorFileError::Io { path: path.to_path_buf(), message };
    let bytes: Vec<Vec<u8>> = tensors.values().map(|t| t.values.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((key, t), b)| TensorView::new(Dtype::F32, t.shape.clone(), b).map(|v| (key.clone(), v)).map_err(|e| io(format!("tensor `{key}`: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let file = safetensors::serialize(views, Some(metadata)).map_err(|e| io(e.to_string()))?;
    crate::io::write_atomic(path, &file).map_err(|e| io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_widens_half_precision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let mut tensors = NamedTensors::new();
        tensors.insert("b".into(), NamedTensor { shape: vec![2, 1], values: vec![1.5, -2.0] });
        tensors.insert("a".into(), NamedTensor { shape: vec![3], values: vec![0.0, 0.25, 8.0] });
        write_named_tensors(&path, &tensors).unwrap();
        assert_eq!(read_named_tensors(&path).unwrap(), tensors);

        // bf16 1.5 = 0x3FC0 is exact in f32.
        let bytes = 0x3FC0u16.to_le_bytes();
        let view = TensorView::new(Dtype::BF16, vec![1], &bytes).unwrap();
        std::fs::write(&path, safetensors::serialize([("h", view)], None).unwrap()).unwrap();
        assert_eq!(read_named_tensors(&path).unwrap()["h"].values, vec![1.5]);

        let ints = 7i64.to_le_bytes();
        let view = TensorView::new(Dtype::I64, vec![1], &ints).unwrap();
        std::fs::write(&path, safetensors::serialize([("step", view)], None).unwrap()).unwrap();
        let err = read_named_tensors(&path).unwrap_err().to_string();
        assert!(err.contains("`step`") && err.contains("I64"), "{err}");
    }
}
