//! Rotary position embedding in Hugging Face's rotate-half layout (`LlamaRotaryEmbedding`,
//! `apply_rotary_pos_emb`): the two halves of each head, not interleaved pairs, are rotated.
//! Burn's built-in `RotaryEncoding` is interleaved, so it cannot load HF checkpoints as is.
//!
//! The cos/sin tables are computed per forward call from explicit position ids, in f32 as HF
//! does, so left-padded rows and KV-cache offsets need no special casing.

use burn::tensor::{Tensor, TensorData, backend::Backend};

/// HF's `inv_freq = 1 / theta^(2i / Dh)`, divided by the linear scaling factor.
pub fn inv_freq(head_dim: usize, rope_theta: f64, linear_factor: f64) -> Vec<f32> {
    (0..head_dim / 2)
        .map(|i| {
            // HF computes the exponent and the power in f32; do the same for bit-level parity.
            let exponent = (2 * i) as f32 / head_dim as f32;
            let f = 1.0f32 / (rope_theta as f32).powf(exponent);
            f / linear_factor as f32
        })
        .collect()
}

/// cos and sin of every (row, position) pair, ready to broadcast over heads.
pub struct RopeTables<B: Backend> {
    /// `[B, T, 1, Dh]`
    pub cos: Tensor<B, 4>,
    /// `[B, T, 1, Dh]`
    pub sin: Tensor<B, 4>,
}

impl<B: Backend> RopeTables<B> {
    /// Builds the tables for `positions` (row-major `[batch, len]`).
    pub fn new(positions: &[i64], batch: usize, len: usize, inv_freq: &[f32], device: &B::Device) -> Self {
        assert_eq!(positions.len(), batch * len, "one position per token");
        let half = inv_freq.len();
        let head_dim = 2 * half;
        let mut cos = Vec::with_capacity(batch * len * head_dim);
        let mut sin = Vec::with_capacity(batch * len * head_dim);
        for &p in positions {
            let angles: Vec<f32> = inv_freq.iter().map(|f| p as f32 * f).collect();
            // HF concatenates freqs with themselves: emb = cat(freqs, freqs).
            for _ in 0..2 {
                cos.extend(angles.iter().map(|a| a.cos()));
                sin.extend(angles.iter().map(|a| a.sin()));
            }
        }
        let shape = [batch, len, 1, head_dim];
        Self {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
        }
    }

    /// Rotates `x` (queries or keys): `x * cos + rotate_half(x) * sin`.
    ///
    /// # Shapes
    /// - x: `[B, T, H, Dh]` -> `[B, T, H, Dh]`
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let dtype = x.dtype();
        let cos = self.cos.clone().cast(dtype);
        let sin = self.sin.clone().cast(dtype);
        x.clone() * cos + rotate_half(x) * sin
    }
}

/// `cat(-x2, x1)` over the last dimension, where x1, x2 are its halves.
///
/// # Shapes
/// - x: `[B, T, H, Dh]` -> `[B, T, H, Dh]`
pub fn rotate_half<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, t, h, dh] = x.dims();
    let x1 = x.clone().slice([0..b, 0..t, 0..h, 0..dh / 2]); // [B, T, H, Dh/2]
    let x2 = x.slice([0..b, 0..t, 0..h, dh / 2..dh]); // [B, T, H, Dh/2]
    Tensor::cat(vec![x2.neg(), x1], 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;

    #[test]
    fn inv_freq_matches_hand_values() {
        // Dh = 4, theta = 100: 1 / 100^(0/4) = 1, 1 / 100^(2/4) = 0.1
        let f = inv_freq(4, 100.0, 1.0);
        assert!((f[0] - 1.0).abs() < 1e-7 && (f[1] - 0.1).abs() < 1e-7, "{f:?}");
        let f = inv_freq(4, 100.0, 2.0);
        assert!((f[1] - 0.05).abs() < 1e-7);
    }

    #[test]
    fn rotates_halves_by_position_angle() {
        // Dh = 2, inv_freq = [1]: position 1 rotates (x1, x2) = (1, 0) by 1 radian:
        // out = (x1 cos - x2 sin, x2 cos + x1 sin) = (cos 1, sin 1).
        let device = Default::default();
        let tables = RopeTables::<TestBackend>::new(&[1], 1, 1, &[1.0], &device);
        let x = Tensor::<TestBackend, 4>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 1, 1, 2]), &device);
        let out: Vec<f32> = tables.apply(x).into_data().to_vec().unwrap();
        assert!((out[0] - 1f32.cos()).abs() < 1e-6 && (out[1] - 1f32.sin()).abs() < 1e-6, "{out:?}");
    }
}
