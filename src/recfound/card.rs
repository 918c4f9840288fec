//! The dataset card of a RecFound build (issue 5 item 4): `stats.json` (rows per task and
//! split, the seed and sizes) and `DATASET.md` (a Table-1-style count, sources, licences, what
//! is weakly labelled, the prompt-only tasks, and which tasks were not built and why), both
//! written atomically.

use std::fmt::Write as _;
use std::path::Path;

use super::build::{BuildConfig, TaskSplits};
use super::build_profiles::PromptSplits;
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
    const MOVIELENS: &str = "MovieLens latest-small (GroupLens): research, non-commercial, redistribution with attribution";
    let p = |source, licence, labels| Some(TaskProvenance { source, licence, labels });
    match task {
        TaskId::EmbUser => p(
            SCIENTIFIC,
            AMAZON,
            "the user's last item is the positive; one hard negative from its category, never touched by the user",
        ),
        TaskId::EmbItem => p(
            SCIENTIFIC,
            AMAZON,
            "WEAK: positive = the item most often next to the query in users' sequences (a co-purchase proxy: the 5-core files have no also-bought / similar lists); one hard negative from the query's category that no buyer of the query bought",
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
            "not stated in the data folder's README (a public research benchmark; check the original's terms before redistributing)",
            "the benchmark's match labels; no product descriptions in this release",
        ),
        TaskId::UserProfile => p(
            "MovieLens latest-small: each user's last ratings (goodbooks here has no ratings)",
            MOVIELENS,
            "NONE: prompt-only, no reference answers (the paper's are LLM-written); no demographics in this MovieLens, so the template's gender/age/occupation clause is dropped",
        ),
        TaskId::ItemProfile => p(
            "MovieLens latest-small movies + goodbooks-10k books (Source = Goodreads)",
            "MovieLens: research, non-commercial, with attribution; goodbooks-10k: CC BY-SA 4.0",
            "NONE: prompt-only, no reference answers (the paper's are LLM-written)",
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
        TaskId::EmbQuery => Some(
            "needs search queries and the items they led to (the paper: Amazon Shopping Queries, ECInstruct); QA questions ask about 'this' product and the QA products have no titles here",
        ),
        TaskId::ProductRelationPrediction => Some(
            "needs also-bought / also-viewed / similar lists (full Amazon metadata), absent; co-purchase in sequences cannot tell the three relations apart",
        ),
        TaskId::AttributeValueExtraction => Some("needs annotated attribute values, absent from the data folder"),
        _ => None,
    }
}

/// `stats.json`: the seed, the sizes asked for, and rows per task and split (`tasks`: rows
/// with answers; `prompt_tasks`: prompt-only rows).
pub fn stats_json(tasks: &[TaskSplits], prompts: &[PromptSplits], config: &BuildConfig) -> serde_json::Value {
    let counts = |[train, validation, test]: [usize; 3]| serde_json::json!({ "train": train, "validation": validation, "test": test });
    let per_task: serde_json::Map<String, serde_json::Value> =
        tasks.iter().map(|t| (t.task.name().to_string(), counts(t.counts()))).collect();
    let per_prompt_task: serde_json::Map<String, serde_json::Value> =
        prompts.iter().map(|t| (t.task.name().to_string(), counts(t.counts()))).collect();
    serde_json::json!({
        "seed": config.seed,
        "sizes": { "train": config.sizes.train, "validation": config.sizes.validation, "test": config.sizes.test },
        "tasks": per_task,
        "prompt_tasks": per_prompt_task,
    })
}

/// `DATASET.md` as text.
pub fn dataset_md(tasks: &[TaskSplits], prompts: &[PromptSplits], config: &BuildConfig) -> String {
    let mut md = String::from("# RecFound dataset (built from public data)\n\n");
    let _ = writeln!(md, "Seed {}; at most {} / {} / {} rows per task (train / validation / test).\n", config.seed, config.sizes.train, config.sizes.validation, config.sizes.test);
    let _ = writeln!(md, "Sequential Recommendation: {} options, at most {} history items; item texts cut at {} characters.\n", config.sr_num_options, config.sr_history_len, config.item_text_max_chars);
    counts_table(&mut md, tasks.iter().map(|t| (t.task, t.counts())));
    if !prompts.is_empty() {
        md.push_str("\n## Prompt-only (no reference answers)\n\n");
        md.push_str("Written to `{task}/{split}.prompts.jsonl` as `{\"prompt\", \"task\", \"id\"}`, not as training rows: public data has no answers for them and none are invented. A teacher model can answer them, or a trained model be asked them.\n\n");
        let _ = writeln!(md, "User Profile: at most the {} most recent ratings per user.\n", config.up_history_len);
        counts_table(&mut md, prompts.iter().map(|t| (t.task, t.counts())));
    }
    md.push_str("\n## Not built\n\n");
    for task in TaskId::ALL {
        if tasks.iter().any(|t| t.task == task) || prompts.iter().any(|t| t.task == task) {
            continue;
        }
        if let Some(reason) = not_built_reason(task).or_else(|| provenance(task).map(|_| "source absent under the data root")) {
            let _ = writeln!(md, "- {} ({}): {reason}", task.name(), task.abbreviation());
        }
    }
    md
}

/// A Table-1-style table: one row per task with its split counts and provenance.
fn counts_table(md: &mut String, rows: impl Iterator<Item = (TaskId, [usize; 3])>) {
    md.push_str("| task | abbr. | train | validation | test | source | licence | labels |\n|---|---|---|---|---|---|---|---|\n");
    for (task, [train, validation, test]) in rows {
        let (source, licence, labels) = provenance(task).map_or(("?", "?", "?"), |p| (p.source, p.licence, p.labels));
        let _ = writeln!(md, "| {} | {} | {train} | {validation} | {test} | {source} | {licence} | {labels} |", task.name(), task.abbreviation());
    }
}

/// Writes `stats.json` and `DATASET.md` into `out`, each atomically.
pub fn write_card(out: &Path, tasks: &[TaskSplits], prompts: &[PromptSplits], config: &BuildConfig) -> Result<(), DataError> {
    let stats = serde_json::to_vec_pretty(&stats_json(tasks, prompts, config)).expect("a JSON value serialises");
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        crate::io::write_atomic(&path, bytes).map_err(|e| DataError::io(&path, e))
    };
    write("stats.json", &stats)?;
    write("DATASET.md", dataset_md(tasks, prompts, config).as_bytes())
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
        let prompts = vec![PromptSplits { task: TaskId::ItemProfile, train: vec![], validation: vec![], test: vec![] }];
        let md = dataset_md(&tasks, &prompts, &config);
        assert!(md.contains("| Sentiment_Analysis | SA | 0 | 0 | 0 |"), "{md}");
        assert!(md.contains("## Prompt-only (no reference answers)"), "{md}");
        assert!(md.contains("| item_profile | IP | 0 | 0 | 0 |"), "{md}");
        assert!(md.contains("- Query_Rewriting (QR): needs human rewrites"), "{md}");
        assert!(md.contains("- Sequential_Recommendation (SR): source absent"), "{md}");
        assert!(md.contains("- user_profile (UP): source absent"), "{md}");
        assert!(!md.contains("- item_profile (IP)"), "{md}");
        let stats = stats_json(&tasks, &prompts, &config);
        assert_eq!(stats["tasks"]["Sentiment_Analysis"]["train"], 0);
        assert_eq!(stats["prompt_tasks"]["item_profile"]["test"], 0);
        assert_eq!(stats["seed"], 42);
    }
}
