//! Answerability Prediction (AP) and Answer Generation (AG) from Amazon QA files (McAuley & Yang
//! 2016, e.g. `qa_Appliances.json.gz`), in the B.3 layouts. Splits are product-disjoint (the
//! QA files name no users).
//!
//! RecFound's AP/AG data (via ECInstruct, from AmazonQA, Gupta et al. 2019) pairs each question
//! with product *reviews* as the document and a human answerability label. The public QA file
//! has no reviews and no such label, so both tasks here are the closest faithful variants, weakly
//! labelled:
//! - AP: yes/no questions only; the document is the community answer, and the label is the
//!   file's `answerType`: `Y` or `N` (the answer settles the question) -> "Yes", `?` (the
//!   annotator could not read a yes or no from it) -> "No".
//! - AG: open-ended questions of products with at least one other Q&A pair; the document is the
//!   product's other Q&A pairs (so it may not contain the answer), the answer is the real one.

use std::collections::BTreeMap;
use std::path::Path;

use super::build::{BuildConfig, BuiltRow, TaskSplits, generative, split_by_group};
use super::instructions::choose_instruction;
use super::task::TaskId;
use crate::data::DataError;
use crate::data::amazon_qa::{AnswerType, QaPair, QuestionType, read_pairs};
use crate::text::RecFoundPrompt;

/// The AP and AG splits built from one QA file.
#[derive(Debug, Clone, PartialEq)]
pub struct QaTasks {
    pub answerability_prediction: TaskSplits,
    pub answer_generation: TaskSplits,
}

/// Builds AP and AG from a gzipped QA file.
pub fn build_qa_tasks(qa: &Path, config: &BuildConfig) -> Result<QaTasks, DataError> {
    let pairs = read_pairs(qa)?;
    Ok(QaTasks {
        answerability_prediction: answerability_prediction(&pairs, config)?,
        answer_generation: answer_generation(&pairs, config)?,
    })
}

/// AP input as in B.3: `question: {q},\ndocument: {d}`; answer "Yes" / "No" (capitalised, as
/// the B.3 example's answer "No").
fn answerability_prediction(pairs: &[QaPair], config: &BuildConfig) -> Result<TaskSplits, DataError> {
    let task = TaskId::AnswerabilityPrediction;
    let rows = pairs
        .iter()
        .filter(|p| p.question_type == QuestionType::YesNo && !p.answer.trim().is_empty())
        .filter_map(|p| p.answer_type.map(|t| (p, t)))
        .enumerate()
        .map(|(index, (p, answer_type))| {
            let input = format!("question: {},\ndocument: {}", p.question.trim(), p.answer.trim());
            let prompt = RecFoundPrompt::new(choose_instruction(task, config.seed, index as u64)).with_input(input).render();
            let answer = match answer_type {
                AnswerType::Yes | AnswerType::No => "Yes",
                AnswerType::Unknown => "No",
            };
            BuiltRow { group: p.asin.clone(), row: generative(task, prompt, answer.to_string()) }
        })
        .collect();
    split_by_group(task, rows, config.sizes, config.seed)
}

/// AG input as in B.3: `{question}\nDocument:\n{document}`, the document being up to
/// `ag_document_pairs` other Q&A pairs of the product (file order), one `Q: ... A: ...` a line.
fn answer_generation(pairs: &[QaPair], config: &BuildConfig) -> Result<TaskSplits, DataError> {
    let task = TaskId::AnswerGeneration;
    let mut by_product: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in pairs.iter().enumerate() {
        by_product.entry(p.asin.as_str()).or_default().push(i);
    }
    let mut rows = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        if p.question_type != QuestionType::OpenEnded || p.answer.trim().is_empty() {
            continue;
        }
        let document: Vec<String> = by_product[p.asin.as_str()]
            .iter()
            .filter(|&&j| j != i)
            .take(config.ag_document_pairs)
            .map(|&j| format!("Q: {} A: {}", pairs[j].question.trim(), pairs[j].answer.trim()))
            .collect();
        if document.is_empty() {
            continue;
        }
        let input = format!("{}\nDocument:\n{}", p.question.trim(), document.join("\n"));
        let prompt = RecFoundPrompt::new(choose_instruction(task, config.seed, rows.len() as u64)).with_input(input).render();
        rows.push(BuiltRow { group: p.asin.clone(), row: generative(task, prompt, p.answer.trim().to_string()) });
    }
    split_by_group(task, rows, config.sizes, config.seed)
}
