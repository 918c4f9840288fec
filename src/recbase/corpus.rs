//! The training corpus of a RecBase run (issue 9 item 2): domain folders read and checked, their
//! items written as concept tokens with the run's item tokenizer, user histories filtered and
//! packed per domain, and the order in which a run visits the rows (the seeded domain mixture).
//! The number crunching is `packing`'s; this file adds the folders and the tokenizer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use crate::data::domain::{DomainFolder, UnknownItems};
use crate::itemtok::ItemIds;
use crate::itemtok::run::Tokenizer;

use super::packing::{FilterStats, HistoryFilter, PackedRow, mix_domains, pack_rows, user_streams};
use super::{ConceptVocab, RecBaseError};

/// One domain's packed rows and what the filter did.
#[derive(Debug, Clone)]
pub struct DomainRows {
    /// The folder's name.
    pub name: String,
    pub path: PathBuf,
    pub stats: FilterStats,
    pub rows: Vec<PackedRow>,
}

/// What a run reports per domain (`summary.json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DomainSummary {
    pub name: String,
    pub path: PathBuf,
    pub filter: FilterStats,
    pub rows: usize,
    pub real_tokens: usize,
    /// Real tokens over all row slots: what packing wasted on padding.
    pub fill: f64,
}

impl DomainRows {
    pub fn summary(&self, seq_len: usize) -> DomainSummary {
        let real_tokens: usize = self.rows.iter().map(PackedRow::real_tokens).sum();
        DomainSummary {
            name: self.name.clone(),
            path: self.path.clone(),
            filter: self.stats,
            rows: self.rows.len(),
            real_tokens,
            fill: real_tokens as f64 / (self.rows.len() * seq_len).max(1) as f64,
        }
    }
}

/// Concept tokens of every item of `ids`; an id tuple the vocabulary cannot write is
/// [`RecBaseError::Unencodable`] naming the item.
pub fn item_tokens(vocab: &ConceptVocab, ids: Vec<ItemIds>) -> Result<HashMap<String, Vec<u32>>, RecBaseError> {
    ids.into_iter()
        .map(|entry| {
            let tokens = vocab.item_tokens(&entry.item_id, &entry.ids)?;
            Ok((entry.item_id, tokens))
        })
        .collect()
}

/// Folds last-level codes past the vocabulary's last level back into it (`code % size`) and
/// returns how many it folded. Only for a tokenizer whose last level is `append_level`'s counter:
/// that level carries no meaning beyond "which of the items sharing the semantic levels", so a
/// folded item keeps its semantic levels and may share its full id with another item (equal
/// scores), where refusing it would leave the whole unseen domain unscored.
pub fn fold_disambiguation(vocab: &ConceptVocab, ids: &mut [ItemIds]) -> usize {
    let last = vocab.levels() - 1;
    let size = vocab.level_sizes[last];
    let mut folded = 0;
    for entry in ids.iter_mut().filter(|e| e.ids.len() == vocab.levels()) {
        if entry.ids[last] >= size {
            entry.ids[last] %= size;
            folded += 1;
        }
    }
    folded
}

/// The ids of every domain's items (one table per domain, in order) with the tokenizer saved
/// in `itemtok_dir`, and the vocabulary that writes them all, each level at least as large as
/// the tokenizer's codebook (so items of unseen domains, which may use codes the training items
/// never used, still fit).
pub fn encode_domains<B: Backend>(
    itemtok_dir: &Path,
    domains: &[PathBuf],
    device: &B::Device,
) -> Result<(ConceptVocab, Vec<Vec<ItemIds>>), RecBaseError> {
    let tokenizer = Tokenizer::<B>::load(itemtok_dir, device)?;
    let codebook = crate::itemtok::checkpoint::load_config(&itemtok_dir.join(crate::itemtok::run::CONFIG_FILE))?.codebook_size;
    let tables = domains.iter().map(|d| tokenizer.encode_domain(d, device)).collect::<Result<Vec<_>, _>>()?;
    let all: Vec<(String, Vec<u32>)> = tables.iter().flatten().map(|e| (e.item_id.clone(), e.ids.clone())).collect();
    let levels = all.first().map_or(0, |(_, ids)| ids.len());
    let vocab = ConceptVocab::covering(&all, &vec![codebook as u32; levels])?;
    Ok((vocab, tables))
}

/// Reads `domain`'s sequences (an item missing from `items.jsonl` is an error naming the line),
/// keeps the users `filter` keeps and packs them into rows of `seq_len` tokens.
pub fn domain_rows(
    domain: &Path,
    tokens: &HashMap<String, Vec<u32>>,
    levels: usize,
    filter: HistoryFilter,
    seq_len: usize,
) -> Result<DomainRows, RecBaseError> {
    let (folder, _) = DomainFolder::read(domain, UnknownItems::Reject)?;
    let histories: Vec<Vec<String>> = folder.sequences.into_iter().map(|s| s.item_ids).collect();
    let (streams, stats) = user_streams(&histories, tokens, filter)?;
    let rows = pack_rows(&streams, levels, seq_len)?;
    let name = domain.file_name().map_or_else(|| domain.display().to_string(), |n| n.to_string_lossy().into_owned());
    tracing::info!(domain = %name, users = stats.users_kept, dropped = stats.dropped_short, truncated = stats.truncated, rows = rows.len(), "packed");
    Ok(DomainRows { name, path: domain.to_path_buf(), stats, rows })
}

/// All domains' rows in one list, and the run's visiting order over it: `count` row indices
/// drawn by the seeded mixture (`weights` empty = proportional to each domain's rows).
pub fn visiting_order(domains: Vec<DomainRows>, weights: &[f64], count: usize, seed: u64) -> Result<(Vec<PackedRow>, Vec<usize>), RecBaseError> {
    let sizes: Vec<usize> = domains.iter().map(|d| d.rows.len()).collect();
    let weights: Vec<f64> = if weights.is_empty() { sizes.iter().map(|&n| n as f64).collect() } else { weights.to_vec() };
    let picks = mix_domains(&sizes, &weights, count, seed)?;
    let starts: Vec<usize> = sizes.iter().scan(0, |acc, &n| {
        let start = *acc;
        *acc += n;
        Some(start)
    }).collect();
    let order = picks.into_iter().map(|(d, r)| starts[d] + r).collect();
    Ok((domains.into_iter().flat_map(|d| d.rows).collect(), order))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_disambiguation_codes_past_the_vocabulary_fold() {
        // Levels 4, 4, then a counter of 3: (1, 2, 7) -> 7 % 3 = 1; (1, 2, 2) stays.
        let vocab = ConceptVocab::new(vec![4, 4, 3]).unwrap();
        let mut ids = vec![
            ItemIds { item_id: "a".into(), ids: vec![1, 2, 7] },
            ItemIds { item_id: "b".into(), ids: vec![1, 2, 2] },
        ];
        assert_eq!(fold_disambiguation(&vocab, &mut ids), 1);
        assert_eq!((ids[0].ids.clone(), ids[1].ids.clone()), (vec![1, 2, 1], vec![1, 2, 2]));
        // A semantic code past its level is still refused by item_tokens, naming the item.
        let bad = vec![ItemIds { item_id: "c".into(), ids: vec![5, 0, 0] }];
        let err = item_tokens(&vocab, bad).unwrap_err().to_string();
        assert!(err.contains("`c`"), "{err}");
    }
}
