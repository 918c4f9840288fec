//! Loading Hugging Face checkpoints: `config.json` plus `model.safetensors` or a sharded
//! `model.safetensors.index.json`, through burn-store's `SafetensorsStore`.
//!
//! Module fields already carry HF names, so the only adaptations are burn-store's
//! `PyTorchToBurnAdapter` (Linear weights are `[out, in]` in PyTorch, `[in, out]` in Burn) and a
//! cast of f16/bf16/f64 tensors to the backend's float type (ndarray has no bf16).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::tensor::{DType, Tensor, backend::Backend};
use burn_store::{
    ApplyError, ModuleAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, SafetensorsStore, TensorSnapshot,
};

use super::config::{ConfigError, DecoderConfig};
use super::decoder::Decoder;

/// Errors from loading checkpoint weights.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{dir}: no `model.safetensors` or `model.safetensors.index.json` found")]
    NoWeights { dir: PathBuf },
    #[error("{path}: {message}")]
    Index { path: PathBuf, message: String },
    #[error("{path}: cannot read safetensors file: {message}")]
    Read { path: PathBuf, message: String },
    #[error("tensor `{key}` in {path}: expected shape {expected:?}, found {found:?}")]
    ShapeMismatch { path: PathBuf, key: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("tensor `{key}` in {path}: {message}")]
    Tensor { path: PathBuf, key: String, message: String },
    #[error("{dir}: {} tensor(s) missing from the checkpoint: {}", keys.len(), keys.join(", "))]
    Missing { dir: PathBuf, keys: Vec<String> },
    #[error("{dir}: {} unexpected tensor(s) in the checkpoint: {}", keys.len(), keys.join(", "))]
    Unexpected { dir: PathBuf, keys: Vec<String> },
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// What a load read: for `recfound info` and logs.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub files: Vec<PathBuf>,
    pub tensors_loaded: usize,
    /// Tensor count per dtype as stored in the files (e.g. "BF16" -> 291).
    pub file_dtypes: BTreeMap<String, usize>,
}

/// A decoder loaded from an HF checkpoint directory, with its configuration.
pub struct LoadedDecoder<B: Backend> {
    pub decoder: Decoder<B>,
    pub config: DecoderConfig,
    pub report: LoadReport,
}

/// Casts floating-point tensors to the backend's float dtype as they are read.
#[derive(Clone)]
struct CastFloat(DType);

impl ModuleAdapter for CastFloat {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        let from = snapshot.dtype;
        if from == self.0 || !matches!(from, DType::F16 | DType::BF16 | DType::F32 | DType::F64) {
            return snapshot.clone();
        }
        let target = self.0;
        let data_fn = snapshot.clone_data_fn();
        TensorSnapshot::from_closure(
            Rc::new(move || Ok(data_fn()?.convert_dtype(target))),
            target,
            snapshot.shape.clone(),
            snapshot.path_stack.clone().unwrap_or_default(),
            snapshot.container_stack.clone().unwrap_or_default(),
            snapshot.tensor_id.unwrap_or_default(),
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// Keys a checkpoint may carry that the decoder deliberately does not use.
fn is_ignorable(key: &str, config: &DecoderConfig) -> bool {
    // Older Llama checkpoints store the RoPE frequencies; we recompute them from the config.
    key.ends_with("rotary_emb.inv_freq") || (config.tie_word_embeddings && key == "lm_head.weight")
}

/// The safetensors files of a checkpoint directory: one file, or the shards of an index.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>, WeightError> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join("model.safetensors.index.json");
    if !index.is_file() {
        return Err(WeightError::NoWeights { dir: dir.to_path_buf() });
    }
    let err = |message: String| WeightError::Index { path: index.clone(), message };
    let text = std::fs::read_to_string(&index).map_err(|e| err(e.to_string()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| err("missing object `weight_map`".into()))?;
    let mut shards = BTreeSet::new();
    for (key, file) in map {
        let file = file.as_str().ok_or_else(|| err(format!("`weight_map.{key}` is not a file name")))?;
        shards.insert(file.to_string());
    }
    let files: Vec<PathBuf> = shards.into_iter().map(|f| dir.join(f)).collect();
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(err(format!("shard {} does not exist", missing.display())));
    }
    Ok(files)
}

/// HF keeps Linear weights as `[out, in]`; report shapes in that layout, as the file has them.
fn hf_shape(key: &str, burn_shape: Vec<usize>) -> Vec<usize> {
    if key.ends_with("_proj.weight") || key == "lm_head.weight" {
        burn_shape.into_iter().rev().collect()
    } else {
        burn_shape
    }
}

/// Loads `dir/config.json` and the checkpoint's weights onto `device`.
///
/// Every tensor's shape is checked; tensors the model expects but no file has, and tensors the
/// files have but the model does not use, are errors that list them (a tied `lm_head.weight`
/// and stored RoPE frequencies excepted).
pub fn load_decoder<B: Backend>(dir: &Path, device: &B::Device) -> Result<LoadedDecoder<B>, WeightError> {
    let _span = tracing::info_span!("load", dir = %dir.display()).entered();
    let config = DecoderConfig::from_hf_file(&dir.join("config.json"))?;
    let files = weight_files(dir)?;
    let mut decoder = config.init::<B>(device);
    let float = Tensor::<B, 1>::zeros([1], device).dtype();
    let mut report = LoadReport { files: files.clone(), ..Default::default() };

    let mut applied = BTreeSet::new();
    let mut expected = BTreeSet::new();
    let mut unused = BTreeSet::new();
    for file in &files {
        let read_err = |message: String| WeightError::Read { path: file.clone(), message };
        let mut store = SafetensorsStore::from_file(file)
            .with_from_adapter(PyTorchToBurnAdapter.chain(CastFloat(float)))
            .allow_partial(true)
            .validate(false);
        for snapshot in store.get_all_snapshots().map_err(|e| read_err(e.to_string()))?.values() {
            *report.file_dtypes.entry(format!("{:?}", snapshot.dtype)).or_default() += 1;
        }
        let result = decoder.load_from(&mut store).map_err(|e| read_err(e.to_string()))?;
        if let Some(error) = result.errors.first() {
            return Err(match error.clone() {
                ApplyError::ShapeMismatch { path, expected, found } => WeightError::ShapeMismatch {
                    path: file.clone(),
                    expected: hf_shape(&path, expected.to_vec()),
                    found: hf_shape(&path, found.to_vec()),
                    key: path,
                },
                ApplyError::DTypeMismatch { path, expected, found } => WeightError::Tensor {
                    path: file.clone(),
                    key: path,
                    message: format!("dtype {found:?} where {expected:?} was expected"),
                },
                ApplyError::AdapterError { path, message } | ApplyError::LoadError { path, message } => {
                    WeightError::Tensor { path: file.clone(), key: path, message }
                }
            });
        }
        expected.extend(result.applied.iter().cloned());
        expected.extend(result.missing.iter().map(|(path, _)| path.clone()));
        applied.extend(result.applied);
        unused.extend(result.unused);
    }

    let missing: Vec<String> = expected.difference(&applied).cloned().collect();
    if !missing.is_empty() {
        return Err(WeightError::Missing { dir: dir.to_path_buf(), keys: missing });
    }
    let unexpected: Vec<String> = unused
        .into_iter()
        .filter(|k| !applied.contains(k) && !is_ignorable(k, &config))
        .collect();
    if !unexpected.is_empty() {
        return Err(WeightError::Unexpected { dir: dir.to_path_buf(), keys: unexpected });
    }
    report.tensors_loaded = applied.len();
    tracing::info!(dir = %dir.display(), tensors = report.tensors_loaded, family = config.family.name(), "loaded decoder");
    Ok(LoadedDecoder { decoder, config, report })
}
