//! Squared L2 distances from every row of `r [n, d]` to every code of `e [k, d]`, and their
//! gradient, as two products and one element pass each way.
//!
//! Burn builds the RQ-VAE's distances `max(|r|² + |e|² - 2 r eᵀ, 0)` from eight tensor ops (two
//! squares, two sums, a transpose, a product, a scale, two broadcast adds and a clamp) whose
//! element passes all run on one thread; with backward it is about twenty. Per level and
//! batch of 1024 that was a fifth of an RQ-VAE training step, while the second core waited.

use rayon::prelude::*;

use super::gemm::{View, ViewMut, par_matmul};
use super::{lanes, vectorized};

/// Rows per rayon task in the element passes.
const ROWS: usize = 32;

vectorized! {
    fn finish_row(row: &mut [f32], r2: f32, e2: &[f32]) {
        for (v, &e2) in row.iter_mut().zip(e2) {
            *v = (*v + r2 + e2).max(0.0);
        }
    }
}

vectorized! {
    fn masked_row(g: &[f32], dist: &[f32], out: &mut [f32]) {
        // Where the clamp holds a distance at 0 the true gradient 2 (r - e) is 0 as well.
        for ((o, &g), &d) in out.iter_mut().zip(g).zip(dist) {
            *o = if d > 0.0 { g } else { 0.0 };
        }
    }
}

vectorized! {
    fn scaled_row(src: &[f32], scale: f32, out: &mut [f32]) {
        for (o, &s) in out.iter_mut().zip(src) {
            *o = scale * s;
        }
    }
}

fn squared_norms(x: &[f32], d: usize) -> Vec<f32> {
    x.par_chunks(ROWS * d).flat_map_iter(|rows| rows.chunks_exact(d).map(|row| lanes::dot(row, row))).collect()
}

/// `out[i, j] = max(|r_i|² + |e_j|² - 2 r_i·e_j, 0)`, `out` of `n x k` values.
pub fn forward(r: &[f32], e: &[f32], d: usize, out: &mut [f32]) {
    let (n, k) = (r.len() / d.max(1), e.len() / d.max(1));
    assert!(d > 0 && r.len() == n * d && e.len() == k * d && out.len() == n * k && k > 0, "sq_dist: shapes");
    let dst = ViewMut { ptr: out.as_mut_ptr(), rs: k as isize, cs: 1 };
    // SAFETY: `out` holds n x k values, `r` n x d and `e` k x d (its transpose is read); `out`
    // is borrowed mutably here, so nothing else touches it.
    unsafe { par_matmul(n, k, d, dst, false, View::rows(r, 0, d), View::rows_t(e, 0, d), -2.0) };
    let (r2, e2) = (squared_norms(r, d), squared_norms(e, d));
    out.par_chunks_mut(ROWS * k).zip(r2.par_chunks(ROWS)).for_each(|(rows, r2)| {
        rows.chunks_exact_mut(k).zip(r2).for_each(|(row, &r2)| finish_row(row, r2, &e2));
    });
}

/// The gradients of `sum(g * forward(r, e))` with respect to `r` and `e`, each computed only
/// when asked for:
/// `d_r = 2 (rowsum(g') r - g' e)`, `d_e = 2 (colsum(g') e - g'ᵀ r)`, `g'` being `g` with the
/// clamped (zero) distances masked out.
pub fn backward(r: &[f32], e: &[f32], dist: &[f32], g: &[f32], d: usize, d_r: Option<&mut [f32]>, d_e: Option<&mut [f32]>) {
    let (n, k) = (r.len() / d.max(1), e.len() / d.max(1));
    assert!(d > 0 && r.len() == n * d && e.len() == k * d && k > 0, "sq_dist: shapes");
    assert!(dist.len() == n * k && g.len() == n * k, "sq_dist: gradient shapes");
    let mut masked = super::zeroed(n * k);
    masked.par_chunks_mut(ROWS * k).zip(g.par_chunks(ROWS * k).zip(dist.par_chunks(ROWS * k))).for_each(|(out, (g, dist))| {
        out.chunks_exact_mut(k).zip(g.chunks_exact(k).zip(dist.chunks_exact(k))).for_each(|(o, (g, dist))| masked_row(g, dist, o));
    });
    if let Some(d_r) = d_r {
        assert_eq!(d_r.len(), n * d, "sq_dist: d_r shape");
        let sums: Vec<f32> = masked.par_chunks(k).map(|row| row.iter().sum::<f32>()).collect();
        d_r.par_chunks_mut(ROWS * d).zip(r.par_chunks(ROWS * d).zip(sums.par_chunks(ROWS))).for_each(|(out, (r, sums))| {
            out.chunks_exact_mut(d).zip(r.chunks_exact(d)).zip(sums).for_each(|((o, r), &s)| scaled_row(r, 2.0 * s, o));
        });
        let dst = ViewMut { ptr: d_r.as_mut_ptr(), rs: d as isize, cs: 1 };
        // SAFETY: d_r holds n x d values, `masked` n x k and `e` k x d; d_r is ours alone.
        unsafe { par_matmul(n, d, k, dst, true, View::rows(&masked, 0, k), View::rows(e, 0, d), -2.0) };
    }
    if let Some(d_e) = d_e {
        assert_eq!(d_e.len(), k * d, "sq_dist: d_e shape");
        let mut sums = vec![0.0f32; k];
        for row in masked.chunks_exact(k) {
            sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
        d_e.chunks_exact_mut(d).zip(e.chunks_exact(d)).zip(&sums).for_each(|((o, e), &s)| scaled_row(e, 2.0 * s, o));
        let dst = ViewMut { ptr: d_e.as_mut_ptr(), rs: d as isize, cs: 1 };
        // SAFETY: d_e holds k x d values, `masked` (read transposed) n x k and `r` n x d.
        unsafe { par_matmul(k, d, n, dst, true, View::rows_t(&masked, 0, k), View::rows(r, 0, d), -2.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_by_hand() {
        // r = (3, 1), (0, 0); codes (0, 0), (2, 0), (4, 4): rows (10, 2, 10) and (0, 4, 32).
        let (r, e) = ([3.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0, 4.0, 4.0]);
        let mut out = [f32::NAN; 6];
        forward(&r, &e, 2, &mut out);
        assert_eq!(out, [10.0, 2.0, 10.0, 0.0, 4.0, 32.0]);
    }

    /// `sum(g * dist)` in f64, straight from the definition `sum_c (r_c - e_c)²`.
    fn weighted(r: &[f32], e: &[f32], g: &[f32], d: usize) -> f64 {
        let k = e.len() / d;
        r.chunks(d)
            .enumerate()
            .flat_map(|(i, ri)| e.chunks(d).enumerate().map(move |(j, ej)| (i, j, ri, ej)))
            .map(|(i, j, ri, ej)| g[i * k + j] as f64 * ri.iter().zip(ej).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>())
            .sum()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (n, k, d) = (37, 11, 5);
        let r: Vec<f32> = (0..n * d).map(|i| ((i * 7 % 19) as f32 - 9.0) / 5.0).collect();
        let e: Vec<f32> = (0..k * d).map(|i| ((i * 5 % 13) as f32 - 6.0) / 4.0).collect();
        let g: Vec<f32> = (0..n * k).map(|i| ((i * 3 % 7) as f32 - 3.0) / 2.0).collect();
        let mut dist = vec![0.0; n * k];
        forward(&r, &e, d, &mut dist);
        let (mut d_r, mut d_e) = (vec![f32::NAN; n * d], vec![f32::NAN; k * d]);
        backward(&r, &e, &dist, &g, d, Some(&mut d_r), Some(&mut d_e));
        let h = 1e-2;
        for (which, grad) in [(0, &d_r), (1, &d_e)] {
            for idx in (0..grad.len()).step_by(7) {
                let (mut plus_r, mut plus_e) = (r.clone(), e.clone());
                let (mut minus_r, mut minus_e) = (r.clone(), e.clone());
                let (p, m) = if which == 0 { (&mut plus_r, &mut minus_r) } else { (&mut plus_e, &mut minus_e) };
                p[idx] += h;
                m[idx] -= h;
                let numeric = (weighted(&plus_r, &plus_e, &g, d) - weighted(&minus_r, &minus_e, &g, d)) / (2.0 * h as f64);
                assert!((grad[idx] as f64 - numeric).abs() < 1e-2 * (1.0 + numeric.abs()), "{which}[{idx}]: {} vs {numeric}", grad[idx]);
            }
        }
    }

    #[test]
    fn clamped_distances_pass_no_gradient() {
        // r equals the only code: the distance is 0 and so is its gradient, whatever g is.
        let (r, e) = ([1.5, -2.0], [1.5, -2.0]);
        let mut dist = [f32::NAN];
        forward(&r, &e, 2, &mut dist);
        assert_eq!(dist, [0.0]);
        let (mut d_r, mut d_e) = ([f32::NAN; 2], [f32::NAN; 2]);
        backward(&r, &e, &dist, &[3.0], 2, Some(&mut d_r), Some(&mut d_e));
        assert_eq!((d_r, d_e), ([0.0; 2], [0.0; 2]));
    }
}
