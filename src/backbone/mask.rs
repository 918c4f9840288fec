//! Which tokens are real and who may attend to whom: padding (HF's `attention_mask`), causal or
//! bidirectional attention, the sliding window, and packed rows (a document mask: several
//! sequences in one row, each attending only to itself, positions restarting at each). Built
//! once per forward call on the host, from plain vectors, and handed to every layer.

use std::sync::Arc;

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
    /// Packed rows: the segment of every token, row-major (0 = padding). `None`: one sequence
    /// per row.
    segments: Option<Vec<u32>>,
}

impl TokenMask {
    /// Every token is real.
    pub fn all(batch: usize, len: usize) -> Self {
        Self { batch, len, valid: vec![true; batch * len], segments: None }
    }

    /// Rows whose first `len - lengths[b]` tokens are padding (generation batches).
    pub fn left_padded(lengths: &[usize], len: usize) -> Self {
        let valid = lengths
            .iter()
            .flat_map(|&n| (0..len).map(move |t| t >= len - n.min(len)))
            .collect();
        Self { batch: lengths.len(), len, valid, segments: None }
    }

    /// Rows whose last `len - lengths[b]` tokens are padding (embedding and training batches).
    pub fn right_padded(lengths: &[usize], len: usize) -> Self {
        let valid = lengths
            .iter()
            .flat_map(|&n| (0..len).map(move |t| t < n))
            .collect();
        Self { batch: lengths.len(), len, valid, segments: None }
    }

    /// From explicit 0/1 rows, as HF's `attention_mask`.
    pub fn from_rows(rows: &[Vec<bool>]) -> Self {
        let len = rows.first().map_or(0, |r| r.len());
        assert!(rows.iter().all(|r| r.len() == len), "all mask rows must have the same length");
        Self { batch: rows.len(), len, valid: rows.concat(), segments: None }
    }

    /// Packed rows (RecBase pretraining): `rows[b][t]` is the segment of token t, 0 for padding.
    /// Positions restart at each segment, and a token attends only to tokens of its own segment
    /// (causally, in causal mode), so packing several users into a row equals running each
    /// alone. A segment is a run of equal ids: `[1, 1, 2, 2, 0]` is two segments and a pad.
    ///
    /// After a KV cache, every segment continues the cached prefix: it sees all cached keys and
    /// its positions start where the cache ends. That scores many continuations of one prefix in
    /// one pass without copying the cache per continuation (RecBase's candidates after a
    /// shared history). The cache then holds all the continuations side by side and is not meant
    /// for further decoding.
    pub fn packed(rows: &[Vec<u32>]) -> Self {
        let len = rows.first().map_or(0, |r| r.len());
        assert!(rows.iter().all(|r| r.len() == len), "all segment rows must have the same length");
        let segments = rows.concat();
        let valid = segments.iter().map(|&s| s != 0).collect();
        Self { batch: rows.len(), len, valid, segments: Some(segments) }
    }

    /// The segment of token t of `row` (`None` unless the mask is [`TokenMask::packed`]).
    pub fn segment(&self, row: usize, t: usize) -> Option<u32> {
        self.segments.as_ref().map(|s| s[row * self.len + t])
    }

    /// Whether the rows are packed (carry segment ids).
    pub fn is_packed(&self) -> bool {
        self.segments.is_some()
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
    /// The same mask on the host, row-major, for the CPU backends' fused attention (which
    /// would otherwise read the tensor back once per layer).
    pub host_mask: Option<Arc<Vec<bool>>>,
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
            let start = seen.get(b).copied().unwrap_or(0);
            let mut count = start;
            for i in 0..t {
                // A new segment starts its positions where the cache ends (0 without a cache), as
                // if it were alone in its row after the cached tokens.
                if i > 0 && new.segment(b, i) != new.segment(b, i - 1) {
                    count = start;
                }
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
        if !any_padding && !window_bites && !new.is_packed() {
            return Self { positions, mask: None, host_mask: None, is_causal: mode == AttnMode::Causal && t > 1 };
        }

        let mut masked = Vec::with_capacity(batch * t * tk);
        for b in 0..batch {
            for i in 0..t {
                let qi = past + i;
                let query_valid = new.is_valid(b, i);
                for j in 0..tk {
                    // Packed rows: another segment is another user (or, after a cache, another
                    // continuation of the same cached prefix); cached keys are shared by all.
                    let other_segment = new.is_packed() && j >= past && new.segment(b, j - past) != new.segment(b, i);
                    let hidden = !key_valid(b, j)
                        || other_segment
                        || (mode == AttnMode::Causal && j > qi)
                        || sliding_window.is_some_and(|w| j <= qi && qi - j >= w);
                    // A padded query keeps its own key so that no softmax row is empty (NaN-free);
                    // its output is never read.
                    masked.push(hidden && !(j == qi && !query_valid));
                }
            }
        }
        let host_mask = Arc::new(masked.clone());
        let mask = Tensor::<B, 3, Bool>::from_data(TensorData::new(masked, [batch, t, tk]), device)
            .reshape([batch, 1, t, tk]); // [B, 1, T, Tk]
        Self { positions, mask: Some(mask), host_mask: Some(host_mask), is_causal: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;

    fn plan(new: &TokenMask, past: &[Vec<bool>], seen: &[i64], mode: AttnMode, w: Option<usize>) -> (Vec<i64>, Option<Vec<bool>>, bool) {
        let p = AttnPlan::<TestBackend>::new(new, past, seen, mode, w, &Default::default());
        let mask: Option<Vec<bool>> = p.mask.map(|m| m.into_data().to_vec().unwrap());
        assert_eq!(p.host_mask.map(|h| h.to_vec()), mask, "the host copy is the tensor mask");
        (p.positions, mask, p.is_causal)
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
    fn packed_segments_never_see_each_other_and_restart_positions() {
        // Row 0: user A (3 tokens), user B (2 tokens), 1 pad. Row 1: one user of 6.
        let m = TokenMask::packed(&[vec![1, 1, 1, 2, 2, 0], vec![1; 6]]);
        let (pos, mask, causal) = plan(&m, &[], &[], AttnMode::Causal, None);
        assert!(!causal);
        assert_eq!(&pos[..6], &[0, 1, 2, 0, 1, 1]);
        assert_eq!(&pos[6..], &[0, 1, 2, 3, 4, 5]);
        let mask = mask.unwrap();
        let seg = [1, 1, 1, 2, 2, 0];
        for i in 0..6 {
            for j in 0..6 {
                let seen = !mask[i * 6 + j];
                if seg[i] != 0 {
                    // A real query sees exactly the earlier-or-same keys of its own segment.
                    assert_eq!(seen, seg[j] == seg[i] && j <= i, "row 0, query {i}, key {j}");
                } else {
                    assert_eq!(seen, j == i, "a pad query keeps only itself");
                }
            }
        }
        // Row 1 is plain causal.
        for i in 0..6 {
            for j in 0..6 {
                assert_eq!(!mask[36 + i * 6 + j], j <= i);
            }
        }
        // Bidirectional packed rows still stay inside their segment.
        let (_, mask, _) = plan(&m, &[], &[], AttnMode::Bidirectional, None);
        let mask = mask.unwrap();
        assert_eq!(&mask[0..6], &[false, false, false, true, true, true]);
        assert_eq!(&mask[18..24], &[true, true, true, false, false, true]);
    }

    #[test]
    fn packed_continuations_after_a_cache_share_the_prefix_only() {
        // Cached: 1 pad + 2 real tokens. New: two continuations of 2 tokens each, then a pad.
        let past = vec![vec![false, true, true]];
        let m = TokenMask::packed(&[vec![1, 1, 2, 2, 0]]);
        let (pos, mask, _) = plan(&m, &past, &[2], AttnMode::Causal, None);
        assert_eq!(pos, vec![2, 3, 2, 3, 1]);
        let mask = mask.unwrap();
        let seg = [1, 1, 2, 2, 0];
        for i in 0..4 {
            for j in 0..8 {
                let seen = !mask[i * 8 + j];
                let expected = match j {
                    0 => false,         // the cached pad
                    1 | 2 => true,      // the cached prefix, shared
                    _ => seg[j - 3] == seg[i] && j - 3 <= i,
                };
                assert_eq!(seen, expected, "query {i}, key {j}");
            }
        }
    }

    #[test]
    fn a_packed_row_gives_each_user_the_logits_it_gets_alone() {
        use crate::backbone::{DecoderConfig, Family};
        use burn::tensor::Int;
        // A random Qwen2; a user run alone is the reference for its slice of the packed row.
        let config = DecoderConfig::new(Family::Qwen2, 23, 16, 24, 2, 4, 2, 4).with_qkv_bias(true);
        let device = Default::default();
        let decoder = config.init::<TestBackend>(&device);
        let users: [&[i64]; 3] = [&[1, 5, 9, 7], &[1, 3, 4], &[1, 20, 21, 22, 6]];
        let ids = |v: Vec<i64>, t: usize| Tensor::<TestBackend, 2, Int>::from_data(TensorData::new(v, [1, t]), &device);
        // One packed row: the three users back to back, then 2 pads.
        let mut row: Vec<i64> = users.concat();
        let mut segments: Vec<u32> = users.iter().enumerate().flat_map(|(s, u)| vec![s as u32 + 1; u.len()]).collect();
        row.extend([0, 0]);
        segments.extend([0, 0]);
        let t = row.len();
        let packed = decoder.forward(ids(row, t), &TokenMask::packed(&[segments]), AttnMode::Causal, None);
        let packed: Vec<f32> = packed.into_data().to_vec().unwrap();
        let v = 23;
        let mut start = 0;
        for user in users {
            let alone = decoder.forward(ids(user.to_vec(), user.len()), &TokenMask::all(1, user.len()), AttnMode::Causal, None);
            let alone: Vec<f32> = alone.into_data().to_vec().unwrap();
            let here = &packed[start * v..(start + user.len()) * v];
            let max_diff = here.iter().zip(&alone).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(max_diff < 1e-5, "user at {start}: max abs diff {max_diff}");
            start += user.len();
        }
    }

    #[test]
    fn bidirectional_sees_later_real_tokens_only() {
        let m = TokenMask::right_padded(&[2], 3);
        let (_, mask, causal) = plan(&m, &[], &[], AttnMode::Bidirectional, None);
        assert!(!causal);
        assert_eq!(&mask.unwrap()[0..3], &[false, false, true]);
    }
}
