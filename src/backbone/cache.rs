//! Key/value cache for incremental decoding. A plain struct owned by the caller and passed as
//! `&mut` (not module state), so one decoder can serve many generations at once.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

/// Cached keys and values of every layer, plus which cached positions are real tokens.
pub struct KvCache<B: Backend> {
    /// Per layer: keys and values `[B, Tk, Hkv, Dh]` after RoPE: the projections' own layout,
    /// which the CPU backends' fused attention reads without moving the head axis.
    layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    /// Per row: one flag per cached position (false = padding).
    key_valid: Vec<Vec<bool>>,
    /// Per row: real tokens cached so far (the next position id).
    seen: Vec<i64>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for a decoder with `num_layers` layers.
    pub fn new(num_layers: usize) -> Self {
        Self { layers: vec![None; num_layers], key_valid: Vec::new(), seen: Vec::new() }
    }

    /// Number of cached positions (padding included).
    pub fn len(&self) -> usize {
        self.key_valid.first().map_or(0, |r| r.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn key_valid(&self) -> &[Vec<bool>] {
        &self.key_valid
    }

    pub fn seen(&self) -> &[i64] {
        &self.seen
    }

    /// Records the validity flags of a newly processed chunk (called once per forward).
    pub(crate) fn push_tokens(&mut self, rows: impl Iterator<Item = Vec<bool>>) {
        let rows: Vec<Vec<bool>> = rows.collect();
        if self.key_valid.is_empty() {
            self.key_valid = vec![Vec::new(); rows.len()];
            self.seen = vec![0; rows.len()];
        }
        assert_eq!(rows.len(), self.key_valid.len(), "batch size changed inside one cache");
        for (b, row) in rows.into_iter().enumerate() {
            self.seen[b] += row.iter().filter(|v| **v).count() as i64;
            self.key_valid[b].extend(row);
        }
    }

    /// Appends this chunk's keys and values to layer `layer` and returns the full ones.
    ///
    /// # Shapes
    /// - k, v: `[B, T, Hkv, Dh]` -> `[B, Tk, Hkv, Dh]` each
    pub(crate) fn append(&mut self, layer: usize, k: Tensor<B, 4>, v: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (k, v) = match self.layers[layer].take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 1), Tensor::cat(vec![pv, v], 1)),
            None => (k, v),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
    }

    /// Keeps rows `rows` (in that order, repeats allowed): beam search reorders its beams so.
    pub fn select_rows(&mut self, rows: &[usize]) {
        let Some(device) = self.layers.iter().flatten().next().map(|(k, _)| k.device()) else {
            return;
        };
        let index: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [rows.len()]), &device);
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.clone().select(0, index.clone());
            *v = v.clone().select(0, index.clone());
        }
        self.key_valid = rows.iter().map(|&r| self.key_valid[r].clone()).collect();
        self.seen = rows.iter().map(|&r| self.seen[r]).collect();
    }
}
