//! Saving and loading an RQ-VAE (issue 8 item 7: "checkpoints are atomic and resumable"): the
//! weights as safetensors keyed by field names (`encoder.layers.0.weight`, `codebooks.2`), the
//! shape as `rqvae.json`, and the AdamW state as named MessagePack. Every file is written through
//! [`crate::io::write_atomic`]; loads check every tensor and name the file and key on a mismatch.

use std::path::Path;

use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn_store::{ApplyError, ModuleSnapshot, SafetensorsStore};

use super::ItemTokError;
use super::rqvae::{RqVae, RqVaeConfig};

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ItemTokError + '_ {
    move |source| ItemTokError::Io { path: path.to_path_buf(), source }
}

fn format_error(path: &Path, message: impl Into<String>) -> ItemTokError {
    ItemTokError::Format { path: path.to_path_buf(), message: message.into() }
}

/// Writes the network's shape as JSON, atomically.
pub fn save_config(config: &RqVaeConfig, path: &Path) -> Result<(), ItemTokError> {
    let json = serde_json::to_vec_pretty(config).expect("sizes always serialise");
    crate::io::write_atomic(path, &json).map_err(io_error(path))
}

/// Reads a shape written by [`save_config`] and validates it.
pub fn load_config(path: &Path) -> Result<RqVaeConfig, ItemTokError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let config: RqVaeConfig = serde_json::from_slice(&bytes).map_err(|e| format_error(path, e.to_string()))?;
    config.validate()?;
    Ok(config)
}

/// Writes the weights as safetensors, atomically.
pub fn save_rqvae<B: Backend>(model: &RqVae<B>, path: &Path) -> Result<(), ItemTokError> {
    let mut store = SafetensorsStore::from_bytes(None);
    model.save_into(&mut store).map_err(|e| format_error(path, e.to_string()))?;
    let bytes = store.get_bytes().map_err(|e| format_error(path, e.to_string()))?;
    crate::io::write_atomic(path, &bytes).map_err(io_error(path))
}

/// Builds a network of shape `config` and fills it from `path`. A missing, extra or misshapen
/// tensor, or a truncated file, is an error naming the file and the tensor.
pub fn load_rqvae<B: Backend>(config: &RqVaeConfig, path: &Path, device: &B::Device) -> Result<RqVae<B>, ItemTokError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    // Parse the header ourselves first: burn-store trusts it, and a truncated file must not panic.
    safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| format_error(path, format!("not a safetensors file: {e}")))?;
    let mut model = config.init::<B>(device);
    let mut store = SafetensorsStore::from_bytes(Some(bytes)).allow_partial(true);
    let result = model.load_from(&mut store).map_err(|e| format_error(path, e.to_string()))?;
    if let Some(error) = result.errors.first() {
        let message = match error {
            ApplyError::ShapeMismatch { path: key, expected, found } => {
                format!("tensor `{key}`: expected shape {:?}, found {:?}", expected.to_vec(), found.to_vec())
            }
            other => format!("{other:?}"),
        };
        return Err(format_error(path, message));
    }
    if let Some((key, _)) = result.missing.first() {
        return Err(format_error(path, format!("tensor `{key}` is missing")));
    }
    if let Some(key) = result.unused.first() {
        return Err(format_error(path, format!("tensor `{key}` does not belong to an RQ-VAE of this shape")));
    }
    Ok(model)
}

/// The ids of the network's parameters in visiting order (see [`crate::nn::param_ids`]).
pub fn param_ids<B: Backend>(model: &RqVae<B>) -> Vec<u64> {
    crate::nn::param_ids::<B, _>(model)
}

/// Gives the parameters the ids `ids` (from [`param_ids`]) in visiting order, so a saved
/// optimizer state applies to a network loaded from safetensors.
pub fn set_param_ids<B: Backend>(model: RqVae<B>, ids: &[u64]) -> Result<RqVae<B>, ItemTokError> {
    let count = param_ids(&model).len();
    crate::nn::set_param_ids::<B, _>(model, ids).ok_or_else(|| ItemTokError::config("param_ids", format!("{} ids for {count} parameters", ids.len())))
}

/// The optimizer state as bytes (named MessagePack).
pub fn optimizer_bytes<B, O>(optim: &O) -> Result<Vec<u8>, ItemTokError>
where
    B: AutodiffBackend,
    O: Optimizer<RqVae<B>, B>,
{
    NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .record(optim.to_record(), ())
        .map_err(|e| ItemTokError::config("optimizer", e.to_string()))
}

/// Restores an optimizer state written by [`optimizer_bytes`] from `path`.
pub fn load_optimizer<B, O>(optim: O, path: &Path, device: &B::Device) -> Result<O, ItemTokError>
where
    B: AutodiffBackend,
    O: Optimizer<RqVae<B>, B>,
{
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let record = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .load(bytes, device)
        .map_err(|e| format_error(path, format!("optimizer state: {e}")))?;
    Ok(optim.load_record(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;

    type B = TestBackend;

    #[test]
    fn weights_round_trip_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let config = RqVaeConfig::new(6, vec![5], 3).with_levels(2).with_codebook_size(4);
        let model = config.init::<B>(&device);
        let path = dir.path().join("rqvae.safetensors");
        save_rqvae(&model, &path).unwrap();
        save_config(&config, &dir.path().join("rqvae.json")).unwrap();
        assert_eq!(load_config(&dir.path().join("rqvae.json")).unwrap(), config);
        let loaded = load_rqvae::<B>(&config, &path, &device).unwrap();
        let same = |a: &RqVae<B>, b: &RqVae<B>| {
            a.codebooks[1].val().into_data().to_vec::<f32>().unwrap()
                == b.codebooks[1].val().into_data().to_vec::<f32>().unwrap()
        };
        assert!(same(&model, &loaded));

        // Dimension mismatch: a latent of 4 where the file's codebooks have 3.
        let wider = RqVaeConfig::new(6, vec![5], 4).with_levels(2).with_codebook_size(4);
        let err = load_rqvae::<B>(&wider, &path, &device).unwrap_err().to_string();
        assert!(err.contains("rqvae.safetensors") && err.contains("codebooks.0"), "{err}");
        // One level more than the file has.
        let deeper = RqVaeConfig::new(6, vec![5], 3).with_levels(3).with_codebook_size(4);
        let err = load_rqvae::<B>(&deeper, &path, &device).unwrap_err().to_string();
        assert!(err.contains("codebooks.2"), "{err}");
        // Truncated file.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = load_rqvae::<B>(&config, &path, &device).unwrap_err().to_string();
        assert!(err.contains("rqvae.safetensors"), "{err}");
    }
}
