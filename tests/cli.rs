//! The command-line contract, end to end through the real binary: `generate`, `embed`, `info`
//! and `recipe`, plus a clear error, a non-zero exit and no panic on each kind of bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, fixture_dir, ok, read_f32, recfound, s};
use serde_json::Value;

fn expected(family: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_dir().join(family).join("expected.json")).unwrap()).unwrap()
}

fn join(ids: &Value) -> String {
    ids.as_array().unwrap().iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// A copy of a fixture checkpoint in a temp dir, to be damaged by a test.
fn copy_fixture(family: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir().join(family)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

#[test]
fn generate_json_reproduces_transformers_greedy() {
    let e = expected("qwen2");
    let g = &e["greedy"];
    let model = fixture_dir().join("qwen2");
    let max_new = g["max_new_tokens"].as_u64().unwrap().to_string();
    let out = ok(&["generate", "--model", s(&model), "--input-ids", &join(&g["prompt"]), "--max-new-tokens", &max_new, "--greedy", "--json", "--ignore-eos", "--backend", "ndarray"]);
    let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["ids"], g["new_ids"]);
}

#[test]
fn generate_beam_and_input_file() {
    let e = expected("mistral");
    let b = &e["beam"];
    let model = fixture_dir().join("mistral");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("prompts.jsonl");
    std::fs::write(&file, format!("{{\"input_ids\": {}}}\n{{\"input_ids\": {}}}\n", b["prompt"], b["prompt"])).unwrap();
    let max_new = b["max_new_tokens"].as_u64().unwrap().to_string();
    let out = ok(&["generate", "--model", s(&model), "--input-file", s(&file), "--max-new-tokens", &max_new, "--num-beams", "4", "--json", "--backend", "ndarray"]);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for line in lines {
        assert_eq!(line["ids"], b["sequences"][0]);
    }
}

#[test]
fn generate_stories260k_reproduces_transformers() {
    let Some(model) = common::shared_data().map(|d| d.join("weights/stories260K")).filter(|d| d.is_dir()) else {
        eprintln!("SKIP generate stories260k: ../shared/data/weights/stories260K not found");
        return;
    };
    let e: Value = serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("stories260k.json")).unwrap()).unwrap();
    let p = &e["prompts"][0];
    let out = ok(&["generate", "--model", s(&model), "--input-ids", &join(&p["prompt"]), "--max-new-tokens", &p["max_new_tokens"].to_string(), "--greedy", "--json", "--ignore-eos", "--backend", "ndarray"]);
    let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(line["ids"], p["new_ids"]);
}

#[test]
fn embed_writes_normalized_embeddings() {
    let model = fixture_dir().join("qwen2");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("texts.jsonl");
    std::fs::write(&input, "{\"input_ids\": [5, 6, 7, 8], \"pool_start\": 1}\n{\"input_ids\": [9, 10]}\n").unwrap();
    let out = tmp.path().join("emb.safetensors");
    ok(&["embed", "--model", s(&model), "--input-file", s(&input), "--out", s(&out), "--bidirectional", "--normalize", "--backend", "ndarray"]);
    let (values, shape) = read_f32(&out, "embeddings");
    assert_eq!(shape, vec![2, 64]);
    for row in values.chunks(64) {
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
}

#[test]
fn info_reports_family_and_parameters() {
    let out = ok(&["info", "--model", s(&fixture_dir().join("llama")), "--json", "--backend", "ndarray"]);
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["family"], "llama");
    assert_eq!(info["head_dim"], 32);
    assert!(info["file_dtypes"]["BF16"].as_u64().unwrap() > 0, "llama fixture is stored in bf16");
}

#[test]
fn quickstart_recipe_runs_and_writes_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = ok(&["recipe", "recipes/quickstart.toml", "--out", s(&run), "--set", "generate.max_new_tokens=4", "--backend", "ndarray"]);
    assert!(out.contains("greedy[0]"), "{out}");
    for file in ["recipe.toml", "generations.jsonl", "embeddings.safetensors", "summary.json"] {
        assert!(run.join(file).is_file(), "missing {file}");
    }
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["greedy"][0].as_array().unwrap().len(), 4);
    // RecBase in small: pretrained on two synthetic domains, the third scored zero-shot. The
    // shared themes make the unseen domain learnable, so the decoder must beat random.
    assert!(out.contains("zero-shot   120 rows"), "{out}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(run.join("recbase/zero-shot/report.json")).unwrap()).unwrap();
    let auc = |method: &str| report["metrics"][method]["auc"].as_f64().unwrap();
    assert!(auc("recbase") > auc("random") + 0.1, "{report}");
    assert!(run.join("recbase/loss.png").is_file() && run.join("recbase/vocab.json").is_file());
}

// ---- bad input: one test each --------------------------------------------------------------

#[test]
fn config_missing_a_field_is_named() {
    let tmp = copy_fixture("qwen2");
    let config = tmp.path().join("config.json");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("hidden_size");
    std::fs::write(&config, json.to_string()).unwrap();
    let err = fails(&["info", "--model", s(tmp.path()), "--backend", "ndarray"]);
    assert!(err.contains("config.json") && err.contains("hidden_size"), "{err}");
}

#[test]
fn tensor_of_wrong_shape_is_named() {
    let tmp = copy_fixture("qwen2");
    let path = tmp.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<u8>, Vec<usize>, safetensors::Dtype)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, t.data().to_vec(), t.shape().to_vec(), t.dtype()))
        .collect();
    let bad = "model.layers.1.mlp.up_proj.weight";
    let entry = tensors.iter_mut().find(|t| t.0 == bad).unwrap();
    // Drop one output row: [I, D] -> [I - 1, D].
    let row_bytes = entry.2[1] * 4;
    entry.1.truncate(entry.1.len() - row_bytes);
    entry.2[0] -= 1;
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, d, s, t)| (n.clone(), safetensors::tensor::TensorView::new(*t, s.clone(), d).unwrap()))
        .collect();
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let err = fails(&["info", "--model", s(tmp.path()), "--backend", "ndarray"]);
    assert!(err.contains(bad) && err.contains("expected shape"), "{err}");
}

#[test]
fn truncated_safetensors_is_named() {
    let tmp = copy_fixture("qwen2");
    let path = tmp.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(&["info", "--model", s(tmp.path()), "--backend", "ndarray"]);
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn missing_tensor_is_listed() {
    let tmp = copy_fixture("mistral");
    // Remove one shard: its tensors are missing.
    let index: Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("model.safetensors.index.json")).unwrap()).unwrap();
    let (key, shard) = index["weight_map"].as_object().unwrap().iter().next().unwrap();
    let mut map = index.clone();
    let remaining: serde_json::Map<String, Value> = index["weight_map"].as_object().unwrap().iter().filter(|(_, f)| *f != shard).map(|(k, v)| (k.clone(), v.clone())).collect();
    map["weight_map"] = Value::Object(remaining);
    std::fs::write(tmp.path().join("model.safetensors.index.json"), map.to_string()).unwrap();
    let err = fails(&["info", "--model", s(tmp.path()), "--backend", "ndarray"]);
    assert!(err.contains("missing") && err.contains(key.as_str()), "{err}");
}

#[test]
fn unknown_recipe_key_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let recipe = tmp.path().join("bad.toml");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/quickstart.toml")).unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let text = text.replace("../models", s(&models)).replace("max_new_tokens = 24", "max_new_tokens = 24\nmax_new_tokenz = 3");
    std::fs::write(&recipe, text).unwrap();
    let err = fails(&["recipe", s(&recipe), "--out", s(&tmp.path().join("run"))]);
    assert!(err.contains("max_new_tokenz") && err.contains("bad.toml"), "{err}");
    // An override of an unknown key fails the same way.
    let good = PathBuf::from("recipes/quickstart.toml");
    let err = fails(&["recipe", s(&good), "--set", "generate.beams=2", "--out", s(&tmp.path().join("run2"))]);
    assert!(err.contains("beams"), "{err}");
}

#[test]
fn malformed_prompt_line_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("prompts.jsonl");
    std::fs::write(&file, "{\"input_ids\": [1, 2]}\n{\"input_ids\": [1, 2\n").unwrap();
    let err = fails(&["generate", "--model", s(&fixture_dir().join("qwen2")), "--input-file", s(&file), "--backend", "ndarray"]);
    assert!(err.contains("prompts.jsonl") && err.contains("line 2"), "{err}");
}

#[test]
fn out_of_vocabulary_prompt_is_rejected() {
    let err = fails(&["generate", "--model", s(&fixture_dir().join("qwen2")), "--input-ids", "1,2,99999", "--backend", "ndarray"]);
    assert!(err.contains("99999") && err.contains("vocabulary"), "{err}");
}

#[test]
fn data_export_domain_and_make_candidates() {
    let Some(root) = common::shared_data().filter(|d| d.join("steam").is_dir()) else {
        eprintln!("SKIP data export-domain: ../shared/data/steam not found");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("steam");
    ok(&["data", "export-domain", "--source", "steam", "--data-root", s(&root), "--out", s(&out)]);
    let items = std::fs::read_to_string(out.join("items.jsonl")).unwrap();
    assert_eq!(items.lines().count(), 3581, "Steam has 3,581 games");
    ok(&["data", "make-candidates", "--domain", s(&out), "--num-negatives", "4", "--seed", "3"]);
    let rows: Vec<Value> = std::fs::read_to_string(out.join("candidates.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!(row["candidates"].as_array().unwrap().len(), 5);
        assert_eq!(row["labels"].as_array().unwrap().iter().filter(|l| l.as_u64() == Some(1)).count(), 1);
    }
    let err = fails(&["data", "export-domain", "--source", "netflix", "--out", s(&tmp.path().join("x"))]);
    assert!(err.contains("netflix") && err.contains("movielens"), "{err}");
}

#[test]
fn data_build_recfound_writes_tasks_and_card() {
    let Some(root) = common::shared_data() else {
        eprintln!("SKIP data build-recfound: ../shared/data not found");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let recipe = tmp.path().join("build.toml");
    std::fs::write(&recipe, "[build]\nseed = 7\ntrain = 20\nvalidation = 5\ntest = 5\n").unwrap();
    let out = tmp.path().join("recfound");
    ok(&["data", "build-recfound", "--recipe", s(&recipe), "--data-root", s(&root), "--out", s(&out)]);
    let rows = recfound::recfound::read_rows(&out.join("Sentiment_Analysis/train.jsonl")).unwrap();
    assert_eq!(rows.len(), 20);
    assert!(out.join("DATASET.md").is_file() && out.join("stats.json").is_file());
    std::fs::write(&recipe, "[build]\ntrian = 20\n").unwrap();
    let err = fails(&["data", "build-recfound", "--recipe", s(&recipe), "--data-root", s(&root), "--out", s(&out)]);
    assert!(err.contains("trian") && err.contains("build.toml"), "{err}");
}

#[test]
fn no_tui_logs_one_line_per_step() {
    let run = tempfile::tempdir().unwrap();
    let out = recfound(&[
        "recipe", "recipes/recbase-tiny.toml", "--out", s(run.path()), "--backend", "ndarray", "--no-tui",
        "--set", "pretrain.steps=3", "--set", "pretrain.save_every=3",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for step in 1..=3 {
        assert!(stderr.contains(&format!("step {step}/3 loss ")), "no log line for step {step}: {stderr}");
    }
}

/// Every recipe shipped in `recipes/` parses with its own schema (unknown keys are errors), so a
/// renamed key cannot leave a stale recipe behind. Data-build recipes go through
/// `data build-recfound`'s own reader, run on a missing data root.
#[test]
fn every_shipped_recipe_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display();
        if text.contains("\n[build]") || text.starts_with("[build]") {
            let out = recfound(&["data", "build-recfound", "--recipe", s(&path), "--data-root", "/nonexistent", "--out", "/nonexistent/out"]);
            let err = String::from_utf8_lossy(&out.stderr);
            // The recipe is read first; a good one gets as far as the missing data root.
            assert!(!out.status.success() && err.contains("--data-root"), "{name}: {err}");
        } else if text.contains("[run]") {
            toml::from_str::<recfound::config::Recipe>(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            recfound::itemtok::recipe::ItemTokRecipe::parse(&text, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} recipes found");
}
