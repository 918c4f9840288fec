//! Scaled dot-product attention, forward and backward, on the projections' own
//! `[B, T, H, Dh]` layout with grouped-query heads.
//!
//! Burn's generic attention wants `[B, H, T, Dh]`, so the decoder swapped the head axis in and
//! out (flex copies those 4-D permutations one element at a time), repeated each key/value head
//! for its query heads, and under autodiff ran the unfused softmax with its backward. Here every
//! `(batch, head)` pair is two strided GEMMs around a row softmax, reading the heads where the
//! projections wrote them and each key/value head where it lies; the backward is the usual
//! `dS = P * (dP - rowsum(dO * O))` from the kept probabilities.

use rayon::prelude::*;

use super::exp::exp;
use super::gemm::{View, ViewMut, matmul};
use super::{SharedMut, lanes, vectorized};

/// Sizes of one attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub batch: usize,
    /// Query positions `T`.
    pub q_len: usize,
    /// Key positions `Tk` (>= `T`: the first `Tk - T` keys precede the queries).
    pub kv_len: usize,
    pub heads: usize,
    /// Key/value heads; each serves `heads / kv_heads` consecutive query heads.
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl Dims {
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }

    /// Offset of `(b, position 0, head)` in a `[B, len, heads, Dh]` tensor.
    fn at(&self, b: usize, len: usize, heads: usize, head: usize) -> usize {
        (b * len * heads + head) * self.head_dim
    }
}

/// Which keys each query sees.
#[derive(Debug, Clone, Copy)]
pub enum Visible<'a> {
    All,
    /// Query `i` sees keys `0..=i + Tk - T`.
    Causal,
    /// `[B, T, Tk]`, true = hidden (Burn's mask convention).
    Hidden(&'a [bool]),
}

vectorized! {
    /// Softmax of one score row in place; an all-hidden row (every score -inf) becomes zeros.
    fn softmax_in_place(row: &mut [f32]) {
        let max = lanes::max(row);
        if max == f32::NEG_INFINITY {
            row.fill(0.0);
            return;
        }
        for x in row.iter_mut() {
            *x = exp(*x - max);
        }
        let inv = 1.0 / lanes::sum(row);
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}

vectorized! {
    /// `ds = p * (dp - d)`, in place over `dp`.
    fn softmax_backward_row(p: &[f32], dp: &mut [f32], d: f32) {
        for (g, &p) in dp.iter_mut().zip(p) {
            *g = p * (*g - d);
        }
    }
}

fn check(d: &Dims, q: &[f32], k: &[f32], v: &[f32], visible: Visible) {
    assert!(d.kv_heads > 0 && d.heads.is_multiple_of(d.kv_heads), "attention: {} heads cannot share {} kv heads", d.heads, d.kv_heads);
    assert!(d.kv_len >= d.q_len, "attention: {} keys for {} queries", d.kv_len, d.q_len);
    assert_eq!(q.len(), d.batch * d.q_len * d.heads * d.head_dim, "attention: query size");
    assert_eq!(k.len(), d.batch * d.kv_len * d.kv_heads * d.head_dim, "attention: key size");
    assert_eq!(v.len(), k.len(), "attention: value size");
    if let Visible::Hidden(mask) = visible {
        assert_eq!(mask.len(), d.batch * d.q_len * d.kv_len, "attention: mask size");
    }
}

/// `out = softmax(q k^T / sqrt(Dh), hidden keys -inf) v`; `probs` keeps the softmax for
/// [`backward`].
///
/// # Shapes
/// - q, out: `[B, T, H, Dh]`; k, v: `[B, Tk, Hkv, Dh]`; probs: `[B, H, T, Tk]`
pub fn forward(d: Dims, q: &[f32], k: &[f32], v: &[f32], visible: Visible, out: &mut [f32], probs: &mut [f32]) {
    check(&d, q, k, v, visible);
    let (t, tk, h, hkv, dh) = (d.q_len, d.kv_len, d.heads, d.kv_heads, d.head_dim);
    assert!(out.len() == q.len() && probs.len() == d.batch * h * t * tk, "attention: output sizes");
    let scale = 1.0 / (dh as f32).sqrt();
    let out_ptr = SharedMut(out.as_mut_ptr());
    probs.par_chunks_mut(t * tk).enumerate().for_each(|(task, p)| {
        let (b, head) = (task / h, task % h);
        let kv = head / d.group();
        let (q_at, kv_at) = (d.at(b, t, h, head), d.at(b, tk, hkv, kv));
        for r0 in (0..t).step_by(ROW_BLOCK) {
            let r1 = (r0 + ROW_BLOCK).min(t);
            let keys = visible_keys(visible, b, r0..r1, t, tk);
            let block = &mut p[r0 * tk..r1 * tk];
            for row in block.chunks_exact_mut(tk) {
                row[keys..].fill(0.0);
            }
            let q_rows = q_at + r0 * h * dh;
            // SAFETY: this task alone writes rows r0..r1 of head `head` in batch `b` of `out`.
            let dst = ViewMut { ptr: unsafe { out_ptr.add(q_rows) }, rs: (h * dh) as isize, cs: 1 };
            if keys == 0 {
                unsafe { zero_rows(dst, r1 - r0, dh) };
                continue;
            }
            let scores = ViewMut { ptr: block.as_mut_ptr(), rs: tk as isize, cs: 1 };
            // SAFETY: `block` is this task's rows of its [T, Tk] probabilities; q and k are
            // addressed within their sizes.
            unsafe { matmul(r1 - r0, keys, dh, scores, false, View::rows(q, q_rows, h * dh), View::rows_t(k, kv_at, hkv * dh), scale) };
            for (i, row) in (r0..r1).zip(block.chunks_exact_mut(tk)) {
                let row = &mut row[..keys];
                match visible {
                    Visible::All => {}
                    Visible::Causal => {
                        let first_hidden = (i + tk - t + 1).min(keys);
                        row[first_hidden..].fill(f32::NEG_INFINITY);
                    }
                    Visible::Hidden(mask) => {
                        let hidden = &mask[(b * t + i) * tk..(b * t + i) * tk + keys];
                        for (s, &hide) in row.iter_mut().zip(hidden) {
                            if hide {
                                *s = f32::NEG_INFINITY;
                            }
                        }
                    }
                }
                softmax_in_place(row);
            }
            unsafe { matmul(r1 - r0, dh, keys, dst, false, View::rows(block, 0, tk), View::rows(v, kv_at, hkv * dh), 1.0) };
        }
    });
}

/// Query rows per block. A block only multiplies the keys some row of it can see, so causal
/// attention (and left padding) skips the hidden upper triangle: 37 % of the products at
/// T = 128, for GEMMs of 32 rows that still fill the kernels' tiles.
const ROW_BLOCK: usize = 32;

/// One past the last key any query in `rows` can see.
fn visible_keys(visible: Visible, b: usize, rows: std::ops::Range<usize>, t: usize, tk: usize) -> usize {
    match visible {
        Visible::All => tk,
        Visible::Causal => rows.end + tk - t,
        Visible::Hidden(mask) => rows
            .map(|i| {
                let row = &mask[(b * t + i) * tk..(b * t + i + 1) * tk];
                row.iter().rposition(|&hide| !hide).map_or(0, |j| j + 1)
            })
            .max()
            .unwrap_or(0),
    }
}

/// One past the last non-zero probability in a block of rows: keys past it had no weight in
/// the forward pass, so they get no gradient.
fn weighted_keys(block: &[f32], tk: usize) -> usize {
    block.chunks_exact(tk).map(|row| row.iter().rposition(|&p| p != 0.0).map_or(0, |j| j + 1)).max().unwrap_or(0)
}

/// Zeroes `rows` rows of `cols` elements.
///
/// # Safety
/// As for [`matmul`]'s `dst`.
unsafe fn zero_rows(dst: ViewMut, rows: usize, cols: usize) {
    for r in 0..rows {
        for c in 0..cols {
            // SAFETY: forwarded from the caller.
            unsafe { *dst.ptr.offset(r as isize * dst.rs + c as isize * dst.cs) = 0.0 };
        }
    }
}

/// Gradients of [`forward`] with respect to q, k and v, given the output's gradient.
///
/// # Shapes
/// - q, out, d_out, d_q: `[B, T, H, Dh]`; k, v, d_k, d_v: `[B, Tk, Hkv, Dh]`; probs: `[B, H, T, Tk]`
#[allow(clippy::too_many_arguments)]
pub fn backward(
    d: Dims,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    out: &[f32],
    probs: &[f32],
    d_out: &[f32],
    d_q: &mut [f32],
    d_k: &mut [f32],
    d_v: &mut [f32],
) {
    check(&d, q, k, v, Visible::All);
    let (t, tk, h, hkv, dh) = (d.q_len, d.kv_len, d.heads, d.kv_heads, d.head_dim);
    assert!(out.len() == q.len() && d_out.len() == q.len() && d_q.len() == q.len(), "attention: query-side sizes");
    assert!(d_k.len() == k.len() && d_v.len() == k.len() && probs.len() == d.batch * h * t * tk, "attention: key-side sizes");
    let scale = 1.0 / (dh as f32).sqrt();
    d_k.fill(0.0);
    d_v.fill(0.0);
    let (dq_ptr, dk_ptr, dv_ptr) = (SharedMut(d_q.as_mut_ptr()), SharedMut(d_k.as_mut_ptr()), SharedMut(d_v.as_mut_ptr()));
    // One task per (batch, kv head): it alone accumulates that head's dK and dV, and writes dQ
    // for the query heads of its group.
    (0..d.batch * hkv).into_par_iter().for_each(|task| {
        let (b, kv) = (task / hkv, task % hkv);
        let kv_at = d.at(b, tk, hkv, kv);
        let mut ds = vec![0.0f32; ROW_BLOCK * tk];
        for head in kv * d.group()..(kv + 1) * d.group() {
            let q_at = d.at(b, t, h, head);
            let p = &probs[(b * h + head) * t * tk..(b * h + head + 1) * t * tk];
            for r0 in (0..t).step_by(ROW_BLOCK) {
                let (r1, q_rows) = ((r0 + ROW_BLOCK).min(t), q_at + r0 * h * dh);
                let (m, p_block) = (r1 - r0, &p[r0 * tk..r1 * tk]);
                let keys = weighted_keys(p_block, tk);
                // SAFETY (all products below): views stay within their tensors; d_k/d_v rows of
                // this kv head and d_q rows of this query head belong to this task only.
                let dq = ViewMut { ptr: unsafe { dq_ptr.add(q_rows) }, rs: (h * dh) as isize, cs: 1 };
                if keys == 0 {
                    unsafe { zero_rows(dq, m, dh) };
                    continue;
                }
                let kv_dst = |ptr: SharedMut| ViewMut { ptr: unsafe { ptr.add(kv_at) }, rs: (hkv * dh) as isize, cs: 1 };
                // dV += P^T dO
                unsafe { matmul(keys, dh, m, kv_dst(dv_ptr), true, View::rows_t(p_block, 0, tk), View::rows(d_out, q_rows, h * dh), 1.0) };
                // dP = dO V^T
                let ds_view = ViewMut { ptr: ds.as_mut_ptr(), rs: tk as isize, cs: 1 };
                unsafe { matmul(m, keys, dh, ds_view, false, View::rows(d_out, q_rows, h * dh), View::rows_t(v, kv_at, hkv * dh), 1.0) };
                for (i, (ds_row, p_row)) in ds.chunks_exact_mut(tk).zip(p_block.chunks_exact(tk)).enumerate() {
                    let row = q_rows + i * h * dh;
                    let di = lanes::dot(&d_out[row..row + dh], &out[row..row + dh]);
                    softmax_backward_row(&p_row[..keys], &mut ds_row[..keys], di);
                }
                // dQ = scale dS K;  dK += scale dS^T Q
                unsafe { matmul(m, dh, keys, dq, false, View::rows(&ds, 0, tk), View::rows(k, kv_at, hkv * dh), scale) };
                unsafe { matmul(keys, dh, m, kv_dst(dk_ptr), true, View::rows_t(&ds, 0, tk), View::rows(q, q_rows, h * dh), scale) };
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain loops in f64: the reference.
    fn naive(d: Dims, q: &[f32], k: &[f32], v: &[f32], hidden: &dyn Fn(usize, usize, usize) -> bool) -> Vec<f64> {
        let (t, tk, h, hkv, dh) = (d.q_len, d.kv_len, d.heads, d.kv_heads, d.head_dim);
        let mut out = vec![0.0; q.len()];
        for b in 0..d.batch {
            for head in 0..h {
                let kv = head / (h / hkv);
                for i in 0..t {
                    let qi = |x: usize| q[((b * t + i) * h + head) * dh + x] as f64;
                    let kj = |j: usize, x: usize| k[((b * tk + j) * hkv + kv) * dh + x] as f64;
                    let scores: Vec<Option<f64>> = (0..tk)
                        .map(|j| (!hidden(b, i, j)).then(|| (0..dh).map(|x| qi(x) * kj(j, x)).sum::<f64>() / (dh as f64).sqrt()))
                        .collect();
                    let max = scores.iter().flatten().fold(f64::NEG_INFINITY, |m, &s| m.max(s));
                    let z: f64 = scores.iter().flatten().map(|s| (s - max).exp()).sum();
                    for (j, s) in scores.iter().enumerate() {
                        if let Some(s) = s {
                            let p = (s - max).exp() / z;
                            for x in 0..dh {
                                out[((b * t + i) * h + head) * dh + x] += p * v[((b * tk + j) * hkv + kv) * dh + x] as f64;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.618).sin()).collect()
    }

    fn case(d: Dims, visible: Visible, hidden: &dyn Fn(usize, usize, usize) -> bool) {
        let q = values(d.batch * d.q_len * d.heads * d.head_dim, 1.0);
        let k = values(d.batch * d.kv_len * d.kv_heads * d.head_dim, 2.0);
        let v = values(k.len(), 3.0);
        let mut out = vec![0.0; q.len()];
        let mut probs = vec![0.0; d.batch * d.heads * d.q_len * d.kv_len];
        forward(d, &q, &k, &v, visible, &mut out, &mut probs);
        let want = naive(d, &q, &k, &v, hidden);
        for (i, (o, w)) in out.iter().zip(&want).enumerate() {
            assert!((*o as f64 - w).abs() < 1e-5, "out[{i}] {o} vs {w}");
        }

        // Backward against central differences of the f64 reference, for loss = sum(w * out).
        let w = values(out.len(), 4.0);
        let mut d_q = vec![0.0; q.len()];
        let (mut d_k, mut d_v) = (vec![0.0; k.len()], vec![0.0; k.len()]);
        backward(d, &q, &k, &v, &out, &probs, &w, &mut d_q, &mut d_k, &mut d_v);
        let loss = |q: &[f32], k: &[f32], v: &[f32]| -> f64 { naive(d, q, k, v, hidden).iter().zip(&w).map(|(o, &w)| o * w as f64).sum() };
        let eps = 1e-3f32;
        for (which, grad) in [(0, &d_q), (1, &d_k), (2, &d_v)] {
            for i in (0..grad.len()).step_by(7) {
                let (mut a, mut b) = ([q.clone(), k.clone(), v.clone()], [q.clone(), k.clone(), v.clone()]);
                a[which][i] += eps;
                b[which][i] -= eps;
                let fd = (loss(&a[0], &a[1], &a[2]) - loss(&b[0], &b[1], &b[2])) / (2.0 * eps as f64);
                assert!((grad[i] as f64 - fd).abs() < 2e-3, "input {which} grad[{i}] {} vs {fd}", grad[i]);
            }
        }
    }

    #[test]
    fn causal_grouped_heads_match_the_reference() {
        let d = Dims { batch: 2, q_len: 5, kv_len: 5, heads: 4, kv_heads: 2, head_dim: 8 };
        case(d, Visible::Causal, &|_, i, j| j > i);
    }

    #[test]
    fn causal_after_earlier_keys() {
        let d = Dims { batch: 1, q_len: 3, kv_len: 7, heads: 2, kv_heads: 1, head_dim: 4 };
        case(d, Visible::Causal, &|_, i, j| j > i + 4);
    }

    #[test]
    fn explicit_mask_with_an_all_hidden_row() {
        let d = Dims { batch: 2, q_len: 4, kv_len: 4, heads: 2, kv_heads: 2, head_dim: 4 };
        // Batch 1's first query sees nothing (a padding row): its output and gradients are 0.
        let hidden = |b: usize, i: usize, j: usize| (b == 1 && i == 0) || (j > i) || (b == 0 && j == 1 && i > 1);
        let mask: Vec<bool> = (0..2 * 4 * 4).map(|x| hidden(x / 16, x / 4 % 4, x % 4)).collect();
        case(d, Visible::Hidden(&mask), &hidden);
    }

    #[test]
    fn several_row_blocks_causal_and_left_padded() {
        // T = 70 spans three row blocks: each multiplies only the keys its rows can see.
        let d = Dims { batch: 2, q_len: 70, kv_len: 70, heads: 2, kv_heads: 1, head_dim: 4 };
        case(d, Visible::Causal, &|_, i, j| j > i);
        let hidden = |b: usize, i: usize, j: usize| j > i || (b == 1 && j < 40);
        let mask: Vec<bool> = (0..2 * 70 * 70).map(|x| hidden(x / 4900, x / 70 % 70, x % 70)).collect();
        case(d, Visible::Hidden(&mask), &hidden);
    }

    #[test]
    fn full_attention() {
        let d = Dims { batch: 1, q_len: 6, kv_len: 6, heads: 3, kv_heads: 3, head_dim: 5 };
        case(d, Visible::All, &|_, _, _| false);
    }
}
