//! The item tokenizer end to end on tiny synthetic domains (ndarray): train a run, encode seen
//! and unseen domains, the `recfound itemtok` CLI contract, and bad input named by file.

mod common;
mod itemtok_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use burn::backend::Autodiff;
use common::TestBackend;
use recfound::itemtok::recipe::ItemTokRecipe;
use recfound::itemtok::run::{CONFIG_FILE, MODEL_FILE, Tokenizer, train_run};
use recfound::itemtok::{ItemIds, read_id_table};

use itemtok_support::{domain, tiny_training_sets};

fn tiny_sets() -> Vec<String> {
    let tfidf = ["text.tfidf.min_df=1", "text.tfidf.max_df_share=1.0", "text.tfidf.svd.dim=8"];
    tfidf.map(String::from).into_iter().chain(tiny_training_sets()).collect()
}

fn recipe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/itemtok-clvae.toml")
}

fn tiny_recipe() -> ItemTokRecipe {
    ItemTokRecipe::load(&recipe_path(), &tiny_sets()).unwrap()
}

fn train(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let a = domain(&root.join("shop"), "s", 30, "home");
    let b = domain(&root.join("store"), "t", 24, "office");
    let run = root.join("run");
    let device = Default::default();
    train_run::<Autodiff<TestBackend>>(&[a.clone(), b.clone()], &tiny_recipe(), &run, &device, &mut |_| {}).unwrap();
    (run, a, b)
}

fn distinct(tables: &[&[ItemIds]]) -> bool {
    let all: Vec<&Vec<u32>> = tables.iter().flat_map(|t| t.iter().map(|e| &e.ids)).collect();
    all.iter().collect::<HashSet<_>>().len() == all.len()
}

#[test]
fn train_then_encode_seen_and_unseen_domains() {
    let root = tempfile::tempdir().unwrap();
    let (run, shop, _) = train(root.path());
    for file in ["report.json", "trie.json", "metrics.jsonl", "usage.png", "usage_level_1.png", "latents_pca.png"] {
        assert!(run.join(file).is_file(), "{file}");
    }
    let saved_shop = read_id_table(&run.join("ids/shop.jsonl")).unwrap();
    let saved_store = read_id_table(&run.join("ids/store.jsonl")).unwrap();
    assert_eq!(saved_shop.len(), 30);
    // append_level: every id is 2 codes + 1 disambiguation level, and all 54 are distinct.
    assert!(saved_shop.iter().all(|e| e.ids.len() == 3));
    assert!(distinct(&[&saved_shop, &saved_store]));

    let device = Default::default();
    let tokenizer = Tokenizer::<TestBackend>::load(&run, &device).unwrap();
    // A training domain encodes to exactly its saved ids, every time.
    let again = tokenizer.encode_domain(&shop, &device).unwrap();
    assert_eq!(again, saved_shop);
    assert_eq!(tokenizer.encode_domain(&shop, &device).unwrap(), again);
    // An unseen domain (new words too) gets ids distinct from all saved ones.
    let unseen = domain(&root.path().join("unseen"), "n", 12, "garden");
    let fresh = tokenizer.encode_domain(&unseen, &device).unwrap();
    assert_eq!(fresh.len(), 12);
    assert!(distinct(&[&saved_shop, &saved_store, &fresh]));
}

#[test]
fn damaged_runs_and_bad_domains_are_named() {
    let root = tempfile::tempdir().unwrap();
    let (run, _, _) = train(root.path());
    let device = Default::default();

    // The run directory belongs to its domains: training it again on others is refused.
    let other = domain(&root.path().join("other"), "o", 20, "garden");
    let err = train_run::<Autodiff<TestBackend>>(&[other], &tiny_recipe(), &run, &device, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("manifest.json"), "{err}");

    let empty = root.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("items.jsonl"), "").unwrap();
    let tokenizer = Tokenizer::<TestBackend>::load(&run, &device).unwrap();
    let err = tokenizer.encode_domain(&empty, &device).unwrap_err().to_string();
    assert!(err.contains("items.jsonl") && err.contains("no items"), "{err}");

    let untitled = root.path().join("untitled");
    std::fs::create_dir_all(&untitled).unwrap();
    std::fs::write(
        untitled.join("items.jsonl"),
        "{\"item_id\":\"a\",\"title\":\"pen\"}\n{\"item_id\":\"b\",\"title\":\"\"}\n",
    )
    .unwrap();
    let err = tokenizer.encode_domain(&untitled, &device).unwrap_err().to_string();
    assert!(err.contains("items.jsonl:2") && err.contains("`b`"), "{err}");

    // Encoder and codebooks disagree: rqvae.json claims 9 inputs, the text encoder gives 8.
    let config_path = run.join(CONFIG_FILE);
    let config = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, config.replace("\"input_dim\": 8", "\"input_dim\": 9")).unwrap();
    let err = Tokenizer::<TestBackend>::load(&run, &device).unwrap_err().to_string();
    assert!(err.contains("rqvae.json") && err.contains("input_dim 9"), "{err}");
    std::fs::write(&config_path, config.replace("\"latent_dim\": 4", "\"latent_dim\": 5")).unwrap();
    let err = Tokenizer::<TestBackend>::load(&run, &device).unwrap_err().to_string();
    assert!(err.contains("rqvae.safetensors") && err.contains("codebooks.0"), "{err}");
    std::fs::write(&config_path, config).unwrap();

    let model = run.join(MODEL_FILE);
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() - 10]).unwrap();
    let err = Tokenizer::<TestBackend>::load(&run, &device).unwrap_err().to_string();
    assert!(err.contains("rqvae.safetensors"), "{err}");
}

#[test]
fn cli_train_and_encode_contract() {
    let root = tempfile::tempdir().unwrap();
    let a = domain(&root.path().join("shop"), "s", 30, "home");
    let run = root.path().join("run");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let mut args =
        vec!["itemtok".into(), "train".into(), "--domain".into(), s(&a), "--recipe".into(), s(&recipe_path())];
    args.extend(["--out".into(), s(&run), "--backend".into(), "ndarray".into()]);
    for set in tiny_sets() {
        args.extend(["--set".into(), set]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_recfound")).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("collisions"));

    let ids = root.path().join("ids.jsonl");
    let encode =
        ["itemtok", "encode", "--run", &s(&run), "--domain", &s(&a), "--out", &s(&ids), "--backend", "ndarray"];
    let out = Command::new(env!("CARGO_BIN_EXE_recfound")).args(encode).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = std::fs::read_to_string(&ids).unwrap().lines().next().unwrap().to_string();
    let line: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(line["item_id"], "s0");
    assert_eq!(line["ids"].as_array().unwrap().len(), 3);

    let missing = root.path().join("nowhere");
    let encode = ["itemtok", "encode", "--run", &s(&run), "--domain", &s(&missing), "--out", &s(&ids)];
    let out = Command::new(env!("CARGO_BIN_EXE_recfound")).args(encode).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"), "{}", String::from_utf8_lossy(&out.stderr));
}
