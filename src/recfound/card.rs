//! The dataset card of a RecFound build (issue 5 item 4): `stats.json` (rows per task and
//! split, the seed and sizes) and `DATASET.md` (a Table-1-style count, sources, licences, what
//! is weakly labelled, and which tasks were not built and why), both written atomically.

use std::fmt::Write as _;
use std::path::Path;

use super::build::{BuildConfig, TaskSplits};
use super::task::TaskId;
use crate::data::DataError;

/// Where a built task's rows come from, under what terms, and how its answers were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskProvenance {
    pub source: &'static str,
    pub licence: &'static str,
    pub labels: &'static str,
}

/// The provenance of each task the builders make; `None` for a task they do not build.
pub fn provenance(task: TaskId) -> Option<TaskProvenance> {
    const AMAZON: &str = "Amazon review data terms (research use)";
    const SCIENTIFIC: &str = "Amazon 2018 Industrial & Scientific 5-core (LC-Rec layout)";
    const QA: &str = "Amazon QA (McAuley & Yang 2016), Appliances";
    let p = |source, licence, labels| Some(TaskProvenance { source, licence, labels });
    match task {
        TaskId::EmbUser => p(
            SCIENTIFIC,
            AMAZON,
            "the user's last item is the positive; one hard negative from its category, never touched by the user",
        ),
        TaskId::SequentialRecommendation => p(
            SCIENTIFIC,
            AMAZON,
            "the user's last item among sampled items the user never touched (lettered options; how many: see the header)",
        ),
        TaskId::SentimentAnalysis => p(
            "Amazon 2014 Musical Instruments 5-core reviews",
            AMAZON,
            "star rating 5..1 -> A: very positive .. E: very negative",
        ),
        TaskId::ProductMatching => p(
            "Amazon-Google Products (Magellan/DeepMatcher), its own train/valid/test split",
            "benchmark terms (research use)",
            "the benchmark's match labels; no product descriptions in this release",
        ),
        TaskId::AnswerabilityPrediction => p(
            QA,
            AMAZON,
            "WEAK: document = the community answer (no reviews in the public file); answerType Y/N -> Yes, ? -> No",
        ),
        TaskId::AnswerGeneration => p(
            QA,
            AMAZON,
            "WEAK: document = the product's other Q&A pairs (no reviews in the public file), so it may not contain the answer; the answer is the real one",
        ),
        _ => None,
    }
}

/// Why a task is not built from the public data.
pub fn not_built_reason(task: TaskId) -> Option<&'static str> {
    match task {
        TaskId::QueryRewriting => Some(
            "needs human rewrites (MuDoCo-QR); raw MuDoCo has coreference links only, and the answers are not invented",
        ),
        TaskId::EmbQuery => Some("no user search queries in the public data"),
        TaskId::EmbItem => Some("not built yet"),
        TaskId::ProductRelationPrediction => Some("needs also-bought / also-viewed relations, absent from the data folder"),
        TaskId::AttributeValueExtraction => Some("needs annotated attribute values, absent from the data folder"),
        TaskId::UserProfile | TaskId::ItemProfile => {
            Some("no reference answers in public data (the paper's are LLM-written); prompts alone are not rows")
        }
        _ => None,
    }
}

/// `stats.json`: the seed, the sizes asked for, and rows per task and split.
pub fn stats_json(tasks: &[TaskSplits], config: &BuildConfig) -> serde_json::Value {
    let per_task: serde_json::Map<String, serde_json::Value> = tasks
        .iter()
        .map(|t| {
            let [train, validation, test] = t.counts();
            (t.task.name().to_string(), serde_json::json!({ "train": train, "validation": validation, "test": test }))
        })
        .collect();
    serde_json::json!({
        "seed": config.seed,
        "sizes": { "train": config.sizes.train, "validation": config.sizes.validation, "test": config.sizes.test },
        "tasks": per_task,
    })
}

/// `DATASET.md` as text.
pub fn dataset_md(tasks: &[TaskSplits], config: &BuildConfig) -> String {
    let mut md = String::from("# RecFound dataset (built from public data)\n\n");
    let _ = writeln!(md, "Seed {}; at most {} / {} / {} rows per task (train / validation / test).\n", config.seed, config.sizes.train, config.sizes.validation, config.sizes.test);
    let _ = writeln!(md, "Sequential Recommendation: {} options, at most {} history items; item texts cut at {} characters.\n", config.sr_num_options, config.sr_history_len, config.item_text_max_chars);
    md.push_str("| task | abbr. | train | validation | test | source | licence | labels |\n|---|---|---|---|---|---|---|---|\n");
    for t in tasks {
        let [train, validation, test] = t.counts();
        let p = provenance(t.task);
        let (source, licence, labels) = p.map_or(("?", "?", "?"), |p| (p.source, p.licence, p.labels));
        let _ = writeln!(md, "| {} | {} | {train} | {validation} | {test} | {source} | {licence} | {labels} |", t.task.name(), t.task.abbreviation());
    }
    md.push_str("\n## Not built\n\n");
    for task in TaskId::ALL {
        if tasks.iter().any(|t| t.task == task) {
            continue;
        }
        if let Some(reason) = not_built_reason(task).or_else(|| provenance(task).map(|_| "source absent under the data root")) {
            let _ = writeln!(md, "- {} ({}): {reason}", task.name(), task.abbreviation());
        }
    }
    md
}

/// Writes `stats.json` and `DATASET.md` into `out`, each atomically.
pub fn write_card(out: &Path, tasks: &[TaskSplits], config: &BuildConfig) -> Result<(), DataError> {
    let stats = serde_json::to_vec_pretty(&stats_json(tasks, config)).expect("a JSON value serialises");
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        crate::io::write_atomic(&path, bytes).map_err(|e| DataError::io(&path, e))
    };
    write("stats.json", &stats)?;
    write("DATASET.md", dataset_md(tasks, config).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_is_built_or_explained() {
        for task in TaskId::ALL.into_iter().filter(|&t| t != TaskId::None) {
            assert!(provenance(task).is_some() != not_built_reason(task).is_some(), "{task}");
        }
    }

    #[test]
    fn card_lists_counts_and_missing_tasks() {
        let config = BuildConfig::default();
        let tasks = vec![TaskSplits { task: TaskId::SentimentAnalysis, train: vec![], validation: vec![], test: vec![] }];
        let md = dataset_md(&tasks, &config);
        assert!(md.contains("| Sentiment_Analysis | SA | 0 | 0 | 0 |"), "{md}");
        assert!(md.contains("- Query_Rewriting (QR): needs human rewrites"), "{md}");
        assert!(md.contains("- Sequential_Recommendation (SR): source absent"), "{md}");
        let stats = stats_json(&tasks, &config);
        assert_eq!(stats["tasks"]["Sentiment_Analysis"]["train"], 0);
        assert_eq!(stats["seed"], 42);
    }
}
