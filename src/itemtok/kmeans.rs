//! k-means on rows of `f32` (Lloyd's algorithm with k-means++ seeding, Arthur & Vassilvitskii
//! 2007). CL-VAE initialises each codebook level with it and re-initialises a collapsed first
//! level with it (RecBase §3.2, DESIGN.md §8). Sums are accumulated in `f64`.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::ItemTokError;

/// Settings of one k-means run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KMeansConfig {
    /// Number of clusters.
    pub k: usize,
    /// Lloyd iterations at most (stops earlier once no assignment changes).
    #[serde(default = "KMeansConfig::default_max_iters")]
    pub max_iters: usize,
    /// Seeds the k-means++ draws.
    #[serde(default)]
    pub seed: u64,
}

impl KMeansConfig {
    pub fn new(k: usize, seed: u64) -> Self {
        Self { k, max_iters: Self::default_max_iters(), seed }
    }

    fn default_max_iters() -> usize {
        100
    }
}

/// The result of [`kmeans`].
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// `[k][dim]` cluster means.
    pub centroids: Vec<Vec<f32>>,
    /// Cluster of each row.
    pub assignments: Vec<usize>,
    /// Sum over rows of the squared distance to the assigned centroid.
    pub inertia: f64,
    /// Lloyd iterations run.
    pub iterations: usize,
}

/// Clusters `rows` into `config.k` groups.
///
/// Seeding is k-means++: the first centre is a uniformly drawn row, each next one a row drawn
/// with probability proportional to its squared distance to the nearest centre so far. Each Lloyd
/// iteration assigns every row to its nearest centroid (ties: its current one, else the lower
/// index), then moves each
/// centroid to its rows' mean; a cluster left empty is re-seeded with the row farthest from its
/// own centroid (taken from its cluster). Stops when an assignment pass changes nothing.
pub fn kmeans(rows: &[Vec<f32>], config: &KMeansConfig) -> Result<KMeans, ItemTokError> {
    let dim = check_rows(rows)?;
    let k = config.k;
    if k == 0 || k > rows.len() {
        return Err(ItemTokError::config("k", format!("must be in 1..={} (the number of rows), got {k}", rows.len())));
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut centroids = kmeans_plus_plus(rows, k, &mut rng);
    let mut assignments = vec![usize::MAX; rows.len()];
    let mut iterations = 0;
    while iterations < config.max_iters {
        iterations += 1;
        let mut changed = false;
        for (row, slot) in rows.iter().zip(assignments.iter_mut()) {
            let (best, best_d) = nearest(row, &centroids);
            // A tie with the current centroid keeps the row where it is (no ping-pong).
            let keep = *slot != usize::MAX && squared_distance(row, &centroids[*slot]) <= best_d;
            if !keep {
                changed |= *slot != best;
                *slot = best;
            }
        }
        if !changed {
            break;
        }
        centroids = update_centroids(rows, &mut assignments, &centroids, k, dim);
    }
    let inertia = rows.iter().zip(&assignments).map(|(row, &c)| squared_distance(row, &centroids[c])).sum();
    let centroids = centroids.into_iter().map(|c| c.into_iter().map(|v| v as f32).collect()).collect();
    Ok(KMeans { centroids, assignments, inertia, iterations })
}

/// Checks that `rows` is non-empty, rectangular and finite; returns the dimension.
pub(crate) fn check_rows(rows: &[Vec<f32>]) -> Result<usize, ItemTokError> {
    let dim = rows.first().map(Vec::len).ok_or_else(|| ItemTokError::Empty { what: "no rows to cluster".into() })?;
    for (r, row) in rows.iter().enumerate() {
        if row.len() != dim {
            return Err(ItemTokError::DimensionMismatch { row: r, expected: dim, found: row.len() });
        }
        if let Some(column) = row.iter().position(|v| !v.is_finite()) {
            return Err(ItemTokError::NotFinite { row: r, column });
        }
    }
    Ok(dim)
}

fn squared_distance(row: &[f32], centroid: &[f64]) -> f64 {
    row.iter().zip(centroid).map(|(&x, &c)| (f64::from(x) - c).powi(2)).sum()
}

/// Index of the nearest centroid (ties: the lowest index) and its squared distance.
fn nearest(row: &[f32], centroids: &[Vec<f64>]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (c, centroid) in centroids.iter().enumerate() {
        let d = squared_distance(row, centroid);
        if d < best.1 {
            best = (c, d);
        }
    }
    best
}

fn to_f64(row: &[f32]) -> Vec<f64> {
    row.iter().map(|&v| f64::from(v)).collect()
}

fn kmeans_plus_plus(rows: &[Vec<f32>], k: usize, rng: &mut StdRng) -> Vec<Vec<f64>> {
    let first = ((rng.random::<f64>() * rows.len() as f64) as usize).min(rows.len() - 1);
    let mut centroids = vec![to_f64(&rows[first])];
    let mut d2: Vec<f64> = rows.iter().map(|r| squared_distance(r, &centroids[0])).collect();
    while centroids.len() < k {
        let total: f64 = d2.iter().sum();
        let next = if total > 0.0 {
            // Inverse-CDF draw: the first row whose running sum of d² passes u * total.
            let target = rng.random::<f64>() * total;
            let mut acc = 0.0;
            d2.iter()
                .position(|&d| {
                    acc += d;
                    d > 0.0 && acc > target
                })
                // Rounding can leave `acc` a hair under `target`: take the last row with d² > 0.
                .unwrap_or_else(|| d2.iter().rposition(|&d| d > 0.0).expect("total > 0 means some d² > 0"))
        } else {
            // Every row sits on a centre already (duplicates): take rows in order.
            centroids.len()
        };
        let centre = to_f64(&rows[next]);
        for (d, row) in d2.iter_mut().zip(rows) {
            *d = d.min(squared_distance(row, &centre));
        }
        centroids.push(centre);
    }
    centroids
}

/// Means of the assigned rows; an empty cluster takes the row farthest from its own centroid
/// (that row's assignment moves to the empty cluster).
fn update_centroids(
    rows: &[Vec<f32>],
    assignments: &mut [usize],
    old: &[Vec<f64>],
    k: usize,
    dim: usize,
) -> Vec<Vec<f64>> {
    let mut counts = vec![0usize; k];
    for &c in assignments.iter() {
        counts[c] += 1;
    }
    for empty in 0..k {
        if counts[empty] > 0 {
            continue;
        }
        let far = (0..rows.len())
            .filter(|&r| counts[assignments[r]] > 1)
            .max_by(|&a, &b| {
                let da = squared_distance(&rows[a], &old[assignments[a]]);
                let db = squared_distance(&rows[b], &old[assignments[b]]);
                da.total_cmp(&db).then(b.cmp(&a))
            })
            .expect("k <= rows, so some cluster holds two rows while one is empty");
        counts[assignments[far]] -= 1;
        assignments[far] = empty;
        counts[empty] = 1;
    }
    let mut sums = vec![vec![0.0f64; dim]; k];
    for (row, &c) in rows.iter().zip(assignments.iter()) {
        for (s, &x) in sums[c].iter_mut().zip(row) {
            *s += f64::from(x);
        }
    }
    for (sum, &n) in sums.iter_mut().zip(&counts) {
        sum.iter_mut().for_each(|s| *s /= n as f64);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dimensional_case_by_hand() {
        // Rows 0, 1, 10, 11, 12 with k = 2: the clusters are {0, 1} and {10, 11, 12},
        // means 0.5 and 11; inertia = 0.25 + 0.25 + 1 + 0 + 1 = 2.5.
        let rows: Vec<Vec<f32>> = [0.0, 1.0, 10.0, 11.0, 12.0].iter().map(|&x| vec![x]).collect();
        let result = kmeans(&rows, &KMeansConfig::new(2, 3)).unwrap();
        let low = result.assignments[0];
        assert_eq!(result.assignments, [low, low, 1 - low, 1 - low, 1 - low]);
        assert_eq!(result.centroids[low], [0.5]);
        assert_eq!(result.centroids[1 - low], [11.0]);
        assert!((result.inertia - 2.5).abs() < 1e-12, "{}", result.inertia);
    }

    #[test]
    fn separable_blobs_are_recovered_for_every_seed() {
        // Three blobs of 4 points each around (0, 0), (10, 0) and (0, 10), radius 0.5.
        let offsets = [(0.5, 0.0), (-0.5, 0.0), (0.0, 0.5), (0.0, -0.5)];
        let centres = [(0.0f32, 0.0f32), (10.0, 0.0), (0.0, 10.0)];
        let rows: Vec<Vec<f32>> =
            centres.iter().flat_map(|&(cx, cy)| offsets.iter().map(move |&(dx, dy)| vec![cx + dx, cy + dy])).collect();
        for seed in 0..20 {
            let result = kmeans(&rows, &KMeansConfig::new(3, seed)).unwrap();
            for (blob, &(cx, cy)) in centres.iter().enumerate() {
                let label = result.assignments[blob * 4];
                assert!(result.assignments[blob * 4..blob * 4 + 4].iter().all(|&a| a == label), "seed {seed}");
                assert_eq!(result.centroids[label], [cx, cy], "seed {seed}");
            }
            // 12 points, each at distance 0.5 from its centre: 12 * 0.25 = 3.
            assert!((result.inertia - 3.0).abs() < 1e-9, "seed {seed}: {}", result.inertia);
        }
    }

    #[test]
    fn same_seed_same_result() {
        let rows: Vec<Vec<f32>> = (0..30).map(|i| vec![(i * 7 % 11) as f32, (i * 3 % 5) as f32]).collect();
        let config = KMeansConfig::new(4, 42);
        assert_eq!(kmeans(&rows, &config).unwrap(), kmeans(&rows, &config).unwrap());
    }

    #[test]
    fn duplicate_rows_still_give_k_clusters() {
        // Four copies of 1.0 and one 5.0, k = 3: seeding takes rows in order once d² is all 0,
        // and the empty cluster is re-seeded, so every cluster ends up with a row.
        let rows: Vec<Vec<f32>> = [1.0, 1.0, 1.0, 1.0, 5.0].iter().map(|&x| vec![x]).collect();
        let result = kmeans(&rows, &KMeansConfig::new(3, 0)).unwrap();
        assert_eq!(result.centroids.len(), 3);
        assert_eq!(result.inertia, 0.0);
    }

    #[test]
    fn bad_input_is_named() {
        let rows = vec![vec![1.0f32, 2.0], vec![3.0]];
        assert!(matches!(
            kmeans(&rows, &KMeansConfig::new(1, 0)),
            Err(ItemTokError::DimensionMismatch { row: 1, expected: 2, found: 1 })
        ));
        let rows = vec![vec![1.0f32], vec![f32::NAN]];
        assert!(matches!(kmeans(&rows, &KMeansConfig::new(1, 0)), Err(ItemTokError::NotFinite { row: 1, column: 0 })));
        assert!(matches!(kmeans(&rows[..1], &KMeansConfig::new(2, 0)), Err(ItemTokError::InvalidConfig { .. })));
        assert!(matches!(kmeans(&[], &KMeansConfig::new(1, 0)), Err(ItemTokError::Empty { .. })));
    }
}
