//! Which tokens are real and who may attend to whom: padding (HF's `attention_mask`), causal or
//! bidirectional attention, and the sliding window. Built once per forward call on the host,
//! from plain vectors, and handed to every layer.

use burn::tensor::{Bool, Tensor, TensorData, backend::Backend};

/// Attention pattern of one forward call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttnMode {
    /// Each token sees itself and earlier tokens (generation, the LM loss).
    Causal,
    /// Each token sees every real token (embedding, as GritLM's embedding branch).
    Bidirectional,
}

/// Which positions of a `[B, T]` chunk hold real tokens, row-major (HF's `attention_mask`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMask {
    batch: usize,
    len: usize,
    valid: Vec<bool>,
}

impl TokenMask {
    /// Every token is real.
    pub fn all(batch: usize, len: usize) -> Self {
        Self { batch, len, valid: vec![true; batch * len] }
    }

    /// Rows whose first `len - lengths[b]` tokens are padding (generation batches).
    pub fn left_padded(lengths: &[usize], len: usize) -> Self {
        let valid = lengths
            .iter()
            .flat_map(|&n| (0..len).map(move |t| t >= len - n.min(len)))
            .collect();
        Self { batch: lengths.len(), len, valid }
    }

    /// Rows whose last `len - lengths[b]` tokens are padding (embedding and training batches).
    pub fn right_padded(lengths: &[usize], len: usize) -> Self {
        let valid = lengths
            .iter()
            .flat_map(|&n| (0..len).map(move |t| t < n))
            .collect();
        Self { batch: lengths.len(), len, valid }
    }

    /// From explicit 0/1 rows, as HF's `attention_mask`.
    pub fn from_rows(rows: &[Vec<bool>]) -> Self {
        let len = rows.first().map_or(0, |r| r.len());
        assert!(rows.iter().all(|r| r.len() == len), "all mask rows must have the same length");
        Self { batch: rows.len(), len, valid: rows.concat() }
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_valid(&self, row: usize, t: usize) -> bool {
        self.valid[row * self.len + t]
    }

    pub fn row(&self, row: usize) -> &[bool] {
        &self.valid[row * self.len..(row + 1) * self.len]
    }

    /// Number of real tokens in each row.
    pub fn lengths(&self) -> Vec<usize> {
        (0..self.batch).map(|b| self.row(b).iter().filter(|v| **v).count()).collect()
    }
}

/// Host-side plan of one forward call: position ids and, when needed, the boolean mask.
pub struct AttnPlan<B: Backend> {
    /// Row-major `[B, T]` position ids, as HF's `cumsum(attention_mask) - 1`.
    pub positions: Vec<i64>,
    /// `[B, 1, T, Tk]`, true = masked. `None` when plain causal (or full) attention is exact.
    pub mask: Option<Tensor<B, 4, Bool>>,
    /// Whether the attention op must apply its own causal mask (only when `mask` is `None`).
    pub is_causal: bool,
}

impl<B: Backend> AttnPlan<B> {
    /// Plans a chunk of `new` tokens appended after `past_valid` cached keys (one flag per cached
    /// key and row; empty without a cache), `seen[b]` real tokens already in row b.
    pub fn new(
        new: &TokenMask,
        past_valid: &[Vec<bool>],
        seen: &[i64],
        mode: AttnMode,
        sliding_window: Option<usize>,
        device: &B::Device,
    ) -> Self {
        let (batch, t) = (new.batch(), new.len());
        let past = past_valid.first().map_or(0, |r| r.len());
        let tk = past + t;

        let mut positions = Vec::with_capacity(batch * t);
        for b in 0..batch {
            let mut count = seen.get(b).copied().unwrap_or(0);
            for i in 0..t {
                if new.is_valid(b, i) {
                    positions.push(count);
                    count += 1;
                } else {
                    // HF fills padded positions with 1; their outputs are never read.
                    positions.push(1);
                }
            }
        }

        let key_valid = |b: usize, j: usize| if j < past { past_valid[b][j] } else { new.is_valid(b, j - past) };
        let any_padding = (0..batch).any(|b| (0..tk).any(|j| !key_valid(b, j)));
        // The window is a causal notion: bidirectional (embedding) attention sees every real
        // token, as transformers does with a full 4D mask. It bites only when some query is
        // `window` or more tokens after some key.
        let sliding_window = sliding_window.filter(|_| mode == AttnMode::Causal);
        let window_bites = sliding_window.is_some_and(|w| tk > w);
        if !any_padding && !window_bites {
            return Self { positions, mask: None, is_causal: mode == AttnMode::Causal && t > 1 };
        }

        let mut masked = Vec::with_capacity(batch * t * tk);
        for b in 0..batch {
            for i in 0..t {
                let qi = past + i;
                let query_valid = new.is_valid(b, i);
                for j in 0..tk {
                    let hidden = !key_valid(b, j)
                        || (mode == AttnMode::Causal && j > qi)
                        || sliding_window.is_some_and(|w| j <= qi && qi - j >= w);
                    // A padded query keeps its own key so that no softmax row is empty (NaN-free);
                    // its output is never read.
                    masked.push(hidden && !(j == qi && !query_valid));
                }
            }
        }
        let mask = Tensor::<B, 3, Bool>::from_data(TensorData::new(masked, [batch, t, tk]), device)
            .reshape([batch, 1, t, tk]); // [B, 1, T, Tk]
        Self { positions, mask: Some(mask), is_causal: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;

    fn plan(new: &TokenMask, past: &[Vec<bool>], seen: &[i64], mode: AttnMode, w: Option<usize>) -> (Vec<i64>, Option<Vec<bool>>, bool) {
        let p = AttnPlan::<TestBackend>::new(new, past, seen, mode, w, &Default::default());
        (p.positions, p.mask.map(|m| m.into_data().to_vec().unwrap()), p.is_causal)
    }

    #[test]
    fn unpadded_causal_needs_no_mask() {
        let (pos, mask, causal) = plan(&TokenMask::all(1, 3), &[], &[], AttnMode::Causal, None);
        assert_eq!(pos, vec![0, 1, 2]);
        assert!(mask.is_none() && causal);
    }

    #[test]
    fn left_padding_shifts_positions_and_masks_pads() {
        // Row of length 3 with 1 pad: positions [1(pad), 0, 1]; pad key hidden from real queries.
        let m = TokenMask::left_padded(&[2], 3);
        let (pos, mask, _) = plan(&m, &[], &[], AttnMode::Causal, None);
        assert_eq!(pos, vec![1, 0, 1]);
        #[rustfmt::skip]
        let expected = vec![
            false, true, true,  // pad query keeps only itself
            true, false, true,  // first real token: itself
            true, false, false, // second: both real tokens
        ];
        assert_eq!(mask.unwrap(), expected);
    }

    #[test]
    fn sliding_window_hides_keys_window_or_more_back() {
        // window 2: query 2 sees keys 1, 2 (distance < 2), not key 0.
        let (_, mask, _) = plan(&TokenMask::all(1, 3), &[], &[], AttnMode::Causal, Some(2));
        let mask = mask.unwrap();
        assert_eq!(&mask[6..9], &[true, false, false]);
    }

    #[test]
    fn cached_step_continues_positions() {
        let past = vec![vec![false, true, true]];
        let (pos, mask, _) = plan(&TokenMask::all(1, 1), &past, &[2], AttnMode::Causal, None);
        assert_eq!(pos, vec![2]);
        assert_eq!(mask.unwrap(), vec![true, false, false, false]);
    }

    #[test]
    fn bidirectional_sees_later_real_tokens_only() {
        let m = TokenMask::right_padded(&[2], 3);
        let (_, mask, causal) = plan(&m, &[], &[], AttnMode::Bidirectional, None);
        assert!(!causal);
        assert_eq!(&mask.unwrap()[0..3], &[false, false, true]);
    }
}
