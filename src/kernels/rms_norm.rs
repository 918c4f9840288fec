//! RMSNorm, `y = x / sqrt(mean(x^2) + eps) * w` per row, and its gradients in one pass each.
//!
//! Through Burn's ops this is a square, a mean, an add, a square root, a reciprocal and two
//! products, each a pass with its own allocation, and autodiff records every one.

use rayon::prelude::*;

use super::{lanes, vectorized};

/// Rows per rayon task.
const ROWS: usize = 32;

vectorized! {
    fn forward_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32], inv_rms: &mut [f32]) {
        let d = weight.len();
        for ((xr, or), r) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)).zip(inv_rms.iter_mut()) {
            *r = 1.0 / (lanes::dot(xr, xr) / d as f32 + eps).sqrt();
            for ((o, &v), &w) in or.iter_mut().zip(xr).zip(weight) {
                *o = v * *r * w;
            }
        }
    }
}

vectorized! {
    /// `d_x` for the rows, and their contribution to `d_weight` added to `d_weight`.
    fn backward_rows(x: &[f32], weight: &[f32], inv_rms: &[f32], d_out: &[f32], d_x: &mut [f32], d_weight: &mut [f32]) {
        let d = weight.len();
        for (((xr, dr), gx), &r) in x.chunks_exact(d).zip(d_out.chunks_exact(d)).zip(d_x.chunks_exact_mut(d)).zip(inv_rms) {
            // With g = dy * w: dx = r g - x r^3 <g, x> / D
            let mut acc = [0.0f32; 8];
            for (j, ((&v, &dy), &w)) in xr.iter().zip(dr).zip(weight).enumerate() {
                acc[j % 8] += dy * w * v;
            }
            let coef = acc.iter().sum::<f32>() * r * r * r / d as f32;
            for (((g, &v), &dy), &w) in gx.iter_mut().zip(xr).zip(dr).zip(weight) {
                *g = r * dy * w - v * coef;
            }
            for ((dw, &v), &dy) in d_weight.iter_mut().zip(xr).zip(dr) {
                *dw += dy * v * r;
            }
        }
    }
}

/// `out = x / sqrt(mean(x^2) + eps) * weight` over rows of `weight.len()` values; the rows'
/// `1 / rms` go to `inv_rms` (backward needs them).
pub fn forward(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32], inv_rms: &mut [f32]) {
    let d = weight.len();
    assert!(d > 0 && x.len() % d == 0 && out.len() == x.len() && inv_rms.len() == x.len() / d, "rms_norm: shapes");
    out.par_chunks_mut(ROWS * d)
        .zip(inv_rms.par_chunks_mut(ROWS))
        .zip(x.par_chunks(ROWS * d))
        .for_each(|((o, r), x)| forward_rows(x, weight, eps, o, r));
}

/// The gradients with respect to `x` and `weight` given the output's.
pub fn backward(x: &[f32], weight: &[f32], inv_rms: &[f32], d_out: &[f32], d_x: &mut [f32], d_weight: &mut [f32]) {
    let d = weight.len();
    assert!(d > 0 && x.len() == d_out.len() && d_x.len() == x.len() && d_weight.len() == d && inv_rms.len() == x.len() / d, "rms_norm: shapes");
    // Each task sums its rows' weight gradient apart; the partial sums are added at the end.
    let partials: Vec<Vec<f32>> = d_x
        .par_chunks_mut(ROWS * d)
        .zip(x.par_chunks(ROWS * d).zip(d_out.par_chunks(ROWS * d)).zip(inv_rms.par_chunks(ROWS)))
        .map(|(gx, ((x, dy), r))| {
            let mut dw = vec![0.0; d];
            backward_rows(x, weight, r, dy, gx, &mut dw);
            dw
        })
        .collect();
    d_weight.fill(0.0);
    for p in &partials {
        d_weight.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_by_hand() {
        // Row [3, 4]: mean square 12.5, rms sqrt(12.5 + 0.5) = sqrt(13); w = [1, 2].
        let (mut out, mut r) = ([0.0; 2], [0.0]);
        forward(&[3.0, 4.0], &[1.0, 2.0], 0.5, &mut out, &mut r);
        let s = 13f32.sqrt();
        assert!((r[0] - 1.0 / s).abs() < 1e-7);
        assert!((out[0] - 3.0 / s).abs() < 1e-6 && (out[1] - 8.0 / s).abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (rows, d, eps) = (70, 5, 1e-3f32);
        let x: Vec<f32> = (0..rows * d).map(|i| (i as f32 * 0.77).sin() * 1.5).collect();
        let w: Vec<f32> = (0..d).map(|i| 0.5 + i as f32 * 0.3).collect();
        let dy: Vec<f32> = (0..rows * d).map(|i| (i as f32 * 1.9).cos()).collect();
        // loss = <dy, y(x, w)>, in f64 on the naive formula.
        let loss = |x: &[f32], w: &[f32]| -> f64 {
            x.chunks(d).zip(dy.chunks(d)).map(|(xr, gr)| {
                let ms = xr.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / d as f64;
                let r = 1.0 / (ms + eps as f64).sqrt();
                xr.iter().zip(gr).zip(w).map(|((v, g), w)| *v as f64 * r * *w as f64 * *g as f64).sum::<f64>()
            }).sum()
        };
        let (mut y, mut r) = (vec![0.0; x.len()], vec![0.0; rows]);
        forward(&x, &w, eps, &mut y, &mut r);
        let (mut gx, mut gw) = (vec![0.0; x.len()], vec![7.0; d]);
        backward(&x, &w, &r, &dy, &mut gx, &mut gw);
        let h = 1e-3f32;
        for i in [0, 1, 17, 123, rows * d - 1] {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += h;
            down[i] -= h;
            let want = (loss(&up, &w) - loss(&down, &w)) / (2.0 * h as f64);
            assert!((gx[i] as f64 - want).abs() < 2e-3 * (1.0 + want.abs()), "d_x[{i}]: {} vs {want}", gx[i]);
        }
        for j in 0..d {
            let (mut up, mut down) = (w.clone(), w.clone());
            up[j] += h;
            down[j] -= h;
            let want = (loss(&x, &up) - loss(&x, &down)) / (2.0 * h as f64);
            assert!((gw[j] as f64 - want).abs() < 2e-3 * (1.0 + want.abs()), "d_w[{j}]: {} vs {want}", gw[j]);
        }
    }
}
