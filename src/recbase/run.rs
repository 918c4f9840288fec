//! The RecBase run directory (issue 9): everything a pretrained or fine-tuned RecBase model needs,
//! in one self-contained folder that zero-shot scoring, recommendation and fine-tuning read.
//!
//! ```text
//! RUN/recipe.toml  vocab.json  config.json  model.safetensors  itemtok/  metrics.jsonl  loss.png
//!     checkpoints/step-NNNNNNN/
//! ```
//!
//! `config.json` + `model.safetensors` are a Hugging Face Qwen2 checkpoint (transformers reads
//! them) whose `vocab_size` is the run's [`ConceptVocab::len`]. `itemtok/` is a copy of the item
//! tokenizer run the vocabulary was built from, so moving or deleting that run breaks nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use crate::backbone::{Decoder, DecoderConfig, load_decoder, save_hf_checkpoint};
use crate::itemtok::run::Tokenizer;

use super::{ConceptVocab, RecBaseError, VOCAB_FILE};

/// The copy of the item tokenizer run inside a RecBase run.
pub const ITEMTOK_DIR: &str = "itemtok";
/// The decoder's HF config inside a run.
pub const CONFIG_FILE: &str = "config.json";
/// The decoder's weights inside a run.
pub const MODEL_FILE: &str = "model.safetensors";
/// Sub-folders of an item tokenizer run that are not copied: its own training checkpoint is
/// only for resuming the tokenizer's training, never for encoding.
const ITEMTOK_SKIP: &[&str] = &["checkpoint"];

/// A RecBase run loaded for inference (or as the start of fine-tuning).
pub struct RecBaseRun<B: Backend> {
    pub dir: PathBuf,
    pub decoder: Decoder<B>,
    pub config: DecoderConfig,
    pub vocab: ConceptVocab,
}

impl<B: Backend> RecBaseRun<B> {
    /// Loads the final weights, the vocabulary and the config of `dir`. A config whose
    /// `vocab_size` differs from the vocabulary's size is an error naming both.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self, RecBaseError> {
        let vocab = ConceptVocab::load(&dir.join(VOCAB_FILE))?;
        if !dir.join(ITEMTOK_DIR).is_dir() {
            return Err(RecBaseError::format(dir, format!("not a RecBase run: no `{ITEMTOK_DIR}/` folder")));
        }
        let loaded = load_decoder::<B>(dir, device)?;
        check_vocab_size(&dir.join(CONFIG_FILE), &loaded.config, &vocab)?;
        Ok(Self { dir: dir.to_path_buf(), decoder: loaded.decoder, config: loaded.config, vocab })
    }

    /// The run's own copy of the item tokenizer run.
    pub fn itemtok_dir(&self) -> PathBuf {
        self.dir.join(ITEMTOK_DIR)
    }

    /// The saved item tokenizer (text encoder + RQ-VAE/CL-VAE codebooks).
    pub fn item_tokenizer(&self, device: &B::Device) -> Result<Tokenizer<B>, RecBaseError> {
        Ok(Tokenizer::load(&self.itemtok_dir(), device)?)
    }

    /// Encodes a domain's items with the saved item tokenizer, no refit: `item_id -> tokens`
    /// (`levels()` each). An item whose ids the vocabulary cannot write is
    /// [`RecBaseError::Unencodable`] naming the item.
    ///
    /// One exception: with the tokenizer's `append_level` collision strategy the last level is
    /// only a counter that tells apart items sharing the semantic levels, and a new domain's
    /// items continue that count past what the training items used. Such a code is folded into
    /// the vocabulary (`code % size`; see [`fold_disambiguation`](super::corpus::fold_disambiguation)),
    /// logged with the count, instead of failing the whole domain.
    pub fn encode_domain(&self, domain: &Path, device: &B::Device) -> Result<HashMap<String, Vec<u32>>, RecBaseError> {
        let tokenizer = self.item_tokenizer(device)?;
        let mut ids = tokenizer.encode_domain(domain, device)?;
        if tokenizer.manifest.collision == crate::itemtok::CollisionStrategy::AppendLevel {
            let folded = super::corpus::fold_disambiguation(&self.vocab, &mut ids);
            if folded > 0 {
                tracing::warn!(domain = %domain.display(), folded, items = ids.len(), "disambiguation codes past the vocabulary folded (these items may share ids)");
            }
        }
        super::corpus::item_tokens(&self.vocab, ids)
    }
}

fn check_vocab_size(config_path: &Path, config: &DecoderConfig, vocab: &ConceptVocab) -> Result<(), RecBaseError> {
    if config.vocab_size != vocab.len() {
        let message = format!(
            "vocab_size {} but {VOCAB_FILE} has {} tokens (specials + codes)",
            config.vocab_size,
            vocab.len()
        );
        return Err(RecBaseError::format(config_path, message));
    }
    Ok(())
}

/// Writes the final weights (`config.json`, `model.safetensors`) and `vocab.json` into `dir`, each
/// atomically. The config's `vocab_size` must be the vocabulary's size.
pub fn save_final<B: Backend>(
    dir: &Path,
    decoder: &Decoder<B>,
    config: &DecoderConfig,
    vocab: &ConceptVocab,
) -> Result<(), RecBaseError> {
    check_vocab_size(&dir.join(CONFIG_FILE), config, vocab)?;
    vocab.save(&dir.join(VOCAB_FILE))?;
    save_hf_checkpoint(decoder, config, dir)?;
    Ok(())
}

/// Copies the item tokenizer run `src` to `run/itemtok/` (its training checkpoint left out), first
/// into a temporary folder that is then renamed, so a run never holds half a tokenizer. An
/// existing copy is replaced.
pub fn copy_itemtok(src: &Path, run: &Path) -> Result<(), RecBaseError> {
    let dest = run.join(ITEMTOK_DIR);
    let tmp = run.join(format!(".{ITEMTOK_DIR}.tmp-{}", std::process::id()));
    let copied = (|| {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| RecBaseError::io(&tmp, e))?;
        }
        copy_tree(src, &tmp, ITEMTOK_SKIP)?;
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(|e| RecBaseError::io(&dest, e))?;
        }
        std::fs::rename(&tmp, &dest).map_err(|e| RecBaseError::io(&dest, e))
    })();
    if copied.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    copied
}

/// Recursive copy of plain files and folders; top-level entries named in `skip` are left out.
fn copy_tree(src: &Path, dest: &Path, skip: &[&str]) -> Result<(), RecBaseError> {
    std::fs::create_dir_all(dest).map_err(|e| RecBaseError::io(dest, e))?;
    for entry in std::fs::read_dir(src).map_err(|e| RecBaseError::io(src, e))? {
        let entry = entry.map_err(|e| RecBaseError::io(src, e))?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let from = entry.path();
        let to = dest.join(&name);
        if from.is_dir() {
            copy_tree(&from, &to, &[])?;
        } else {
            std::fs::copy(&from, &to).map_err(|e| RecBaseError::io(&from, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::Family;
    use crate::backend::TestBackend;

    fn tiny(vocab: &ConceptVocab) -> DecoderConfig {
        DecoderConfig::new(Family::Qwen2, vocab.len(), 16, 32, 1, 2, 1, 8).with_qkv_bias(true)
    }

    #[test]
    fn save_then_load_round_trips_weights_and_vocab() {
        let dir = tempfile::tempdir().unwrap();
        let vocab = ConceptVocab::new(vec![4, 3]).unwrap();
        let config = tiny(&vocab);
        let device = Default::default();
        let decoder = config.init::<TestBackend>(&device);
        save_final(dir.path(), &decoder, &config, &vocab).unwrap();
        // Not a run until it has its tokenizer copy.
        let err = RecBaseRun::<TestBackend>::load(dir.path(), &device).err().unwrap().to_string();
        assert!(err.contains("itemtok"), "{err}");
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("manifest.json"), "{}").unwrap();
        std::fs::create_dir_all(src.path().join("checkpoint")).unwrap();
        std::fs::create_dir_all(src.path().join("ids")).unwrap();
        std::fs::write(src.path().join("ids/a.jsonl"), "x").unwrap();
        copy_itemtok(src.path(), dir.path()).unwrap();
        assert!(dir.path().join("itemtok/ids/a.jsonl").is_file());
        assert!(!dir.path().join("itemtok/checkpoint").exists());

        let run = RecBaseRun::<TestBackend>::load(dir.path(), &device).unwrap();
        assert_eq!(run.vocab, vocab);
        assert_eq!(run.config.vocab_size, 10);
        let a = decoder.model.embed_tokens.weight.val().into_data();
        let b = run.decoder.model.embed_tokens.weight.val().into_data();
        assert_eq!(a, b);
    }

    #[test]
    fn a_config_of_another_vocabulary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vocab = ConceptVocab::new(vec![4, 3]).unwrap();
        let config = tiny(&ConceptVocab::new(vec![4, 4]).unwrap());
        let decoder = config.init::<TestBackend>(&Default::default());
        let err = save_final(dir.path(), &decoder, &config, &vocab).unwrap_err().to_string();
        assert!(err.contains("vocab_size 11") && err.contains("10 tokens"), "{err}");
    }
}
