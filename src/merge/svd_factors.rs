//! ΔW back to LoRA factors: the best rank-r approximation of a merged ΔW (out × in, row-major as
//! PEFT's `lora_B @ lora_A`) by truncated SVD, split PEFT's way (`add_weighted_adapter` with
//! "svd"): B = U_r Σ_r / scaling, A = V_rᵀ, so that B A · scaling ≈ ΔW. Small matrices use the
//! exact SVD through a Jacobi eigen-decomposition of the smaller Gram matrix; large ones the
//! seeded randomized SVD of `itemtok::svd`.

use crate::itemtok::svd::{SparseRow, SvdConfig, jacobi_eigen, randomized_svd};

use super::MergeError;

/// Up to this smaller side the exact Gram + Jacobi path runs (O(n³) per sweep).
const EXACT_MAX_DIM: usize = 256;
/// Power iterations of the randomized path: more than the TF-IDF encoder's 4, since a merged ΔW
/// has a slowly decaying tail below its rank-r part.
const POWER_ITERS: usize = 7;

/// LoRA factors of a ΔW; `b` is `[rows, rank]`, `a` is `[rank, cols]`, both row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LowRankFactors {
    pub b: Vec<f32>,
    pub a: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    pub rank: usize,
    /// σ_1 ≥ ... ≥ σ_rank of ΔW (0 beyond its rank).
    pub singular_values: Vec<f64>,
}

/// ΔW = B A · scaling for row-major `b` `[rows, rank]` and `a` `[rank, cols]`.
pub fn delta_weight(b: &[f32], a: &[f32], rows: usize, rank: usize, cols: usize, scaling: f32) -> Result<Vec<f32>, MergeError> {
    check_len(b, rows, rank)?;
    check_len(a, rank, cols)?;
    let mut out = vec![0.0f32; rows * cols];
    for i in 0..rows {
        for k in 0..rank {
            let bik = b[i * rank + k] * scaling;
            for (o, &akj) in out[i * cols..(i + 1) * cols].iter_mut().zip(&a[k * cols..(k + 1) * cols]) {
                *o += bik * akj;
            }
        }
    }
    Ok(out)
}

/// Rank-`rank` factors B, A with B A · `scaling` the best rank-`rank` approximation of `delta`
/// (`[rows, cols]`, row-major). Each A row is a right singular vector whose largest-magnitude
/// entry is positive; a rank beyond ΔW's own gives zero rows/columns.
pub fn factorize_delta(delta: &[f32], rows: usize, cols: usize, rank: usize, scaling: f32) -> Result<LowRankFactors, MergeError> {
    check_len(delta, rows, cols)?;
    if rank == 0 {
        return Err(MergeError::Config { field: "rank", reason: "must be > 0".into() });
    }
    if !(scaling.is_finite() && scaling != 0.0) {
        return Err(MergeError::Config { field: "scaling", reason: format!("must be finite and non-zero, got {scaling}") });
    }
    if let Some(index) = delta.iter().position(|v| !v.is_finite()) {
        return Err(MergeError::NotFinite { tensor: 0, checkpoint: 0, index });
    }
    let w: Vec<f64> = delta.iter().map(|&x| f64::from(x)).collect();
    let kept = rank.min(rows).min(cols);
    let (sigmas, right) = if rows.min(cols) <= EXACT_MAX_DIM { exact_svd(&w, rows, cols, kept) } else { randomized(&w, rows, cols, kept)? };

    let (mut b, mut a) = (vec![0.0f32; rows * rank], vec![0.0f32; rank * cols]);
    let tolerance = sigmas.first().copied().unwrap_or(0.0) * 1e-10;
    for (k, (&sigma, v)) in sigmas.iter().zip(&right).enumerate() {
        if sigma <= tolerance {
            continue; // beyond ΔW's rank: leave the factor pair zero
        }
        // u_k σ_k = W v_k, so B[:, k] = W v_k / scaling.
        for i in 0..rows {
            let wv: f64 = w[i * cols..(i + 1) * cols].iter().zip(v).map(|(x, y)| x * y).sum();
            b[i * rank + k] = (wv / f64::from(scaling)) as f32;
        }
        for (j, &vj) in v.iter().enumerate() {
            a[k * cols + j] = vj as f32;
        }
    }
    let mut singular_values = sigmas;
    singular_values.resize(rank, 0.0);
    Ok(LowRankFactors { b, a, rows, cols, rank, singular_values })
}

/// Top `kept` singular values and unit right singular vectors of W (`[rows, cols]`), exactly:
/// eigen-decomposition of the smaller of Wᵀ W and W Wᵀ (for the latter v ∝ Wᵀ u).
fn exact_svd(w: &[f64], rows: usize, cols: usize, kept: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let at = |i: usize, j: usize| w[i * cols + j];
    let wide = rows <= cols;
    let n = if wide { rows } else { cols };
    // Gram of the smaller side: W Wᵀ [rows, rows] or Wᵀ W [cols, cols].
    let gram: Vec<Vec<f64>> = (0..n)
        .map(|p| {
            (0..n)
                .map(|q| if wide { (0..cols).map(|j| at(p, j) * at(q, j)).sum() } else { (0..rows).map(|i| at(i, p) * at(i, q)).sum() })
                .collect()
        })
        .collect();
    let (_, vectors) = jacobi_eigen(&gram);
    let mut sigmas = Vec::with_capacity(kept);
    let mut right = Vec::with_capacity(kept);
    let mut first_norm = None;
    for e in vectors.iter().take(kept) {
        // Tall: v is the eigenvector. Wide: v = Wᵀ u normalised (‖Wᵀ u‖ = σ), and 0 when u is in
        // W's null space: there Wᵀ u is rounding noise that lies in W's row space, and
        // normalising it would copy a leading direction.
        let mut v: Vec<f64> = if wide { (0..cols).map(|j| (0..rows).map(|i| at(i, j) * e[i]).sum()).collect() } else { e.clone() };
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let largest = *first_norm.get_or_insert(norm);
        let scale = if norm > 1e-9 * largest { 1.0 / norm } else { 0.0 };
        v.iter_mut().for_each(|x| *x *= scale);
        fix_sign(&mut v);
        // σ = ‖W v‖ is more accurate than the square root of a Gram eigenvalue.
        sigmas.push((0..rows).map(|i| (0..cols).map(|j| at(i, j) * v[j]).sum::<f64>().powi(2)).sum::<f64>().sqrt());
        right.push(v);
    }
    (sigmas, right)
}

/// The randomized SVD of `itemtok::svd` on W as sparse rows (zeros dropped), seed 0.
fn randomized(w: &[f64], rows: usize, cols: usize, kept: usize) -> Result<(Vec<f64>, Vec<Vec<f64>>), MergeError> {
    let sparse: Vec<SparseRow> = (0..rows)
        .map(|i| (0..cols).filter(|&j| w[i * cols + j] != 0.0).map(|j| (j as u32, w[i * cols + j])).collect())
        .collect();
    let config = SvdConfig { power_iters: POWER_ITERS, ..SvdConfig::new(kept, 0) };
    let svd = randomized_svd(&sparse, cols, &config).map_err(|e| MergeError::Config { field: "rank", reason: e.to_string() })?;
    let mut right = svd.components;
    right.iter_mut().for_each(|v| fix_sign(v));
    Ok((svd.singular_values, right))
}

/// Makes the largest-magnitude entry positive (first one on ties): SVD fixes vectors only up to
/// sign, and a fixed sign makes the factors reproducible.
fn fix_sign(v: &mut [f64]) {
    let pivot = v.iter().copied().reduce(|m, x| if x.abs() > m.abs() { x } else { m }).unwrap_or(0.0);
    if pivot < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
}

fn check_len(values: &[f32], rows: usize, cols: usize) -> Result<(), MergeError> {
    if values.len() != rows * cols {
        return Err(MergeError::Shape { rows, cols, expected: rows * cols, found: values.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn diagonal_by_hand() {
        // ΔW = diag(3, -2, 1) [3 x 3]: σ = [3, 2, 1]; rank 2 keeps 3 and -2.
        // v1 = e1, v2 = e2 (sign: largest entry positive), B = W v / scaling:
        // scaling 2 -> B[:, 0] = [1.5, 0, 0], B[:, 1] = [0, -1, 0].
        let w = [3.0, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 1.0];
        let f = factorize_delta(&w, 3, 3, 2, 2.0).unwrap();
        assert_eq!(f.singular_values.iter().map(|s| (s * 1e9).round() / 1e9).collect::<Vec<_>>(), vec![3.0, 2.0]);
        assert!(max_abs_diff(&f.a, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]) < 1e-6);
        assert!(max_abs_diff(&f.b, &[1.5, 0.0, 0.0, -1.0, 0.0, 0.0]) < 1e-6);
        // B A · 2 = diag(3, -2, 0): the rank-2 truncation.
        let back = delta_weight(&f.b, &f.a, 3, 2, 3, 2.0).unwrap();
        assert!(max_abs_diff(&back, &[3.0, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0]) < 1e-6);
    }

    #[test]
    fn a_rank_r_product_round_trips_in_both_orientations() {
        // B0 [4, 2], A0 [2, 3] -> ΔW = B0 A0 has rank 2; factorizing at rank 2 gives it back.
        let b0 = [1.0, 0.5, -2.0, 1.0, 0.0, 3.0, 0.25, -1.0];
        let a0 = [1.0, 2.0, -1.0, 0.5, 0.0, 1.5];
        let w = delta_weight(&b0, &a0, 4, 2, 3, 1.0).unwrap(); // tall: rows 4 > cols 3
        let f = factorize_delta(&w, 4, 3, 2, 4.0).unwrap();
        assert!(max_abs_diff(&delta_weight(&f.b, &f.a, 4, 2, 3, 4.0).unwrap(), &w) < 1e-5);
        // The transpose (3 x 4, wide) goes through W Wᵀ instead.
        let wt: Vec<f32> = (0..3).flat_map(|j| (0..4).map(move |i| (i, j))).map(|(i, j)| w[i * 3 + j]).collect();
        let f = factorize_delta(&wt, 3, 4, 2, 1.0).unwrap();
        assert!(max_abs_diff(&delta_weight(&f.b, &f.a, 3, 2, 4, 1.0).unwrap(), &wt) < 1e-5);
        // A's rows are orthonormal.
        let dot = |p: usize, q: usize| (0..4).map(|j| f.a[p * 4 + j] * f.a[q * 4 + j]).sum::<f32>();
        assert!((dot(0, 0) - 1.0).abs() < 1e-5 && dot(0, 1).abs() < 1e-5);
    }

    #[test]
    fn rank_beyond_the_matrix_gives_zero_factors() {
        // ΔW = [[1, 1]] (rank 1), asked for rank 3: σ = [√2, 0, 0], extra columns/rows are 0.
        let f = factorize_delta(&[1.0, 1.0], 1, 2, 3, 1.0).unwrap();
        assert!((f.singular_values[0] - 2f64.sqrt()).abs() < 1e-9);
        assert_eq!(&f.singular_values[1..], &[0.0, 0.0]);
        assert_eq!(&f.b[1..], &[0.0, 0.0]);
        assert!(max_abs_diff(&delta_weight(&f.b, &f.a, 1, 3, 2, 1.0).unwrap(), &[1.0, 1.0]) < 1e-6);
        // Wide and rank-deficient: [[1, 2, 3], [2, 4, 6]] has rank 1; the second factor pair must
        // be zero, not a copy of the first.
        let w = [1.0, 2.0, 3.0, 2.0, 4.0, 6.0];
        let f = factorize_delta(&w, 2, 3, 2, 1.0).unwrap();
        assert!((f.singular_values[0] - 70f64.sqrt()).abs() < 1e-6 && f.singular_values[1] < 1e-6);
        assert!(f.a[3..].iter().all(|&x| x == 0.0));
        assert!(max_abs_diff(&delta_weight(&f.b, &f.a, 2, 2, 3, 1.0).unwrap(), &w) < 1e-5);
        // An all-zero ΔW gives all-zero factors.
        let f = factorize_delta(&[0.0; 6], 2, 3, 2, 1.0).unwrap();
        assert!(f.b.iter().chain(&f.a).all(|&x| x == 0.0));
    }

    #[test]
    fn randomized_path_recovers_a_low_rank_matrix() {
        // A rank-2 matrix 300 x 260 (beyond EXACT_MAX_DIM): B0 A0 with smooth entries.
        let (rows, cols) = (300, 260);
        let b0: Vec<f32> = (0..rows * 2).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let a0: Vec<f32> = (0..2 * cols).map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0).collect();
        let w = delta_weight(&b0, &a0, rows, 2, cols, 1.0).unwrap();
        let f = factorize_delta(&w, rows, cols, 2, 1.0).unwrap();
        let back = delta_weight(&f.b, &f.a, rows, 2, cols, 1.0).unwrap();
        assert!(max_abs_diff(&back, &w) < 1e-3, "{}", max_abs_diff(&back, &w));
    }

    #[test]
    fn bad_input() {
        assert_eq!(factorize_delta(&[1.0; 5], 2, 3, 1, 1.0), Err(MergeError::Shape { rows: 2, cols: 3, expected: 6, found: 5 }));
        assert!(matches!(factorize_delta(&[1.0; 6], 2, 3, 0, 1.0), Err(MergeError::Config { field: "rank", .. })));
        assert!(matches!(factorize_delta(&[1.0; 6], 2, 3, 1, 0.0), Err(MergeError::Config { field: "scaling", .. })));
        assert!(matches!(factorize_delta(&[1.0, f32::NAN], 1, 2, 1, 1.0), Err(MergeError::NotFinite { index: 1, .. })));
        assert!(matches!(delta_weight(&[1.0], &[1.0], 1, 2, 1, 1.0), Err(MergeError::Shape { .. })));
    }
}
