//! Softmax over the last axis of a `[rows, cols]` matrix, and its gradient, in one pass each.
//!
//! Burn's softmax is a max, a subtraction, an `exp` (libm's scalar `expf`, about 5 ns per
//! element on flex), a sum and a division, all on one thread; the RQ-VAE's soft code
//! assignments (`[batch, codes]` per level) spent 8 % of a training step there.

use rayon::prelude::*;

use super::token_nll::softmax_row;
use super::{lanes, vectorized};

/// Rows per rayon task.
const ROWS: usize = 16;

vectorized! {
    fn backward_row(probs: &[f32], d_out: &[f32], d_x: &mut [f32]) {
        // d x = p * (dy - <dy, p>)
        let inner = lanes::dot(probs, d_out);
        for ((g, &p), &dy) in d_x.iter_mut().zip(probs).zip(d_out) {
            *g = p * (dy - inner);
        }
    }
}

/// `out = softmax(x)` row by row, rows of `cols` values.
pub fn forward(x: &[f32], cols: usize, out: &mut [f32]) {
    assert!(cols > 0 && x.len() % cols == 0 && out.len() == x.len(), "softmax: shapes");
    out.par_chunks_mut(ROWS * cols).zip(x.par_chunks(ROWS * cols)).for_each(|(out, x)| {
        for (o, row) in out.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
            let (mut max, mut log_sum) = (0.0, 0.0);
            softmax_row(row, o, &mut max, &mut log_sum);
        }
    });
}

/// The gradient with respect to the input given the output `probs` and its gradient.
pub fn backward(probs: &[f32], d_out: &[f32], cols: usize, d_x: &mut [f32]) {
    assert!(cols > 0 && probs.len() % cols == 0 && d_out.len() == probs.len() && d_x.len() == probs.len(), "softmax: shapes");
    d_x.par_chunks_mut(ROWS * cols).zip(probs.par_chunks(ROWS * cols).zip(d_out.par_chunks(ROWS * cols))).for_each(|(g, (p, d))| {
        for ((g, p), d) in g.chunks_exact_mut(cols).zip(p.chunks_exact(cols)).zip(d.chunks_exact(cols)) {
            backward_row(p, d, g);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_by_hand() {
        // softmax([0, ln 3]) = [1/4, 3/4]; softmax([1000, 1000]) = [1/2, 1/2] (no overflow).
        let mut out = [0.0; 4];
        forward(&[0.0, 3f32.ln(), 1000.0, 1000.0], 2, &mut out);
        for (got, want) in out.iter().zip([0.25, 0.75, 0.5, 0.5]) {
            assert!((got - want).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (rows, cols) = (40, 7);
        let x: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.83).sin() * 3.0).collect();
        let dy: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 1.7).cos()).collect();
        // loss = <dy, softmax(x)> in f64.
        let loss = |x: &[f32]| -> f64 {
            x.chunks(cols).zip(dy.chunks(cols)).map(|(r, g)| {
                let max = r.iter().fold(f64::MIN, |m, v| m.max(*v as f64));
                let e: Vec<f64> = r.iter().map(|v| (*v as f64 - max).exp()).collect();
                let s: f64 = e.iter().sum();
                e.iter().zip(g).map(|(e, g)| e / s * *g as f64).sum::<f64>()
            }).sum()
        };
        let mut p = vec![0.0; x.len()];
        forward(&x, cols, &mut p);
        let mut g = vec![0.0; x.len()];
        backward(&p, &dy, cols, &mut g);
        for i in [0, 3, 77, 150, rows * cols - 1] {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += 1e-3;
            down[i] -= 1e-3;
            let want = (loss(&up) - loss(&down)) / 2e-3;
            assert!((g[i] as f64 - want).abs() < 1e-3, "d_x[{i}]: {} vs {want}", g[i]);
        }
    }
}
