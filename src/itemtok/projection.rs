//! A 2-D PCA projection of item latents, for the picture of items coloured by domain (RecBase
//! Figure 2; issue 8 item 6: "PCA is enough"). Rows are centred, then projected on the top two
//! principal axes, found by the seeded randomised SVD of [`super::svd`].

use super::ItemTokError;
use super::kmeans::check_rows;
use super::svd::{SparseRow, SvdConfig, randomized_svd};

/// `[x, y]` of each row on the first two principal axes of `rows` (each axis's sign fixed as
/// in [`super::Svd`]). Needs at least two rows of dimension two or more.
pub fn pca_2d(rows: &[Vec<f32>], seed: u64) -> Result<Vec<[f32; 2]>, ItemTokError> {
    let dim = check_rows(rows)?;
    if rows.len() < 2 || dim < 2 {
        let message = format!("PCA to 2-D needs 2+ rows of 2+ values, found {} rows of {dim}", rows.len());
        return Err(ItemTokError::config("rows", message));
    }
    let n = rows.len() as f64;
    let mut mean = vec![0.0f64; dim];
    for row in rows {
        mean.iter_mut().zip(row).for_each(|(m, &x)| *m += f64::from(x) / n);
    }
    let centred: Vec<SparseRow> = rows
        .iter()
        .map(|row| row.iter().zip(&mean).enumerate().map(|(c, (&x, m))| (c as u32, f64::from(x) - m)).collect())
        .collect();
    let svd = randomized_svd(&centred, dim, &SvdConfig::new(2, seed))?;
    let project = |row: &SparseRow, axis: &[f64]| row.iter().map(|&(c, v)| v * axis[c as usize]).sum::<f64>() as f32;
    Ok(centred.iter().map(|row| [project(row, &svd.components[0]), project(row, &svd.components[1])]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_on_axes_by_hand() {
        // Points (±3, 0, 5) and (0, ±1, 5): mean (0, 0, 5); the widest spread is along x
        // (variance 18/4 vs 2/4), then y; z is constant. So the projection is (x, y) itself, up
        // to the sign rule (largest entry of each axis positive: +x, +y).
        let rows = vec![vec![3.0, 0.0, 5.0], vec![-3.0, 0.0, 5.0], vec![0.0, 1.0, 5.0], vec![0.0, -1.0, 5.0]];
        let points = pca_2d(&rows, 0).unwrap();
        let want = [[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]];
        for (got, want) in points.iter().zip(want) {
            assert!((got[0] - want[0]).abs() < 1e-6 && (got[1] - want[1]).abs() < 1e-6, "{points:?}");
        }
    }

    #[test]
    fn too_little_input_is_an_error() {
        assert!(matches!(pca_2d(&[vec![1.0, 2.0]], 0), Err(ItemTokError::InvalidConfig { .. })));
        assert!(matches!(pca_2d(&[vec![1.0], vec![2.0]], 0), Err(ItemTokError::InvalidConfig { .. })));
    }
}
