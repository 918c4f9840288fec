//! Amazon 2018 item and interaction JSON in the LC-Rec / LETTER layout (e.g. `Scientific.item.json`,
//! `Scientific.inter.json`; MiniOneRec's `Office_Products.item.json` uses the same item layout).
//! Items: `{"<item>": {"title", "description", "brand", "categories"}}` with the category path
//! joined by bare commas (a name may itself hold ", ", e.g. "Tapes, Adhesives & Sealants");
//! interactions: `{"<user>": [item, ...]}`, oldest first.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{DataError, id_order, read_json};

/// One item of `*.item.json`. Missing or empty text fields are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct LcRecItem {
    pub item_id: String,
    pub title: String,
    pub description: Option<String>,
    pub brand: Option<String>,
    /// Category path, broadest first (the file's string split by [`split_categories`]).
    pub categories: Vec<String>,
}

/// One user's chronological interactions from `*.inter.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct LcRecSequence {
    pub user_id: String,
    pub item_ids: Vec<String>,
}

#[derive(Deserialize)]
struct RawItem {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    categories: Option<String>,
}

/// Item ids are numbers in `inter.json` and strings (the keys) in `item.json`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawId {
    Num(u64),
    Str(String),
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// Splits an LC-Rec category path at the commas that join levels: those *not* followed by
/// whitespace. Amazon's level names contain ", " ("Industrial & Scientific,Tapes, Adhesives &
/// Sealants,Duct Tape" is three levels, not four), and the files join levels with a bare ",".
pub fn split_categories(path: &str) -> Vec<String> {
    let mut levels = Vec::new();
    let mut start = 0;
    for (i, c) in path.char_indices() {
        let joins = c == ',' && !path[i + 1..].starts_with(char::is_whitespace);
        if joins {
            levels.push(&path[start..i]);
            start = i + 1;
        }
    }
    levels.push(&path[start..]);
    levels.into_iter().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect()
}

/// Reads `*.item.json`, ordered by item id (numerically where ids are numbers).
pub fn read_items(path: &Path) -> Result<Vec<LcRecItem>, DataError> {
    let raw: BTreeMap<String, RawItem> = read_json(path)?;
    let mut items: Vec<LcRecItem> = raw
        .into_iter()
        .map(|(item_id, r)| LcRecItem {
            item_id,
            title: r.title.unwrap_or_default().trim().to_string(),
            description: non_empty(r.description),
            brand: non_empty(r.brand),
            categories: r.categories.as_deref().map(split_categories).unwrap_or_default(),
        })
        .collect();
    items.sort_by(|a, b| id_order(&a.item_id).cmp(&id_order(&b.item_id)));
    Ok(items)
}

/// Reads `*.inter.json`, ordered by user id; each sequence keeps the file's (chronological) order.
pub fn read_sequences(path: &Path) -> Result<Vec<LcRecSequence>, DataError> {
    let raw: BTreeMap<String, Vec<RawId>> = read_json(path)?;
    let mut seqs: Vec<LcRecSequence> = raw
        .into_iter()
        .map(|(user_id, ids)| LcRecSequence {
            user_id,
            item_ids: ids
                .into_iter()
                .map(|id| match id {
                    RawId::Num(n) => n.to_string(),
                    RawId::Str(s) => s,
                })
                .collect(),
        })
        .collect();
    seqs.sort_by(|a, b| id_order(&a.user_id).cmp(&id_order(&b.user_id)));
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_keep_their_commas() {
        // Scientific.item.json, e.g. item 5: three levels, the second with a comma of its own.
        let got = split_categories("Industrial & Scientific,Tapes, Adhesives & Sealants,Cyanoacrylate Adhesives");
        assert_eq!(got, ["Industrial & Scientific", "Tapes, Adhesives & Sealants", "Cyanoacrylate Adhesives"]);
        assert_eq!(split_categories("A,B"), ["A", "B"]);
        assert_eq!(split_categories("A, B"), ["A, B"]);
        assert_eq!(split_categories(""), Vec::<String>::new());
        assert_eq!(split_categories("A,,B,"), ["A", "B"]);
    }
}
