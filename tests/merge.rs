//! `recfound merge` end to end on tiny adapters of the Qwen2 fixture: recfound LoRA and TMoLE
//! (made with `Adapter::new` + `save_adapter`) and PEFT's LoRA fixture; merged outputs reload
//! with `load_adapter`, keep the inputs' format, and bad inputs are errors naming the tensor.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TestBackend, assert_close, fixture_dir};
use recfound::adapters::{Adapter, AdapterConfig, ExpertGroups, TmoleConfig, load_adapter, save_adapter};
use recfound::backbone::{Decoder, load_decoder};
use recfound::merge::{delta_weight, read_named_tensors};

type B = TestBackend;

fn decoder() -> Decoder<B> {
    load_decoder::<B>(&fixture_dir().join("qwen2"), &Default::default()).unwrap().decoder
}

fn tmole_config() -> AdapterConfig {
    let tmole = TmoleConfig { experts: ExpertGroups { embedding: 1, shared: 1, generative: 1 }, task_embedding_dim: 8, num_tasks: 14, router_hidden: vec![] };
    AdapterConfig { tmole: Some(tmole), ..AdapterConfig::lora(2, 4.0) }
}

/// Saves `n` random adapters of `config` (B random too, so deltas are non-zero) under `root`.
fn save_adapters(root: &Path, config: &AdapterConfig, n: usize) -> Vec<PathBuf> {
    let decoder = decoder();
    (0..n)
        .map(|i| {
            let dir = root.join(format!("a{i}"));
            let adapter = Adapter::new(config.clone(), &decoder, true, &Default::default()).unwrap();
            save_adapter(&adapter, &dir, None).unwrap();
            dir
        })
        .collect()
}

fn recfound(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_recfound")).args(args).output().unwrap()
}

fn merge(args: &[&str]) -> Output {
    recfound(&[&["merge"][..], args].concat())
}

fn ok(out: Output) {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn fails(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should fail");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The merged file has the input's keys and shapes, f32, and `load_adapter` reads it.
fn check_format(input: &Path, merged: &Path) {
    let (a, b) = (read_named_tensors(&input.join("adapter_model.safetensors")).unwrap(), read_named_tensors(&merged.join("adapter_model.safetensors")).unwrap());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, t) in &a {
        assert_eq!(t.shape, b[k].shape, "{k}");
    }
    assert_eq!(std::fs::read(input.join("adapter_config.json")).unwrap(), std::fs::read(merged.join("adapter_config.json")).unwrap());
    load_adapter::<B>(merged, &decoder(), &Default::default()).unwrap();
}

#[test]
fn one_checkpoint_merged_with_itself_is_returned() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, config) in [("lora", AdapterConfig::lora(2, 4.0)), ("tmole", tmole_config())] {
        let dirs = save_adapters(&tmp.path().join(name), &config, 2);
        let (base, c) = (&dirs[0], &dirs[1]);
        let want = read_named_tensors(&c.join("adapter_model.safetensors")).unwrap();
        for method in ["ties", "average"] {
            let out = tmp.path().join(format!("{name}-{method}"));
            ok(merge(&["--base-init", s(base), "--checkpoints", s(c), s(c), "--method", method, "--density", "1.0", "--out", s(&out)]));
            check_format(c, &out);
            assert_eq!(read_named_tensors(&out.join("adapter_model.safetensors")).unwrap(), want, "{name} {method}");
        }
        // ties-svd returns the same ΔW per site and expert (the factors may differ by rotation).
        let out = tmp.path().join(format!("{name}-svd"));
        ok(merge(&["--base-init", s(base), "--checkpoints", s(c), "--method", "ties-svd", "--density", "1", "--out", s(&out)]));
        check_format(c, &out);
        let got = read_named_tensors(&out.join("adapter_model.safetensors")).unwrap();
        let scaling = config.scaling() as f32;
        for (key, a) in want.iter().filter(|(k, _)| k.ends_with("lora_A.weight")) {
            let b_key = key.replace("lora_A", "lora_B");
            let (n, r, cols) = if a.shape.len() == 3 { (a.shape[0], a.shape[1], a.shape[2]) } else { (1, a.shape[0], a.shape[1]) };
            let rows = want[&b_key].values.len() / (n * r);
            for e in 0..n {
                let dw = |t: &recfound::merge::NamedTensors| {
                    let a = &t[key].values[e * r * cols..(e + 1) * r * cols];
                    let b = &t[&b_key].values[e * rows * r..(e + 1) * rows * r];
                    delta_weight(b, a, rows, r, cols, scaling).unwrap()
                };
                assert_close(&format!("{key} expert {e}"), &dw(&got), &dw(&want), 1e-4);
            }
        }
        for (key, t) in want.iter().filter(|(k, _)| !k.contains("lora_")) {
            assert_eq!(got[key].values, t.values, "{key}");
        }
    }
}

#[test]
fn three_tmole_checkpoints_merge_every_tensor_with_ties() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = save_adapters(tmp.path(), &tmole_config(), 4);
    let out = tmp.path().join("merged");
    ok(merge(&["--base-init", s(&dirs[0]), "--checkpoints", s(&dirs[1]), s(&dirs[2]), s(&dirs[3]), "--out", s(&out)]));
    check_format(&dirs[1], &out);
    let merged = read_named_tensors(&out.join("adapter_model.safetensors")).unwrap();
    let inputs: Vec<_> = dirs.iter().map(|d| read_named_tensors(&d.join("adapter_model.safetensors")).unwrap()).collect();
    // Routers and the task table are merged too: they differ from the base and every input.
    for key in ["base_model.model.task_embedding.weight", "base_model.model.model.layers.0.self_attn.q_proj.router.layers.0.weight"] {
        assert!(inputs.iter().all(|t| t[key].values != merged[key].values), "{key} was not merged");
    }
    let provenance: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("merge.json")).unwrap()).unwrap();
    assert_eq!(provenance["method"], "ties");
    assert_eq!(provenance["ties"]["density"], 0.8);
}

#[test]
fn a_peft_lora_merges_and_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    let peft = fixture_dir().join("adapters/peft_lora");
    // A second checkpoint of the same shape: the fixture re-saved with B scaled by 2 (as PEFT
    // would have saved a later step), and a fresh base (B = 0) of the same config.
    let decoder = decoder();
    let mut tensors = read_named_tensors(&peft.join("adapter_model.safetensors")).unwrap();
    tensors.iter_mut().filter(|(k, _)| k.ends_with("lora_B.weight")).for_each(|(_, t)| t.values.iter_mut().for_each(|v| *v *= 2.0));
    let second = tmp.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::copy(peft.join("adapter_config.json"), second.join("adapter_config.json")).unwrap();
    recfound::merge::write_named_tensors(&second.join("adapter_model.safetensors"), &tensors).unwrap();
    let config = recfound::adapters::read_adapter_config(&peft).unwrap();
    let base = tmp.path().join("base");
    let fresh = Adapter::new(config, &decoder, false, &Default::default()).unwrap();
    save_adapter(&fresh, &base, None).unwrap();
    for method in ["ties", "average", "ties-svd"] {
        let out = tmp.path().join(method);
        ok(merge(&["--base-init", s(&base), "--checkpoints", s(&peft), s(&second), "--method", method, "--out", s(&out)]));
        check_format(&peft, &out);
    }
}

#[test]
fn incompatible_adapters_are_errors_naming_the_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let r2 = save_adapters(&tmp.path().join("r2"), &AdapterConfig::lora(2, 4.0), 1);
    let r4 = save_adapters(&tmp.path().join("r4"), &AdapterConfig::lora(4, 8.0), 1);
    let out = tmp.path().join("out");
    let err = fails(merge(&["--method", "average", "--checkpoints", s(&r2[0]), s(&r4[0]), "--out", s(&out)]));
    assert!(err.contains("lora_A.weight`") && err.contains("rank 4 vs 2"), "{err}");
    // Different expert counts.
    let t3 = save_adapters(&tmp.path().join("t3"), &tmole_config(), 1);
    let mut four = tmole_config();
    four.tmole.as_mut().unwrap().experts.shared = 2;
    let t4 = save_adapters(&tmp.path().join("t4"), &four, 1);
    let err = fails(merge(&["--base-init", s(&t3[0]), "--checkpoints", s(&t4[0]), "--out", s(&out)]));
    assert!(err.contains("3 experts vs 4") || err.contains("4 experts vs 3"), "{err}");
    // Different targets: a tensor missing.
    let mut q_only = AdapterConfig::lora(2, 4.0);
    q_only.target_modules = recfound::adapters::TargetModules::Names(vec!["q_proj".into()]);
    let q = save_adapters(&tmp.path().join("q"), &q_only, 1);
    let err = fails(merge(&["--base-init", s(&r2[0]), "--checkpoints", s(&q[0]), "--out", s(&out)]));
    assert!(err.contains("k_proj.lora_A.weight` is not in"), "{err}");
    // TIES without a base, and an unreadable checkpoint.
    let err = fails(merge(&["--checkpoints", s(&r2[0]), "--out", s(&out)]));
    assert!(err.contains("--base-init"), "{err}");
    let err = fails(merge(&["--method", "average", "--checkpoints", s(&tmp.path().join("nope")), "--out", s(&out)]));
    assert!(err.contains("nope"), "{err}");
    assert!(!out.exists(), "a failed merge wrote its output");
}
