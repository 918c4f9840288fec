//! The text encoder a tokenizer run directory holds, so that `itemtok encode` projects unseen
//! domains with the very encoder training used (issue 8 item 7). TF-IDF + SVD is saved whole
//! (`text_encoder.safetensors`); a checkpoint encoder is saved as its absolute path, settings
//! and fingerprint (`text_encoder.json`), never its weights, and a checkpoint that is gone or
//! changed since training is an error naming the path.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use super::ItemTokError;
use super::checkpoint_encoder::{CheckpointEncoder, CheckpointEncoderConfig};
use super::item_text::{ItemRecord, item_text};
use super::recipe::{EncoderChoice, TextSection};
use super::text_encoder::TextEncoder;
use super::tfidf::TfidfSvd;

/// The fitted TF-IDF + SVD encoder of a run.
pub const TFIDF_FILE: &str = "text_encoder.safetensors";
/// The checkpoint encoder of a run: where the checkpoint is and how it pools.
pub const CHECKPOINT_FILE: &str = "text_encoder.json";
/// Default folder of the checkpoint encoder's embedding cache, inside the run.
pub const CACHE_DIR: &str = "text_cache";

const FORMAT: &str = "recfound-checkpoint-text-encoder";
const VERSION: u32 = 1;

/// `text_encoder.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedCheckpoint {
    format: String,
    version: u32,
    /// Absolute checkpoint path and cache folder.
    encoder: CheckpointEncoderConfig,
    /// The checkpoint's fingerprint at training time.
    fingerprint: String,
}

/// Either encoder, as a run uses it.
// One value per loaded run: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum RunEncoder<B: Backend> {
    Tfidf(TfidfSvd),
    Checkpoint(CheckpointEncoder<B>),
}

impl<B: Backend> TextEncoder for RunEncoder<B> {
    fn dim(&self) -> usize {
        match self {
            Self::Tfidf(encoder) => TextEncoder::dim(encoder),
            Self::Checkpoint(encoder) => encoder.dim(),
        }
    }

    fn encode(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ItemTokError> {
        match self {
            Self::Tfidf(encoder) => TextEncoder::encode(encoder, texts),
            Self::Checkpoint(encoder) => encoder.encode(texts),
        }
    }
}

impl<B: Backend> RunEncoder<B> {
    /// The encoder `text` names, saved into `run`: TF-IDF + SVD fitted on `items` (or loaded
    /// when a resumed run saved it already), or the checkpoint with its path and fingerprint. A
    /// resumed run whose checkpoint changed since it started is refused.
    pub fn prepare(
        text: &TextSection,
        items: &[ItemRecord],
        run: &Path,
        device: &B::Device,
    ) -> Result<Self, ItemTokError> {
        match &text.encoder {
            EncoderChoice::Tfidf {} => {
                let path = run.join(TFIDF_FILE);
                if path.is_file() {
                    return Ok(Self::Tfidf(TfidfSvd::load(&path)?));
                }
                let texts = items.iter().map(|item| item_text(item, text.layout)).collect::<Result<Vec<_>, _>>()?;
                let encoder = TfidfSvd::fit(&texts, text.tfidf()?)?;
                encoder.save(&path)?;
                Ok(Self::Tfidf(encoder))
            }
            EncoderChoice::Checkpoint(config) => {
                let absolute = |p: &Path| std::path::absolute(p).map_err(io(p));
                let config = CheckpointEncoderConfig {
                    path: absolute(&config.path)?,
                    cache: Some(absolute(&config.cache.clone().unwrap_or_else(|| run.join(CACHE_DIR)))?),
                    ..config.clone()
                };
                let encoder = CheckpointEncoder::open(&config, &run.join(CACHE_DIR), device)?;
                let path = run.join(CHECKPOINT_FILE);
                if path.is_file() {
                    let saved = read_saved(&path)?;
                    if saved.fingerprint != encoder.fingerprint() {
                        return Err(changed(&path, &config.path, &saved.fingerprint, encoder.fingerprint()));
                    }
                }
                let saved = SavedCheckpoint {
                    format: FORMAT.into(),
                    version: VERSION,
                    encoder: config,
                    fingerprint: encoder.fingerprint().to_string(),
                };
                let json = serde_json::to_vec_pretty(&saved).expect("plain data serialises");
                crate::io::write_atomic(&path, &json).map_err(io(&path))?;
                Ok(Self::Checkpoint(encoder))
            }
        }
    }

    /// The encoder saved in `run` by [`RunEncoder::prepare`]. A checkpoint encoder whose
    /// checkpoint is missing or differs from the one trained with names the path.
    pub fn load(run: &Path, device: &B::Device) -> Result<Self, ItemTokError> {
        let path = run.join(CHECKPOINT_FILE);
        if !path.is_file() {
            return Ok(Self::Tfidf(TfidfSvd::load(&run.join(TFIDF_FILE))?));
        }
        let saved = read_saved(&path)?;
        let encoder = CheckpointEncoder::open(&saved.encoder, &run.join(CACHE_DIR), device)?;
        if saved.fingerprint != encoder.fingerprint() {
            return Err(changed(&path, &saved.encoder.path, &saved.fingerprint, encoder.fingerprint()));
        }
        Ok(Self::Checkpoint(encoder))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ItemTokError {
    let path = path.to_path_buf();
    move |source| ItemTokError::Io { path, source }
}

fn read_saved(path: &Path) -> Result<SavedCheckpoint, ItemTokError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let saved: SavedCheckpoint = serde_json::from_slice(&bytes)
        .map_err(|e| ItemTokError::Format { path: path.to_path_buf(), message: e.to_string() })?;
    if saved.format != FORMAT || saved.version != VERSION {
        let message = format!("not a {FORMAT} file of version {VERSION}");
        return Err(ItemTokError::Format { path: path.to_path_buf(), message });
    }
    Ok(saved)
}

/// The checkpoint at `checkpoint` no longer has the fingerprint `saved` records.
fn changed(saved_file: &Path, checkpoint: &Path, saved: &str, now: &str) -> ItemTokError {
    let message = format!(
        "the checkpoint {} has changed since this run was trained with it (fingerprint {} then, {} now); \
         the codebooks only fit the old one's vectors",
        checkpoint.display(),
        &saved[..saved.len().min(12)],
        &now[..now.len().min(12)]
    );
    ItemTokError::Format { path: PathBuf::from(saved_file), message }
}
