//! `recfound report` end to end on hand-made run directories: Table 2/3 markdown and JSON with
//! hand-computed average ranks, the ratio plot from schedule.jsonl, routing heatmaps from a
//! routing.json and from a TMoLE adapter, and clear errors (never a panic) on bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::TestBackend;
use recfound::adapters::{Adapter, AdapterConfig, ExpertGroups, TmoleConfig, save_adapter};
use recfound::backbone::DecoderConfig;
use serde_json::{Value, json};

fn tiny_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-qwen2/config.json")
}

fn score(task: &str, abbreviation: &str, metric: &str, value: f64) -> Value {
    json!({"task": task, "abbreviation": abbreviation, "metric": metric, "value": value, "count": 2, "invalid": 0})
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Run "a": a training run with its eval in eval/, a schedule log and a routing.json.
/// Run "b": an eval directory itself, beside a TMoLE adapter and the recipe naming its model.
fn fixture(root: &Path) -> (PathBuf, PathBuf) {
    let a = root.join("a");
    let tasks = [
        score("Sentiment_Analysis", "SA", "macro_f1", 0.5),
        score("Product_Matching", "PM", "yes_f1", 0.8),
        score("Emb_user", "U2I", "mrr_at20", 0.6),
    ];
    write(&a.join("eval/metrics.json"), &json!({"tasks": tasks, "generative_average": 0.65, "embedding_average": 0.6}).to_string());
    write(
        &a.join("schedule.jsonl"),
        "{\"step\": 0, \"omega\": {\"Sentiment_Analysis\": 0.5, \"Product_Matching\": 0.5}}\n{\"step\": 5, \"omega\": {\"Sentiment_Analysis\": 0.7, \"Product_Matching\": 0.3}}\n",
    );
    let routing = json!([
        {"task": "Emb_user", "sites": [{"module": "q", "weights": [0.5, 0.5, 0.0]}]},
        {"task": "Sentiment_Analysis", "sites": [{"module": "q", "weights": [0.0, 0.5, 0.5]}]},
        {"task": "Product_Matching", "sites": [{"module": "q", "weights": [0.0, 0.4, 0.6]}]}
    ]);
    write(&a.join("routing.json"), &routing.to_string());

    let b = root.join("b");
    let tasks = [
        score("Sentiment_Analysis", "SA", "macro_f1", 0.7),
        score("Product_Matching", "PM", "yes_f1", 0.8),
        score("Answer_Generation", "AG", "token_f1", 0.3),
        score("Emb_user", "U2I", "mrr_at20", 0.4),
        score("Emb_item", "I2I", "ndcg_at20", 0.9),
    ];
    write(&b.join("metrics.json"), &json!({"tasks": tasks, "generative_average": 0.6, "embedding_average": 0.65}).to_string());
    let config = DecoderConfig::from_hf_file(&tiny_config()).unwrap();
    let decoder = config.init::<TestBackend>(&Default::default());
    let tmole = TmoleConfig { experts: ExpertGroups { embedding: 1, shared: 1, generative: 1 }, task_embedding_dim: 8, num_tasks: 14, router_hidden: vec![] };
    let adapter = Adapter::new(AdapterConfig { tmole: Some(tmole), ..AdapterConfig::lora(2, 4.0) }, &decoder, false, &Default::default()).unwrap();
    save_adapter(&adapter, &b.join("adapter"), None).unwrap();
    write(&b.join("recipe.toml"), &format!("[model]\nconfig = {:?}\n", tiny_config().display().to_string()));
    (a, b)
}

fn recfound(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_recfound")).args(args).output().unwrap()
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

#[test]
fn report_tables_ranks_and_pictures() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = fixture(tmp.path());
    let out = tmp.path().join("report");
    let res = recfound(&["report", s(&a), s(&b), "--out", s(&out), "--backend", "ndarray"]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));

    // Generative columns in Table 2's order: AG, SA, PM. SA: b 0.7 > a 0.5 -> b 1, a 2; PM tie
    // 0.8 -> both 1; AG only b -> 1. a: (2 + 1) / 2 = 1.5 (std 0.5); b: 1.0 (std 0).
    let md = std::fs::read_to_string(out.join("generative.md")).unwrap();
    assert!(md.contains("| model | AG (token F1) | SA (macro-F1) | PM (F1(yes)) | Avg. | Average rank ↓ (std) |"), "{md}");
    assert!(md.contains("| a | – | <u>0.5000</u> | **0.8000** | 0.6500 | 1.50 (0.50) |"), "{md}");
    assert!(md.contains("| b | **0.3000** | **0.7000** | **0.8000** | 0.6000 | 1.00 (0.00) |"), "{md}");
    // Embedding columns in Table 3's order: I2I, U2I. U2I: a 0.6 > b 0.4. a: 1; b: (1 + 2) / 2.
    let emb: Value = serde_json::from_str(&std::fs::read_to_string(out.join("embedding.json")).unwrap()).unwrap();
    let abbr: Vec<&str> = emb["columns"].as_array().unwrap().iter().map(|c| c["abbreviation"].as_str().unwrap()).collect();
    assert_eq!(abbr, ["I2I", "U2I"]);
    assert_eq!(emb["rows"][0]["average_rank"], json!(1.0));
    assert_eq!(emb["rows"][1]["average_rank"], json!(1.5));
    assert_eq!(emb["rows"][1]["ranks"], json!([1, 2]));

    // Figure 3 for the run with a schedule; Figure 2 for both (routing.json for a, the TMoLE
    // adapter for b).
    for png in ["a/ratios.png", "a/routing.png", "b/routing.png"] {
        assert!(std::fs::read(out.join(png)).unwrap().starts_with(b"\x89PNG"), "{png}");
    }
    assert!(!out.join("b/ratios.png").exists());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    // a's routing: U2I [0.5, 0.5, 0] vs SA [0, 0.5, 0.5] -> 0.25 / 0.5 = 0.5.
    let sim = &report["runs"][0]["routing_similarity"];
    assert_eq!(sim["tasks"], json!(["U2I", "SA", "PM"]));
    assert!((sim["similarity"][0][1].as_f64().unwrap() - 0.5).abs() < 1e-9);
    // b's routing covers all 13 tasks, each identical to itself.
    let sim_b = &report["runs"][1]["routing_similarity"];
    assert_eq!(sim_b["tasks"].as_array().unwrap().len(), 13);
    assert!((sim_b["similarity"][5][5].as_f64().unwrap() - 1.0).abs() < 1e-6);
    let page = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(page.contains("![sample ratios of a](a/ratios.png)") && page.contains("(b/routing.png)"), "{page}");

    // BERTScore asked for but not evaluated: the error names b's metrics.json and the task.
    let err = fails(&["report", s(&a), s(&b), "--out", s(&out), "--free-text", "bertscore", "--backend", "ndarray"]);
    assert!(err.contains("metrics.json") && err.contains("Answer_Generation has no bertscore_f1"), "{err}");
}

#[test]
fn bad_runs_name_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = fixture(tmp.path());
    let out = tmp.path().join("report");

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = fails(&["report", s(&a), s(&empty), "--out", s(&out)]);
    assert!(err.contains("empty") && err.contains("no eval results"), "{err}");

    write(&b.join("metrics.json"), "{\n  \"tasks\": [\n    {\"task\": \"Emb_user\", \"value\": }\n  ]\n}\n");
    let err = fails(&["report", s(&a), s(&b), "--out", s(&out), "--backend", "ndarray"]);
    assert!(err.contains(&format!("{}:3:", b.join("metrics.json").display())), "{err}");

    write(&a.join("schedule.jsonl"), "{\"step\": 0, \"omega\": {\"Sentiment_Analysis\": 1.0}}\n{\"step\": 5}\n");
    let err = fails(&["report", s(&a), "--out", s(&out)]);
    assert!(err.contains("schedule.jsonl:2:") && err.contains("omega"), "{err}");

    let err = fails(&["report", s(&a), s(&empty), "--out", s(&out), "--label", "only-one"]);
    assert!(err.contains("--label given 1 times for 2 runs"), "{err}");
}

/// `recfound eval --predictions DIR --bertscore-model M` on saved answer-generation predictions
/// with a tiny random checkpoint as the encoder: an exact answer scores BERTScore-F1 1, the
/// metrics gain BERTScore beside token F1, and the report can show it.
#[test]
fn bertscore_from_saved_predictions_into_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("encoder");
    let config = DecoderConfig::from_hf_file(&tiny_config()).unwrap();
    recfound::backbone::save_hf_checkpoint(&config.init::<TestBackend>(&Default::default()), &config, &model).unwrap();
    std::fs::copy(tiny_config().with_file_name("tokenizer.json"), model.join("tokenizer.json")).unwrap();
    let run = tmp.path().join("run");
    let line = |row: usize, output: &str, reference: &str| {
        json!({"row": row, "prompt_id": format!("p{row}"), "task": "Answer_Generation", "output": output, "reference": reference, "new_tokens": 3}).to_string()
    };
    // Row 0 exact (token F1 1, BERTScore 1); row 1 shares no token (token F1 0).
    write(&run.join("predictions/Answer_Generation.jsonl"), &format!("{}\n{}\n", line(0, "it fits", "it fits"), line(1, "no idea", "yes, a 12 inch pan")));
    let res = recfound(&["eval", "--predictions", s(&run), "--bertscore-model", s(&model), "--backend", "ndarray"]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let metrics: Value = serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    let ag = &metrics["tasks"][0];
    assert_eq!(ag["value"], json!(0.5)); // token F1: (1 + 0) / 2
    let bert = ag["extra"]["bertscore_f1"].as_f64().unwrap();
    // Row 0 gives 1; row 1 is below 1 (different tokens), so the mean lies in (0.5, 1).
    assert!(bert > 0.5 && bert < 1.0, "{bert}");
    assert_eq!(ag["extra"]["bertscore_layer"], json!(1.0));

    let out = tmp.path().join("report");
    let res = recfound(&["report", s(&run), "--out", s(&out), "--free-text", "bertscore"]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let md = std::fs::read_to_string(out.join("generative.md")).unwrap();
    assert!(md.contains("AG (BERTScore-F1)") && md.contains(&format!("{bert:.4}")), "{md}");
    // A layer the encoder lacks is refused with its number.
    let err = fails(&["eval", "--predictions", s(&run), "--bertscore-model", s(&model), "--bertscore-layer", "9", "--backend", "ndarray"]);
    assert!(err.contains("layer 9"), "{err}");
}

/// The quickstart now ends with the paper's loop: the trained adapter evaluated, the last two
/// checkpoints TIES-merged and evaluated, and a report; `recfound report` on its directories
/// rebuilds the same tables.
#[test]
fn quickstart_ends_with_eval_merge_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let res = recfound(&["recipe", "recipes/quickstart.toml", "--out", s(&run), "--set", "generate.max_new_tokens=4", "--backend", "ndarray"]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    for file in [
        "base-model/model.safetensors",
        "train/eval/metrics.json",
        "train/eval/predictions/Sentiment_Analysis.jsonl",
        "train/routing.json",
        "merged/adapter/adapter_model.safetensors",
        "merged/eval/metrics.json",
        "report/report.md",
        "report/trained/ratios.png",
        "report/trained/routing.png",
        "report/ties-merged/routing.png",
    ] {
        assert!(run.join(file).is_file(), "missing {file}");
    }
    let md = std::fs::read_to_string(run.join("report/generative.md")).unwrap();
    assert!(md.contains("| trained |") && md.contains("| ties-merged |") && md.contains("SA (macro-F1)"), "{md}");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["eval"]["tasks"].as_array().unwrap().len(), 2); // SA and U2I
    assert!(summary["merged_eval"]["embedding_average"].is_number());

    let again = tmp.path().join("again");
    let (train, merged) = (run.join("train"), run.join("merged"));
    let res = recfound(&["report", s(&train), s(&merged), "--label", "trained", "--label", "ties-merged", "--out", s(&again)]);
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    for name in ["generative.md", "embedding.md"] {
        assert_eq!(std::fs::read_to_string(again.join(name)).unwrap(), std::fs::read_to_string(run.join("report").join(name)).unwrap(), "{name}");
    }
}
