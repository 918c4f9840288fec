//! Steam in LLaRA's split (Liao et al. 2024): `id2name.txt` with `id::name` lines (CRLF), and
//! `{train,Val,Test}_data*.jsonl` rows `{"seq": [10 ids, padded with 3581], "len_seq", "next"}`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{DataError, Encoding, for_each_line, json_error, open, parse_field};

/// The padding id of LLaRA's Steam sequences (one past the last game id).
pub const STEAM_PAD: u32 = 3581;

/// One next-item example with the padding removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SteamRow {
    /// The history, oldest first.
    pub seq: Vec<u32>,
    pub next: u32,
}

#[derive(Deserialize)]
struct RawRow {
    seq: Vec<u32>,
    len_seq: usize,
    next: u32,
}

/// Reads `id2name.txt` into id -> game name.
pub fn read_id2name(path: &Path) -> Result<BTreeMap<u32, String>, DataError> {
    let mut out = BTreeMap::new();
    for_each_line(path, open(path)?, Encoding::Utf8, |line, text| {
        if text.is_empty() {
            return Ok(());
        }
        // Names may contain "::" themselves; the id is before the first one.
        let (id, name) = text.split_once("::").ok_or_else(|| DataError::parse(path, line, "expected `id::name`"))?;
        let id: u32 = parse_field(path, line, "id", id)?;
        if out.insert(id, name.to_string()).is_some() {
            return Err(DataError::parse(path, line, format!("duplicate id {id}")));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Reads a `*_data*.jsonl` file; checks that `len_seq` ids precede the padding. A history can be
/// empty (one row of LLaRA's `Test_data.jsonl`).
pub fn read_rows(path: &Path) -> Result<Vec<SteamRow>, DataError> {
    let mut out = Vec::new();
    for_each_line(path, open(path)?, Encoding::Utf8, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let raw: RawRow = serde_json::from_str(text).map_err(|e| json_error(path, line, &e))?;
        // LLaRA writes `len_seq` 1 for an empty history (all padding), never 0: read that as empty.
        let len = if raw.len_seq == 1 && raw.seq.first() == Some(&STEAM_PAD) { 0 } else { raw.len_seq };
        let (seq, pad) = raw.seq.split_at(len.min(raw.seq.len()));
        if raw.len_seq > raw.seq.len() || seq.contains(&STEAM_PAD) || pad.iter().any(|&id| id != STEAM_PAD) {
            return Err(DataError::parse(
                path,
                line,
                format!("`len_seq` = {} does not match `seq` {:?}", raw.len_seq, raw.seq),
            ));
        }
        out.push(SteamRow { seq: seq.to_vec(), next: raw.next });
        Ok(())
    })?;
    Ok(out)
}
