//! `recfound eval` end to end on a tiny random decoder with the real Mistral tokenizer from
//! `../shared/data` (SKIP when absent) and a hand-made data folder in the released format:
//! mixed-task batches with a TMoLE adapter, saved predictions, metrics from them, resume after a
//! torn write, rescoring, and clear errors on bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TestBackend, fixture_dir, shared_data};
use recfound::adapters::{Adapter, AdapterConfig, ExpertGroups, TmoleConfig, save_adapter};
use recfound::backbone::{DecoderConfig, save_hf_checkpoint};
use recfound::text::RecFoundPrompt;
use serde_json::{Value, json};

/// A 2-layer Qwen2-shaped decoder (D = 32) over Mistral's 32,000-token vocabulary, with that
/// tokenizer.json beside it, and a TMoLE adapter with random B (so routing changes outputs).
fn tiny_model(root: &Path) -> Option<(PathBuf, PathBuf)> {
    let Some(shared) = shared_data() else {
        eprintln!("SKIP: ../shared/data is absent (the eval tests need its Mistral tokenizer.json)");
        return None;
    };
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("qwen2/config.json")).unwrap()).unwrap();
    config["vocab_size"] = json!(32000);
    config["hidden_size"] = json!(32);
    config["intermediate_size"] = json!(64);
    config["max_position_embeddings"] = json!(4096);
    config["tie_word_embeddings"] = json!(true);
    let model = root.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), config.to_string()).unwrap();
    let config = DecoderConfig::from_hf_file(&model.join("config.json")).unwrap();
    let decoder = config.init::<TestBackend>(&Default::default());
    save_hf_checkpoint(&decoder, &config, &model).unwrap();
    std::fs::copy(shared.join("tokenizers/mistral_v1/tokenizer.json"), model.join("tokenizer.json")).unwrap();
    let tmole = TmoleConfig { experts: ExpertGroups { embedding: 1, shared: 1, generative: 1 }, task_embedding_dim: 8, num_tasks: 14, router_hidden: vec![] };
    let adapter_config = AdapterConfig { tmole: Some(tmole), ..AdapterConfig::lora(2, 4.0) };
    let adapter = root.join("adapter");
    save_adapter(&Adapter::new(adapter_config, &decoder, true, &Default::default()).unwrap(), &adapter, None).unwrap();
    Some((model, adapter))
}

fn write_task(data: &Path, task: &str, rows: &[Value]) {
    let dir = data.join(task);
    std::fs::create_dir_all(&dir).unwrap();
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join("test.jsonl"), text).unwrap();
}

/// Sentiment (3 rows), product matching (2), answer generation (1, a 128-token budget) and
/// user-to-item retrieval (3 rows, one hard negative each, the rest drawn from the split).
fn tiny_data(root: &Path) -> PathBuf {
    let data = root.join("data");
    let sa = |review: &str, answer: &str| {
        let prompt = RecFoundPrompt::new("Identify the sentiment of the review.")
            .with_input(review)
            .with_lettered_options(["very positive", "positive", "neutral", "negative", "very negative"])
            .render();
        json!({"text": [prompt, answer], "task": "Sentiment_Analysis"})
    };
    write_task(&data, "Sentiment_Analysis", &[sa("Great strings.", "A: very positive"), sa("Broke in a day.", "E: very negative"), sa("It is fine.", "C: neutral")]);
    let pm = |a: &str, b: &str, answer: &str| {
        let prompt = RecFoundPrompt::new("Do these two titles name the same product? Answer yes or no.").with_input(format!("{a}\n{b}")).render();
        json!({"text": [prompt, answer], "task": "Product_Matching"})
    };
    write_task(&data, "Product_Matching", &[pm("Office 2007", "Microsoft Office 2007", "yes"), pm("Photoshop", "Norton 360", "no")]);
    let ag = RecFoundPrompt::new("Answer the question from the document.").with_input("Q: Does it fit a 12 inch pan?").render();
    write_task(&data, "Answer_Generation", &[json!({"text": [ag, "Yes, it fits a 12 inch pan."], "task": "Answer_Generation"})]);
    let u2i = |history: &str, pos: &str, neg: &str| {
        json!({"query": ["Represent the user for retrieving the next item", history], "pos": [["Represent the item", pos]], "neg": [["Represent the item", neg]], "task": "Emb_user"})
    };
    write_task(
        &data,
        "Emb_user",
        &[u2i("guitar strings, capo", "guitar picks", "drum sticks"), u2i("microscope slides", "cover glass", "pipettes"), u2i("printer paper", "stapler", "toner")],
    );
    data
}

fn recfound(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_recfound")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = recfound(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "recfound {args:?}: {err}");
    err.into_owned()
}

fn fails(args: &[&str]) -> String {
    let out = recfound(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "recfound {args:?} should fail");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Prediction lines by row index, output and scores only (what a rerun must reproduce).
fn outputs(out: &Path, task: &str) -> Vec<(u64, Value)> {
    let mut v: Vec<(u64, Value)> = lines(&out.join(format!("predictions/{task}.jsonl")))
        .into_iter()
        .map(|l| (l["row"].as_u64().unwrap(), if l.get("output").is_some() { l["output"].clone() } else { l["scores"].clone() }))
        .collect();
    v.sort_by_key(|(r, _)| *r);
    v
}

fn metrics(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn eval_predicts_resumes_and_rescores() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((model, adapter)) = tiny_model(tmp.path()) else { return };
    let data = tiny_data(tmp.path());
    let out = tmp.path().join("eval");
    let run = |out: &Path, batch: &str| ok(&["eval", "--model", s(&model), "--adapter", s(&adapter), "--data", s(&data), "--out", s(out), "--batch-size", batch, "--backend", "ndarray"]);
    run(&out, "4");

    // One line per row with what a re-check needs; references are the data's.
    let sa = lines(&out.join("predictions/Sentiment_Analysis.jsonl"));
    assert_eq!(sa.len(), 3);
    for key in ["row", "prompt_id", "task", "output", "reference", "options", "new_tokens"] {
        assert!(sa[0].get(key).is_some(), "missing `{key}` in {}", sa[0]);
    }
    assert_eq!(sa.iter().map(|l| l["options"].as_u64().unwrap()).collect::<Vec<_>>(), [5, 5, 5]);
    assert!(sa.iter().all(|l| l["new_tokens"].as_u64().unwrap() <= 16), "SA budget is 16 tokens");
    let u2i = lines(&out.join("predictions/Emb_user.jsonl"));
    assert_eq!(u2i.len(), 3);
    // 1 positive + its own negative + the 4 other texts of the split (fewer than 20 exist).
    assert_eq!(u2i[0]["candidates"].as_array().unwrap().len(), 6);
    assert_eq!(u2i[0]["relevant"][0], true);
    let m = metrics(&out);
    let tasks: Vec<&str> = m["tasks"].as_array().unwrap().iter().map(|t| t["task"].as_str().unwrap()).collect();
    assert_eq!(tasks, ["Emb_user", "Sentiment_Analysis", "Product_Matching", "Answer_Generation"]);
    assert!(std::fs::read_to_string(out.join("metrics.md")).unwrap().contains("| Emb_user | U2I | MRR@20 |"));

    // Batch size 1 (no mixing) gives the same outputs as mixed batches of 4.
    let single = tmp.path().join("single");
    run(&single, "1");
    for task in ["Sentiment_Analysis", "Product_Matching", "Answer_Generation"] {
        assert_eq!(outputs(&single, task), outputs(&out, task), "{task}");
    }

    // Resume: drop a whole line and tear another; the rerun redoes exactly those rows.
    let path = out.join("predictions/Sentiment_Analysis.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    std::fs::write(&path, format!("{}\n{}", kept[0], &kept[1][..20])).unwrap();
    let before = (outputs(&single, "Sentiment_Analysis"), metrics(&out));
    let log = run(&out, "4");
    assert!(log.contains("\"rows_predicted\":2") && log.contains("\"rows_resumed\":7"), "{log}");
    assert_eq!(outputs(&out, "Sentiment_Analysis"), before.0);
    assert_eq!(metrics(&out)["tasks"], before.1["tasks"]);
    let log = run(&out, "4");
    assert!(log.contains("\"rows_predicted\":0"), "{log}");

    // Rescoring from the predictions alone gives the same numbers.
    let rescored = tmp.path().join("rescored");
    ok(&["eval", "--predictions", s(&out), "--out", s(&rescored)]);
    assert_eq!(metrics(&rescored), metrics(&out));

    // A resumed run with other settings is refused, naming the setting.
    let err = fails(&["eval", "--model", s(&model), "--data", s(&data), "--out", s(&out), "--max-new-tokens", "3", "--backend", "ndarray"]);
    assert!(err.contains("max_new_tokens of") && err.contains("eval.json"), "{err}");
}

#[test]
fn bad_predictions_and_rows_without_a_reference_name_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((model, _)) = tiny_model(tmp.path()) else { return };
    // A malformed predictions line.
    let dir = tmp.path().join("bad");
    std::fs::create_dir_all(dir.join("predictions")).unwrap();
    let good = json!({"row": 0, "prompt_id": "0", "task": "Product_Matching", "output": "yes", "reference": "yes", "new_tokens": 1});
    std::fs::write(dir.join("predictions/Product_Matching.jsonl"), format!("{good}\n{{\"row\": 1, \"output\": \"no\"}}\n")).unwrap();
    let err = fails(&["eval", "--predictions", s(&dir)]);
    assert!(err.contains("Product_Matching.jsonl:2:"), "{err}");
    // A reference the metric cannot read.
    let odd = json!({"row": 1, "prompt_id": "1", "task": "Product_Matching", "output": "no", "reference": "perhaps", "new_tokens": 1});
    std::fs::write(dir.join("predictions/Product_Matching.jsonl"), format!("{good}\n{odd}\n")).unwrap();
    let err = fails(&["eval", "--predictions", s(&dir)]);
    assert!(err.contains("Product_Matching.jsonl:2:") && err.contains("perhaps"), "{err}");

    // A test row whose answer is empty.
    let data = tmp.path().join("data");
    write_task(&data, "Query_Rewriting", &[json!({"text": ["Rewrite: it", "the lamp"], "task": "Query_Rewriting"}), json!({"text": ["Rewrite: that", " "], "task": "Query_Rewriting"})]);
    let err = fails(&["eval", "--model", s(&model), "--data", s(&data), "--out", s(&tmp.path().join("o")), "--backend", "ndarray"]);
    assert!(err.contains("Query_Rewriting/test.jsonl:2") && err.contains("no reference"), "{err}");
    // No task folders at all.
    let err = fails(&["eval", "--model", s(&model), "--data", s(tmp.path()), "--out", s(&tmp.path().join("o")), "--backend", "ndarray"]);
    assert!(err.contains("no test split found"), "{err}");
}
