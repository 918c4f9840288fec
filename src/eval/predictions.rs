//! Saved predictions, one JSONL line per test row (`predictions/<task>.jsonl`), so every number
//! can be re-checked and an interrupted run resumes where it stopped. A line holds the row's
//! index in the test split, a `prompt_id` (a hash of the prompt, so a resumed run notices
//! changed data), the task, and what the metric needs: the output and reference text, or the
//! candidates' scores and relevance.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::EvalError;
use crate::recfound::{TaskId, TaskKind};

/// A generated answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerativePrediction {
    pub row: usize,
    pub prompt_id: String,
    pub task: TaskId,
    /// The decoded output, special tokens skipped.
    pub output: String,
    pub reference: String,
    /// Options listed in the prompt (option tasks), for the letter parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<usize>,
    /// Tokens generated (EOS included when emitted).
    pub new_tokens: usize,
}

/// A ranking of candidates for one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingPrediction {
    pub row: usize,
    pub prompt_id: String,
    pub task: TaskId,
    /// The candidate texts, in the order of `scores`.
    pub candidates: Vec<String>,
    pub relevant: Vec<bool>,
    /// Cosine similarity of the query with each candidate.
    pub scores: Vec<f32>,
}

/// One saved line.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    Generative(GenerativePrediction),
    Embedding(EmbeddingPrediction),
}

impl Prediction {
    pub fn row(&self) -> usize {
        match self {
            Prediction::Generative(p) => p.row,
            Prediction::Embedding(p) => p.row,
        }
    }

    pub fn prompt_id(&self) -> &str {
        match self {
            Prediction::Generative(p) => &p.prompt_id,
            Prediction::Embedding(p) => &p.prompt_id,
        }
    }

    fn task(&self) -> TaskId {
        match self {
            Prediction::Generative(p) => p.task,
            Prediction::Embedding(p) => p.task,
        }
    }

    fn to_json(&self) -> String {
        match self {
            Prediction::Generative(p) => serde_json::to_string(p),
            Prediction::Embedding(p) => serde_json::to_string(p),
        }
        .expect("predictions serialise")
    }
}

/// A predictions file's lines with their 1-based line numbers.
#[derive(Debug, Clone)]
pub struct PredictionFile {
    pub path: PathBuf,
    pub task: TaskId,
    pub lines: Vec<(usize, Prediction)>,
}

/// `predictions/<task>.jsonl` under an eval directory.
pub fn predictions_path(out: &Path, task: TaskId) -> PathBuf {
    out.join("predictions").join(format!("{}.jsonl", task.name()))
}

/// The prompt's id: 64-bit FNV-1a of its text, in hex.
pub fn prompt_id(text: &str) -> String {
    format!("{:016x}", fnv1a64(text))
}

/// 64-bit FNV-1a of `text`'s bytes.
pub(crate) fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Reads the predictions of `task` from `path`. A malformed line, a line of another task or a
/// row index seen twice is an error naming the line. With `allow_torn_tail`, a last line that
/// lacks its newline and does not parse (a write cut short) is dropped with a warning.
pub fn read_predictions(path: &Path, task: TaskId, allow_torn_tail: bool) -> Result<PredictionFile, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let kind = task.kind().ok_or_else(|| EvalError::Task { task: task.name().into(), message: "has no predictions".into() })?;
    let all: Vec<&str> = text.split('\n').collect();
    let mut lines = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in all.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| EvalError::Prediction { path: path.to_path_buf(), line: i + 1, message };
        let parsed = match kind {
            TaskKind::Generative => serde_json::from_str(line).map(Prediction::Generative),
            TaskKind::Embedding => serde_json::from_str(line).map(Prediction::Embedding),
        };
        let prediction = match parsed {
            Ok(p) => p,
            Err(_) if allow_torn_tail && i + 1 == all.len() => {
                tracing::warn!(path = %path.display(), line = i + 1, "dropping a torn last line (an interrupted write); its row is redone");
                break;
            }
            Err(e) => return Err(bad(format!("not a {task} prediction: {e}"))),
        };
        if prediction.task() != task {
            return Err(bad(format!("task `{}` in the predictions file of `{task}`", prediction.task())));
        }
        if let Prediction::Embedding(p) = &prediction
            && (p.scores.len() != p.relevant.len() || p.candidates.len() != p.scores.len())
        {
            return Err(bad(format!("{} candidates, {} scores, {} relevance flags", p.candidates.len(), p.scores.len(), p.relevant.len())));
        }
        if !seen.insert(prediction.row()) {
            return Err(bad(format!("row {} is predicted twice", prediction.row())));
        }
        lines.push((i + 1, prediction));
    }
    Ok(PredictionFile { path: path.to_path_buf(), task, lines })
}

/// Appends predictions to a file as they are made (one flushed write per batch), so a crash
/// loses at most the batch in flight.
pub struct PredictionWriter {
    path: PathBuf,
    file: std::fs::File,
}

impl PredictionWriter {
    /// Opens `path` for appending; a torn last line (no newline) is cut off first.
    pub fn open(path: &Path) -> Result<Self, EvalError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        }
        if let Ok(text) = std::fs::read(path)
            && !text.is_empty()
            && !text.ends_with(b"\n")
        {
            let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| EvalError::io(path, e))?;
            file.set_len(keep as u64).map_err(|e| EvalError::io(path, e))?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| EvalError::io(path, e))?;
        Ok(Self { path: path.to_path_buf(), file })
    }

    pub fn append(&mut self, predictions: &[Prediction]) -> Result<(), EvalError> {
        let text: String = predictions.iter().map(|p| p.to_json() + "\n").collect();
        self.file.write_all(text.as_bytes()).map_err(|e| EvalError::io(&self.path, e))?;
        self.file.sync_data().map_err(|e| EvalError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generative(row: usize) -> Prediction {
        Prediction::Generative(GenerativePrediction {
            row,
            prompt_id: prompt_id("p"),
            task: TaskId::ProductMatching,
            output: "yes".into(),
            reference: "no".into(),
            options: None,
            new_tokens: 2,
        })
    }

    #[test]
    fn fnv1a_by_hand() {
        // FNV-1a 64 of "" is the offset basis; of "a" the published test vector.
        assert_eq!(prompt_id(""), "cbf29ce484222325");
        assert_eq!(prompt_id("a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn append_read_and_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("predictions/Product_Matching.jsonl");
        PredictionWriter::open(&path).unwrap().append(&[generative(0), generative(1)]).unwrap();
        let read = read_predictions(&path, TaskId::ProductMatching, false).unwrap();
        assert_eq!(read.lines.iter().map(|(l, p)| (*l, p.row())).collect::<Vec<_>>(), vec![(1, 0), (2, 1)]);
        // A torn last line is dropped when resuming and cut off when appending.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"row\": 2, \"prompt");
        std::fs::write(&path, &text).unwrap();
        assert!(matches!(read_predictions(&path, TaskId::ProductMatching, false), Err(EvalError::Prediction { line: 3, .. })));
        assert_eq!(read_predictions(&path, TaskId::ProductMatching, true).unwrap().lines.len(), 2);
        PredictionWriter::open(&path).unwrap().append(&[generative(2)]).unwrap();
        assert_eq!(read_predictions(&path, TaskId::ProductMatching, false).unwrap().lines.len(), 3);
        // Duplicates and other tasks name the line.
        PredictionWriter::open(&path).unwrap().append(&[generative(1)]).unwrap();
        let err = read_predictions(&path, TaskId::ProductMatching, false).unwrap_err().to_string();
        assert!(err.contains(":4:") && err.contains("row 1 is predicted twice"), "{err}");
        let err = read_predictions(&path, TaskId::AnswerabilityPrediction, false).unwrap_err().to_string();
        assert!(err.contains(":1:") && err.contains("Product_Matching"), "{err}");
    }
}
