//! Rotary position embedding in Hugging Face's rotate-half layout (`LlamaRotaryEmbedding`,
//! `apply_rotary_pos_emb`): the two halves of each head, not interleaved pairs, are rotated.
//! Burn's built-in `RotaryEncoding` is interleaved, so it cannot load HF checkpoints as is.
//!
//! The cos/sin tables are computed per forward call from explicit position ids, in f32 as HF
//! does, so left-padded rows and KV-cache offsets need no special casing.

use std::sync::{Arc, OnceLock};

use burn::tensor::{Tensor, TensorData, backend::Backend};

use crate::backend::rowwise::{self, HostTables};

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

/// cos and sin of every (row, position) pair, repeated over the heads, and the rotate-half
/// matrix.
///
/// On the CPU backends `apply` takes the fused kernel (`backend::rowwise::rope`), one table row
/// per token shared by its heads. Elsewhere everything `apply` multiplies is laid out like its
/// input, so the products run on contiguous memory: a `[B, T, 1, Dh]` table broadcast over
/// heads, or `rotate_half` built from two slices and a concatenation, sends Burn's CPU
/// backends down their strided element-by-element path (16 % of a zero-shot scoring pass in
/// `perf`). Those tensors are built on first use only, so the fused path never pays for them.
pub struct RopeTables<B: Backend> {
    /// `[B*T, Dh]` each.
    host: HostTables,
    heads: Vec<usize>,
    device: B::Device,
    /// Per head count (queries, then keys when GQA gives them fewer heads): `[B, T, H, Dh]`
    /// cos and sin, and the `[Dh, Dh]` signed permutation with `x @ rotate = cat(-x2, x1)`.
    tensors: OnceLock<(Vec<(usize, Tensor<B, 4>, Tensor<B, 4>)>, Tensor<B, 2>)>,
    shape: [usize; 2],
}

impl<B: Backend> RopeTables<B> {
    /// Builds the tables for `positions` (row-major `[batch, len]`), for inputs with `heads`
    /// heads each (e.g. `[num_heads, num_key_value_heads]`).
    pub fn new(positions: &[i64], batch: usize, len: usize, inv_freq: &[f32], heads: &[usize], device: &B::Device) -> Self {
        assert_eq!(positions.len(), batch * len, "one position per token");
        let head_dim = 2 * inv_freq.len();
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
        Self {
            host: HostTables { cos: Arc::new(cos), sin: Arc::new(sin) },
            heads: heads.to_vec(),
            device: device.clone(),
            tensors: OnceLock::new(),
            shape: [batch, len],
        }
    }

    /// The tables as tensors, for backends without the fused kernel.
    fn tensors(&self) -> &(Vec<(usize, Tensor<B, 4>, Tensor<B, 4>)>, Tensor<B, 2>) {
        self.tensors.get_or_init(|| {
            let ([batch, len], head_dim) = (self.shape, self.host.cos.len() / (self.shape[0] * self.shape[1]).max(1));
            let repeat = |table: &[f32], h: usize| -> Vec<f32> {
                table.chunks(head_dim).flat_map(|row| std::iter::repeat_n(row, h).flatten().copied()).collect()
            };
            let mut tables: Vec<(usize, Tensor<B, 4>, Tensor<B, 4>)> = Vec::new();
            for &h in &self.heads {
                if tables.iter().any(|(n, _, _)| *n == h) {
                    continue;
                }
                let shape = [batch, len, h, head_dim];
                let c = Tensor::from_data(TensorData::new(repeat(&self.host.cos, h), shape), &self.device);
                let s = Tensor::from_data(TensorData::new(repeat(&self.host.sin, h), shape), &self.device);
                tables.push((h, c, s));
            }
            // Column j of the output takes -x[j + half] for j < half, x[j - half] otherwise.
            let half = head_dim / 2;
            let mut rotate = vec![0.0f32; head_dim * head_dim];
            for j in 0..half {
                rotate[(j + half) * head_dim + j] = -1.0;
                rotate[j * head_dim + j + half] = 1.0;
            }
            (tables, Tensor::from_data(TensorData::new(rotate, [head_dim, head_dim]), &self.device))
        })
    }

    /// Rotates `x` (queries or keys): `x * cos + rotate_half(x) * sin`.
    ///
    /// # Shapes
    /// - x: `[B, T, H, Dh]` -> `[B, T, H, Dh]`, H one of the head counts the tables were built for
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = match rowwise::rope(x, &self.host) {
            Ok(out) => return out,
            Err(x) => x,
        };
        let [b, t, h, dh] = x.dims();
        let (tables, rotate) = self.tensors();
        let (_, cos, sin) = tables.iter().find(|(n, _, _)| *n == h).expect("RoPE tables built for every head count");
        let dtype = x.dtype();
        let rotated = x.clone().reshape([b * t * h, dh]) // [B*T*H, Dh]
            .matmul(rotate.clone().cast(dtype)) // [B*T*H, Dh]
            .reshape([b, t, h, dh]); // [B, T, H, Dh]
        x * cos.clone().cast(dtype) + rotated * sin.clone().cast(dtype)
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
        let tables = RopeTables::<TestBackend>::new(&[1], 1, 1, &[1.0], &[1], &device);
        let x = Tensor::<TestBackend, 4>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 1, 1, 2]), &device);
        let out: Vec<f32> = tables.apply(x).into_data().to_vec().unwrap();
        assert!((out[0] - 1f32.cos()).abs() < 1e-6 && (out[1] - 1f32.sin()).abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn rotation_matrix_equals_rotate_half_for_every_head_count() {
        // Dh = 4, two rows at positions 0 and 3, with 2 and 1 heads: the matmul form must equal
        // HF's slice-and-concatenate form (x * cos + rotate_half(x) * sin) computed here by hand.
        let device = Default::default();
        let freqs = inv_freq(4, 10.0, 1.0);
        let tables = RopeTables::<TestBackend>::new(&[0, 3], 1, 2, &freqs, &[2, 1], &device);
        for h in [2usize, 1] {
            let values: Vec<f32> = (0..2 * h * 4).map(|i| i as f32 * 0.25 - 1.0).collect();
            let x = Tensor::<TestBackend, 4>::from_data(TensorData::new(values.clone(), [1, 2, h, 4]), &device);
            let out: Vec<f32> = tables.apply(x.clone()).into_data().to_vec().unwrap();
            let rot: Vec<f32> = rotate_half(x).into_data().to_vec().unwrap();
            for (i, (&o, (&v, &r))) in out.iter().zip(values.iter().zip(&rot)).enumerate() {
                let (pos, d) = ([0.0f32, 3.0][i / (h * 4)], i % 4);
                let angle = pos * freqs[d % 2];
                let expected = v * angle.cos() + r * angle.sin();
                assert!((o - expected).abs() < 1e-5, "h {h}, element {i}: {o} vs {expected}");
            }
        }
    }
}
