//! Saving a decoder as an HF checkpoint and loading it back gives the same network, and a saved
//! random model with a real tokenizer serves `recfound generate --prompt` end to end.

mod common;

use std::process::Command;

use burn::tensor::{Int, Tensor, TensorData};
use common::TestBackend;
use recfound::backbone::{AttnMode, DecoderConfig, Family, TokenMask, load_decoder, save_hf_checkpoint};
use serde_json::Value;

fn logits(decoder: &recfound::backbone::Decoder<TestBackend>) -> Vec<f32> {
    let ids = Tensor::<TestBackend, 2, Int>::from_data(TensorData::new(vec![3i64, 1, 4, 1, 5, 9], [1, 6]), &Default::default());
    decoder.forward(ids, &TokenMask::all(1, 6), AttnMode::Causal, None).into_data().to_vec().unwrap()
}

#[test]
fn save_then_load_round_trips_every_family() {
    let device = Default::default();
    for (family, tied) in [(Family::Qwen2, false), (Family::Mistral, true), (Family::Llama, false)] {
        let config = DecoderConfig::new(family, 64, 32, 48, 2, 4, 2, 8)
            .with_qkv_bias(family == Family::Qwen2)
            .with_tie_word_embeddings(tied);
        let decoder = config.init::<TestBackend>(&device);
        let dir = tempfile::tempdir().unwrap();
        save_hf_checkpoint(&decoder, &config, dir.path()).unwrap();
        let loaded = load_decoder::<TestBackend>(dir.path(), &device).unwrap();
        assert_eq!(logits(&decoder), logits(&loaded.decoder), "{family:?}: logits changed through save/load");
        let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(!names.iter().any(|n| n.contains(".tmp")), "temporary file left behind: {names:?}");
    }
}

#[test]
fn generate_with_a_text_prompt_and_template() {
    let Some(tokenizer) = common::shared_data().map(|d| d.join("tokenizers/mistral_v1/tokenizer.json")).filter(|p| p.is_file()) else {
        eprintln!("SKIP text prompt: ../shared/data/tokenizers/mistral_v1 not found");
        return;
    };
    // A tiny random Mistral over the real Mistral vocabulary (32,000 tokens).
    let config = DecoderConfig::new(Family::Mistral, 32000, 16, 32, 1, 2, 1, 8).with_tie_word_embeddings(true).with_eos_token_ids(vec![2]);
    let dir = tempfile::tempdir().unwrap();
    save_hf_checkpoint(&config.init::<TestBackend>(&Default::default()), &config, dir.path()).unwrap();
    std::fs::copy(&tokenizer, dir.path().join("tokenizer.json")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_recfound"))
        .args(["generate", "--model", dir.path().to_str().unwrap(), "--prompt", "Recommend a jazz album.", "--template", "mistral"])
        .args(["--max-new-tokens", "5", "--ignore-eos", "--json", "--backend", "ndarray"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(line["ids"].as_array().unwrap().len(), 5);
    assert!(line["text"].is_string(), "a model directory with tokenizer.json gives text: {line}");
}
