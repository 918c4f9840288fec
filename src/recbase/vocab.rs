//! The concept-id vocabulary (RecBase §3.3, DESIGN.md §8): a few special tokens, then one token per
//! (level, code), `token = offset_level + code`, levels laid end to end. An item is written as its
//! L codes, one token per level, so a token alone tells its level and no separator is needed: a
//! history is `BOS item_1 ... item_n`, every item exactly `levels()` tokens long.
//!
//! Saved with each run as `vocab.json`; the decoder's `vocab_size` is [`ConceptVocab::len`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::RecBaseError;

/// Padding (never attended to, never a target).
pub const PAD: u32 = 0;
/// Starts every user history.
pub const BOS: u32 = 1;
/// Ends a complete history (written only when a history is not truncated).
pub const EOS: u32 = 2;
/// Tokens before the first code token.
pub const NUM_SPECIALS: u32 = 3;

/// The vocabulary file's name inside a run directory.
pub const VOCAB_FILE: &str = "vocab.json";

/// Codes per level; level `l` owns tokens `offset(l) .. offset(l) + level_sizes[l]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConceptVocab {
    pub level_sizes: Vec<u32>,
}

impl ConceptVocab {
    /// A vocabulary of `level_sizes.len()` levels. No level may be empty.
    pub fn new(level_sizes: Vec<u32>) -> Result<Self, RecBaseError> {
        if level_sizes.is_empty() {
            return Err(RecBaseError::config("vocab.level_sizes", "at least one level is needed"));
        }
        if let Some(l) = level_sizes.iter().position(|&s| s == 0) {
            return Err(RecBaseError::config("vocab.level_sizes", format!("level {l} has no codes")));
        }
        let total: u64 = level_sizes.iter().map(|&s| u64::from(s)).sum::<u64>() + u64::from(NUM_SPECIALS);
        if total > u64::from(u32::MAX) {
            return Err(RecBaseError::config("vocab.level_sizes", format!("{total} tokens do not fit in u32")));
        }
        Ok(Self { level_sizes })
    }

    /// The smallest vocabulary that writes every tuple of `ids`, each level at least `min_sizes[l]`
    /// codes (the codebook size, so that items of new domains using codes the training items
    /// never used still fit). Tuples of different lengths are an error naming the first odd one.
    pub fn covering(ids: &[(String, Vec<u32>)], min_sizes: &[u32]) -> Result<Self, RecBaseError> {
        let Some((_, first)) = ids.first() else {
            return Err(RecBaseError::Empty { what: "no item ids to build a vocabulary from".into() });
        };
        let levels = first.len();
        let mut sizes: Vec<u32> = (0..levels).map(|l| min_sizes.get(l).copied().unwrap_or(1)).collect();
        for (item_id, tuple) in ids {
            if tuple.len() != levels {
                let message = format!("{} levels, but the first item has {levels}", tuple.len());
                return Err(RecBaseError::Unencodable { item_id: item_id.clone(), message });
            }
            for (size, &code) in sizes.iter_mut().zip(tuple) {
                *size = (*size).max(code.saturating_add(1));
            }
        }
        Self::new(sizes)
    }

    /// Levels per item (tokens per item).
    pub fn levels(&self) -> usize {
        self.level_sizes.len()
    }

    /// Total number of tokens, specials included: the decoder's `vocab_size`.
    pub fn len(&self) -> usize {
        NUM_SPECIALS as usize + self.level_sizes.iter().map(|&s| s as usize).sum::<usize>()
    }

    /// Never true: a vocabulary has its specials. (Clippy pairs `len` with `is_empty`.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// First token of level `level`.
    pub fn offset(&self, level: usize) -> u32 {
        NUM_SPECIALS + self.level_sizes[..level].iter().sum::<u32>()
    }

    /// The tokens of level `level`, as a range.
    pub fn level_tokens(&self, level: usize) -> std::ops::Range<u32> {
        let start = self.offset(level);
        start..start + self.level_sizes[level]
    }

    /// The token of `code` at `level`, or `None` when the level has no such code.
    pub fn token(&self, level: usize, code: u32) -> Option<u32> {
        (level < self.levels() && code < self.level_sizes[level]).then(|| self.offset(level) + code)
    }

    /// `(level, code)` of a code token; `None` for specials and tokens past the vocabulary.
    pub fn code(&self, token: u32) -> Option<(usize, u32)> {
        let mut start = NUM_SPECIALS;
        for (level, &size) in self.level_sizes.iter().enumerate() {
            if token >= start && token < start + size {
                return Some((level, token - start));
            }
            start += size;
        }
        None
    }

    /// An item's tokens, one per level. Errors name the item when the tuple has the wrong length
    /// or a code past its level's size (an item of a new domain the vocabulary cannot write).
    pub fn item_tokens(&self, item_id: &str, codes: &[u32]) -> Result<Vec<u32>, RecBaseError> {
        if codes.len() != self.levels() {
            let message = format!("{} codes, but the vocabulary has {} levels", codes.len(), self.levels());
            return Err(RecBaseError::Unencodable { item_id: item_id.to_string(), message });
        }
        codes
            .iter()
            .enumerate()
            .map(|(level, &code)| {
                self.token(level, code).ok_or_else(|| RecBaseError::Unencodable {
                    item_id: item_id.to_string(),
                    message: format!("code {code} at level {level}, which has {} codes", self.level_sizes[level]),
                })
            })
            .collect()
    }

    /// The codes of one item's tokens (the inverse of [`ConceptVocab::item_tokens`]); `None` when
    /// the tokens are not one code per level in level order.
    pub fn item_codes(&self, tokens: &[u32]) -> Option<Vec<u32>> {
        if tokens.len() != self.levels() {
            return None;
        }
        tokens
            .iter()
            .enumerate()
            .map(|(level, &t)| self.code(t).filter(|&(l, _)| l == level).map(|(_, c)| c))
            .collect()
    }

    /// Writes `vocab.json` atomically.
    pub fn save(&self, path: &Path) -> Result<(), RecBaseError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| RecBaseError::format(path, e.to_string()))?;
        crate::io::write_atomic(path, &json).map_err(|e| RecBaseError::io(path, e))
    }

    /// Reads and checks `vocab.json`.
    pub fn load(path: &Path) -> Result<Self, RecBaseError> {
        let bytes = std::fs::read(path).map_err(|e| RecBaseError::io(path, e))?;
        let vocab: Self = serde_json::from_slice(&bytes).map_err(|e| RecBaseError::format(path, e.to_string()))?;
        Self::new(vocab.level_sizes).map_err(|e| RecBaseError::format(path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_lay_levels_end_to_end_after_the_specials() {
        let v = ConceptVocab::new(vec![4, 3, 5]).unwrap();
        assert_eq!(v.len(), 3 + 4 + 3 + 5);
        assert_eq!((v.offset(0), v.offset(1), v.offset(2)), (3, 7, 10));
        assert_eq!(v.token(1, 2), Some(9));
        assert_eq!(v.token(1, 3), None);
        assert_eq!(v.level_tokens(2), 10..15);
    }

    #[test]
    fn tokens_round_trip_to_codes() {
        let v = ConceptVocab::new(vec![4, 3, 5]).unwrap();
        for codes in [[0, 0, 0], [3, 2, 4], [1, 0, 3]] {
            let tokens = v.item_tokens("x", &codes).unwrap();
            assert_eq!(v.item_codes(&tokens).unwrap(), codes.to_vec());
        }
        assert_eq!(v.code(BOS), None);
        assert_eq!(v.code(15), None);
        // Right tokens in the wrong level order are not an item.
        let t = v.item_tokens("x", &[1, 1, 1]).unwrap();
        assert_eq!(v.item_codes(&[t[1], t[0], t[2]]), None);
    }

    #[test]
    fn unencodable_items_are_named() {
        let v = ConceptVocab::new(vec![4, 3]).unwrap();
        let err = v.item_tokens("item-9", &[1, 3]).unwrap_err().to_string();
        assert!(err.contains("item-9") && err.contains("level 1"), "{err}");
        let err = v.item_tokens("item-8", &[1]).unwrap_err().to_string();
        assert!(err.contains("item-8") && err.contains("1 codes"), "{err}");
    }

    #[test]
    fn covering_grows_levels_past_the_minimum() {
        let ids = vec![("a".to_string(), vec![0, 9, 0]), ("b".to_string(), vec![3, 1, 2])];
        let v = ConceptVocab::covering(&ids, &[8, 8]).unwrap();
        assert_eq!(v.level_sizes, vec![8, 10, 3]);
        let odd = vec![("a".to_string(), vec![0, 1]), ("b".to_string(), vec![0])];
        assert!(ConceptVocab::covering(&odd, &[]).unwrap_err().to_string().contains("`b`"));
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VOCAB_FILE);
        let v = ConceptVocab::new(vec![7, 2]).unwrap();
        v.save(&path).unwrap();
        assert_eq!(ConceptVocab::load(&path).unwrap(), v);
        std::fs::write(&path, br#"{"level_sizes": [3, 0]}"#).unwrap();
        assert!(ConceptVocab::load(&path).unwrap_err().to_string().contains("level 1 has no codes"));
    }
}
