//! Item2Item (I2I) embedding rows from LC-Rec-layout Amazon sequences and item text, in the
//! RecFound B.3 "Item2Item" layout: every side is `title: {title}, categories: {categories}`
//! behind an instruction ending in ":". The query is an item; the positive is the item bought
//! next to it most often; one hard negative shares the query's category and was never bought by
//! anyone who bought the query.
//!
//! The paper's I2I pairs come from Amazon's product relations (also-bought / similar lists in the
//! full metadata). The 5-core LC-Rec files carry no such lists, so the positive here is a
//! co-purchase proxy read off the sequences: weakly labelled, and the dataset card says so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::build::{BuildConfig, BuiltRow, TaskSplits, split_by_group};
use super::build_u2i::{TitledItems, hard_negative_category};
use super::format::{EmbeddingRow, RecFoundRow};
use super::instructions::{choose_instruction, mix64};
use super::task::TaskId;
use crate::data::DataError;
use crate::data::amazon_lcrec::{LcRecItem, LcRecSequence, read_items, read_sequences};

/// The document-side instructions: as for U2I, the paper prints no list, only these two in the
/// B.3 example (positive, then negative; its "item’s" has a typographic apostrophe, written
/// straight here like every other instruction), chosen per sample with the seed.
pub const I2I_ITEM_INSTRUCTIONS: [&str; 2] = [
    "Using the attributes and details of an item, create an embedding to help find similar products:",
    "Based on an item's details and attributes, produce an embedding to identify similar products:",
];

/// An item as the B.3 example writes it: `title: Terra Men's Pilot, categories: Fashion`. The
/// category path is joined with ", " broadest first; an item without categories is its title
/// alone (`title: ...`). A title's closing "." (LC-Rec titles often end in one) is dropped so
/// that it does not run into ", categories".
pub fn i2i_item_text(item: &LcRecItem) -> String {
    let title = item.title.trim().trim_end_matches('.').trim_end();
    if item.categories.is_empty() {
        format!("title: {title}")
    } else {
        format!("title: {title}, categories: {}", item.categories.join(", "))
    }
}

/// How often each unordered pair of distinct items sits next to each other in a sequence.
fn adjacent_pair_counts(sequences: &[LcRecSequence]) -> HashMap<(&str, &str), usize> {
    let mut counts = HashMap::new();
    for seq in sequences {
        for w in seq.item_ids.windows(2) {
            let (a, b) = (w[0].as_str(), w[1].as_str());
            if a != b {
                *counts.entry(if a < b { (a, b) } else { (b, a) }).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Builds I2I from `{name}.item.json` and `{name}.inter.json`: one row per titled item that sits
/// next to another titled item in some sequence. The positive is its most frequent neighbour
/// (ties drawn with the seed); the hard negative is drawn from the items of the query's category
/// (second level of the path, as for U2I) that share no user with the query, else from any item
/// that shares no user with it. Splits keep each unordered (query, positive) pair in one split,
/// so the row of `b -> a` never tests what `a -> b` trained.
pub fn build_item_to_item(items: &Path, inter: &Path, config: &BuildConfig) -> Result<TaskSplits, DataError> {
    let task = TaskId::EmbItem;
    let items = read_items(items)?;
    let sequences = read_sequences(inter)?;
    let TitledItems { by_id, by_category, catalogue } = TitledItems::new(&items);

    // Neighbours with counts, per item (each list is sorted before the seeded draw).
    let mut neighbours: BTreeMap<&str, Vec<(&str, usize)>> = BTreeMap::new();
    for ((a, b), n) in adjacent_pair_counts(&sequences) {
        if by_id.contains_key(a) && by_id.contains_key(b) {
            neighbours.entry(a).or_default().push((b, n));
            neighbours.entry(b).or_default().push((a, n));
        }
    }
    // Which users bought each item: a negative must share none of them with the query.
    let mut buyers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (u, seq) in sequences.iter().enumerate() {
        for id in &seq.item_ids {
            buyers.entry(id.as_str()).or_default().push(u);
        }
    }

    let (mut rows, mut skipped) = (Vec::new(), 0usize);
    for (index, item) in items.iter().enumerate() {
        let query = item.item_id.as_str();
        let Some(near) = neighbours.get_mut(query) else { continue };
        near.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
        let most = near[0].1;
        let top: Vec<&str> = near.iter().take_while(|(_, n)| *n == most).map(|(id, _)| *id).collect();
        let mut rng = StdRng::seed_from_u64(mix64(config.seed ^ mix64(index as u64 ^ 0x4932_4931)));
        let positive = *top.choose(&mut rng).expect("an item in `neighbours` has one");

        let related: HashSet<&str> = buyers[query]
            .iter()
            .flat_map(|&u| sequences[u].item_ids.iter().map(String::as_str))
            .collect();
        let same_category = hard_negative_category(item).and_then(|c| by_category.get(c)).map_or(&[][..], Vec::as_slice);
        let mut pool: Vec<&str> = same_category.iter().copied().filter(|id| !related.contains(id)).collect();
        if pool.is_empty() {
            pool = catalogue.iter().copied().filter(|id| !related.contains(id)).collect();
        }
        let Some(&negative) = pool.choose(&mut rng) else {
            skipped += 1;
            continue;
        };

        let document_instruction =
            |k: u64| I2I_ITEM_INSTRUCTIONS[(mix64(config.seed ^ mix64(index as u64) ^ k) % 2) as usize].to_string();
        // B.2's I2I instructions end without the ":" that the B.3 example shows.
        let query_instruction = format!("{}:", choose_instruction(task, config.seed, index as u64));
        let row = EmbeddingRow {
            query: (query_instruction, i2i_item_text(item)),
            pos: vec![(document_instruction(1), i2i_item_text(by_id[positive]))],
            neg: vec![(document_instruction(2), i2i_item_text(by_id[negative]))],
            task,
        };
        let group = if query < positive { format!("{query}|{positive}") } else { format!("{positive}|{query}") };
        rows.push(BuiltRow { group, row: RecFoundRow::Embedding(row) });
    }
    if skipped > 0 {
        tracing::warn!(skipped, "item2item: items skipped (no item outside their buyers' sequences)");
    }
    split_by_group(task, rows, config.sizes, config.seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(title: &str, categories: &[&str]) -> LcRecItem {
        LcRecItem {
            item_id: "0".into(),
            title: title.into(),
            description: None,
            brand: None,
            categories: categories.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn item_text_follows_the_b3_layout() {
        assert_eq!(i2i_item_text(&item("Terra Men's Pilot", &["Fashion"])), "title: Terra Men's Pilot, categories: Fashion");
        assert_eq!(
            i2i_item_text(&item("Duct Tape.", &["Industrial & Scientific", "Tapes, Adhesives & Sealants"])),
            "title: Duct Tape, categories: Industrial & Scientific, Tapes, Adhesives & Sealants"
        );
        assert_eq!(i2i_item_text(&item(" Bare. ", &[])), "title: Bare");
    }

    #[test]
    fn pairs_are_unordered_and_skip_repeats() {
        let seq = |ids: &[&str]| LcRecSequence { user_id: "u".into(), item_ids: ids.iter().map(|s| s.to_string()).collect() };
        // 1-2 twice (once each way), 2-2 not a pair, 2-3 once.
        let seqs = [seq(&["1", "2", "2", "3"]), seq(&["2", "1"])];
        let counts = adjacent_pair_counts(&seqs);
        assert_eq!(counts[&("1", "2")], 2);
        assert_eq!(counts[&("2", "3")], 1);
        assert_eq!(counts.len(), 2);
    }
}
