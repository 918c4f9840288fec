//! Reading a RecFound dataset folder for training: every task's train rows tokenised into its
//! pool, and a fixed validation sample per task (the first `validation_samples` rows of its
//! validation split) for S2Sched.

use std::path::Path;

use crate::data::DataError;
use crate::recfound::{RecFoundRow, Split, TaskId, TaskKind, read_rows};
use crate::text::{PromptTemplate, TextTokenizer};

use super::batch::{BatchError, EmbeddingExample, GenerativeExample, embedding_example, generative_example};
use super::loader::TaskExamples;
use super::strategy::ValidationSets;

/// Errors from preparing the training data.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("{path}: task {task} has no usable {split} rows")]
    EmptyPool { task: TaskId, split: &'static str, path: String },
    #[error("{data}: no task folder found (expected e.g. {data}/Sentiment_Analysis/train.jsonl)")]
    NoTasks { data: String },
    #[error("{path}: task {task} was asked for but has no training file")]
    MissingTask { task: TaskId, path: String },
    #[error("{path}: line {line} is a {found} row, but task {task} is {expected}")]
    WrongKind { path: String, line: usize, task: TaskId, found: &'static str, expected: &'static str },
}

/// Settings of the tokenisation.
#[derive(Debug, Clone)]
pub struct PrepareSettings {
    pub template: PromptTemplate,
    pub group_size: usize,
    pub max_len: usize,
    /// Rows per task and split (0 = all).
    pub max_rows: usize,
    pub validation_samples: usize,
}

/// Pools and validation samples, tasks in id order per branch.
#[derive(Debug, Default)]
pub struct PreparedData {
    pub examples: TaskExamples,
    pub validation: ValidationSets,
    pub embedding_tasks: Vec<TaskId>,
    pub generative_tasks: Vec<TaskId>,
    /// Generative rows whose prompt alone filled `max_len` (no answer token left to train).
    pub skipped: usize,
}

/// Reads `data/<Task>/{train,validation}.jsonl` for `tasks` (empty: every task folder present).
pub fn prepare(data: &Path, tasks: &[TaskId], tok: &TextTokenizer, s: &PrepareSettings) -> Result<PreparedData, PrepareError> {
    let mut out = PreparedData::default();
    for task in TaskId::ALL.into_iter().filter(|t| *t != TaskId::None) {
        let dir = data.join(task.name());
        if !tasks.is_empty() && !tasks.contains(&task) {
            continue;
        }
        // Prompt-only tasks (no public reference answers) have `*.prompts.jsonl` and no
        // `train.jsonl`: nothing to train on.
        let train_file = dir.join(format!("{}.jsonl", Split::Train.name()));
        if !train_file.is_file() {
            if tasks.contains(&task) {
                return Err(PrepareError::MissingTask { task, path: train_file.display().to_string() });
            }
            if dir.is_dir() {
                tracing::info!(task = task.name(), "no train.jsonl (a prompt-only task?): left out of training");
            }
            continue;
        }
        let train = read_split(&dir, Split::Train, s.max_rows)?;
        let valid = read_split(&dir, Split::Validation, s.validation_samples)?;
        match task.kind() {
            Some(TaskKind::Embedding) => {
                let (pool, _) = embedding_examples(&dir, Split::Train, task, &train, tok, s)?;
                let (val, _) = embedding_examples(&dir, Split::Validation, task, &valid, tok, s)?;
                out.examples.embedding.push(pool);
                out.validation.embedding.push((task, val));
                out.embedding_tasks.push(task);
            }
            _ => {
                let (pool, skipped) = generative_examples(&dir, Split::Train, task, &train, tok, s)?;
                let (val, _) = generative_examples(&dir, Split::Validation, task, &valid, tok, s)?;
                out.skipped += skipped;
                out.examples.generative.push(pool);
                out.validation.generative.push((task, val));
                out.generative_tasks.push(task);
            }
        }
    }
    if out.embedding_tasks.is_empty() && out.generative_tasks.is_empty() {
        return Err(PrepareError::NoTasks { data: data.display().to_string() });
    }
    Ok(out)
}

fn read_split(dir: &Path, split: Split, limit: usize) -> Result<Vec<RecFoundRow>, PrepareError> {
    let mut rows = read_rows(&dir.join(format!("{}.jsonl", split.name())))?;
    if limit > 0 {
        rows.truncate(limit);
    }
    Ok(rows)
}

fn kind_name(row: &RecFoundRow) -> &'static str {
    match row {
        RecFoundRow::Embedding(_) => "embedding",
        RecFoundRow::Generative(_) => "generative",
    }
}

/// One split's rows as examples of one kind. `convert` gives `None` for a row of the other kind
/// (an error naming the line), `Some(Ok(None))` for a row to skip (counted).
fn split_examples<T>(
    dir: &Path,
    split: Split,
    task: TaskId,
    rows: &[RecFoundRow],
    expected: &'static str,
    convert: impl Fn(usize, &RecFoundRow) -> Option<Result<Option<T>, BatchError>>,
) -> Result<(Vec<T>, usize), PrepareError> {
    let path = dir.join(format!("{}.jsonl", split.name())).display().to_string();
    let mut out = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    for (i, row) in rows.iter().enumerate() {
        match convert(i + 1, row) {
            Some(example) => match example? {
                Some(e) => out.push(e),
                None => skipped += 1,
            },
            None => return Err(PrepareError::WrongKind { path, line: i + 1, task, found: kind_name(row), expected }),
        }
    }
    if out.is_empty() {
        return Err(PrepareError::EmptyPool { task, split: split.name(), path });
    }
    Ok((out, skipped))
}

fn embedding_examples(
    dir: &Path,
    split: Split,
    task: TaskId,
    rows: &[RecFoundRow],
    tok: &TextTokenizer,
    s: &PrepareSettings,
) -> Result<(Vec<EmbeddingExample>, usize), PrepareError> {
    split_examples(dir, split, task, rows, "an embedding task", |line, row| match row {
        RecFoundRow::Embedding(r) => Some(embedding_example(r, line, tok, s.template, s.group_size, s.max_len).map(Some)),
        RecFoundRow::Generative(_) => None,
    })
}

fn generative_examples(
    dir: &Path,
    split: Split,
    task: TaskId,
    rows: &[RecFoundRow],
    tok: &TextTokenizer,
    s: &PrepareSettings,
) -> Result<(Vec<GenerativeExample>, usize), PrepareError> {
    split_examples(dir, split, task, rows, "a generative task", |line, row| match row {
        RecFoundRow::Generative(r) => Some(generative_example(r, line, tok, s.template, s.max_len)),
        RecFoundRow::Embedding(_) => None,
    })
}
