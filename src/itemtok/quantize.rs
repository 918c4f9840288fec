//! Residual quantisation on plain numbers (RecBase §3.1, Eqs. 2-3): at each level the residual
//! takes its nearest code by squared L2, and the code is subtracted to give the next residual.
//! This is the reference the Burn RQ-VAE is tested against, and it yields the last-level
//! distances that [`super::reassign_last_level`] needs to fix collisions.

use super::ItemTokError;

/// One latent quantised through every level.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// The code chosen at each level (ties: the lower code).
    pub codes: Vec<u32>,
    /// Squared L2 distance of the last level's residual to every code of the last codebook.
    pub last_distances: Vec<f32>,
    /// The residual left after the last level (`latent - sum of chosen codes`).
    pub residual: Vec<f32>,
}

/// Quantises `latent` with `codebooks[level][code][dim]`: `r_0 = latent`,
/// `c_l = argmin_k ||r_l - e_(l,k)||²`, `r_(l+1) = r_l - e_(l,c_l)`.
///
/// Errors on no codebooks, an empty codebook, or a code whose dimension differs from the
/// latent's (naming the level and code).
pub fn residual_quantize(latent: &[f32], codebooks: &[Vec<Vec<f32>>]) -> Result<Quantized, ItemTokError> {
    if codebooks.is_empty() {
        return Err(ItemTokError::Empty { what: "no codebook levels".into() });
    }
    let mut residual = latent.to_vec();
    let mut codes = Vec::with_capacity(codebooks.len());
    let mut last_distances = Vec::new();
    for (level, codebook) in codebooks.iter().enumerate() {
        if codebook.is_empty() {
            return Err(ItemTokError::Empty { what: format!("codebook level {level} has no codes") });
        }
        let mut distances = Vec::with_capacity(codebook.len());
        for (code, vector) in codebook.iter().enumerate() {
            if vector.len() != residual.len() {
                let message =
                    format!("level {level} code {code} has dimension {}, the latent {}", vector.len(), residual.len());
                return Err(ItemTokError::config("codebooks", message));
            }
            distances.push(residual.iter().zip(vector).map(|(r, e)| (r - e) * (r - e)).sum::<f32>());
        }
        let best = (0..distances.len()).min_by(|&a, &b| distances[a].total_cmp(&distances[b]).then(a.cmp(&b)));
        let best = best.expect("the codebook is non-empty");
        residual.iter_mut().zip(&codebook[best]).for_each(|(r, e)| *r -= e);
        codes.push(best as u32);
        last_distances = distances;
    }
    Ok(Quantized { codes, last_distances, residual })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_levels_by_hand() {
        // Latent (3, 1). Level 0 codes (0, 0), (2, 0), (4, 4): distances 10, 2, 10 -> code 1,
        // residual (1, 1). Level 1 codes (1, 0), (0, 1), (1, 1): distances 1, 1, 0 -> code 2,
        // residual (0, 0); the last distances are (1, 1, 0).
        let codebooks = vec![
            vec![vec![0.0, 0.0], vec![2.0, 0.0], vec![4.0, 4.0]],
            vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]],
        ];
        let q = residual_quantize(&[3.0, 1.0], &codebooks).unwrap();
        assert_eq!(q.codes, [1, 2]);
        assert_eq!(q.last_distances, [1.0, 1.0, 0.0]);
        assert_eq!(q.residual, [0.0, 0.0]);
    }

    #[test]
    fn ties_take_the_lower_code() {
        // (0, 0) is at distance 1 from both (1, 0) and (-1, 0).
        let q = residual_quantize(&[0.0, 0.0], &[vec![vec![1.0, 0.0], vec![-1.0, 0.0]]]).unwrap();
        assert_eq!(q.codes, [0]);
    }

    #[test]
    fn shape_errors_name_level_and_code() {
        let err = residual_quantize(&[1.0, 2.0], &[vec![vec![1.0, 2.0]], vec![vec![0.0, 0.0], vec![1.0]]]).unwrap_err();
        assert!(err.to_string().contains("level 1 code 1"), "{err}");
        assert!(matches!(residual_quantize(&[1.0], &[]), Err(ItemTokError::Empty { .. })));
        assert!(matches!(residual_quantize(&[1.0], &[vec![]]), Err(ItemTokError::Empty { .. })));
    }
}
