//! The checkpoint text encoder of the item tokenizer (issue 8 item 2) on a tiny random Qwen2
//! (models/tiny-qwen2 config and byte-level tokenizer): its vectors are `backbone::embed`'s
//! mean-pooled vectors, a second encode is served from the cache without running the model, a
//! cache never serves another model, damage is named, and a tokenizer run trained with it encodes
//! unseen domains through the same checkpoint.

mod common;
mod itemtok_support;

use std::path::Path;

use burn::backend::Autodiff;
use common::TestBackend;
use recfound::backbone::embed::{EmbedInput, embed};
use recfound::backbone::{AttnMode, load_decoder};
use recfound::itemtok::recipe::ItemTokRecipe;
use recfound::itemtok::run::{TEXT_ENCODER_FILE, Tokenizer, train_run};
use recfound::itemtok::run_encoder::{CACHE_DIR, CHECKPOINT_FILE, RunEncoder};
use recfound::itemtok::{CheckpointEncoder, CheckpointEncoderConfig, TextEncoder, read_id_table};
use recfound::text::TextTokenizer;

use itemtok_support::{domain, repo, tiny_checkpoint, tiny_training_sets};

fn texts() -> Vec<String> {
    ["Title: Blue ink pen", "Title: Office chair\nBrand: Acme", "Title: Desk lamp", "lamp", "Title: Blue ink pen"]
        .map(String::from)
        .to_vec()
}

/// `embed` of `texts` in one batch, tokenized as the encoder does (BOS, then the text, pooled
/// from the first text token).
fn reference(model: &Path, texts: &[String], mode: AttnMode) -> Vec<Vec<f32>> {
    let device = Default::default();
    let decoder = load_decoder::<TestBackend>(model, &device).unwrap().decoder;
    let tokenizer = TextTokenizer::from_dir(model).unwrap();
    assert!(tokenizer.adds_bos());
    let inputs: Vec<EmbedInput> =
        texts.iter().map(|t| EmbedInput { ids: tokenizer.encode(t, true).unwrap(), pool_start: 1 }).collect();
    let pooled = embed(&decoder, &inputs, mode, false, &device).unwrap();
    let d = pooled.dims()[1];
    pooled.into_data().to_vec::<f32>().unwrap().chunks(d).map(<[f32]>::to_vec).collect()
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn open(model: &Path, cache: &Path, bidirectional: bool) -> CheckpointEncoder<TestBackend> {
    let config = CheckpointEncoderConfig {
        batch: 2,
        bidirectional,
        cache: Some(cache.to_path_buf()),
        ..CheckpointEncoderConfig::new(model)
    };
    CheckpointEncoder::open(&config, cache, &Default::default()).unwrap()
}

#[test]
fn vectors_are_embed_mean_pooling_in_either_attention_mode() {
    let root = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(&root.path().join("model"));
    for (bidirectional, mode) in [(true, AttnMode::Bidirectional), (false, AttnMode::Causal)] {
        let encoder = open(&model, &root.path().join("cache"), bidirectional);
        assert_eq!(encoder.dim(), 64);
        let vectors = encoder.encode(&texts()).unwrap();
        // Batches of 2 over 4 distinct texts (the repeated pen is encoded once).
        assert_eq!(encoder.batches_run(), 2);
        let diff = max_abs_diff(&vectors, &reference(&model, &texts(), mode));
        assert!(diff < 1e-5, "{mode:?}: max |encoder - embed| = {diff}");
        assert_eq!(vectors[0], vectors[4]);
    }
}

#[test]
fn second_encode_is_served_from_the_cache() {
    let root = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(&root.path().join("model"));
    let cache = root.path().join("cache");
    let first = open(&model, &cache, true).encode(&texts()).unwrap();

    // A fresh encoder (a new process, say): nothing runs, the vectors are the same bits.
    let encoder = open(&model, &cache, true);
    assert_eq!(encoder.encode(&texts()).unwrap(), first);
    assert_eq!(encoder.batches_run(), 0);
    // One new text: one forward pass, for it alone.
    let mut more = texts();
    more.push("Title: Green wool scarf".into());
    let vectors = encoder.encode(&more).unwrap();
    assert_eq!(encoder.batches_run(), 1);
    assert_eq!(vectors[..5], first[..]);

    // A truncated cache file is an error naming it.
    let file = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = open(&model, &cache, true).encode(&texts()).unwrap_err().to_string();
    assert!(err.contains(file.file_name().unwrap().to_str().unwrap()) && err.contains("delete"), "{err}");
}

#[test]
fn a_cache_never_serves_another_model_or_setting() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let a = tiny_checkpoint(&root.path().join("a"));
    let b = tiny_checkpoint(&root.path().join("b"));
    let from_a = open(&a, &cache, true).encode(&texts()).unwrap();

    // Another model, same cache folder: it runs, and its vectors are its own.
    let encoder = open(&b, &cache, true);
    let from_b = encoder.encode(&texts()).unwrap();
    assert!(encoder.batches_run() > 0);
    assert!(max_abs_diff(&from_b, &reference(&b, &texts(), AttnMode::Bidirectional)) < 1e-5);
    assert!(max_abs_diff(&from_a, &from_b) > 1e-3);
    // Causal attention is another identity too.
    let causal = open(&a, &cache, false);
    causal.encode(&texts()).unwrap();
    assert!(causal.batches_run() > 0);

    // Model a's weights replaced in place by b's: same path, but not a's cache. The identity is
    // the checkpoint's content, so it is b's cache that serves it (without running).
    std::fs::copy(b.join("model.safetensors"), a.join("model.safetensors")).unwrap();
    let encoder = open(&a, &cache, true);
    assert_eq!(encoder.encode(&texts()).unwrap(), from_b);
    assert_eq!(encoder.batches_run(), 0);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 3, "one file per model and setting");
}

fn checkpoint_recipe(model: &Path) -> ItemTokRecipe {
    let encoder = format!("text.encoder={{ kind = \"checkpoint\", path = {:?}, batch = 8 }}", model.to_str().unwrap());
    let sets: Vec<String> = std::iter::once(encoder).chain(tiny_training_sets()).collect();
    ItemTokRecipe::load(&repo().join("recipes/itemtok-clvae.toml"), &sets).unwrap()
}

#[test]
fn a_run_trained_with_a_checkpoint_encodes_unseen_domains_through_it() {
    let root = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(&root.path().join("model"));
    let shop = domain(&root.path().join("shop"), "s", 30, "home");
    let run = root.path().join("run");
    let device = Default::default();
    let recipe = checkpoint_recipe(&model);
    train_run::<Autodiff<TestBackend>>(std::slice::from_ref(&shop), &recipe, &run, &device, &mut |_| {}).unwrap();
    // The run keeps the checkpoint's path and settings, not a TF-IDF encoder or weights.
    assert!(run.join(CHECKPOINT_FILE).is_file() && !run.join(TEXT_ENCODER_FILE).exists());
    assert_eq!(std::fs::read_dir(run.join(CACHE_DIR)).unwrap().count(), 1);
    let saved = read_id_table(&run.join("ids/shop.jsonl")).unwrap();

    let tokenizer = Tokenizer::<TestBackend>::load(&run, &device).unwrap();
    let RunEncoder::Checkpoint(encoder) = &tokenizer.encoder else { panic!("{:?}", tokenizer.encoder) };
    assert_eq!(encoder.dim(), 64);
    // A training domain: its saved ids, every text from the cache.
    assert_eq!(tokenizer.encode_domain(&shop, &device).unwrap(), saved);
    assert_eq!(encoder.batches_run(), 0);
    // An unseen domain: the model runs on its new texts, and all ids stay distinct.
    let unseen = domain(&root.path().join("unseen"), "n", 12, "garden");
    let fresh = tokenizer.encode_domain(&unseen, &device).unwrap();
    assert_eq!(fresh.len(), 12);
    assert!(encoder.batches_run() > 0);
    let mut all: Vec<&Vec<u32>> = saved.iter().chain(&fresh).map(|e| &e.ids).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 42);

    // Training again on the same run resumes with the same checkpoint ...
    train_run::<Autodiff<TestBackend>>(std::slice::from_ref(&shop), &recipe, &run, &device, &mut |_| {}).unwrap();
    // ... but a changed checkpoint is refused, at train and at encode time, naming it.
    let other = tiny_checkpoint(&root.path().join("other"));
    std::fs::copy(other.join("model.safetensors"), model.join("model.safetensors")).unwrap();
    let err = Tokenizer::<TestBackend>::load(&run, &device).unwrap_err().to_string();
    assert!(err.contains(model.to_str().unwrap()) && err.contains("changed"), "{err}");
    let err = train_run::<Autodiff<TestBackend>>(&[shop], &recipe, &run, &device, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("changed"), "{err}");
    // A missing checkpoint names its path.
    std::fs::remove_dir_all(&model).unwrap();
    let err = Tokenizer::<TestBackend>::load(&run, &device).unwrap_err().to_string();
    assert!(err.contains(model.to_str().unwrap()) && err.contains("not found"), "{err}");
}

#[test]
fn cli_trains_with_a_checkpoint_and_encodes_an_unseen_domain() {
    let root = tempfile::tempdir().unwrap();
    let model = tiny_checkpoint(&root.path().join("model"));
    let shop = domain(&root.path().join("shop"), "s", 30, "home");
    let unseen = domain(&root.path().join("unseen"), "n", 12, "garden");
    let (run, ids) = (root.path().join("run"), root.path().join("ids.jsonl"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let recfound = || std::process::Command::new(env!("CARGO_BIN_EXE_recfound"));
    let mut train = vec!["itemtok".into(), "train".into(), "--domain".into(), s(&shop), "--out".into(), s(&run)];
    train.extend([
        "--recipe".into(),
        s(&repo().join("recipes/itemtok-clvae.toml")),
        "--backend".into(),
        "ndarray".into(),
    ]);
    let encoder = format!("text.encoder={{ kind = \"checkpoint\", path = {:?} }}", s(&model));
    for set in std::iter::once(encoder).chain(tiny_training_sets()) {
        train.extend(["--set".into(), set]);
    }
    let out = recfound().args(&train).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let encode = ["itemtok", "encode", "--run", &s(&run), "--domain", &s(&unseen), "--out", &s(&ids)];
    let out = recfound().args(encode).args(["--backend", "ndarray"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_id_table(&ids).unwrap().len(), 12);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("text encoder: checkpoint") && stdout.contains("forward batch"), "{stdout}");
    // Without its checkpoint the run cannot encode, and says which folder is missing.
    std::fs::remove_dir_all(&model).unwrap();
    let out = recfound().args(encode).args(["--backend", "ndarray"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(&s(&model)) && stderr.contains("not found"), "{stderr}");
}
