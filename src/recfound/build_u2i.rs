//! User2Item (U2I) embedding rows from LC-Rec-layout Amazon sequences, as in the RecFound B.3
//! "User2Item" example: the query is the user's recent item titles, newest first (the B.2
//! instructions say "reverse chronological order"), the positive the next item's title, one hard
//! negative an item from the positive's category that the user never touched.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::build::{BuildConfig, BuiltRow, LeaveOneOut, TaskSplits, leave_one_out, split_by_group};
use super::format::{EmbeddingRow, RecFoundRow};
use super::instructions::{choose_instruction, mix64};
use super::task::TaskId;
use crate::data::DataError;
use crate::data::amazon_lcrec::{LcRecItem, read_items, read_sequences};

/// The item-side instructions: the paper prints no list for them, only these two in the B.3
/// example (positive, then negative), so both are kept and chosen per sample with the seed.
pub const U2I_ITEM_INSTRUCTIONS: [&str; 2] =
    ["Represent this product to match a user sequence:", "Encode this product to fit a user sequence:"];

/// The category a hard negative must share: the second level of the path (the first is the
/// store, e.g. "Industrial & Scientific", shared by every item), else the first.
pub(crate) fn hard_negative_category(item: &LcRecItem) -> Option<&str> {
    item.categories.get(1).or(item.categories.first()).map(String::as_str)
}

/// The titled items of an LC-Rec catalogue (U2I and I2I draw their hard negatives from it).
pub(crate) struct TitledItems<'a> {
    pub by_id: HashMap<&'a str, &'a LcRecItem>,
    /// Titled ids per [`hard_negative_category`], sorted (HashMap order is not stable across
    /// runs, and the seeded draws index into these lists).
    pub by_category: BTreeMap<&'a str, Vec<&'a str>>,
    /// Every titled id, sorted.
    pub catalogue: Vec<&'a str>,
}

impl<'a> TitledItems<'a> {
    pub fn new(items: &'a [LcRecItem]) -> Self {
        let by_id: HashMap<&str, &LcRecItem> =
            items.iter().filter(|i| !i.title.trim().is_empty()).map(|i| (i.item_id.as_str(), i)).collect();
        let mut by_category: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for item in by_id.values() {
            if let Some(c) = hard_negative_category(item) {
                by_category.entry(c).or_default().push(item.item_id.as_str());
            }
        }
        for ids in by_category.values_mut() {
            ids.sort_unstable();
        }
        let mut catalogue: Vec<&str> = by_id.keys().copied().collect();
        catalogue.sort_unstable();
        Self { by_id, by_category, catalogue }
    }
}

/// Builds U2I from `{name}.item.json` and `{name}.inter.json`: one row per user (the last item
/// is the positive, up to `sr_history_len` items before it the query), user-disjoint splits.
/// Users with fewer than 2 items or an item without a title are skipped and counted in a
/// warning. Where the positive's category holds no untouched item, the negative is any
/// untouched item.
pub fn build_user_to_item(items: &Path, inter: &Path, config: &BuildConfig) -> Result<TaskSplits, DataError> {
    let task = TaskId::EmbUser;
    let items = read_items(items)?;
    let sequences = read_sequences(inter)?;
    let TitledItems { by_id, by_category, catalogue } = TitledItems::new(&items);

    let (mut rows, mut skipped) = (Vec::new(), 0usize);
    for (index, seq) in sequences.iter().enumerate() {
        let Some(LeaveOneOut { target, history, touched }) =
            leave_one_out(&seq.item_ids, config.sr_history_len, |id| by_id.contains_key(id))
        else {
            skipped += 1;
            continue;
        };
        let mut rng = StdRng::seed_from_u64(mix64(config.seed ^ mix64(index as u64 ^ 0x5532_4931)));
        let same_category = hard_negative_category(by_id[target]).and_then(|c| by_category.get(c));
        let mut pool: Vec<&str> =
            same_category.into_iter().flatten().copied().filter(|id| !touched.contains(id)).collect();
        if pool.is_empty() {
            pool = catalogue.iter().copied().filter(|id| !touched.contains(id)).collect();
        }
        let Some(&negative) = pool.choose(&mut rng) else {
            skipped += 1;
            continue;
        };

        let title = |id: &str| by_id[id].title.trim().to_string();
        let query_text = history.iter().rev().map(|id| title(id)).collect::<Vec<_>>().join("\n");
        let item_instruction = |k: u64| {
            U2I_ITEM_INSTRUCTIONS[(mix64(config.seed ^ mix64(index as u64) ^ k) % 2) as usize].to_string()
        };
        let row = EmbeddingRow {
            query: (choose_instruction(task, config.seed, index as u64).to_string(), query_text),
            pos: vec![(item_instruction(1), title(target))],
            neg: vec![(item_instruction(2), title(negative))],
            task,
        };
        rows.push(BuiltRow { group: seq.user_id.clone(), row: RecFoundRow::Embedding(row) });
    }
    if skipped > 0 {
        tracing::warn!(skipped, users = sequences.len(), "user2item: users skipped (too short, unknown item, or no negative)");
    }
    split_by_group(task, rows, config.sizes, config.seed)
}
