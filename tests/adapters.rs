//! LoRA and TMoLE adapters: PEFT compatibility both ways on fixtures made by PEFT
//! (`scripts/make_adapter_fixtures.py`), frozen base, group masking, batch independence, bad input.

mod common;

use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use common::{TestBackend, assert_close, fixture_dir, read_f32};
use recfound::adapters::{Adapter, AdapterConfig, ExpertGroups, TmoleConfig, load_adapter, save_adapter};
use recfound::backbone::{AttnMode, Decoder, Lm, ProjectionDelta, Sampler, StopConfig, TokenMask, generate, load_decoder};
use recfound::recfound::TaskId;

type B = TestBackend;
type AB = Autodiff<TestBackend>;

fn adapters_dir() -> PathBuf {
    fixture_dir().join("adapters")
}

fn base<Bk: Backend>() -> Decoder<Bk> {
    load_decoder::<Bk>(&fixture_dir().join("qwen2"), &Default::default()).unwrap().decoder
}

fn ids<Bk: Backend>(rows: &[Vec<i64>]) -> Tensor<Bk, 2, Int> {
    let (b, t) = (rows.len(), rows[0].len());
    Tensor::from_data(TensorData::new(rows.concat(), [b, t]), &Default::default())
}

fn logits<Bk: Backend>(lm: Lm<'_, Bk>, rows: &[Vec<i64>]) -> Vec<f32> {
    let (b, t) = (rows.len(), rows[0].len());
    lm.forward(ids(rows), &TokenMask::all(b, t), AttnMode::Causal, None).into_data().convert::<f32>().to_vec().unwrap()
}

struct Expected {
    input_ids: Vec<Vec<i64>>,
    prompt: Vec<u32>,
    greedy: Vec<u32>,
}

fn expected(dir: &Path) -> Expected {
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let list = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect::<Vec<_>>();
    Expected {
        input_ids: j["input_ids"].as_array().unwrap().iter().map(list).collect(),
        prompt: list(&j["prompt"]).into_iter().map(|x| x as u32).collect(),
        greedy: list(&j["greedy"]).into_iter().map(|x| x as u32).collect(),
    }
}

/// Logits within 1e-4 and identical greedy ids with the adapter, and merge-into-base equal to
/// PEFT's merge_and_unload.
fn check_against_peft(name: &str) {
    let dir = adapters_dir().join(name);
    let exp = expected(&dir);
    let decoder = base::<B>();
    let adapter = load_adapter(&dir, &decoder, &Default::default()).unwrap();
    let bound = adapter.bind(&[]).unwrap();
    let lm = Lm::new(&decoder, Some(&bound as &dyn ProjectionDelta<B>));
    let (want, _) = read_f32(&dir.join("expected.safetensors"), "logits");
    assert_close(&format!("{name} logits"), &logits(lm, &exp.input_ids), &want, 1e-4);
    let stop = StopConfig { max_new_tokens: exp.greedy.len(), eos_token_ids: vec![], pad_token_id: 0 };
    let out = generate(lm, std::slice::from_ref(&exp.prompt), &mut Sampler::Greedy, &stop, &Default::default()).unwrap();
    assert_eq!(out[0], exp.greedy, "{name}: greedy ids");

    let merged = adapter.merge_into(base::<B>(), None).unwrap();
    let (want, _) = read_f32(&dir.join("expected.safetensors"), "merged_logits");
    assert_close(&format!("{name} merged logits"), &logits(Lm::from(&merged), &exp.input_ids), &want, 1e-4);
}

#[test]
fn peft_made_lora_matches_peft() {
    check_against_peft("peft_lora");
}

#[test]
fn peft_made_rslora_with_regex_targets_matches_peft() {
    check_against_peft("peft_rslora");
}

/// The other direction: recfound saved this adapter, PEFT loaded it (the script checked every
/// tensor) and computed these logits.
#[test]
fn recfound_saved_lora_gives_peft_the_same_logits() {
    let check: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(adapters_dir().join("recfound_lora/peft_check.json")).unwrap()).unwrap();
    assert_eq!(check["all_tensors_equal"], true);
    check_against_peft("recfound_lora");
}

#[test]
fn saving_a_peft_adapter_reproduces_its_tensors() {
    let dir = adapters_dir().join("peft_lora");
    let adapter = load_adapter(&dir, &base::<B>(), &Default::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    save_adapter(&adapter, tmp.path(), None).unwrap();
    let original = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let original = safetensors::SafeTensors::deserialize(&original).unwrap();
    let saved = std::fs::read(tmp.path().join("adapter_model.safetensors")).unwrap();
    let saved = safetensors::SafeTensors::deserialize(&saved).unwrap();
    let mut names = original.names();
    names.sort();
    let mut saved_names = saved.names();
    saved_names.sort();
    assert_eq!(names, saved_names);
    for name in names {
        let (a, b) = (original.tensor(name).unwrap(), saved.tensor(name).unwrap());
        assert_eq!((a.shape(), a.data()), (b.shape(), b.data()), "{name}");
    }
}

fn tmole_config() -> AdapterConfig {
    AdapterConfig {
        r: 2,
        lora_alpha: 4.0,
        lora_dropout: 0.0,
        tmole: Some(TmoleConfig { experts: ExpertGroups { embedding: 1, shared: 1, generative: 2 }, task_embedding_dim: 8, num_tasks: 14, router_hidden: vec![] }),
        ..AdapterConfig::lora(2, 4.0)
    }
}

#[test]
fn a_fresh_adapter_is_exactly_the_base() {
    let decoder = base::<B>();
    let rows = vec![vec![5, 6, 7, 8, 9], vec![10, 11, 12, 13, 14]];
    let plain = logits(Lm::from(&decoder), &rows);
    for config in [AdapterConfig::lora(4, 8.0), tmole_config()] {
        let adapter = Adapter::new(config, &decoder, false, &Default::default()).unwrap();
        let bound = adapter.bind(&[TaskId::EmbUser, TaskId::SentimentAnalysis]).unwrap();
        assert_eq!(logits(Lm::new(&decoder, Some(&bound as &dyn ProjectionDelta<B>)), &rows), plain);
    }
}

#[test]
fn a_mixed_task_batch_equals_each_sample_alone() {
    let decoder = base::<B>();
    B::seed(&Default::default(), 5);
    let adapter = Adapter::new(tmole_config(), &decoder, true, &Default::default()).unwrap();
    let rows = vec![vec![5, 6, 7, 8, 9], vec![10, 11, 12, 13, 14], vec![20, 21, 22, 23, 24]];
    let tasks = [TaskId::EmbItem, TaskId::SequentialRecommendation, TaskId::None];
    let bound = adapter.bind(&tasks).unwrap();
    let batched = logits(Lm::new(&decoder, Some(&bound as &dyn ProjectionDelta<B>)), &rows);
    let per_row = batched.len() / rows.len();
    let mut differ = false;
    for (i, (row, task)) in rows.iter().zip(tasks).enumerate() {
        let alone = adapter.bind(&[task]).unwrap();
        let single = logits(Lm::new(&decoder, Some(&alone as &dyn ProjectionDelta<B>)), std::slice::from_ref(row));
        assert_close(&format!("row {i}"), &batched[i * per_row..(i + 1) * per_row], &single, 1e-5);
        // The same tokens under another task's routing give other logits: routing is per row.
        let other = adapter.bind(&[TaskId::AnswerGeneration]).unwrap();
        let moved = logits(Lm::new(&decoder, Some(&other as &dyn ProjectionDelta<B>)), std::slice::from_ref(row));
        differ |= moved.iter().zip(&single).any(|(a, b)| (a - b).abs() > 1e-4);
    }
    assert!(differ, "routing had no effect");
}

/// Every float parameter of a module with whether it got a gradient.
struct GradProbe<'a, A: burn::tensor::backend::AutodiffBackend> {
    grads: &'a A::Gradients,
    with: usize,
    without: usize,
}

impl<A: burn::tensor::backend::AutodiffBackend> ModuleVisitor<A> for GradProbe<'_, A> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<A, D>>) {
        if param.val().grad(self.grads).is_some() { self.with += 1 } else { self.without += 1 }
    }
}

fn to_vec<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

#[test]
fn gradients_reach_only_the_adapter_and_masked_experts_get_none() {
    let device = Default::default();
    let decoder = base::<AB>().no_grad();
    AB::seed(&device, 9);
    let adapter = Adapter::<AB>::new(tmole_config(), &decoder, true, &device).unwrap();
    // Embedding tasks only: the generative experts (2 and 3) are masked for every row.
    let bound = adapter.bind(&[TaskId::EmbUser, TaskId::EmbQuery]).unwrap();
    let rows = vec![vec![5, 6, 7, 8], vec![9, 10, 11, 12]];
    let out = Lm::new(&decoder, Some(&bound as &dyn ProjectionDelta<AB>)).forward(ids(&rows), &TokenMask::all(2, 4), AttnMode::Bidirectional, None);
    let grads = out.square().mean().backward();

    let mut base_probe = GradProbe { grads: &grads, with: 0, without: 0 };
    decoder.visit(&mut base_probe);
    assert_eq!(base_probe.with, 0, "the frozen base got gradients");
    assert!(base_probe.without > 20);
    let mut adapter_probe = GradProbe { grads: &grads, with: 0, without: 0 };
    adapter.visit(&mut adapter_probe);
    // lora_a, lora_b, router weight + bias on 8 sites, plus the task table.
    assert_eq!((adapter_probe.with, adapter_probe.without), (8 * 4 + 1, 0));

    for (layer, proj, site) in adapter.sites() {
        let r = site.experts.r;
        let ga = to_vec(site.experts.lora_a.val().grad(&grads).unwrap()); // [d_in, 4*r]
        let gb = to_vec(site.experts.lora_b.val().grad(&grads).unwrap()); // [4*r, d_out]
        let (cols, d_out) = (4 * r, site.experts.d_out());
        let masked_a = ga.iter().enumerate().filter(|(i, _)| i % cols >= 2 * r).map(|(_, g)| g.abs()).fold(0f32, f32::max);
        let open_a = ga.iter().enumerate().filter(|(i, _)| i % cols < 2 * r).map(|(_, g)| g.abs()).fold(0f32, f32::max);
        let masked_b = gb[2 * r * d_out..].iter().map(|g| g.abs()).fold(0f32, f32::max);
        assert_eq!((masked_a, masked_b), (0.0, 0.0), "layer {layer} {proj:?}: a masked expert got a gradient");
        assert!(open_a > 0.0, "layer {layer} {proj:?}: the open experts got no gradient");
        let router = &site.router.as_ref().unwrap().layers[0];
        let gw = to_vec(router.weight.val().grad(&grads).unwrap()); // [8, 4]
        assert!(gw.iter().enumerate().filter(|(i, _)| i % 4 >= 2).all(|(_, g)| *g == 0.0), "masked router logits got a gradient");
    }
    let routing = bound.routing(0, recfound::backbone::Proj::Q).unwrap().inner(); // [2, 4]
    assert!(to_vec(routing).chunks(4).all(|v| v[2] == 0.0 && v[3] == 0.0 && (v[0] + v[1] - 1.0).abs() < 1e-6));
}

/// The base and the adapter in one module, as training will hold them.
#[derive(Module, Debug)]
struct Adapted<B: Backend> {
    decoder: Decoder<B>,
    adapter: Adapter<B>,
}

#[test]
fn the_optimizer_keeps_state_for_adapter_parameters_only() {
    let device = Default::default();
    let decoder = base::<AB>().no_grad();
    let adapter = Adapter::<AB>::new(AdapterConfig::lora(4, 8.0), &decoder, true, &device).unwrap();
    let model = Adapted { decoder, adapter };
    let before = to_vec(model.decoder.projection(0, recfound::backbone::Proj::Q).weight.val().inner());
    let mut optim = AdamWConfig::new().init::<AB, Adapted<AB>>();
    let bound = model.adapter.bind(&[]).unwrap();
    let out = Lm::new(&model.decoder, Some(&bound as &dyn ProjectionDelta<AB>)).forward(ids(&[vec![5, 6, 7]]), &TokenMask::all(1, 3), AttnMode::Causal, None);
    let grads = GradientsParams::from_grads(out.square().mean().backward(), &model);
    drop(bound);
    let model = optim.step(1e-2, model, grads);
    // AdamW state exists for the 8 sites (2 layers x q/k/v/o) x (lora_a, lora_b) and nothing else.
    assert_eq!(optim.to_record().len(), 16);
    assert_eq!(to_vec(model.decoder.projection(0, recfound::backbone::Proj::Q).weight.val().inner()), before);
}

#[test]
fn tmole_saves_and_loads_alone_with_its_routing() {
    let decoder = base::<B>();
    B::seed(&Default::default(), 3);
    let adapter = Adapter::new(tmole_config(), &decoder, true, &Default::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    save_adapter(&adapter, tmp.path(), None).unwrap();
    let loaded = load_adapter(tmp.path(), &decoder, &Default::default()).unwrap();
    assert_eq!(loaded.config, adapter.config);
    for task in [TaskId::EmbUser, TaskId::ProductMatching, TaskId::None] {
        assert_eq!(loaded.routing(task).unwrap(), adapter.routing(task).unwrap(), "{task}");
    }
    let rows = vec![vec![5, 6, 7, 8, 9]];
    let (a, b) = (adapter.bind(&[TaskId::UserProfile]).unwrap(), loaded.bind(&[TaskId::UserProfile]).unwrap());
    assert_eq!(
        logits(Lm::new(&decoder, Some(&a as &dyn ProjectionDelta<B>)), &rows),
        logits(Lm::new(&decoder, Some(&b as &dyn ProjectionDelta<B>)), &rows)
    );
    // The file holds the adapter alone: no base tensor.
    let bytes = std::fs::read(tmp.path().join("adapter_model.safetensors")).unwrap();
    let names = safetensors::SafeTensors::deserialize(&bytes).unwrap().names().into_iter().map(String::from).collect::<Vec<_>>();
    assert!(names.iter().all(|n| n.contains("lora_") || n.contains("router") || n.contains("task_embedding")), "{names:?}");
}

/// Copies the PEFT fixture and lets `edit` break it.
fn broken_copy(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["adapter_config.json", "adapter_model.safetensors"] {
        std::fs::copy(adapters_dir().join("peft_lora").join(name), tmp.path().join(name)).unwrap();
    }
    edit(tmp.path());
    tmp
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("adapter_config.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&path, v.to_string()).unwrap();
}

#[test]
fn bad_adapters_are_clear_errors() {
    let decoder = base::<B>();
    let err = |dir: &Path| load_adapter(dir, &decoder, &Default::default()).unwrap_err().to_string();

    let unknown = broken_copy(|d| edit_config(d, |v| v["target_modules"] = serde_json::json!(["q_proj", "fc1"])));
    assert!(err(unknown.path()).contains("`fc1`"), "{}", err(unknown.path()));

    let rank = broken_copy(|d| edit_config(d, |v| v["r"] = 8.into()));
    let e = err(rank.path());
    assert!(e.contains("lora_A.weight") && e.contains("rank 4") && e.contains("r = 8"), "{e}");

    let missing = broken_copy(|d| edit_config(d, |v| v["target_modules"] = serde_json::json!(["q_proj", "gate_proj"])));
    let e = err(missing.path());
    assert!(e.contains("gate_proj.lora_A.weight"), "{e}");

    let extra = broken_copy(|d| edit_config(d, |v| v["target_modules"] = serde_json::json!(["q_proj"])));
    let e = err(extra.path());
    assert!(e.contains("_proj.lora_") && !e.contains("q_proj") && e.contains("not an adapter tensor of a module targeted"), "{e}");

    let truncated = broken_copy(|d| {
        let path = d.join("adapter_model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    });
    assert!(err(truncated.path()).contains("adapter_model.safetensors"), "{}", err(truncated.path()));

    // The command line exits non-zero naming the key.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recfound"))
        .args(["generate", "--model"])
        .arg(fixture_dir().join("qwen2"))
        .args(["--input-ids", "5,6,7", "--max-new-tokens", "2", "--backend", "ndarray", "--adapter"])
        .arg(unknown.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`fc1`"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn tmole_merge_needs_a_task_and_equals_the_routed_adapter() {
    let decoder = base::<B>();
    B::seed(&Default::default(), 4);
    let adapter = Adapter::new(tmole_config(), &decoder, true, &Default::default()).unwrap();
    assert!(adapter.merge_into(base::<B>(), None).unwrap_err().to_string().contains("--task"));
    let merged = adapter.merge_into(base::<B>(), Some(TaskId::SentimentAnalysis)).unwrap();
    let rows = vec![vec![5, 6, 7, 8, 9]];
    let bound = adapter.bind(&[TaskId::SentimentAnalysis]).unwrap();
    assert_close(
        "merged vs routed",
        &logits(Lm::from(&merged), &rows),
        &logits(Lm::new(&decoder, Some(&bound as &dyn ProjectionDelta<B>)), &rows),
        1e-4,
    );
}

fn recfound(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_recfound")).args(args).output().unwrap()
}

fn ids_line(out: &std::process::Output) -> Vec<u32> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().split(',').map(|x| x.parse().unwrap()).collect()
}

/// The command line end to end: `generate --adapter` with a PEFT adapter gives PEFT's greedy
/// ids, and so does the checkpoint `adapter merge-into-base` writes.
#[test]
fn cli_generate_with_adapter_and_merged_checkpoint_match_peft() {
    let dir = adapters_dir().join("peft_lora");
    let exp = expected(&dir);
    let prompt = exp.prompt.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let n = exp.greedy.len().to_string();
    let base = fixture_dir().join("qwen2");
    let (base, adapter) = (base.to_str().unwrap(), dir.to_str().unwrap());
    let common = ["--input-ids", &prompt, "--max-new-tokens", &n, "--ignore-eos", "--backend", "ndarray"];
    let out = recfound(&[&["generate", "--model", base, "--adapter", adapter][..], &common].concat());
    assert_eq!(ids_line(&out), exp.greedy);

    let tmp = tempfile::tempdir().unwrap();
    let merged = tmp.path().join("merged");
    let out = recfound(&["adapter", "merge-into-base", "--model", base, "--adapter", adapter, "--out", merged.to_str().unwrap(), "--backend", "ndarray"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = recfound(&[&["generate", "--model", merged.to_str().unwrap()][..], &common].concat());
    assert_eq!(ids_line(&out), exp.greedy);
}

/// A TMoLE adapter from `adapter init`, used by `embed` with per-line tasks: the lines' tasks
/// pick the routing (two tasks, two embeddings of the same text).
#[test]
fn cli_embed_routes_each_line_by_its_task() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixture_dir().join("qwen2");
    let base = base.to_str().unwrap();
    let adapter = tmp.path().join("tmole");
    let out = recfound(&["adapter", "init", "--model", base, "--kind", "tmole", "--r", "4", "--init-lora-weights", "false", "--backend", "ndarray", "--out", adapter.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let input = tmp.path().join("in.jsonl");
    std::fs::write(&input, "{\"input_ids\": [5, 6, 7, 8], \"task\": \"Emb_user\"}\n{\"input_ids\": [5, 6, 7, 8], \"task\": \"Emb_item\"}\n{\"input_ids\": [5, 6, 7, 8], \"task\": \"Emb_user\"}\n").unwrap();
    let emb = tmp.path().join("emb.safetensors");
    let out = recfound(&["embed", "--model", base, "--adapter", adapter.to_str().unwrap(), "--input-file", input.to_str().unwrap(), "--out", emb.to_str().unwrap(), "--bidirectional", "--backend", "ndarray"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (values, shape) = read_f32(&emb, "embeddings");
    let d = shape[1];
    let row = |i: usize| &values[i * d..(i + 1) * d];
    assert_eq!(row(0), row(2));
    assert!(row(0).iter().zip(row(1)).any(|(a, b)| (a - b).abs() > 1e-4), "the task did not change the routing");
    // An unknown task name is an error naming the line.
    std::fs::write(&input, "{\"input_ids\": [5, 6], \"task\": \"Emb_nobody\"}\n").unwrap();
    let out = recfound(&["embed", "--model", base, "--adapter", adapter.to_str().unwrap(), "--input-file", input.to_str().unwrap(), "--out", emb.to_str().unwrap(), "--backend", "ndarray"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1") && err.contains("Emb_nobody"), "{err}");
}

/// A bf16 base (`[train] base_dtype`, meant for GPUs; flex has bf16 on the CPU): the logits
/// agree with the f32 base's to bf16 precision, and a LoRA adapter on it still trains in f32
/// with no gradient reaching the base.
#[test]
fn a_bf16_base_keeps_f32_logits_close_and_trains_an_f32_adapter() {
    use burn::tensor::DType;
    type F = Autodiff<recfound::backend::FlexBackend>;
    let device = Default::default();
    let decoder = base::<F>().no_grad();
    let rows = vec![vec![5, 6, 7, 8], vec![9, 10, 11, 12]];
    let f32_logits = logits(Lm::new(&decoder, None), &rows);
    let half = decoder.clone().with_base_dtype(DType::BF16);
    assert_eq!(half.projection(0, recfound::backbone::Proj::Q).weight.val().dtype(), DType::BF16);
    assert_eq!(half.compute_dtype(), DType::F32, "the norms stay f32");
    let bf16_logits = logits(Lm::new(&half, None), &rows);
    let scale = f32_logits.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = f32_logits.iter().zip(&bf16_logits).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst > 0.0, "the bf16 base computed in f32 after all");
    assert!(worst < 2e-2 * scale, "bf16 logits differ by {worst} (largest logit {scale})");

    F::seed(&device, 4);
    let mut config = AdapterConfig::lora(4, 8.0);
    config.lora_dropout = 0.0;
    let adapter = Adapter::<F>::new(config, &half, true, &device).unwrap();
    let bound = adapter.bind(&[TaskId::EmbUser, TaskId::EmbUser]).unwrap();
    let out = Lm::new(&half, Some(&bound as &dyn ProjectionDelta<F>)).forward(ids(&rows), &TokenMask::all(2, 4), AttnMode::Causal, None);
    assert_eq!(out.dtype(), DType::F32);
    let grads = out.square().mean().backward();
    let mut base_probe = GradProbe { grads: &grads, with: 0, without: 0 };
    half.visit(&mut base_probe);
    assert_eq!(base_probe.with, 0, "the frozen bf16 base got gradients");
    // A fresh adapter has B = 0, so the gradient shows on lora_B first.
    let (_, _, site) = adapter.sites().into_iter().next().unwrap();
    let grad_b = site.experts.lora_b.val().grad(&grads).expect("lora_B has a gradient");
    assert_eq!(grad_b.dtype(), DType::F32);
    assert!(grad_b.abs().max().into_scalar() > 0.0);
}
