//! The checkpoint text encoder of issue 8 item 2 (DESIGN.md §8: "a backbone with mean pooling
//! from an HF checkpoint"; RecBase §4.2 uses NV-Embed-v2): any decoder checkpoint the backbone
//! loads, its `tokenizer.json`, mean pooling through [`crate::backbone::embed::embed`] with
//! bidirectional or causal attention, in batches with a progress bar, and an on-disk cache
//! ([`EmbeddingCache`]) so that a second encode of the same texts never runs the model.

use std::cell::{Cell, OnceCell};
use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use crate::backbone::embed::{EmbedInput, embed};
use crate::backbone::load::weight_files;
use crate::backbone::{AttnMode, Decoder, DecoderConfig, Lm, WeightError, load_decoder};
use crate::text::{TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, TextTokenizer};

use super::ItemTokError;
use super::embedding_cache::{EmbeddingCache, hex, sha256};
use super::text_encoder::TextEncoder;

/// How token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean of the final hidden states over the text's tokens (BOS left out, as GritLM pools).
    #[default]
    Mean,
}

/// The recipe's `[text] encoder = { kind = "checkpoint", ... }`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointEncoderConfig {
    /// HF checkpoint directory: `config.json`, `tokenizer.json`, `model.safetensors` (or shards).
    /// Relative paths are taken from the working directory; a run stores it made absolute.
    pub path: PathBuf,
    #[serde(default)]
    pub pooling: Pooling,
    /// Every token sees every other (true, GritLM's embedding mode) or only earlier ones.
    #[serde(default = "default_bidirectional")]
    pub bidirectional: bool,
    /// Tokens per text at most, BOS included; longer texts are cut at the end.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Texts per forward pass.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Folder of the embedding cache; by default `text_cache/` in the run directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<PathBuf>,
}

fn default_bidirectional() -> bool {
    true
}
fn default_max_len() -> usize {
    256
}
fn default_batch() -> usize {
    32
}

impl CheckpointEncoderConfig {
    /// Settings for the checkpoint in `path`, defaults elsewhere.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            pooling: Pooling::Mean,
            bidirectional: default_bidirectional(),
            max_len: default_max_len(),
            batch: default_batch(),
            cache: None,
        }
    }

    /// Rejects settings that cannot encode a text, naming the field.
    pub fn validate(&self) -> Result<(), ItemTokError> {
        if self.path.as_os_str().is_empty() {
            return Err(ItemTokError::config("text.encoder.path", "is empty"));
        }
        if self.batch == 0 {
            return Err(ItemTokError::config("text.encoder.batch", "must be at least 1"));
        }
        if self.max_len < 2 {
            return Err(ItemTokError::config("text.encoder.max_len", "must hold a BOS and one text token (>= 2)"));
        }
        Ok(())
    }

    fn mode(&self) -> AttnMode {
        if self.bidirectional { AttnMode::Bidirectional } else { AttnMode::Causal }
    }
}

/// What the cached vectors depend on; its SHA-256 names the cache file. The batch size and the
/// backend are left out: they change the vectors only by float rounding.
#[derive(serde::Serialize)]
struct Identity<'a> {
    checkpoint: &'a str,
    pooling: Pooling,
    bidirectional: bool,
    max_len: usize,
}

/// A fingerprint of the checkpoint in `dir`: SHA-256 over the names, lengths and hashes of
/// `config.json`, `tokenizer.json`, `tokenizer_config.json` and the weight files (see
/// [`weight_digest`]). Independent of where the folder lives, so a moved checkpoint keeps its cache.
pub fn checkpoint_fingerprint(dir: &Path) -> Result<String, ItemTokError> {
    if !dir.is_dir() {
        let message = "text-encoder checkpoint not found (a run stores the checkpoint's path, not its weights)";
        return Err(ItemTokError::Format { path: dir.to_path_buf(), message: message.into() });
    }
    let mut files = vec![dir.join("config.json"), dir.join(TOKENIZER_FILE)];
    let tokenizer_config = dir.join(TOKENIZER_CONFIG_FILE);
    if tokenizer_config.is_file() {
        files.push(tokenizer_config);
    }
    let mut parts = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| ItemTokError::Io { path: file.clone(), source })?;
        parts.push(digest_line(file, bytes.len() as u64, &sha256(&bytes)));
    }
    for file in weight_files(dir)? {
        let (len, digest) = weight_digest(&file).map_err(|source| ItemTokError::Io { path: file.clone(), source })?;
        parts.push(digest_line(&file, len, &digest));
    }
    Ok(hex(&sha256(parts.concat().as_bytes())))
}

fn digest_line(file: &Path, len: u64, digest: &[u8; 32]) -> String {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{name}\t{len}\t{}\n", hex(digest))
}

/// Blocks read from a large weight file, and their size.
const SAMPLE_BLOCKS: u64 = 256;
const SAMPLE_BLOCK: u64 = 64 * 1024;

/// Length and SHA-256 of a weight file: of all of it up to 16 MiB, beyond that of its
/// safetensors header plus 256 evenly spaced 64 KiB blocks. Hashing a 15 GB checkpoint in full
/// on every encode would cost more than the cache saves; any fine-tune or re-init changes
/// (nearly) every block, so the sample tells models apart.
fn weight_digest(path: &Path) -> std::io::Result<(u64, [u8; 32])> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len <= SAMPLE_BLOCKS * SAMPLE_BLOCK {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)?;
        return Ok((len, sha256(&bytes)));
    }
    let mut sampled = Vec::with_capacity((SAMPLE_BLOCKS * SAMPLE_BLOCK) as usize + 4096);
    let mut size = [0u8; 8];
    file.read_exact(&mut size)?;
    // The header holds every tensor's name, dtype, shape and offsets; cap it for a damaged file.
    let header = u64::from_le_bytes(size).min(len - 8).min(100 << 20);
    sampled.extend_from_slice(&size);
    (&mut file).take(header).read_to_end(&mut sampled)?;
    let mut block = vec![0u8; SAMPLE_BLOCK as usize];
    for i in 0..SAMPLE_BLOCKS {
        file.seek(SeekFrom::Start(i * (len - SAMPLE_BLOCK) / (SAMPLE_BLOCKS - 1)))?;
        file.read_exact(&mut block)?;
        sampled.extend_from_slice(&block);
    }
    Ok((len, sha256(&sampled)))
}

/// The checkpoint's network and tokenizer, loaded on the first cache miss.
struct Loaded<B: Backend> {
    decoder: Decoder<B>,
    tokenizer: TextTokenizer,
}

/// A decoder checkpoint as a [`TextEncoder`], with its embedding cache.
pub struct CheckpointEncoder<B: Backend> {
    config: CheckpointEncoderConfig,
    cache_dir: PathBuf,
    /// [`checkpoint_fingerprint`] of `config.path`.
    fingerprint: String,
    /// Hex SHA-256 of the [`Identity`].
    identity: String,
    dim: usize,
    device: B::Device,
    // Loaded lazily: when every text is cached the weights are never read.
    loaded: OnceCell<Loaded<B>>,
    batches_run: Cell<usize>,
}

impl<B: Backend> std::fmt::Debug for CheckpointEncoder<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointEncoder")
            .field("config", &self.config)
            .field("cache_dir", &self.cache_dir)
            .field("fingerprint", &self.fingerprint)
            .field("dim", &self.dim)
            .finish()
    }
}

impl<B: Backend> CheckpointEncoder<B> {
    /// An encoder over the checkpoint `config.path`, caching into `cache_dir` (used when the
    /// config names no cache). Reads the checkpoint's config and fingerprints its files; the
    /// weights load on the first text that is not cached. A missing checkpoint names its path.
    pub fn open(config: &CheckpointEncoderConfig, cache_dir: &Path, device: &B::Device) -> Result<Self, ItemTokError> {
        config.validate()?;
        let fingerprint = checkpoint_fingerprint(&config.path)?;
        let decoder_config =
            DecoderConfig::from_hf_file(&config.path.join("config.json")).map_err(WeightError::from)?;
        let identity = Identity {
            checkpoint: &fingerprint,
            pooling: config.pooling,
            bidirectional: config.bidirectional,
            max_len: config.max_len,
        };
        let identity = serde_json::to_vec(&identity).expect("plain data serialises");
        Ok(Self {
            cache_dir: config.cache.clone().unwrap_or_else(|| cache_dir.to_path_buf()),
            config: config.clone(),
            fingerprint,
            identity: hex(&sha256(&identity)),
            dim: decoder_config.hidden_size,
            device: device.clone(),
            loaded: OnceCell::new(),
            batches_run: Cell::new(0),
        })
    }

    pub fn config(&self) -> &CheckpointEncoderConfig {
        &self.config
    }

    /// The checkpoint's fingerprint (see [`checkpoint_fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The folder the cache file lives in.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Forward passes run so far (0 when every text came from the cache).
    pub fn batches_run(&self) -> usize {
        self.batches_run.get()
    }

    fn loaded(&self) -> Result<&Loaded<B>, ItemTokError> {
        if let Some(loaded) = self.loaded.get() {
            return Ok(loaded);
        }
        let tokenizer = TextTokenizer::from_dir(&self.config.path).map_err(|e| ItemTokError::Format {
            path: self.config.path.join(TOKENIZER_FILE),
            message: e.to_string(),
        })?;
        let decoder = load_decoder::<B>(&self.config.path, &self.device)?.decoder;
        Ok(self.loaded.get_or_init(|| Loaded { decoder, tokenizer }))
    }

    /// Mean-pooled vectors of `texts` from the network, in order.
    fn run_model(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ItemTokError> {
        let Loaded { decoder, tokenizer } = self.loaded()?;
        let vocab = Lm::from(decoder).vocab_size();
        let mut inputs = Vec::with_capacity(texts.len());
        for text in texts {
            let mut ids = tokenizer.encode(text, true).map_err(|e| ItemTokError::Format {
                path: self.config.path.join(TOKENIZER_FILE),
                message: e.to_string(),
            })?;
            ids.truncate(self.config.max_len);
            let pool_start = usize::from(tokenizer.adds_bos() && ids.first().copied() == tokenizer.bos_token_id());
            if pool_start >= ids.len() {
                let message = format!("text {text:?} gives no token to pool");
                return Err(ItemTokError::Format { path: self.config.path.join(TOKENIZER_FILE), message });
            }
            if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
                let message = format!("tokenizer.json gives id {id} but the model has {vocab} embedding rows");
                return Err(ItemTokError::Format { path: self.config.path.clone(), message });
            }
            inputs.push(EmbedInput { ids, pool_start });
        }
        // Batches of similar length waste little on padding; the order is restored below.
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by_key(|&i| inputs[i].ids.len());
        let batches = order.len().div_ceil(self.config.batch);
        let bar = progress(batches);
        let mut out = vec![Vec::new(); inputs.len()];
        for chunk in order.chunks(self.config.batch) {
            let batch: Vec<EmbedInput> = chunk.iter().map(|&i| inputs[i].clone()).collect();
            // Every input has a span to pool (checked above), the only error `embed` knows.
            let pooled = embed(decoder, &batch, self.config.mode(), false, &self.device)
                .map_err(|e| ItemTokError::config("text.encoder", e.to_string()))?; // [N, D]
            let values = pooled.into_data().convert::<f32>().to_vec::<f32>().expect("f32 after convert");
            for (row, &i) in chunk.iter().enumerate() {
                let vector = &values[row * self.dim..(row + 1) * self.dim];
                if let Some(column) = vector.iter().position(|v| !v.is_finite()) {
                    return Err(ItemTokError::NotFinite { row: i, column });
                }
                out[i] = vector.to_vec();
            }
            self.batches_run.set(self.batches_run.get() + 1);
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(out)
    }
}

/// A bar over `batches` forward passes on stderr, hidden for one batch and when stderr is not
/// a terminal (indicatif's default), so logs stay clean.
fn progress(batches: usize) -> indicatif::ProgressBar {
    let template = "encoding items [{bar:30}] {pos}/{len} batches, eta {eta}";
    let style = indicatif::ProgressStyle::with_template(template).expect("static template is valid");
    if batches <= 1 {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(batches as u64).with_style(style)
    }
}

impl<B: Backend> TextEncoder for CheckpointEncoder<B> {
    fn dim(&self) -> usize {
        self.dim
    }

    /// Cached vectors where the cache has the text, the network for the rest (each distinct
    /// text once), then the cache file is rewritten with the new rows.
    fn encode(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ItemTokError> {
        let _span = tracing::info_span!("text_encoder", checkpoint = %self.config.path.display()).entered();
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| sha256(t.as_bytes())).collect();
        let mut cache = EmbeddingCache::open(&self.cache_dir, &self.identity, self.dim)?;
        let mut queued = HashSet::new();
        let missing: Vec<usize> =
            (0..texts.len()).filter(|&i| cache.get(&keys[i]).is_none() && queued.insert(keys[i])).collect();
        tracing::info!(texts = texts.len(), to_encode = missing.len(), cache = %cache.path().display(), "encode");
        if !missing.is_empty() {
            let batch: Vec<&str> = missing.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = self.run_model(&batch)?;
            for (&i, vector) in missing.iter().zip(&vectors) {
                cache.insert(keys[i], vector)?;
            }
            cache.save()?;
        }
        Ok(keys.iter().map(|key| cache.get(key).expect("every text cached or just encoded").to_vec()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let config = CheckpointEncoderConfig::new("models/x");
        assert_eq!((config.max_len, config.batch, config.bidirectional), (256, 32, true));
        config.validate().unwrap();
        let err = CheckpointEncoderConfig { batch: 0, ..config.clone() }.validate().unwrap_err().to_string();
        assert!(err.contains("text.encoder.batch"), "{err}");
        let err = CheckpointEncoderConfig { max_len: 1, ..config }.validate().unwrap_err().to_string();
        assert!(err.contains("text.encoder.max_len"), "{err}");
    }

    #[test]
    fn missing_checkpoint_names_its_path() {
        let err = checkpoint_fingerprint(Path::new("/nowhere/model")).unwrap_err().to_string();
        assert!(err.contains("/nowhere/model") && err.contains("not found"), "{err}");
    }

    #[test]
    fn large_weight_files_are_sampled_and_still_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        // 20 MiB (over the 16 MiB limit): a header length of 16, then bytes.
        let mut bytes = vec![0u8; 20 << 20];
        bytes[..8].copy_from_slice(&16u64.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (len, first) = weight_digest(&path).unwrap();
        assert_eq!(len, 20 << 20);
        // The last byte is in the last sampled block; a change there changes the digest.
        *bytes.last_mut().unwrap() = 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_ne!(weight_digest(&path).unwrap().1, first);
    }
}
