//! One build of every RecFound task that the data allows: where each source lives under a data
//! root (`../shared/data` layout), building them all, and writing `{task}/{split}.jsonl` (and,
//! for the prompt-only UP and IP, `{task}/{split}.prompts.jsonl`).
//!
//! Not built here, and why (the dataset card repeats it, [`super::card::not_built_reason`]):
//! - Query Rewriting: RecFound's QR answers are human rewrites (MuDoCo-QR, Tseng et al. 2021).
//!   The raw MuDoCo files under `mudoco/raw_json` hold coreference `references` and `links`
//!   but no rewrites; substituting antecedents into pronoun spans cannot make the paper's
//!   rewrites (its B.3 example fills an ellipsis, "you have two" -> "you have two missed calls
//!   today", which no link marks), the spans are sometimes off by characters, and issue 5 says
//!   not to invent answers. Build it once the MuDoCo-QR rewrites are in the data folder.
//! - Query2Item: needs search queries and the items they led to (the paper: Amazon Shopping
//!   Queries, ECInstruct). QA questions are about "this" product, and the QA products have no
//!   titles in the data folder.
//! - Product Relation Prediction: needs Amazon's also-bought / also-viewed / similar lists
//!   (full product metadata); co-purchase in sequences cannot tell "viewed" or "similar" apart.
//! - Attribute Value Extraction: needs annotated attribute values (MAVE-style), absent.

use std::path::{Path, PathBuf};

use super::build::{BuildConfig, Split, TaskSplits};
use super::build_i2i::build_item_to_item;
use super::build_profiles::{PromptSplits, build_item_profile_prompts, build_user_profile_prompts};
use super::build_pm::build_product_matching;
use super::build_qa::build_qa_tasks;
use super::build_reviews::build_sentiment_analysis;
use super::build_sr::build_sequential_recommendation;
use super::build_u2i::build_user_to_item;
use super::format::write_rows;
use crate::data::DataError;

/// Where each builder's input lives; `None` leaves that task out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    /// Amazon 2014 review file (gzipped JSON lines) for Sentiment Analysis.
    pub reviews: Option<PathBuf>,
    /// Amazon-Google benchmark folder for Product Matching.
    pub amazon_google: Option<PathBuf>,
    /// Amazon QA file (gzipped Python literals) for Answerability Prediction / Answer Generation.
    pub qa: Option<PathBuf>,
    /// LC-Rec `*.item.json` and `*.inter.json` for User2Item, Item2Item and Sequential
    /// Recommendation.
    pub lcrec: Option<(PathBuf, PathBuf)>,
    /// MovieLens folder (`ratings.csv`, `movies.csv`) for User Profile and Item Profile prompts.
    pub movielens: Option<PathBuf>,
    /// goodbooks-10k `books.csv` for Item Profile prompts.
    pub goodbooks: Option<PathBuf>,
}

impl Sources {
    /// The `../shared/data` layout under `root`, keeping only the sources that exist.
    pub fn under(root: &Path) -> Self {
        let existing = |rel: &str| Some(root.join(rel)).filter(|p| p.exists());
        let item = existing("amazon/scientific/Scientific.item.json");
        let inter = existing("amazon/scientific/Scientific.inter.json");
        Self {
            reviews: existing("amazon/musical_instruments/reviews_Musical_Instruments_5.json.gz"),
            amazon_google: existing("amazon_google/tableA.csv").map(|_| root.join("amazon_google")),
            qa: existing("amazon/qa/qa_Appliances.json.gz"),
            lcrec: item.zip(inter),
            movielens: existing("movielens/ml-latest-small/ratings.csv")
                .filter(|_| root.join("movielens/ml-latest-small/movies.csv").exists())
                .map(|_| root.join("movielens/ml-latest-small")),
            goodbooks: existing("goodbooks/books.csv"),
        }
    }
}

/// Builds every task with reference answers whose source is set, in task-id order.
pub fn build_all(sources: &Sources, config: &BuildConfig) -> Result<Vec<TaskSplits>, DataError> {
    let mut out = Vec::new();
    if let Some((item, inter)) = &sources.lcrec {
        out.push(build_user_to_item(item, inter, config)?);
        out.push(build_item_to_item(item, inter, config)?);
        out.push(build_sequential_recommendation(item, inter, config)?);
    }
    if let Some(path) = &sources.reviews {
        out.push(build_sentiment_analysis(path, config)?);
    }
    if let Some(dir) = &sources.amazon_google {
        out.push(build_product_matching(dir, config)?);
    }
    if let Some(path) = &sources.qa {
        let qa = build_qa_tasks(path, config)?;
        out.push(qa.answerability_prediction);
        out.push(qa.answer_generation);
    }
    Ok(out)
}

/// Builds the prompt-only tasks (UP, IP: no reference answers in public data) whose sources
/// are set, in task-id order.
pub fn build_prompt_tasks(sources: &Sources, config: &BuildConfig) -> Result<Vec<PromptSplits>, DataError> {
    let mut out = Vec::new();
    if let Some(dir) = &sources.movielens {
        out.push(build_user_profile_prompts(dir, config)?);
    }
    if sources.movielens.is_some() || sources.goodbooks.is_some() {
        out.push(build_item_profile_prompts(sources.movielens.as_deref(), sources.goodbooks.as_deref(), config)?);
    }
    Ok(out)
}

/// Writes `out/{task name}/{train,validation,test}.jsonl` (each file atomically).
pub fn write_splits(out: &Path, tasks: &[TaskSplits]) -> Result<(), DataError> {
    for t in tasks {
        let dir = out.join(t.task.name());
        std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
        for split in Split::ALL {
            write_rows(&dir.join(format!("{}.jsonl", split.name())), &t.rows(split))?;
        }
    }
    Ok(())
}
