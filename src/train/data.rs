//! Reading a RecFound dataset for training: every task's train rows tokenised into its pool, and
//! a fixed validation sample per task for S2Sched.
//!
//! Two layouts are read:
//! - one folder per task, `<data>/<Task>/{train,validation}.jsonl` (what `recfound data
//!   build-recfound` writes): the validation sample is the first `validation_samples` rows of
//!   the task's validation file;
//! - GritLM-style flat files, as the authors release theirs: `data` is one `.jsonl` file or a
//!   folder of them (searched recursively, in name order), embedding and generative rows mixed,
//!   each row's task read from its `task` key. There is no validation split in that layout, so
//!   `validation_samples` rows per task (at most half of its rows) are held out of training,
//!   evenly spaced over the task's rows in file order: the same rows on every run and resume.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data::DataError;
use crate::recfound::{RecFoundRow, Split, TaskId, TaskKind, read_numbered_rows};
use crate::text::{PromptTemplate, TextTokenizer};

use super::batch::{BatchError, EmbeddingExample, GenerativeExample, embedding_example, generative_example};
use super::loader::TaskExamples;
use super::strategy::ValidationSets;

/// Errors from preparing the training data.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path}: {source}")]
    Batch { path: String, source: BatchError },
    #[error("{path}: task {task} has no usable {split} rows")]
    EmptyPool { task: TaskId, split: &'static str, path: String },
    #[error(
        "{data}: no task folder (e.g. {data}/Sentiment_Analysis/train.jsonl) and no .jsonl file of GritLM-style rows found"
    )]
    NoTasks { data: String },
    #[error("{path}: task {task} was asked for but has no training rows there")]
    MissingTask { task: TaskId, path: String },
    #[error("{path}: line {line} is a {found} row, but task {task} is {expected}")]
    WrongKind { path: String, line: usize, task: TaskId, found: &'static str, expected: &'static str },
    #[error("{path}: task {task} has {rows} row(s): at least 2 are needed to hold one out for validation")]
    TooFewRows { task: TaskId, rows: usize, path: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
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

/// A row and where it was read, for errors found while tokenising it.
#[derive(Debug, Clone)]
struct Sourced {
    path: Arc<str>,
    line: usize,
    row: RecFoundRow,
}

/// One task's rows for training and for its validation sample, and a name for its source.
struct TaskRows {
    task: TaskId,
    source: String,
    train: Vec<Sourced>,
    validation: Vec<Sourced>,
}

/// Reads `data` in either layout (see the module docs) for `tasks` (empty: every task found).
pub fn prepare(data: &Path, tasks: &[TaskId], tok: &TextTokenizer, s: &PrepareSettings) -> Result<PreparedData, PrepareError> {
    let per_task = data.is_dir() && TaskId::ALL.iter().any(|t| data.join(t.name()).join("train.jsonl").is_file());
    let all_rows = if per_task { per_task_rows(data, tasks, s)? } else { flat_rows(data, tasks, s)? };
    let mut out = PreparedData::default();
    for TaskRows { task, source, train, validation } in all_rows {
        match task.kind() {
            Some(TaskKind::Embedding) => {
                let (pool, _) = embedding_examples(&source, Split::Train, task, &train, tok, s)?;
                let (val, _) = embedding_examples(&source, Split::Validation, task, &validation, tok, s)?;
                out.examples.embedding.push(pool);
                out.validation.embedding.push((task, val));
                out.embedding_tasks.push(task);
            }
            _ => {
                let (pool, skipped) = generative_examples(&source, Split::Train, task, &train, tok, s)?;
                let (val, _) = generative_examples(&source, Split::Validation, task, &validation, tok, s)?;
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

/// The task ids to train, in id order: `tasks`, or all of them.
fn wanted(tasks: &[TaskId]) -> impl Iterator<Item = TaskId> + '_ {
    TaskId::ALL.into_iter().filter(move |t| *t != TaskId::None && (tasks.is_empty() || tasks.contains(t)))
}

/// `<data>/<Task>/{train,validation}.jsonl`.
fn per_task_rows(data: &Path, tasks: &[TaskId], s: &PrepareSettings) -> Result<Vec<TaskRows>, PrepareError> {
    let mut out = Vec::new();
    for task in wanted(tasks) {
        let dir = data.join(task.name());
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
        let train = read_file(&train_file, s.max_rows)?;
        let validation = read_file(&dir.join(format!("{}.jsonl", Split::Validation.name())), s.validation_samples)?;
        out.push(TaskRows { task, source: dir.display().to_string(), train, validation });
    }
    Ok(out)
}

fn read_file(path: &Path, limit: usize) -> Result<Vec<Sourced>, PrepareError> {
    let name: Arc<str> = path.display().to_string().into();
    let rows = read_numbered_rows(path)?.into_iter();
    let rows = rows.take(if limit > 0 { limit } else { usize::MAX });
    Ok(rows.map(|(line, row)| Sourced { path: name.clone(), line, row }).collect())
}

/// GritLM-style files: rows grouped by their `task` key, validation rows held out.
fn flat_rows(data: &Path, tasks: &[TaskId], s: &PrepareSettings) -> Result<Vec<TaskRows>, PrepareError> {
    let files = if data.is_file() { vec![data.to_path_buf()] } else { jsonl_files(data)? };
    let mut by_task: Vec<Vec<Sourced>> = vec![Vec::new(); TaskId::ALL.len()];
    for file in &files {
        for sourced in read_file(file, 0)? {
            by_task[sourced.row.task() as usize].push(sourced);
        }
    }
    let source = data.display().to_string();
    let mut out = Vec::new();
    for task in wanted(tasks) {
        let rows = std::mem::take(&mut by_task[task as usize]);
        if rows.is_empty() {
            if tasks.contains(&task) {
                return Err(PrepareError::MissingTask { task, path: source });
            }
            continue;
        }
        if rows.len() < 2 {
            return Err(PrepareError::TooFewRows { task, rows: rows.len(), path: source });
        }
        let held = held_out(rows.len(), s.validation_samples);
        let (mut train, mut validation) = (Vec::new(), Vec::new());
        for (i, row) in rows.into_iter().enumerate() {
            if held.binary_search(&i).is_ok() { validation.push(row) } else { train.push(row) }
        }
        if s.max_rows > 0 {
            train.truncate(s.max_rows);
        }
        tracing::info!(task = task.name(), train = train.len(), validation = validation.len(), "rows (validation held out of the flat files)");
        out.push(TaskRows { task, source: source.clone(), train, validation });
    }
    Ok(out)
}

/// Indices of the rows held out for validation: `min(wanted, rows / 2)` of them, at least one,
/// evenly spaced (`i * rows / count`), in increasing order.
fn held_out(rows: usize, wanted: usize) -> Vec<usize> {
    let count = wanted.min(rows / 2).max(1);
    (0..count).map(|i| i * rows / count).collect()
}

/// Every `.jsonl` file under `dir`, recursively, in path order.
fn jsonl_files(dir: &Path) -> Result<Vec<PathBuf>, PrepareError> {
    let io = |source| PrepareError::Io { path: dir.display().to_string(), source };
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| PrepareError::Io { path: dir.display().to_string(), source })?;
        for entry in entries {
            let path = entry.map_err(io)?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
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
    source: &str,
    split: Split,
    task: TaskId,
    rows: &[Sourced],
    expected: &'static str,
    convert: impl Fn(usize, &RecFoundRow) -> Option<Result<Option<T>, BatchError>>,
) -> Result<(Vec<T>, usize), PrepareError> {
    let mut out = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    for Sourced { path, line, row } in rows {
        match convert(*line, row) {
            Some(example) => match example.map_err(|source| PrepareError::Batch { path: path.to_string(), source })? {
                Some(e) => out.push(e),
                None => skipped += 1,
            },
            None => return Err(PrepareError::WrongKind { path: path.to_string(), line: *line, task, found: kind_name(row), expected }),
        }
    }
    if out.is_empty() {
        return Err(PrepareError::EmptyPool { task, split: split.name(), path: source.to_string() });
    }
    Ok((out, skipped))
}

fn embedding_examples(
    source: &str,
    split: Split,
    task: TaskId,
    rows: &[Sourced],
    tok: &TextTokenizer,
    s: &PrepareSettings,
) -> Result<(Vec<EmbeddingExample>, usize), PrepareError> {
    split_examples(source, split, task, rows, "an embedding task", |line, row| match row {
        RecFoundRow::Embedding(r) => Some(embedding_example(r, line, tok, s.template, s.group_size, s.max_len).map(Some)),
        RecFoundRow::Generative(_) => None,
    })
}

fn generative_examples(
    source: &str,
    split: Split,
    task: TaskId,
    rows: &[Sourced],
    tok: &TextTokenizer,
    s: &PrepareSettings,
) -> Result<(Vec<GenerativeExample>, usize), PrepareError> {
    split_examples(source, split, task, rows, "a generative task", |line, row| match row {
        RecFoundRow::Generative(r) => Some(generative_example(r, line, tok, s.template, s.max_len)),
        RecFoundRow::Embedding(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::held_out;

    #[test]
    fn held_out_rows_are_spread_and_capped_at_half() {
        assert_eq!(held_out(10, 3), [0, 3, 6]);
        assert_eq!(held_out(10, 128), [0, 2, 4, 6, 8]); // at most half
        assert_eq!(held_out(3, 128), [0]);
        assert_eq!(held_out(2, 0), [0]); // S2Sched needs at least one
    }
}
