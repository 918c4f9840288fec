//! The RecBase domain folder (issue 5, item 5): `items.jsonl` (one titled item per line),
//! `sequences.jsonl` (one user's item ids per line, oldest first) and, optionally,
//! `candidates.jsonl` (fixed RecBench-style evaluation rows: the next item plus sampled negatives
//! the user never touched). Written atomically file by file; read back with validation.
//!
//! ```text
//! items.jsonl       {"item_id":"1","title":"Toy Story (1995)","categories":"Adventure, Animation"}
//! sequences.jsonl   {"user_id":"1","item_ids":["804","1210","2018"]}
//! candidates.jsonl  {"user_id":"1","history":["804","1210"],"candidates":["7","2018"],"labels":[0,1]}
//! ```

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{DataError, Encoding, for_each_line, json_error, open};

pub const ITEMS_FILE: &str = "items.jsonl";
pub const SEQUENCES_FILE: &str = "sequences.jsonl";
pub const CANDIDATES_FILE: &str = "candidates.jsonl";

/// One line of `items.jsonl`. Only items with a title belong in the folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainItem {
    pub item_id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
}

impl DomainItem {
    /// An item with a title and no other text.
    pub fn new(item_id: impl Into<String>, title: impl Into<String>) -> Self {
        Self { item_id: item_id.into(), title: title.into(), description: None, categories: None, brand: None }
    }
}

/// One line of `sequences.jsonl`: a user's items, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainSequence {
    pub user_id: String,
    pub item_ids: Vec<String>,
}

/// One line of `candidates.jsonl`: `labels[i]` is 1 when `candidates[i]` is a positive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub user_id: String,
    pub history: Vec<String>,
    pub candidates: Vec<String>,
    pub labels: Vec<u8>,
}

/// What to do with an item id in `sequences.jsonl` that has no line in `items.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownItems {
    /// Fail with [`DataError::UnknownItem`] naming the file and line.
    Reject,
    /// Drop the id (and a sequence left empty) and count it in [`DomainReport`].
    Skip,
}

/// What [`DomainFolder::assemble`] or [`DomainFolder::read`] left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DomainReport {
    /// Items dropped for having no title.
    pub untitled_items: usize,
    /// Item ids removed from sequences because no titled item has them.
    pub unknown_item_refs: usize,
    /// Sequences dropped because no item was left.
    pub empty_sequences: usize,
}

/// A whole domain folder in memory. `candidates` empty means no `candidates.jsonl`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainFolder {
    pub items: Vec<DomainItem>,
    pub sequences: Vec<DomainSequence>,
    pub candidates: Vec<Candidate>,
}

impl DomainFolder {
    /// Builds a consistent folder from a source's items and sequences: drops untitled items,
    /// then item ids without a titled item, then sequences left empty, counting each.
    pub fn assemble(items: Vec<DomainItem>, sequences: Vec<DomainSequence>) -> (Self, DomainReport) {
        let mut report = DomainReport::default();
        let before = items.len();
        let items: Vec<DomainItem> = items.into_iter().filter(|i| !i.title.trim().is_empty()).collect();
        report.untitled_items = before - items.len();
        let known: HashSet<&str> = items.iter().map(|i| i.item_id.as_str()).collect();
        let mut kept = Vec::with_capacity(sequences.len());
        for mut seq in sequences {
            let before = seq.item_ids.len();
            seq.item_ids.retain(|id| known.contains(id.as_str()));
            report.unknown_item_refs += before - seq.item_ids.len();
            if seq.item_ids.is_empty() {
                report.empty_sequences += 1;
            } else {
                kept.push(seq);
            }
        }
        (Self { items, sequences: kept, candidates: Vec::new() }, report)
    }

    /// Writes `items.jsonl`, `sequences.jsonl` and (if any) `candidates.jsonl` into `dir`, each
    /// atomically. The folder is validated first, so an invalid one writes nothing.
    pub fn write(&self, dir: &Path) -> Result<(), DataError> {
        self.validate(dir)?;
        write_jsonl(&dir.join(ITEMS_FILE), &self.items)?;
        write_jsonl(&dir.join(SEQUENCES_FILE), &self.sequences)?;
        if !self.candidates.is_empty() {
            write_jsonl(&dir.join(CANDIDATES_FILE), &self.candidates)?;
        }
        Ok(())
    }

    /// Writes only `candidates.jsonl` (atomically), after checking the rows against this
    /// folder's items: what `make-candidates` does to a folder that already exists.
    pub fn write_candidates(&self, dir: &Path) -> Result<(), DataError> {
        let path = dir.join(CANDIDATES_FILE);
        let known: HashSet<&str> = self.items.iter().map(|i| i.item_id.as_str()).collect();
        for (line, row) in (1..).zip(&self.candidates) {
            check_candidate(&path, line, row, |id| known.contains(id))?;
        }
        write_jsonl(&path, &self.candidates)
    }

    /// Reads a folder back. Items must have a non-empty title and a unique id; sequences must
    /// not be empty; unknown ids in sequences follow `unknown`. Candidate rows must name known
    /// items and have one 0/1 label per candidate with at least one 1.
    pub fn read(dir: &Path, unknown: UnknownItems) -> Result<(Self, DomainReport), DataError> {
        let mut report = DomainReport::default();
        let items_path = dir.join(ITEMS_FILE);
        let items: Vec<(usize, DomainItem)> = read_jsonl(&items_path)?;
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(items.len());
        for (line, item) in &items {
            let line = *line;
            if item.title.trim().is_empty() {
                return Err(DataError::parse(&items_path, line, format!("item `{}` has an empty title", item.item_id)));
            }
            if index.insert(&item.item_id, line).is_some() {
                return Err(DataError::parse(&items_path, line, format!("duplicate item id `{}`", item.item_id)));
            }
        }

        let seq_path = dir.join(SEQUENCES_FILE);
        let mut sequences = Vec::new();
        for (line, mut seq) in read_jsonl::<DomainSequence>(&seq_path)? {
            if seq.item_ids.is_empty() {
                return Err(DataError::parse(&seq_path, line, format!("user `{}` has an empty sequence", seq.user_id)));
            }
            if let Some(id) = seq.item_ids.iter().find(|id| !index.contains_key(id.as_str())) {
                if unknown == UnknownItems::Reject {
                    return Err(DataError::UnknownItem { path: seq_path, line, item_id: id.clone() });
                }
                let before = seq.item_ids.len();
                seq.item_ids.retain(|id| index.contains_key(id.as_str()));
                report.unknown_item_refs += before - seq.item_ids.len();
                if seq.item_ids.is_empty() {
                    report.empty_sequences += 1;
                    continue;
                }
            }
            sequences.push(seq);
        }

        let cand_path = dir.join(CANDIDATES_FILE);
        let candidates: Vec<(usize, Candidate)> = if cand_path.exists() { read_jsonl(&cand_path)? } else { Vec::new() };
        for (line, row) in &candidates {
            check_candidate(&cand_path, *line, row, |id| index.contains_key(id))?;
        }
        let items = items.into_iter().map(|(_, item)| item).collect();
        let candidates = candidates.into_iter().map(|(_, row)| row).collect();
        Ok((Self { items, sequences, candidates }, report))
    }

    /// The invariants [`Self::read`] checks with [`UnknownItems::Reject`], on the in-memory
    /// folder; errors name the file and line the row would be written to under `dir`.
    fn validate(&self, dir: &Path) -> Result<(), DataError> {
        let items_path = dir.join(ITEMS_FILE);
        let mut known = HashSet::with_capacity(self.items.len());
        for (line, item) in (1..).zip(&self.items) {
            if item.title.trim().is_empty() || !known.insert(item.item_id.as_str()) {
                return Err(DataError::parse(
                    &items_path,
                    line,
                    format!("item `{}`: empty title or duplicate id", item.item_id),
                ));
            }
        }
        let seq_path = dir.join(SEQUENCES_FILE);
        for (line, seq) in (1..).zip(&self.sequences) {
            if seq.item_ids.is_empty() {
                return Err(DataError::parse(&seq_path, line, format!("user `{}` has an empty sequence", seq.user_id)));
            }
            if let Some(id) = seq.item_ids.iter().find(|id| !known.contains(id.as_str())) {
                return Err(DataError::UnknownItem { path: seq_path, line, item_id: id.clone() });
            }
        }
        let cand_path = dir.join(CANDIDATES_FILE);
        for (line, row) in (1..).zip(&self.candidates) {
            check_candidate(&cand_path, line, row, |id| known.contains(id))?;
        }
        Ok(())
    }

    /// RecBench-style evaluation rows: for every sequence with at least two items, the history is
    /// all but the last item, and the candidates are the last item plus `num_negatives` items the
    /// user never touched, sampled uniformly without replacement and shuffled with `seed`.
    /// Users who touched too many items to leave `num_negatives` untouched ones are skipped.
    pub fn make_candidates(&self, num_negatives: usize, seed: u64) -> Vec<Candidate> {
        let mut rng = StdRng::seed_from_u64(seed);
        let all: Vec<&str> = self.items.iter().map(|i| i.item_id.as_str()).collect();
        let mut rows = Vec::new();
        for seq in &self.sequences {
            let Some((positive, history)) = seq.item_ids.split_last() else { continue };
            if history.is_empty() {
                continue;
            }
            let touched: HashSet<&str> = seq.item_ids.iter().map(String::as_str).collect();
            if all.len() < touched.len() + num_negatives {
                continue;
            }
            // Rejection sampling: cheap while users touch a small share of the catalogue.
            let mut chosen: HashSet<&str> = HashSet::with_capacity(num_negatives);
            let mut candidates = vec![positive.clone()];
            while candidates.len() <= num_negatives {
                let id = all[rng.random_range(0..all.len())];
                if !touched.contains(id) && chosen.insert(id) {
                    candidates.push(id.to_string());
                }
            }
            candidates.shuffle(&mut rng);
            let labels = candidates.iter().map(|c| u8::from(c == positive)).collect();
            rows.push(Candidate { user_id: seq.user_id.clone(), history: history.to_vec(), candidates, labels });
        }
        rows
    }
}

fn check_candidate(path: &Path, line: usize, row: &Candidate, known: impl Fn(&str) -> bool) -> Result<(), DataError> {
    if row.candidates.len() != row.labels.len() {
        let message = format!("{} candidates but {} labels", row.candidates.len(), row.labels.len());
        return Err(DataError::parse(path, line, message));
    }
    if row.labels.iter().any(|&l| l > 1) || !row.labels.contains(&1) {
        return Err(DataError::parse(path, line, "labels must be 0 or 1 with at least one 1"));
    }
    match row.history.iter().chain(&row.candidates).find(|id| !known(id)) {
        Some(id) => Err(DataError::UnknownItem { path: path.to_path_buf(), line, item_id: id.clone() }),
        None => Ok(()),
    }
}

/// Serialises `rows` one JSON object per line and writes them atomically.
pub(crate) fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), DataError> {
    let mut bytes = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut bytes, row).expect("plain structs serialise to JSON");
        bytes.push(b'\n');
    }
    crate::io::write_atomic(path, &bytes).map_err(|e| DataError::io(path, e))
}

/// Reads a JSON-lines file as `(line number, row)`; blank lines are ignored, a malformed line is
/// an error naming its line.
pub(crate) fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, DataError> {
    let mut out = Vec::new();
    for_each_line(path, open(path)?, Encoding::Utf8, |line, text| {
        if !text.trim().is_empty() {
            out.push((line, serde_json::from_str(text).map_err(|e| json_error(path, line, &e))?));
        }
        Ok(())
    })?;
    Ok(out)
}
