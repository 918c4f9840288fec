//! RecFound training end to end on a tiny model (models/tiny-qwen2 with its byte-level
//! tokenizer) and the hand-written dataset in tests/fixtures/recfound_tiny: the joint loss goes
//! down on both branches, masked TMoLE experts stay untouched, a recipe is checked before any
//! work, and a non-finite loss stops the run keeping the last good checkpoint.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::fixture_dir;

fn recipe(dir: &Path, train_extra: &str, sched_extra: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"
[run]
kind = "recfound"
seed = 7

[model]
config = "{config}"

[adapter]
kind = "tmole"
r = 4
lora_alpha = 8
lora_dropout = 0.0
task_embedding_dim = 16

[train]
data = "{data}"
steps = 12
embedding_batch = 4
generative_batch = 4
lr = 0.01
warmup_ratio = 0.0
decay = "constant"
temperature = 0.05
max_len = 96
save_every = 6
{train_extra}

[s2sched]
warmup_ratio = 0.25
window = 4
update_interval = 2
validation_samples = 4
{sched_extra}
"#,
        config = root.join("models/tiny-qwen2/config.json").display(),
        data = fixture_dir().join("recfound_tiny").display(),
    );
    let path = dir.join("recipe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(recipe: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recfound"))
        .args(["recipe", recipe.to_str().unwrap(), "--backend", "ndarray", "--out", out.to_str().unwrap()])
        .output()
        .unwrap()
}

fn metrics(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_tiny_joint_run_lowers_both_losses_and_writes_its_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let result = run(&recipe(tmp.path(), "", ""), &out);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let m = metrics(&out);
    assert_eq!(m.len(), 12);
    let mean = |key: &str, rows: &[serde_json::Value]| rows.iter().map(|r| r[key].as_f64().unwrap()).sum::<f64>() / rows.len() as f64;
    // The generative branch starts at ln(vocab) on a random model and moves slower through
    // attention-only adapters; both must clearly fall.
    for (key, factor) in [("embedding_loss", 0.8), ("generative_loss", 0.95)] {
        let (first, last) = (mean(key, &m[..2]), mean(key, &m[10..]));
        assert!(last < factor * first, "{key}: {first} -> {last}");
    }
    // One S2Sched update at the start and every 2 steps after, each with the replay line format.
    let schedule: Vec<serde_json::Value> =
        std::fs::read_to_string(out.join("schedule.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(schedule.len(), 6);
    assert!(schedule[0]["val_loss"]["Emb_user"].is_number() && schedule[0]["val_loss"]["Sentiment_Analysis"].is_number());
    for dir in ["adapter", "adapter-init", "checkpoints/step-0000006", "checkpoints/step-0000012"] {
        assert!(out.join(dir).join("adapter_model.safetensors").is_file(), "{dir}");
    }
}

fn tensor(dir: &Path, key: &str) -> Vec<f32> {
    let bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(key).unwrap().data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn embedding_only_training_leaves_the_generative_experts_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let result = run(&recipe(tmp.path(), r#"tasks = ["Emb_user"]"#, ""), &out);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    // TMoLE default groups 2/2/2: experts 0-1 embedding, 2-3 shared, 4-5 generative ([N, r, d_in]).
    let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    let (before, after) = (tensor(&out.join("adapter-init"), key), tensor(&out.join("adapter"), key));
    let per_expert = before.len() / 6;
    let changed = |e: usize| before[e * per_expert..(e + 1) * per_expert] != after[e * per_expert..(e + 1) * per_expert];
    assert!(changed(0) && changed(2), "the embedding and shared experts trained");
    assert!(!changed(4) && !changed(5), "a generative expert moved without a generative sample");
}

#[test]
fn bad_recipes_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    for (train, sched, key) in [
        (r#"tasks = ["Emb_user", "Emb_user"]"#, "", "named twice"),
        (r#"tasks = ["Emb_nobody"]"#, "", "train.tasks"),
        ("", "tau = 0.0", "s2sched.tau"),
        ("group_size = 0", "", "train.group_size"),
        ("colour = 3", "", "unknown field `colour`"),
    ] {
        let text = std::fs::read_to_string(recipe(tmp.path(), "", "")).unwrap().replace("temperature = 0.05", &format!("temperature = 0.05\n{train}")).replace("validation_samples = 4", &format!("validation_samples = 4\n{sched}"));
        let path = tmp.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = tmp.path().join("bad-run");
        let result = run(&path, &out);
        assert!(!result.status.success(), "{key}");
        assert!(String::from_utf8_lossy(&result.stderr).contains(key), "{key}: {}", String::from_utf8_lossy(&result.stderr));
        assert!(!out.join("metrics.jsonl").exists(), "{key}: work started");
    }
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let text = std::fs::read_to_string(recipe(tmp.path(), "", "")).unwrap().replace("lr = 0.01", "lr = 1e30").replace("save_every = 6", "save_every = 1");
    let path = tmp.path().join("diverge.toml");
    std::fs::write(&path, text).unwrap();
    let result = run(&path, &out);
    assert!(!result.status.success());
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(err.contains("the loss is") && err.contains("last good adapter checkpoint"), "{err}");
    assert!(out.join("checkpoints/step-0000001/adapter_model.safetensors").is_file());
    assert!(!out.join("adapter").exists(), "no final adapter after a failed run");
}

/// `recfound s2sched replay --run` with the run's own settings reproduces the ratios training
/// logged, exactly (one implementation), and other settings give other ratios.
#[test]
fn replay_reproduces_the_logged_ratios() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let result = run(&recipe(tmp.path(), "", ""), &out);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let replay = |extra: &[&str], file: &str| {
        let target = tmp.path().join(file);
        let status = Command::new(env!("CARGO_BIN_EXE_recfound"))
            .args(["s2sched", "replay", "--run", out.to_str().unwrap(), "--out", target.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        std::fs::read_to_string(target).unwrap().lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).collect::<Vec<_>>()
    };
    let logged: Vec<serde_json::Value> =
        std::fs::read_to_string(out.join("schedule.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let same = replay(&[], "same.jsonl");
    assert_eq!(same.len(), logged.len());
    for (r, l) in same.iter().zip(&logged) {
        assert_eq!(r["omega"], l["omega"], "step {}", l["step"]);
    }
    // One task per branch here, so every omega is 1; beta shows the other settings.
    let other = replay(&["--tau", "0.5", "--warmup-steps", "0"], "other.jsonl");
    assert!(other.iter().zip(&same).any(|(o, s)| o["beta"] != s["beta"]), "other settings changed nothing");
}

/// A run killed right after a checkpoint (`abort()`, as `kill -9` leaves it) and resumed with
/// `--resume` reproduces the uninterrupted run's per-step losses exactly, on ndarray.
#[test]
fn kill_and_resume_is_bit_exact() {
    let tmp = tempfile::tempdir().unwrap();
    // Dropout on, so the per-step RNG reseeding is exercised too.
    let path = recipe(tmp.path(), "", "");
    let text = std::fs::read_to_string(&path).unwrap().replace("lora_dropout = 0.0", "lora_dropout = 0.1").replace("save_every = 6", "save_every = 3");
    std::fs::write(&path, text).unwrap();
    let straight = tmp.path().join("straight");
    assert!(run(&path, &straight).status.success());

    let crashed = tmp.path().join("crashed");
    let killed = Command::new(env!("CARGO_BIN_EXE_recfound"))
        .args(["recipe", path.to_str().unwrap(), "--backend", "ndarray", "--out", crashed.to_str().unwrap()])
        .env("RECFOUND_ABORT_AFTER_STEP", "7")
        .output()
        .unwrap();
    assert!(!killed.status.success(), "the abort hook did not fire");
    // Step 7 ran past the step-6 checkpoint: its metrics line exists and must be redone.
    assert_eq!(metrics(&crashed).len(), 7);
    let resumed = Command::new(env!("CARGO_BIN_EXE_recfound"))
        .args(["recipe", path.to_str().unwrap(), "--backend", "ndarray", "--resume", crashed.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let (a, b) = (metrics(&straight), metrics(&crashed));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x["step"].clone(), x["loss"].clone(), x["lr"].clone(), x["tasks"].clone()), (y["step"].clone(), y["loss"].clone(), y["lr"].clone(), y["tasks"].clone()));
    }
    let final_of = |d: &Path| std::fs::read(d.join("adapter/adapter_model.safetensors")).unwrap();
    assert_eq!(final_of(&straight), final_of(&crashed), "the final adapters differ");
    // Resuming under another recipe is refused.
    let other = Command::new(env!("CARGO_BIN_EXE_recfound"))
        .args(["recipe", path.to_str().unwrap(), "--backend", "ndarray", "--resume", crashed.to_str().unwrap(), "--set", "train.lr=0.5"])
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("the recipe differs"), "{}", String::from_utf8_lossy(&other.stderr));
}

/// Micro-batches (CE summed over micro-batches, InfoNCE through GradCache) give the gradients
/// of one big batch.
#[test]
fn accumulation_equals_one_big_batch() {
    use burn::backend::Autodiff;
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    use burn::tensor::backend::Backend;
    use burn::tensor::Tensor;
    use recfound::adapters::{Adapter, AdapterConfig};
    use recfound::backbone::DecoderConfig;
    use recfound::text::{PromptTemplate, TextTokenizer};
    use recfound::train::data::{PrepareSettings, prepare};
    use recfound::train::{JointBatch, RecFoundModel};

    type B = common::TestBackend;
    type AB = Autodiff<B>;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let device = Default::default();
    let config = DecoderConfig::from_hf_file(&root.join("models/tiny-qwen2/config.json")).unwrap();
    AB::seed(&device, 3);
    let decoder = config.init::<AB>(&device).no_grad();
    let mut adapter_config = AdapterConfig::recfound_tmole();
    adapter_config.r = 4;
    adapter_config.lora_dropout = 0.0;
    adapter_config.tmole.as_mut().unwrap().task_embedding_dim = 16;
    let adapter = Adapter::new(adapter_config, &decoder, true, &device).unwrap();
    let tok = TextTokenizer::from_dir(root.join("models/tiny-qwen2")).unwrap();
    let settings = PrepareSettings { template: PromptTemplate::GritLm, group_size: 2, max_len: 96, max_rows: 0, validation_samples: 2 };
    let data = prepare(&fixture_dir().join("recfound_tiny"), &[], &tok, &settings).unwrap();
    let batch = JointBatch { embedding: data.examples.embedding[0][..5].to_vec(), generative: data.examples.generative[0][..5].to_vec() };

    let mut model = RecFoundModel { decoder, adapter, temperature: 0.05, micro_batch: 0, seed: 1 };
    let big = model.joint_loss(&batch);
    let big_loss: f32 = big.loss.clone().into_scalar();
    let big_grads = GradientsParams::from_grads(big.loss.backward(), &model);
    model.micro_batch = 3; // 15 embedding inputs in 5 passes, 5 generative examples in 2
    let acc = model.accumulated_step(&batch);
    let acc_loss: f32 = acc.item.loss.clone().into_scalar();
    assert!((big_loss - acc_loss).abs() < 1e-4, "{big_loss} vs {acc_loss}");

    struct Compare<'a> {
        a: &'a GradientsParams,
        b: &'a GradientsParams,
        worst: f32,
        largest: f32,
        params: usize,
    }
    impl ModuleVisitor<AB> for Compare<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
            let (Some(a), Some(b)) = (self.a.get::<B, D>(param.id), self.b.get::<B, D>(param.id)) else {
                panic!("a parameter has a gradient in one run only");
            };
            let a: Vec<f32> = a.into_data().to_vec().unwrap();
            let b: Vec<f32> = b.into_data().to_vec().unwrap();
            for (x, y) in a.iter().zip(&b) {
                self.worst = self.worst.max((x - y).abs());
                self.largest = self.largest.max(x.abs());
            }
            self.params += 1;
        }
    }
    let mut cmp = Compare { a: &big_grads, b: &acc.grads, worst: 0.0, largest: 0.0, params: 0 };
    model.adapter.visit(&mut cmp);
    assert!(cmp.params > 10 && cmp.largest > 1e-3, "no gradients to compare");
    assert!(cmp.worst <= 1e-5 + 1e-4 * cmp.largest, "max |diff| {} (largest gradient {})", cmp.worst, cmp.largest);
}

/// The authors' GritLM-style layout: rows of several tasks mixed in flat files (here one file
/// at the top and one in a subfolder), each row's task read from its `task` key, validation rows
/// held out of training because that layout has no validation split.
#[test]
fn flat_files_are_grouped_by_their_task_key() {
    use recfound::recfound::TaskId;
    use recfound::text::{PromptTemplate, TextTokenizer};
    use recfound::train::data::{PrepareSettings, prepare};

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tok = TextTokenizer::from_dir(root.join("models/tiny-qwen2")).unwrap();
    let tiny = fixture_dir().join("recfound_tiny");
    let read = |task: &str, split: &str| std::fs::read_to_string(tiny.join(task).join(format!("{split}.jsonl"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 6 + 4 Emb_user rows and 6 + 4 Sentiment_Analysis rows, interleaved over two files.
    std::fs::write(dir.path().join("part-0.jsonl"), read("Emb_user", "train") + &read("Sentiment_Analysis", "validation")).unwrap();
    std::fs::create_dir(dir.path().join("more")).unwrap();
    std::fs::write(dir.path().join("more/part-1.jsonl"), read("Sentiment_Analysis", "train") + &read("Emb_user", "validation")).unwrap();
    let settings = PrepareSettings { template: PromptTemplate::GritLm, group_size: 2, max_len: 96, max_rows: 0, validation_samples: 3 };
    let data = prepare(dir.path(), &[], &tok, &settings).unwrap();
    assert_eq!(data.embedding_tasks, [TaskId::EmbUser]);
    assert_eq!(data.generative_tasks, [TaskId::SentimentAnalysis]);
    assert_eq!((data.examples.embedding[0].len(), data.validation.embedding[0].1.len()), (7, 3));
    assert_eq!((data.examples.generative[0].len(), data.validation.generative[0].1.len()), (7, 3));

    // A task asked for but absent, and a bad row, are errors naming the file (and the line).
    let err = prepare(dir.path(), &[TaskId::ItemProfile], &tok, &settings).unwrap_err().to_string();
    assert!(err.contains("item_profile") && err.contains(&dir.path().display().to_string()), "{err}");
    std::fs::write(dir.path().join("more/part-2.jsonl"), "{\"text\": [\"a\"], \"task\": \"Sentiment_Analysis\"}\n").unwrap();
    let err = prepare(dir.path(), &[], &tok, &settings).unwrap_err().to_string();
    assert!(err.contains("part-2.jsonl:1:"), "{err}");
}
