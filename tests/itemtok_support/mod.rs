//! Fixtures shared by the item-tokenizer tests: tiny synthetic domain folders and a tiny random
//! Qwen2 checkpoint (models/tiny-qwen2 config and byte-level tokenizer).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use recfound::backbone::{DecoderConfig, save_hf_checkpoint};

use super::common::TestBackend;

const ADJECTIVES: [&str; 6] = ["red", "blue", "green", "wool", "steel", "paper"];
const NOUNS: [&str; 6] = ["scarf", "lamp", "chair", "pen", "desk", "mug"];

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A domain folder of `n` items titled `adjective noun extra` (item ids `prefix0`, ...).
pub fn domain(dir: &Path, prefix: &str, n: usize, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let lines: String = (0..n)
        .map(|i| {
            let title = format!("{} {} {extra} {}", ADJECTIVES[i % 6], NOUNS[(i / 6) % 6], i % 5);
            format!("{{\"item_id\":\"{prefix}{i}\",\"title\":\"{title}\"}}\n")
        })
        .collect();
    std::fs::write(dir.join("items.jsonl"), lines).unwrap();
    std::fs::write(dir.join("sequences.jsonl"), format!("{{\"user_id\":\"u\",\"item_ids\":[\"{prefix}0\"]}}\n"))
        .unwrap();
    dir.to_path_buf()
}

/// A randomly initialised tiny Qwen2 (hidden 64) with its tokenizer, saved into `dir`.
pub fn tiny_checkpoint(dir: &Path) -> PathBuf {
    let config = DecoderConfig::from_hf_file(&repo().join("models/tiny-qwen2/config.json")).unwrap();
    let decoder = config.init::<TestBackend>(&Default::default());
    save_hf_checkpoint(&decoder, &config, dir).unwrap();
    std::fs::copy(repo().join("models/tiny-qwen2/tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    dir.to_path_buf()
}

/// Recipe overrides for a network small enough to train in a blink (2 levels of 4 codes).
pub fn tiny_training_sets() -> Vec<String> {
    [
        "model.hidden_dims=[8]",
        "model.latent_dim=4",
        "model.levels=2",
        "model.codebook_size=4",
        "curriculum.start_epochs=[0, 1]",
        "train.epochs=2",
        "train.batch_size=16",
        "train.kmeans_rows=16",
    ]
    .map(String::from)
    .to_vec()
}
