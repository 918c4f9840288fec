//! `recfound recbase ...` end to end through the real binary on a tiny synthetic run (an item
//! tokenizer trained on two of the recipes/data/recbase-tiny domains, a random tiny decoder over
//! its vocabulary) and the third, unseen domain: zero-shot writes one score line per row and a
//! report with every metric for RecBase and the baselines; bad candidate files name their line;
//! recommend writes top-k lists of real items; compare prints the Table 3 shape.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::backend::Autodiff;
use common::{TestBackend, fails, ok, recfound, s};
use recfound::backbone::DecoderConfig;
use recfound::itemtok::read_id_table;
use recfound::itemtok::recipe::ItemTokRecipe;
use recfound::itemtok::run::{IDS_DIR, train_run};
use recfound::recbase::ConceptVocab;
use recfound::recbase::run::{copy_itemtok, save_final};
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tiny_domain(name: &str) -> PathBuf {
    repo().join("recipes/data/recbase-tiny").join(name)
}

/// A RecBase run made once per test binary: tokenizer on books + games, random decoder.
fn tiny_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let sets: Vec<String> = [
            "text.tfidf.min_df=1",
            "text.tfidf.max_df_share=1.0",
            "text.tfidf.svd.dim=8",
            "model.hidden_dims=[8]",
            "model.latent_dim=4",
            "model.levels=2",
            "model.codebook_size=4",
            "curriculum.start_epochs=[0, 1]",
            "train.epochs=2",
            "train.batch_size=32",
            "train.kmeans_rows=32",
        ]
        .map(String::from)
        .to_vec();
        let recipe = ItemTokRecipe::load(&repo().join("recipes/itemtok-clvae.toml"), &sets).unwrap();
        let itemtok = root.join("itemtok");
        let domains = [tiny_domain("books"), tiny_domain("games")];
        train_run::<Autodiff<TestBackend>>(&domains, &recipe, &itemtok, &Default::default(), &mut |_| {}).unwrap();
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(itemtok.join(IDS_DIR)).unwrap() {
            ids.extend(read_id_table(&entry.unwrap().path()).unwrap().into_iter().map(|e| (e.item_id, e.ids)));
        }
        // The appended disambiguation level gets room for the unseen domain's items.
        let vocab = ConceptVocab::covering(&ids, &[4, 4, 256]).unwrap();
        let mut config = DecoderConfig::from_hf_file(&repo().join("models/tiny-qwen2/config.json")).unwrap();
        config.vocab_size = vocab.len();
        let device = Default::default();
        let decoder = config.init::<TestBackend>(&device);
        let run = root.join("run");
        std::fs::create_dir_all(&run).unwrap();
        save_final(&run, &decoder, &config, &vocab).unwrap();
        copy_itemtok(&itemtok, &run).unwrap();
        run
    })
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn assert_metrics(report: &Value) {
    for method in ["recbase", "random", "popularity", "text_similarity"] {
        let m = &report["metrics"][method];
        for key in ["auc", "gauc", "ndcg@10", "mrr"] {
            let v = m[key].as_f64().unwrap_or_else(|| panic!("{method}.{key} missing: {report}"));
            assert!((0.0..=1.0).contains(&v), "{method}.{key} = {v}");
        }
    }
}

#[test]
fn zero_shot_builds_rows_and_reports_every_metric() {
    let run = tiny_run();
    let out = tempfile::tempdir().unwrap();
    let domain = tiny_domain("movies");
    let args = ["recbase", "zero-shot", "--run", s(run), "--domain", s(&domain), "--out", s(out.path()), "--backend", "ndarray"];
    let cmd = recfound(&args);
    assert!(cmd.status.success(), "{}", String::from_utf8_lossy(&cmd.stderr));
    assert!(String::from_utf8_lossy(&cmd.stderr).contains("RecBench-style"));
    let stdout = String::from_utf8_lossy(&cmd.stdout);
    assert!(stdout.contains("popularity") && stdout.contains("text similarity"), "{stdout}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap()).unwrap();
    assert_metrics(&report);
    assert_eq!(report["candidates"]["source"], "generated");
    assert_eq!(report["candidates"]["negatives"], 19);
    let lines = read_lines(&out.path().join("scores.jsonl"));
    // Every movies user has at least two items: one row each, 20 candidates per row.
    assert_eq!(lines.len(), 120);
    assert_eq!(report["rows"], 120);
    assert_eq!(report["candidates_scored"], 120 * 20);
    assert!(lines.iter().all(|l| l["scores"].as_array().unwrap().len() == 20 && l["user_id"].is_string()));
    assert!(lines.iter().flat_map(|l| l["scores"].as_array().unwrap()).all(|x| x.as_f64().unwrap() < 0.0));
    assert_eq!(lines[0]["user_id"], "movies-u000");
}

#[test]
fn candidates_file_rows_skips_and_errors_name_the_line() {
    let run = tiny_run();
    let dir = tempfile::tempdir().unwrap();
    let domain = tiny_domain("movies");
    let path = dir.path().join("cands.jsonl");
    let rows = [
        r#"{"user_id":"a","history":["m0001","m0002"],"candidates":["m0003","m0040","m0050"],"labels":[1,0,0]}"#,
        r#"{"user_id":"b","history":[],"candidates":["m0003","m0040"],"labels":[0,1]}"#,
        r#"{"user_id":"c","history":["m0010"],"candidates":["m0011","m0060"],"labels":[0,1]}"#,
        r#"{"user_id":"a","history":["m0001"],"candidates":["m0004","m0070"],"labels":[1,0]}"#,
    ];
    std::fs::write(&path, rows.join("\n") + "\n").unwrap();
    let out = dir.path().join("out");
    let args = ["recbase", "zero-shot", "--run", s(run), "--domain", s(&domain), "--candidates", s(&path), "--out", s(&out), "--backend", "ndarray"];
    let cmd = recfound(&args);
    assert!(cmd.status.success(), "{}", String::from_utf8_lossy(&cmd.stderr));
    assert!(String::from_utf8_lossy(&cmd.stderr).contains("skipped line 2 (user `b`): empty history"));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_metrics(&report);
    assert_eq!((report["rows"].as_u64(), report["users"].as_u64()), (Some(3), Some(2)));
    assert_eq!(report["skipped"][0]["line"], 2);
    let lines = read_lines(&out.join("scores.jsonl"));
    let shape: Vec<(String, usize, u64)> = lines
        .iter()
        .map(|l| (l["user_id"].as_str().unwrap().to_string(), l["scores"].as_array().unwrap().len(), l["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(shape, vec![("a".into(), 3, 1), ("c".into(), 2, 3), ("a".into(), 2, 4)]);

    // Two candidates, one label, on line 3.
    let bad = [rows[0], rows[2], r#"{"user_id":"d","history":["m0001"],"candidates":["m0003","m0040"],"labels":[1]}"#];
    std::fs::write(&path, bad.join("\n") + "\n").unwrap();
    let err = fails(&args);
    assert!(err.contains("cands.jsonl:3") && err.contains("2 candidates but 1 labels"), "{err}");
    // An item the domain does not have.
    std::fs::write(&path, r#"{"user_id":"d","history":["nope"],"candidates":["m0003"],"labels":[1]}"#.to_string() + "\n").unwrap();
    let err = fails(&args);
    assert!(err.contains("cands.jsonl:1") && err.contains("nope"), "{err}");
}

#[test]
fn recommend_lists_real_items_and_evaluates_against_popularity() {
    let run = tiny_run();
    let dir = tempfile::tempdir().unwrap();
    let domain = tiny_domain("movies");
    let out = dir.path().join("recs.jsonl");
    let stdout = ok(&[
        "recbase", "recommend", "--run", s(run), "--domain", s(&domain), "--top-k", "5", "--beams", "8", "--eval", "--out", s(&out),
        "--backend", "ndarray",
    ]);
    assert!(stdout.contains("Recall@5") && stdout.contains("popularity"), "{stdout}");
    let items: std::collections::HashSet<String> = std::fs::read_to_string(domain.join("items.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["item_id"].as_str().unwrap().to_string())
        .collect();
    let lines = read_lines(&out);
    assert_eq!(lines.len(), 120);
    for line in &lines {
        let list = line["items"].as_array().unwrap();
        assert_eq!(list.len(), 5);
        assert!(list.iter().all(|r| items.contains(r["item_id"].as_str().unwrap())));
        assert!(line["held_out"].is_string());
    }
    let eval: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("recs.eval.json")).unwrap()).unwrap();
    for method in ["recbase", "popularity"] {
        let r = eval["eval"][method]["recall"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&r));
    }
    assert_eq!(eval["eval"]["users"], 120);
}

#[test]
fn recommend_contract_form_needs_no_out() {
    // `recfound recbase recommend --run RUN --domain DIR --top-k K` exactly: lists go to
    // RUN/recommend/<domain>.jsonl.
    let run = tiny_run();
    let domain = tiny_domain("movies");
    let stdout = ok(&["recbase", "recommend", "--run", s(run), "--domain", s(&domain), "--top-k", "3"]);
    let out = run.join("recommend").join("movies.jsonl");
    assert!(stdout.contains(s(&out)), "{stdout}");
    let lines = read_lines(&out);
    assert_eq!(lines.len(), 120);
    assert!(lines.iter().all(|l| l["items"].as_array().unwrap().len() == 3));
}

#[test]
fn compare_prints_the_table_3_shape_for_the_same_rows() {
    let run = tiny_run();
    let dir = tempfile::tempdir().unwrap();
    let domain = tiny_domain("movies");
    let out = dir.path().join("zs");
    ok(&["recbase", "zero-shot", "--run", s(run), "--domain", s(&domain), "--out", s(&out), "--negatives", "4", "--backend", "ndarray"]);
    let report = out.join("report.json");
    let table = ok(&["recbase", "compare", "--zero-shot", s(&report), "--fine-tuned", s(&report)]);
    assert!(table.contains("| AUC | movies |") && table.contains("| Improve. (%) | 0.00% |"), "{table}");
    // Reports of different rows are refused.
    let other = dir.path().join("zs2");
    ok(&["recbase", "zero-shot", "--run", s(run), "--domain", s(&domain), "--out", s(&other), "--negatives", "3", "--backend", "ndarray"]);
    let err = fails(&["recbase", "compare", "--zero-shot", s(&report), "--fine-tuned", s(&other.join("report.json"))]);
    assert!(err.contains("not the same rows"), "{err}");
}

#[test]
fn finetune_then_zero_shot_side_by_side() {
    let run = tiny_run();
    let dir = tempfile::tempdir().unwrap();
    let domain = tiny_domain("movies");
    let tuned = dir.path().join("tuned");
    let stdout = ok(&[
        "recbase", "finetune", "--run", s(run), "--domain", s(&domain), "--out", s(&tuned), "--steps", "2", "--batch-rows", "2",
        "--seq-len", "64", "--backend", "ndarray",
    ]);
    assert!(stdout.contains("2 steps"), "{stdout}");
    let (zs, ft) = (dir.path().join("zs"), dir.path().join("ft"));
    for (r, out) in [(run, &zs), (tuned.as_path(), &ft)] {
        ok(&["recbase", "zero-shot", "--run", s(r), "--domain", s(&domain), "--out", s(out), "--negatives", "4", "--backend", "ndarray"]);
    }
    let table = ok(&["recbase", "compare", "--zero-shot", s(&zs.join("report.json")), "--fine-tuned", s(&ft.join("report.json"))]);
    assert!(table.contains("| Fine-tuned |") && table.contains("%"), "{table}");
    // Fine-tuning into the run it starts from is refused, with a message.
    let err = fails(&["recbase", "finetune", "--run", s(run), "--domain", s(&domain), "--out", s(run), "--backend", "ndarray"]);
    assert!(err.contains("out"), "{err}");
}

#[test]
fn items_the_vocabulary_cannot_write_are_named() {
    // The tiny run's tokenizer, but a vocabulary with a single code on each semantic level: an
    // item whose semantic codes are not all 0 cannot be written. (The disambiguation level is
    // folded into its size by `RecBaseRun::encode_domain`, so it is not the one narrowed.)
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("narrow");
    std::fs::create_dir_all(&run).unwrap();
    let vocab = ConceptVocab::new(vec![1, 1, 256]).unwrap();
    let mut config = DecoderConfig::from_hf_file(&repo().join("models/tiny-qwen2/config.json")).unwrap();
    config.vocab_size = vocab.len();
    save_final(&run, &config.init::<TestBackend>(&Default::default()), &config, &vocab).unwrap();
    copy_itemtok(&tiny_run().join("itemtok"), &run).unwrap();
    let out = dir.path().join("out");
    let domain = tiny_domain("movies");
    let err = fails(&["recbase", "zero-shot", "--run", s(&run), "--domain", s(&domain), "--out", s(&out), "--backend", "ndarray"]);
    assert!(err.contains("item `m") && err.contains("which has 1 codes"), "{err}");
    assert!(!out.join("report.json").exists());
}
