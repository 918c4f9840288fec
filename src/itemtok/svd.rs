//! Seeded randomised truncated SVD of a sparse matrix (Halko, Martinsson & Tropp 2011, Alg. 4.4
//! with 5.1): Gaussian range sketch, power iterations re-orthonormalised by modified Gram-Schmidt,
//! then the exact SVD of the small projected matrix through a cyclic Jacobi eigen-decomposition.
//! It is the "truncated SVD" of the embedded TF-IDF text encoder (issue 8 item 2). Plain `f64`.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::ItemTokError;

/// A sparse row: `(column, value)` pairs, columns distinct.
pub type SparseRow = Vec<(u32, f64)>;

/// Settings of [`randomized_svd`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SvdConfig {
    /// Components kept.
    pub dim: usize,
    /// Extra sketch columns beyond `dim` (Halko's p; sklearn uses 10).
    #[serde(default = "SvdConfig::default_oversample")]
    pub oversample: usize,
    /// Power iterations (Halko's q; sklearn uses 4 or 7).
    #[serde(default = "SvdConfig::default_power_iters")]
    pub power_iters: usize,
    /// Seeds the Gaussian sketch.
    #[serde(default)]
    pub seed: u64,
}

impl SvdConfig {
    pub fn new(dim: usize, seed: u64) -> Self {
        Self { dim, oversample: Self::default_oversample(), power_iters: Self::default_power_iters(), seed }
    }

    fn default_oversample() -> usize {
        10
    }

    fn default_power_iters() -> usize {
        4
    }
}

/// The top right singular triplets of a matrix: `X ≈ U diag(s) Vᵀ`, U left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Svd {
    /// `s`, descending.
    pub singular_values: Vec<f64>,
    /// `Vᵀ`: `[dim][n_cols]`, orthonormal rows; each row's largest-magnitude entry is positive
    /// (the first one on near-ties), which fixes the sign.
    pub components: Vec<Vec<f64>>,
}

/// A dense row-major matrix, only for the tall-and-thin sketches here.
struct Dense {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Dense {
    fn zeros(rows: usize, cols: usize) -> Self {
        Self { rows, cols, data: vec![0.0; rows * cols] }
    }

    fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    fn row_mut(&mut self, r: usize) -> &mut [f64] {
        &mut self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// The top `config.dim` singular values and right singular vectors of the `rows.len() x n_cols`
/// sparse matrix `X`.
///
/// Sketch width `l = min(dim + oversample, rows, n_cols)`; with `Ω ~ N(0, 1)^(n_cols x l)`:
/// `Q = orth(X Ω)`, then `power_iters` times `Q = orth(X orth(Xᵀ Q))`; finally `Z = Xᵀ Q`
/// (`= Bᵀ` for `B = Qᵀ X`), `Zᵀ Z = W Λ Wᵀ` (Jacobi), `s = sqrt(Λ)`, `Vᵀ = (Z W)ᵀ / s`. A
/// component whose singular value is 0 (rank below `dim`) is a zero row.
pub fn randomized_svd(rows: &[SparseRow], n_cols: usize, config: &SvdConfig) -> Result<Svd, ItemTokError> {
    check_sparse(rows, n_cols)?;
    let bound = rows.len().min(n_cols);
    if config.dim == 0 || config.dim > bound {
        let message = format!("must be in 1..={bound} (min of {} rows, {n_cols} columns)", rows.len());
        return Err(ItemTokError::config("dim", message));
    }
    let width = (config.dim + config.oversample).min(bound);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut omega = Dense::zeros(n_cols, width);
    omega.data.iter_mut().for_each(|v| *v = gaussian(&mut rng));

    let mut q = orthonormalize(times(rows, &omega));
    for _ in 0..config.power_iters {
        let z = orthonormalize(transpose_times(rows, &q, n_cols));
        q = orthonormalize(times(rows, &z));
    }
    let z = transpose_times(rows, &q, n_cols); // [n_cols, l] = Bᵀ
    let mut gram = vec![vec![0.0; width]; width]; // Zᵀ Z = B Bᵀ
    for r in 0..z.rows {
        let row = z.row(r);
        for (a, g) in gram.iter_mut().enumerate() {
            for (b, cell) in g.iter_mut().enumerate() {
                *cell += row[a] * row[b];
            }
        }
    }
    let (values, vectors) = jacobi_eigen(&gram);
    let mut singular_values = Vec::with_capacity(config.dim);
    let mut components = Vec::with_capacity(config.dim);
    for (lambda, w) in values.iter().zip(&vectors).take(config.dim) {
        let s = lambda.max(0.0).sqrt();
        let mut v: Vec<f64> = (0..n_cols).map(|r| z.row(r).iter().zip(w).map(|(a, b)| a * b).sum()).collect();
        if s > f64::EPSILON * values[0].abs().sqrt().max(1.0) * 1e3 {
            v.iter_mut().for_each(|x| *x /= s);
            flip_sign(&mut v);
        } else {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
        singular_values.push(s);
        components.push(v);
    }
    Ok(Svd { singular_values, components })
}

/// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: eigenvalues
/// descending, `vectors[i]` the unit eigenvector of `values[i]`.
pub fn jacobi_eigen(matrix: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = matrix.len();
    let mut a = matrix.to_vec();
    let mut v: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect()).collect();
    let scale: f64 = a.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off.sqrt() <= 1e-15 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q] == 0.0 {
                    continue;
                }
                // Rotation angle that zeroes a[p][q] (Golub & Van Loan §8.5.2).
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A <- Jᵀ A J: columns p, q, then rows p, q; V <- V J.
                for row in a.iter_mut().chain(v.iter_mut()) {
                    let (kp, kq) = (row[p], row[q]);
                    row[p] = c * kp - s * kq;
                    row[q] = s * kp + c * kq;
                }
                let (head, tail) = a.split_at_mut(q);
                for (pk, qk) in head[p].iter_mut().zip(tail[0].iter_mut()) {
                    let (x, y) = (*pk, *qk);
                    *pk = c * x - s * y;
                    *qk = s * x + c * y;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]).then(i.cmp(&j)));
    let values = order.iter().map(|&i| a[i][i]).collect();
    let vectors = order.iter().map(|&i| v.iter().map(|row| row[i]).collect()).collect();
    (values, vectors)
}

/// Checks column bounds and finiteness of sparse rows.
pub(crate) fn check_sparse(rows: &[SparseRow], n_cols: usize) -> Result<(), ItemTokError> {
    if rows.is_empty() {
        return Err(ItemTokError::Empty { what: "no rows to decompose".into() });
    }
    for (r, row) in rows.iter().enumerate() {
        for &(column, value) in row {
            if column as usize >= n_cols {
                return Err(ItemTokError::DimensionMismatch { row: r, expected: n_cols, found: column as usize + 1 });
            }
            if !value.is_finite() {
                return Err(ItemTokError::NotFinite { row: r, column: column as usize });
            }
        }
    }
    Ok(())
}

/// Standard normal draw (Box-Muller).
fn gaussian(rng: &mut StdRng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `X M` for sparse `X` `[n, d]` and dense `M` `[d, l]`.
fn times(x: &[SparseRow], m: &Dense) -> Dense {
    let mut out = Dense::zeros(x.len(), m.cols);
    for (r, row) in x.iter().enumerate() {
        let target = out.row_mut(r);
        for &(c, value) in row {
            target.iter_mut().zip(m.row(c as usize)).for_each(|(t, &b)| *t += value * b);
        }
    }
    out
}

/// `Xᵀ M` for sparse `X` `[n, d]` and dense `M` `[n, l]`.
fn transpose_times(x: &[SparseRow], m: &Dense, n_cols: usize) -> Dense {
    let mut out = Dense::zeros(n_cols, m.cols);
    for (r, row) in x.iter().enumerate() {
        let source = m.row(r);
        for &(c, value) in row {
            out.row_mut(c as usize).iter_mut().zip(source).for_each(|(t, &b)| *t += value * b);
        }
    }
    out
}

/// Orthonormal columns spanning those of `m` (modified Gram-Schmidt, two passes for stability);
/// a column dependent on the previous ones becomes zero. Works on contiguous column copies.
fn orthonormalize(mut m: Dense) -> Dense {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut columns: Vec<Vec<f64>> =
        (0..m.cols).map(|j| (0..m.rows).map(|r| m.data[r * m.cols + j]).collect()).collect();
    for j in 0..columns.len() {
        let (done, rest) = columns.split_at_mut(j);
        let column = &mut rest[0];
        let norm0 = dot(column, column).sqrt();
        for _pass in 0..2 {
            for previous in done.iter() {
                let r = dot(previous, column);
                column.iter_mut().zip(previous).for_each(|(x, p)| *x -= r * p);
            }
        }
        let norm = dot(column, column).sqrt();
        let keep = norm > 1e-10 * norm0.max(f64::MIN_POSITIVE);
        column.iter_mut().for_each(|x| *x = if keep { *x / norm } else { 0.0 });
    }
    for (j, column) in columns.iter().enumerate() {
        for (r, &x) in column.iter().enumerate() {
            m.data[r * m.cols + j] = x;
        }
    }
    m
}

/// Makes the largest-magnitude entry positive; entries within a relative 1e-9 of the largest
/// count as ties, and the first of them decides (so rounding noise cannot flip the sign).
fn flip_sign(v: &mut [f64]) {
    let largest = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let decider = v.iter().find(|x| x.abs() >= largest * (1.0 - 1e-9)).copied();
    if decider.is_some_and(|x| x < 0.0) {
        v.iter_mut().for_each(|x| *x = -*x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < tol)
    }

    #[test]
    fn jacobi_two_by_two() {
        // [[2, 1], [1, 2]]: eigenvalues 3 and 1, vectors (1, 1)/√2 and (1, -1)/√2 (up to sign).
        let (values, vectors) = jacobi_eigen(&[vec![2.0, 1.0], vec![1.0, 2.0]]);
        assert!(close(&values, &[3.0, 1.0], 1e-12), "{values:?}");
        let h = 0.5f64.sqrt();
        assert!((vectors[0][0] * vectors[0][1] - h * h).abs() < 1e-12);
        assert!((vectors[1][0] * vectors[1][1] + h * h).abs() < 1e-12);
    }

    #[test]
    fn svd_of_a_known_matrix() {
        // A = [[2, 0], [1, 1], [0, 2]]: AᵀA = [[5, 1], [1, 5]], eigenvalues 6 and 4, so
        // s = (√6, 2); V = [(1, 1)/√2, (1, -1)/√2] (sign: first entry of the tie made positive).
        let rows: Vec<SparseRow> = vec![vec![(0, 2.0)], vec![(0, 1.0), (1, 1.0)], vec![(1, 2.0)]];
        let svd = randomized_svd(&rows, 2, &SvdConfig::new(2, 7)).unwrap();
        assert!(close(&svd.singular_values, &[6f64.sqrt(), 2.0], 1e-10), "{:?}", svd.singular_values);
        let h = 0.5f64.sqrt();
        assert!(close(&svd.components[0], &[h, h], 1e-10), "{:?}", svd.components);
        assert!(close(&svd.components[1], &[h, -h], 1e-10), "{:?}", svd.components);
    }

    #[test]
    fn truncation_keeps_the_top_singular_vectors() {
        // diag(1, 5, 3) as 3 sparse rows, dim 2: s = (5, 3), V = (e2, e3).
        let rows: Vec<SparseRow> = vec![vec![(0, 1.0)], vec![(1, 5.0)], vec![(2, 3.0)]];
        let svd = randomized_svd(&rows, 3, &SvdConfig::new(2, 1)).unwrap();
        assert!(close(&svd.singular_values, &[5.0, 3.0], 1e-10));
        assert!(close(&svd.components[0], &[0.0, 1.0, 0.0], 1e-10));
        assert!(close(&svd.components[1], &[0.0, 0.0, 1.0], 1e-10));
    }

    #[test]
    fn rank_deficient_matrix_gives_zero_components() {
        // Two equal rows (1, 1): rank 1, s = (2, 0) (s1 = |(1,1)| * √2 = 2).
        let rows: Vec<SparseRow> = vec![vec![(0, 1.0), (1, 1.0)], vec![(0, 1.0), (1, 1.0)]];
        let svd = randomized_svd(&rows, 2, &SvdConfig::new(2, 0)).unwrap();
        assert!((svd.singular_values[0] - 2.0).abs() < 1e-10 && svd.singular_values[1].abs() < 1e-6);
        assert_eq!(svd.components[1], [0.0, 0.0]);
    }

    #[test]
    fn same_seed_same_result_and_bad_input_named() {
        let rows: Vec<SparseRow> = (0..12)
            .map(|i| (0..8u32).filter(|c| (i + c) % 3 != 0).map(|c| (c, f64::from(c) + i as f64)).collect())
            .collect();
        let config = SvdConfig { dim: 3, oversample: 2, power_iters: 2, seed: 5 };
        assert_eq!(randomized_svd(&rows, 8, &config).unwrap(), randomized_svd(&rows, 8, &config).unwrap());
        assert!(matches!(randomized_svd(&rows, 8, &SvdConfig::new(9, 0)), Err(ItemTokError::InvalidConfig { .. })));
        assert!(matches!(randomized_svd(&rows, 4, &config), Err(ItemTokError::DimensionMismatch { .. })));
        assert!(matches!(randomized_svd(&[], 4, &config), Err(ItemTokError::Empty { .. })));
    }
}
