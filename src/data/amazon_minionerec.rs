//! MiniOneRec's Amazon CSVs (e.g. `Office_Products_{valid,test}.csv`): one next-item example per
//! row, `user_id,history_item_title,item_title,history_item_id,item_id[,history_item_sid,item_sid]`,
//! where the history columns hold Python-list literals (`['a, b', "Dad's"]`, `[384, 289]`).
//! A user's rows are sliding windows over one sequence; [`read_user_sequences`] rebuilds it.

use std::collections::HashMap;
use std::path::Path;

use super::amazon_lcrec::LcRecSequence;
use super::pylit::{self, PyValue};
use super::{CsvFile, CsvRow, DataError, id_order};

/// One row: the user's history (at most 10 items, oldest first) and the next item.
#[derive(Debug, Clone, PartialEq)]
pub struct MiniOneRecRow {
    /// 1-based line of the record in its file.
    pub line: usize,
    pub user_id: String,
    pub history_item_titles: Vec<String>,
    pub history_item_ids: Vec<u64>,
    pub item_title: String,
    pub item_id: u64,
    /// Semantic ids such as `<a_55><b_205><c_143>`; empty when the file has no sid columns.
    pub history_item_sids: Vec<String>,
    pub item_sid: Option<String>,
}

/// Reads one MiniOneRec CSV (streaming).
pub fn read_rows(path: &Path) -> Result<Vec<MiniOneRecRow>, DataError> {
    let mut csv = CsvFile::open(path)?;
    let user = csv.column("user_id")?;
    let (hist_titles, title) = (csv.column("history_item_title")?, csv.column("item_title")?);
    let (hist_ids, id) = (csv.column("history_item_id")?, csv.column("item_id")?);
    let (hist_sids, sid) = (csv.optional_column("history_item_sid"), csv.optional_column("item_sid"));
    let mut out = Vec::new();
    csv.for_each(|row| {
        let history_item_titles = py_list(row, hist_titles, "history_item_title", |v| v.as_str().map(str::to_string))?;
        let history_item_ids =
            py_list(row, hist_ids, "history_item_id", |v| v.as_i64().and_then(|n| u64::try_from(n).ok()))?;
        if history_item_titles.len() != history_item_ids.len() {
            return Err(row.error(format!(
                "{} history titles but {} history ids",
                history_item_titles.len(),
                history_item_ids.len()
            )));
        }
        let history_item_sids = match hist_sids {
            Some(c) => py_list(row, c, "history_item_sid", |v| v.as_str().map(str::to_string))?,
            None => Vec::new(),
        };
        out.push(MiniOneRecRow {
            line: row.line,
            user_id: row.get(user)?.to_string(),
            history_item_titles,
            history_item_ids,
            item_title: row.get(title)?.to_string(),
            item_id: row.parse(id, "item_id")?,
            history_item_sids,
            item_sid: sid.map(|c| row.get(c).map(str::to_string)).transpose()?,
        });
        Ok(())
    })?;
    Ok(out)
}

/// Rebuilds each user's item sequence from the rows of `paths` read in order (e.g. valid, then
/// test): a user's first row gives its history and next item, and every later row must continue
/// it (its history is the tail of the sequence so far) and adds its next item. A row that does not
/// continue its user's sequence is an error naming its file and line. Ordered by user id.
pub fn read_user_sequences(paths: &[&Path]) -> Result<Vec<LcRecSequence>, DataError> {
    let mut by_user: HashMap<String, Vec<u64>> = HashMap::new();
    for path in paths {
        for row in read_rows(path)? {
            match by_user.get_mut(&row.user_id) {
                None => {
                    let mut seq = row.history_item_ids;
                    seq.push(row.item_id);
                    by_user.insert(row.user_id, seq);
                }
                Some(seq) if seq.ends_with(&row.history_item_ids) => seq.push(row.item_id),
                Some(_) => {
                    let message = format!("user `{}`: history does not continue the user's earlier rows", row.user_id);
                    return Err(DataError::parse(path, row.line, message));
                }
            }
        }
    }
    let mut seqs: Vec<LcRecSequence> = by_user
        .into_iter()
        .map(|(user_id, ids)| LcRecSequence { user_id, item_ids: ids.iter().map(u64::to_string).collect() })
        .collect();
    seqs.sort_by(|a, b| id_order(&a.user_id).cmp(&id_order(&b.user_id)));
    Ok(seqs)
}

/// Parses field `index` as a Python list whose every element `item` accepts.
fn py_list<T>(
    row: &CsvRow<'_>,
    index: usize,
    name: &str,
    item: impl Fn(&PyValue) -> Option<T>,
) -> Result<Vec<T>, DataError> {
    let value = pylit::parse(row.get(index)?).map_err(|e| row.error(format!("field `{name}`: {e}")))?;
    let elements = value.as_seq().ok_or_else(|| row.error(format!("field `{name}`: expected a list")))?;
    elements
        .iter()
        .enumerate()
        .map(|(i, v)| item(v).ok_or_else(|| row.error(format!("field `{name}`: unexpected element {i}: {v:?}"))))
        .collect()
}
