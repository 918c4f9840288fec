//! MuDoCo (Martin et al. 2020, multi-domain coreference) raw JSON, one file per domain
//! (`mudoco_<domain>.json`): `{"domain", "dialogs": {"<id>": {"split", "turns": [{"number",
//! "utterance", "named_entities", "references", "links"}]}}}`. RecFound's query-rewriting task
//! is built from these dialogues.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{DataError, read_json};

/// One domain file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MudocoDomain {
    pub domain: String,
    /// Dialogues by id (ordered by id).
    pub dialogs: BTreeMap<String, Dialog>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Eval,
    Test,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Dialog {
    pub split: Split,
    pub turns: Vec<Turn>,
}

/// One utterance. Turn numbers can skip (a dialogue may omit a turn).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Turn {
    pub number: u32,
    pub utterance: String,
    /// Entity type -> mentions.
    #[serde(default)]
    pub named_entities: BTreeMap<String, Vec<Mention>>,
    /// Reference type (`location_pronoun`, `definite_determiner`, ...) -> mentions.
    #[serde(default)]
    pub references: BTreeMap<String, Vec<Mention>>,
    /// Coreference chains: each link is a list of mentions of the same thing across turns.
    #[serde(default)]
    pub links: Vec<Vec<Mention>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Mention {
    pub turn_id: u32,
    pub text: String,
    pub span: Span,
}

/// Character offsets into the utterance, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// Reads one `mudoco_<domain>.json`.
pub fn read_domain(path: &Path) -> Result<MudocoDomain, DataError> {
    read_json(path)
}

/// Reads every `mudoco_*.json` of `dir`, ordered by file name.
pub fn read_dir(dir: &Path) -> Result<Vec<MudocoDomain>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("mudoco_") && name.ends_with(".json") {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| read_domain(p)).collect()
}
