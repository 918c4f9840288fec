//! Assigning semantic ids with a trained RQ-VAE (RecBase §3.1): every item embedding is encoded
//! and residual-quantised through all levels, in batches, without gradients. Besides the codes
//! it keeps what the collision fix and the reports need: the last level's distances and the
//! latents (for the PCA picture).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::ItemTokError;
use super::kmeans::check_rows;
use super::rqvae::RqVae;
use super::train::to_rows;

/// Codes and side information of a set of items, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    /// `[item][level]` codes as the codebooks give them (collisions not yet fixed).
    pub codes: Vec<Vec<u32>>,
    /// `[item][code]` squared distance of the last residual to every last-level code.
    pub last_distances: Vec<Vec<f32>>,
    /// `[item][dim]` the encoder's latents.
    pub latents: Vec<Vec<f32>>,
    /// Per level, the mean over items of `||r_l||` (L2), the residual entering the level
    /// (`r_0` = the latent): how much is left for the level to encode.
    pub residual_norms: Vec<f64>,
}

/// Encodes `rows` (item embeddings) in batches of `batch_size`. Errors on no rows, ragged or
/// non-finite rows, or rows whose width is not the encoder's input width.
pub fn assign_codes<B: Backend>(
    model: &RqVae<B>,
    rows: &[Vec<f32>],
    batch_size: usize,
    device: &B::Device,
) -> Result<Assigned, ItemTokError> {
    let dim = check_rows(rows)?;
    if dim != model.input_dim() {
        return Err(ItemTokError::DimensionMismatch { row: 0, expected: model.input_dim(), found: dim });
    }
    let levels = model.levels();
    let mut out = Assigned {
        codes: Vec::new(),
        last_distances: Vec::new(),
        latents: Vec::new(),
        residual_norms: vec![0.0; levels],
    };
    for chunk in rows.chunks(batch_size.max(1)) {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let x = Tensor::<B, 2>::from_data(TensorData::new(flat, [chunk.len(), dim]), device);
        let latent = model.encode(x); // [B, D]
        let (residuals, choices) = model.quantize(latent.clone(), levels);
        let norms: Vec<Tensor<B, 1>> =
            residuals.into_iter().map(|r| r.powi_scalar(2).sum_dim(1).sqrt().sum()).collect();
        let norms = Tensor::cat(norms, 0).into_data().convert::<f64>().to_vec::<f64>().expect("f64 after convert");
        for (total, norm) in out.residual_norms.iter_mut().zip(norms) {
            *total += norm / rows.len() as f64;
        }
        let last = choices.last().expect("at least one level").distances.clone(); // [B, K]
        let codes: Vec<Tensor<B, 2, Int>> = choices.into_iter().map(|c| c.codes.unsqueeze_dim(1)).collect();
        let codes = Tensor::cat(codes, 1); // [B, L]
        let codes = codes.into_data().convert::<i64>().to_vec::<i64>().expect("i64 after convert");
        out.codes.extend(codes.chunks(levels).map(|c| c.iter().map(|&v| v as u32).collect::<Vec<u32>>()));
        out.last_distances.extend(to_rows(last));
        out.latents.extend(to_rows(latent));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;
    use crate::itemtok::residual_quantize;
    use crate::itemtok::rqvae::RqVaeConfig;

    type B = TestBackend;

    #[test]
    fn matches_the_plain_reference_and_is_deterministic() {
        let device = Default::default();
        let model = RqVaeConfig::new(5, vec![7], 3).with_levels(3).with_codebook_size(4).init::<B>(&device);
        let rows: Vec<Vec<f32>> = (0..9).map(|i| (0..5).map(|j| ((i * 5 + j) % 7) as f32 - 3.0).collect()).collect();
        let a = assign_codes(&model, &rows, 4, &device).unwrap();
        let b = assign_codes(&model, &rows, 9, &device).unwrap();
        assert_eq!((&a.codes, &a.last_distances, &a.latents), (&b.codes, &b.last_distances, &b.latents), "batching");
        let books: Vec<Vec<Vec<f32>>> = model.codebooks.iter().map(|c| to_rows(c.val())).collect();
        for (i, latent) in a.latents.iter().enumerate() {
            let reference = residual_quantize(latent, &books).unwrap();
            let norm: f32 = latent.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!(norm.is_finite());
            assert_eq!(a.codes[i], reference.codes, "item {i}");
            for (x, y) in a.last_distances[i].iter().zip(&reference.last_distances) {
                assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()), "item {i}: {x} vs {y}");
            }
        }
        // Level 0's mean residual norm is the mean latent norm.
        let mean_norm: f64 =
            a.latents.iter().map(|l| f64::from(l.iter().map(|v| v * v).sum::<f32>().sqrt())).sum::<f64>() / 9.0;
        assert!((a.residual_norms[0] - mean_norm).abs() < 1e-4 * (1.0 + mean_norm), "{:?}", a.residual_norms);
        let err = assign_codes(&model, &[vec![1.0; 4]], 4, &device).unwrap_err();
        assert!(matches!(err, ItemTokError::DimensionMismatch { expected: 5, found: 4, .. }), "{err}");
    }
}
