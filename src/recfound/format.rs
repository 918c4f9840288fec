//! The JSONL rows of RecFound's released dataset (the authors' training code is GritLM-based):
//! embedding rows `{"query": [instruction, text], "pos": [[instruction, text], ...], "neg": [...],
//! "task": "Emb_user" | "Emb_query" | "Emb_item"}` and generative rows
//! `{"text": [prompt, answer, (prompt, answer, ...)], "task": NAME}`. Read and written so that a
//! user who downloads the authors' files trains on them as they are.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::task::{TaskId, TaskKind};
use crate::data::DataError;
use crate::data::domain::{read_jsonl, write_jsonl};

impl Serialize for TaskId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// An embedding example: a query, its positives and hard negatives, each `[instruction, text]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingRow {
    pub query: (String, String),
    pub pos: Vec<(String, String)>,
    #[serde(default)]
    pub neg: Vec<(String, String)>,
    pub task: TaskId,
}

/// A generative example: alternating prompts and answers (one or more turns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerativeRow {
    pub text: Vec<String>,
    pub task: TaskId,
}

/// One line of a RecFound data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecFoundRow {
    Embedding(EmbeddingRow),
    Generative(GenerativeRow),
}

impl RecFoundRow {
    pub fn task(&self) -> TaskId {
        match self {
            RecFoundRow::Embedding(r) => r.task,
            RecFoundRow::Generative(r) => r.task,
        }
    }

    /// Checks what serde cannot: the task's branch matches the row's shape, embedding rows have
    /// a positive, generative rows come in prompt/answer pairs.
    fn check(&self) -> Result<(), String> {
        match self {
            RecFoundRow::Embedding(r) => {
                if r.task.kind() != Some(TaskKind::Embedding) {
                    return Err(format!("task `{}` is generative but the row has `query`/`pos` (an embedding row)", r.task));
                }
                if r.pos.is_empty() {
                    return Err("`pos` is empty: an embedding row needs at least one positive".into());
                }
            }
            RecFoundRow::Generative(r) => {
                if r.task.kind() != Some(TaskKind::Generative) {
                    return Err(format!("task `{}` is not generative but the row has `text` (a generative row)", r.task));
                }
                if r.text.is_empty() || r.text.len() % 2 != 0 {
                    return Err(format!("`text` has {} entries: expected prompt/answer pairs", r.text.len()));
                }
            }
        }
        Ok(())
    }
}

/// Reads a RecFound JSONL file (embedding and generative rows may be mixed). A malformed line,
/// an unknown task name or a row whose shape does not fit its task is an error naming the line.
pub fn read_rows(path: &Path) -> Result<Vec<RecFoundRow>, DataError> {
    Ok(read_numbered_rows(path)?.into_iter().map(|(_, row)| row).collect())
}

/// [`read_rows`] with each row's 1-based line number, for errors found later.
pub fn read_numbered_rows(path: &Path) -> Result<Vec<(usize, RecFoundRow)>, DataError> {
    let lines: Vec<(usize, serde_json::Value)> = read_jsonl(path)?;
    lines
        .into_iter()
        .map(|(line, value)| {
            let row = parse_row(value).map_err(|m| DataError::parse(path, line, m))?;
            row.check().map_err(|m| DataError::parse(path, line, m))?;
            Ok((line, row))
        })
        .collect()
}

/// Decides the row type by its keys first, so the error says what is wrong with that type
/// rather than serde's "did not match any variant".
fn parse_row(value: serde_json::Value) -> Result<RecFoundRow, String> {
    let has = |key: &str| value.get(key).is_some();
    if has("query") {
        serde_json::from_value(value).map(RecFoundRow::Embedding).map_err(|e| format!("embedding row: {e}"))
    } else if has("text") {
        serde_json::from_value(value).map(RecFoundRow::Generative).map_err(|e| format!("generative row: {e}"))
    } else {
        Err("neither `query` (embedding row) nor `text` (generative row)".into())
    }
}

/// Writes rows as JSONL, atomically (temporary file, then rename).
pub fn write_rows(path: &Path, rows: &[RecFoundRow]) -> Result<(), DataError> {
    write_jsonl(path, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str) -> Result<Vec<RecFoundRow>, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.jsonl");
        std::fs::write(&path, text).unwrap();
        read_rows(&path)
    }

    const EMB: &str = r#"{"query": ["Represent the user", "likes jazz"], "pos": [["Represent the item", "Kind of Blue"]], "neg": [["Represent the item", "Thriller"]], "task": "Emb_user"}"#;
    const GEN: &str = r#"{"text": ["Is this review positive?", "A: very positive"], "task": "Sentiment_Analysis"}"#;

    #[test]
    fn reads_mixed_rows_and_round_trips() {
        let rows = read_str(&format!("{EMB}\n\n{GEN}\n")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].task(), TaskId::EmbUser);
        assert_eq!(rows[1].task(), TaskId::SentimentAnalysis);
        let RecFoundRow::Embedding(e) = &rows[0] else { panic!("embedding row expected") };
        assert_eq!(e.query.1, "likes jazz");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        write_rows(&path, &rows).unwrap();
        assert_eq!(read_rows(&path).unwrap(), rows);
    }

    #[test]
    fn errors_name_the_line() {
        let err = read_str(&format!("{GEN}\n{}\n", GEN.replace("Sentiment_Analysis", "Sentiment"))).unwrap_err().to_string();
        assert!(err.contains(":2:") && err.contains("unknown task `Sentiment`"), "{err}");
        let err = read_str(&format!("{}\n", GEN.replace("Sentiment_Analysis", "Emb_item"))).unwrap_err().to_string();
        assert!(err.contains(":1:") && err.contains("not generative"), "{err}");
        let err = read_str(r#"{"text": ["only a prompt"], "task": "Query_Rewriting"}"#).unwrap_err().to_string();
        assert!(err.contains("prompt/answer pairs"), "{err}");
        let err = read_str(r#"{"prompt": "x", "task": "Query_Rewriting"}"#).unwrap_err().to_string();
        assert!(err.contains("neither `query`"), "{err}");
        let err = read_str(&format!("{EMB}\n{{\"text\": [\n")).unwrap_err().to_string();
        assert!(err.contains(":2:"), "{err}");
    }
}
