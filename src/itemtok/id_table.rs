//! The item id table, `item_id -> semantic id tuple`, as JSONL lines
//! `{"item_id": "...", "ids": [c1, c2, ...]}` (the `itemtok encode` output of issue 8 item 7),
//! and the prefix trie of all valid ids that constrains RecBase's beam search (DESIGN.md §8:
//! token = offset_level + code).

use std::collections::HashSet;
use std::path::Path;

use crate::backbone::PrefixTrie;
use crate::data::{DataError, Encoding, for_each_line, open};

use super::ItemTokError;

/// One line of an id table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemIds {
    pub item_id: String,
    pub ids: Vec<u32>,
}

/// Writes `table` to `path` atomically, one JSON object per line.
pub fn write_id_table(path: &Path, table: &[ItemIds]) -> Result<(), ItemTokError> {
    let mut text = String::new();
    for entry in table {
        text.push_str(&serde_json::to_string(entry).expect("a string and integers always serialise"));
        text.push('\n');
    }
    crate::io::write_atomic(path, text.as_bytes())
        .map_err(|source| ItemTokError::Io { path: path.to_path_buf(), source })
}

/// Reads an id table. Blank lines are skipped. A malformed line, a repeated `item_id`, an empty
/// `ids` or a tuple length different from the first line's is an error naming file and line.
pub fn read_id_table(path: &Path) -> Result<Vec<ItemIds>, ItemTokError> {
    let mut table: Vec<ItemIds> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for_each_line(path, open(path)?, Encoding::Utf8, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        let entry: ItemIds = serde_json::from_str(text).map_err(|e| DataError::parse(path, line, e.to_string()))?;
        if entry.ids.is_empty() {
            return Err(DataError::parse(path, line, format!("item `{}` has no ids", entry.item_id)));
        }
        if let Some(first) = table.first()
            && first.ids.len() != entry.ids.len()
        {
            let message = format!(
                "item `{}` has {} ids, the first item `{}` has {}",
                entry.item_id,
                entry.ids.len(),
                first.item_id,
                first.ids.len()
            );
            return Err(DataError::parse(path, line, message));
        }
        if !seen.insert(entry.item_id.clone()) {
            return Err(DataError::parse(path, line, format!("item `{}` appears twice", entry.item_id)));
        }
        table.push(entry);
        Ok(())
    })?;
    Ok(table)
}

/// The prefix trie of every tuple in `table`, as decoder tokens: level `l`'s code `c` becomes
/// `offsets[l] + c` (`None`: the codes themselves). `end_tokens` (typically EOS) may follow a
/// complete id. Errors when `offsets` has fewer entries than a tuple has levels or a token
/// overflows `u32`.
pub fn build_trie(
    table: &[ItemIds],
    offsets: Option<&[u32]>,
    end_tokens: Vec<u32>,
) -> Result<PrefixTrie, ItemTokError> {
    let mut trie = PrefixTrie::new(std::iter::empty(), end_tokens);
    for entry in table {
        let tokens = match offsets {
            None => entry.ids.clone(),
            Some(offsets) => to_tokens(entry, offsets)?,
        };
        trie.insert(&tokens);
    }
    Ok(trie)
}

fn to_tokens(entry: &ItemIds, offsets: &[u32]) -> Result<Vec<u32>, ItemTokError> {
    if offsets.len() < entry.ids.len() {
        let message = format!("{} offsets for item `{}` with {} levels", offsets.len(), entry.item_id, entry.ids.len());
        return Err(ItemTokError::config("offsets", message));
    }
    entry
        .ids
        .iter()
        .zip(offsets)
        .map(|(&code, &offset)| {
            offset.checked_add(code).ok_or_else(|| {
                ItemTokError::config("offsets", format!("item `{}`: {offset} + {code} overflows u32", entry.item_id))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::TokenConstraint;

    fn table() -> Vec<ItemIds> {
        vec![
            ItemIds { item_id: "a".into(), ids: vec![1, 2] },
            ItemIds { item_id: "b".into(), ids: vec![1, 3] },
            ItemIds { item_id: "c".into(), ids: vec![0, 2] },
        ]
    }

    #[test]
    fn round_trips_through_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.jsonl");
        write_id_table(&path, &table()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next().unwrap(), r#"{"item_id":"a","ids":[1,2]}"#);
        assert_eq!(read_id_table(&path).unwrap(), table());
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.jsonl");
        let cases = [
            ("{\"item_id\":\"a\",\"ids\":[1]}\n\n{\"item_id\":\"b\",\"ids\":[1,2]}\n", 3, "has 2 ids"),
            ("{\"item_id\":\"a\",\"ids\":[1]}\n{\"item_id\":\"a\",\"ids\":[2]}\n", 2, "appears twice"),
            ("{\"item_id\":\"a\",\"ids\":[]}\n", 1, "no ids"),
            ("{\"item_id\":\"a\",\"ids\":[-1]}\n", 1, "invalid value"),
        ];
        for (text, line, needle) in cases {
            std::fs::write(&path, text).unwrap();
            let err = read_id_table(&path).unwrap_err().to_string();
            assert!(err.contains(&format!("ids.jsonl:{line}:")) && err.contains(needle), "{err}");
        }
        let missing = read_id_table(&dir.path().join("none.jsonl")).unwrap_err().to_string();
        assert!(missing.contains("none.jsonl"), "{missing}");
    }

    #[test]
    fn trie_with_level_offsets() {
        // Offsets [10, 20]: (1, 2) -> [11, 22], (1, 3) -> [11, 23], (0, 2) -> [10, 22].
        let trie = build_trie(&table(), Some(&[10, 20]), vec![99]).unwrap();
        assert_eq!(trie.allowed(&[]), vec![10, 11]);
        assert_eq!(trie.allowed(&[11]), vec![22, 23]);
        assert_eq!(trie.allowed(&[10, 22]), vec![99]);
        assert!(trie.contains(&[11, 23]) && !trie.contains(&[1, 3]));
        let plain = build_trie(&table(), None, vec![]).unwrap();
        assert!(plain.contains(&[0, 2]) && plain.len() == 3);
        assert!(matches!(build_trie(&table(), Some(&[10]), vec![]), Err(ItemTokError::InvalidConfig { .. })));
        assert!(build_trie(&table(), Some(&[u32::MAX, 0]), vec![]).is_err());
    }
}
