//! RecBase pretraining end to end on ndarray (issue 9 item 3): the three tiny synthetic domains
//! of recipes/data/recbase-tiny, an item tokenizer trained first from a tiny recipe, and
//! models/recbase-tiny. The run directory is complete and loads, the loss falls, a run killed
//! right after a checkpoint and resumed reproduces the uninterrupted per-step losses exactly,
//! and bad recipes are refused before any work, naming the key or folder.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::backend::Autodiff;
use common::TestBackend;
use recfound::recbase::RecBaseRun;
use recfound::recbase::finetune::{FinetuneSettings, finetune};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn domains() -> Vec<PathBuf> {
    ["books", "games", "movies"].iter().map(|d| root().join("recipes/data/recbase-tiny").join(d)).collect()
}

/// A 2-level, 8-code tokenizer (plus the appended disambiguation level) trained in a second.
const ITEMTOK_RECIPE: &str = r#"
[text]
layout = "unified"
[text.tfidf]
min_df = 1
max_df_share = 0.9
max_features = 2000
svd = { dim = 16, seed = 0 }
[model]
hidden_dims = [32]
latent_dim = 8
levels = 2
codebook_size = 8
[train]
epochs = 4
batch_size = 64
lr = 1e-2
weight_decay = 0.0
seed = 0
kmeans_rows = 256
kmeans_iters = 5
checkpoint_every = 100
[loss]
recon = 1.0
quant = 1.0
beta = 0.25
entropy = 0.1
temperature = 0.1
[curriculum]
kind = "fixed_epochs"
start_epochs = [0, 0]
[reinit]
kind = "usage_below"
min_used_share = 0.0
cooldown = 3
[ids]
collision = "append_level"
"#;

/// `tokenizer` is `itemtok_recipe = "..."` or `itemtok = "..."`.
fn recipe(dir: &Path, tokenizer: &str, extra: &str) -> PathBuf {
    let list: Vec<String> = domains().iter().map(|d| format!("\"{}\"", d.display())).collect();
    let text = format!(
        r#"
[run]
kind = "recbase"
seed = 3

[model]
config = "{config}"

[recbase]
domains = [{domains}]
domain_weights = [1.0, 1.0, 2.0]
{tokenizer}
min_items = 3
max_items = 12
seq_len = 64

[pretrain]
steps = 8
batch_rows = 4
micro_batch = 2
lr = 3e-3
warmup_ratio = 0.25
save_every = 2
{extra}
"#,
        config = root().join("models/recbase-tiny/config.json").display(),
        domains = list.join(", "),
    );
    let path = dir.join("recipe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn recfound(args: &[&str], env: Option<(&str, &str)>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recfound"));
    cmd.args(args).args(["--backend", "ndarray"]);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn losses(run: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].as_f64().unwrap()).collect()
}

#[test]
fn pretraining_writes_a_loadable_run_lowers_the_loss_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let tok = tmp.path().join("itemtok.toml");
    std::fs::write(&tok, ITEMTOK_RECIPE).unwrap();
    let a_dir = tmp.path().join("a");
    std::fs::create_dir_all(&a_dir).unwrap();
    let a_recipe = recipe(&a_dir, &format!("itemtok_recipe = \"{}\"", tok.display()), "");
    let a = a_dir.join("run");
    let out = recfound(&["recipe", a_recipe.to_str().unwrap(), "--out", a.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    for file in ["recipe.toml", "vocab.json", "config.json", "model.safetensors", "metrics.jsonl", "loss.png", "summary.json", "itemtok/manifest.json", "checkpoints/step-0000008/state.json"] {
        assert!(a.join(file).is_file(), "missing {file}");
    }
    let run = RecBaseRun::<TestBackend>::load(&a, &Default::default()).unwrap();
    // 3 specials + levels of at least the 8-code codebook (the appended level may be larger).
    assert_eq!(run.config.vocab_size, run.vocab.len());
    assert_eq!(run.vocab.levels(), 3);
    assert!(run.vocab.level_sizes[..2].iter().all(|&s| s == 8), "{:?}", run.vocab.level_sizes);
    let tokens = run.encode_domain(&domains()[0], &Default::default()).unwrap();
    assert_eq!(tokens.len(), 84);
    assert!(tokens.values().all(|t| t.len() == 3 && run.vocab.item_codes(t).is_some()));

    let a_losses = losses(&a);
    assert_eq!(a_losses.len(), 8);
    // A random model starts near ln(V) and must learn something in 8 steps.
    let v = run.vocab.len() as f64;
    assert!((a_losses[0] - v.ln()).abs() < 0.5, "first loss {} vs ln V {}", a_losses[0], v.ln());
    assert!(a_losses[7] < a_losses[0] - 0.3, "{a_losses:?}");

    // Kill right after step 4's checkpoint, resume, and compare every step's loss. This run
    // copies the first run's tokenizer (`itemtok = ...`), the other way a recipe names one.
    let b_dir = tmp.path().join("b");
    std::fs::create_dir_all(&b_dir).unwrap();
    let b_recipe = recipe(&b_dir, &format!("itemtok = \"{}\"", a.join("itemtok").display()), "");
    let b = b_dir.join("run");
    let crashed = recfound(&["recipe", b_recipe.to_str().unwrap(), "--out", b.to_str().unwrap()], Some(("RECFOUND_ABORT_AFTER_STEP", "4")));
    assert!(!crashed.status.success(), "the abort hook must stop the run");
    assert_eq!(losses(&b).len(), 4);
    assert!(!b.join("model.safetensors").exists(), "no final weights before the end");
    let resumed = recfound(&["recipe", b_recipe.to_str().unwrap(), "--resume", b.to_str().unwrap()], None);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(losses(&b), a_losses, "resumed losses differ from the uninterrupted run's");

    // Fine-tuning on one domain writes a complete run; each user's last item is held back.
    let ft = tmp.path().join("finetuned");
    let settings = FinetuneSettings { steps: 3, batch_rows: 2, seq_len: 64, min_items: 2, save_every: 3, ..Default::default() };
    let report = finetune::<Autodiff<TestBackend>>(&a, &domains()[2], &ft, &settings, &Default::default()).unwrap();
    let sequences = std::fs::read_to_string(domains()[2].join("sequences.jsonl")).unwrap();
    let lengths: Vec<usize> = sequences.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["item_ids"].as_array().unwrap().len()).collect();
    assert_eq!(report.held_out_users, lengths.len(), "every movies user has at least 3 items");
    assert_eq!(report.domain.filter.items_kept, lengths.iter().map(|n| n - 1).sum::<usize>());
    assert_eq!(report.steps, 3);
    let tuned = RecBaseRun::<TestBackend>::load(&ft, &Default::default()).unwrap();
    assert_eq!(tuned.vocab, run.vocab);
    assert!(ft.join("itemtok/manifest.json").is_file() && ft.join("finetune.json").is_file());
    let moved = tuned.decoder.model.embed_tokens.weight.val().into_data().to_vec::<f32>().unwrap();
    let base = run.decoder.model.embed_tokens.weight.val().into_data().to_vec::<f32>().unwrap();
    assert!(moved != base, "fine-tuning must change the weights");

    // Resuming under a changed recipe is refused.
    let changed = recfound(&["recipe", b_recipe.to_str().unwrap(), "--resume", b.to_str().unwrap(), "--set", "pretrain.lr=0.5"], None);
    assert!(!changed.status.success());
    assert!(String::from_utf8_lossy(&changed.stderr).contains("differs"), "{}", String::from_utf8_lossy(&changed.stderr));
}

#[test]
fn bad_recipes_name_the_key_or_folder_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let tok = tmp.path().join("itemtok.toml");
    std::fs::write(&tok, ITEMTOK_RECIPE).unwrap();
    let tokenizer = format!("itemtok_recipe = \"{}\"", tok.display());
    let out = tmp.path().join("run");
    let run = |path: &Path| {
        let o = recfound(&["recipe", path.to_str().unwrap(), "--out", out.to_str().unwrap()], None);
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = run(&recipe(tmp.path(), &tokenizer, "warmup_steps = 3"));
    assert!(err.contains("warmup_steps"), "{err}");
    let path = recipe(tmp.path(), &tokenizer, "");
    let text = std::fs::read_to_string(&path).unwrap().replace("/games", "/no-such-domain");
    std::fs::write(&path, text).unwrap();
    let err = run(&path);
    assert!(err.contains("recbase.domains") && err.contains("no-such-domain"), "{err}");
    let err = run(&recipe(tmp.path(), "", ""));
    assert!(err.contains("itemtok"), "{err}");
    assert!(!out.exists(), "nothing is written for a refused recipe");
}

#[test]
fn a_non_finite_loss_stops_the_run_with_an_error() {
    // An absurd learning rate blows the weights up after the first update: the run must stop
    // with an error naming the step, and write no final weights.
    let tmp = tempfile::tempdir().unwrap();
    let tok = tmp.path().join("itemtok.toml");
    std::fs::write(&tok, ITEMTOK_RECIPE).unwrap();
    let path = recipe(tmp.path(), &format!("itemtok_recipe = \"{}\"", tok.display()), "");
    let out = tmp.path().join("run");
    let o = recfound(&["recipe", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "--set", "pretrain.lr=1e30", "--set", "pretrain.warmup_ratio=0.0"], None);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the loss is") && err.contains("step"), "{err}");
    assert!(!out.join("model.safetensors").exists());
    assert!(std::fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().count() >= 1);
}
