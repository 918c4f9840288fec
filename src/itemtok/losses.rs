//! The RQ-VAE / CL-VAE training loss (RecBase §3.2, Eqs. 4-7; DESIGN.md §8):
//! `w_recon * MSE(x_hat, x) + w_quant * mean_l [MSE(sg(r_l), e_l) + beta * MSE(r_l, sg(e_l))]
//! + w_entropy * mean_l (1 - H(p_l) / ln K)`, where `p_l` is the batch's mean soft assignment
//! `softmax(-d_l / (tau * mean(d_l)))` over level l's codes, so the usage term carries a gradient
//! (the official code's bincount does not). Dividing by the batch's mean distance (no gradient)
//! makes `tau` independent of the latents' scale.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;

use super::rqvae::RqVaeOutput;
use crate::backend::rowwise;

/// Weights and settings of the loss terms.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossWeights {
    /// Weight of the reconstruction MSE.
    #[serde(default = "one")]
    pub recon: f64,
    /// Weight of the codebook + commitment terms.
    #[serde(default = "one")]
    pub quant: f64,
    /// Commitment weight beta (VQ-VAE, van den Oord et al.; RecBase uses 0.25).
    #[serde(default = "quarter")]
    pub beta: f64,
    /// Weight of the usage-entropy term (0 switches it off).
    #[serde(default = "tenth")]
    pub entropy: f64,
    /// Temperature tau of the soft assignments `softmax(-d / (tau * mean(d)))`: relative to the
    /// batch's mean distance, so 0.1 is sharp (close to the hard assignment) at any scale.
    #[serde(default = "one")]
    pub temperature: f64,
}

fn one() -> f64 {
    1.0
}
fn quarter() -> f64 {
    0.25
}
fn tenth() -> f64 {
    0.1
}

impl Default for LossWeights {
    fn default() -> Self {
        Self { recon: 1.0, quant: 1.0, beta: quarter(), entropy: tenth(), temperature: 1.0 }
    }
}

/// The loss terms of one batch, each a scalar tensor (`[1]`).
#[derive(Debug, Clone)]
pub struct RqVaeLosses<B: Backend> {
    pub total: Tensor<B, 1>,
    pub recon: Tensor<B, 1>,
    /// `mean_l MSE(sg(r_l), e_l)`: moves codes towards residuals.
    pub codebook: Tensor<B, 1>,
    /// `mean_l MSE(r_l, sg(e_l))`: keeps the encoder committed to its codes.
    pub commitment: Tensor<B, 1>,
    /// `mean_l (1 - H(p_l) / ln K)`, in [0, 1]: 0 when the batch spreads evenly over all codes.
    pub entropy: Tensor<B, 1>,
}

/// The loss of `out` for the inputs `x`.
///
/// # Shapes
/// `x: [B, input_dim]`
pub fn rqvae_losses<B: Backend>(out: &RqVaeOutput<B>, x: Tensor<B, 2>, weights: &LossWeights) -> RqVaeLosses<B> {
    let levels = out.levels.len() as f64;
    let recon = mse(out.reconstruction.clone(), x);
    let mut codebook = Vec::with_capacity(out.levels.len());
    let mut commitment = Vec::with_capacity(out.levels.len());
    let mut entropy = Vec::with_capacity(out.levels.len());
    for (residual, level) in out.residuals.iter().zip(&out.levels) {
        codebook.push(mse(residual.clone().detach(), level.quantized.clone()));
        commitment.push(mse(residual.clone(), level.quantized.clone().detach()));
        entropy.push(usage_entropy_gap(level.distances.clone(), weights.temperature));
    }
    let mean = |terms: Vec<Tensor<B, 1>>| Tensor::cat(terms, 0).sum().div_scalar(levels);
    let (codebook, commitment, entropy) = (mean(codebook), mean(commitment), mean(entropy));
    let total = recon.clone().mul_scalar(weights.recon)
        + (codebook.clone() + commitment.clone().mul_scalar(weights.beta)).mul_scalar(weights.quant)
        + entropy.clone().mul_scalar(weights.entropy);
    RqVaeLosses { total, recon, codebook, commitment, entropy }
}

/// `mean((a - b)²)`, fused on the CPU backends.
///
/// # Shapes
/// `a, b: [N, D]` -> `[1]`
fn mse<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 1> {
    rowwise::mse(a, b).unwrap_or_else(|(a, b)| (a - b).powi_scalar(2).mean())
}

/// `1 - H(p) / ln K` of the batch's mean soft assignment `p = mean_b softmax(-d_b / (tau * m))`,
/// `m` the mean of all distances of the batch (a constant for the gradient).
///
/// # Shapes
/// `distances: [B, K]` -> `[1]`
pub fn usage_entropy_gap<B: Backend>(distances: Tensor<B, 2>, temperature: f64) -> Tensor<B, 1> {
    let [_, k] = distances.dims();
    if k < 2 {
        return Tensor::zeros([1], &distances.device());
    }
    let scale = distances.clone().mean().detach().clamp_min(1e-12).mul_scalar(temperature); // [1]
    let logits = -distances / scale.unsqueeze_dim::<2>(0); // [B, K]
    let soft = rowwise::softmax(logits).unwrap_or_else(|logits| softmax(logits, 1)); // [B, K]
    let usage = soft.mean_dim(0); // [1, K]
    // p ln p with p = 0 taken as 0: clamp inside the log only.
    let entropy = -(usage.clone() * usage.clamp_min(1e-12).log()).sum(); // [1]
    entropy.div_scalar(-(k as f64).ln()).add_scalar(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;
    use crate::itemtok::rqvae::RqVaeConfig;
    use burn::module::Param;
    use burn::tensor::TensorData;

    type B = TestBackend;

    fn scalar(t: Tensor<B, 1>) -> f64 {
        f64::from(t.into_scalar())
    }

    #[test]
    fn entropy_gap_by_hand() {
        // Equal distances -> soft assignment uniform over K = 4 -> H = ln 4, gap 0.
        let device = Default::default();
        let flat = Tensor::<B, 2>::zeros([3, 4], &device);
        assert!(scalar(usage_entropy_gap(flat, 1.0)).abs() < 1e-6);
        // Two rows, K = 2, distances (0, ln 3) and (ln 3, 0): mean distance m = ln 3 / 2, so at
        // tau = 1 the rows become (0, 2) and (2, 0); softmax rows are mirror images and their
        // mean is (1/2, 1/2) -> gap 0. One row (0, ln 3): (0, 2) -> p = (1, e^-2) / (1 + e^-2)
        // = (0.880797, 0.119203), H = 0.365334, gap = 1 - H / ln 2 = 0.472935.
        let l3 = 3f32.ln();
        let two = Tensor::<B, 2>::from_data(TensorData::new(vec![0.0, l3, l3, 0.0], [2, 2]), &device);
        assert!(scalar(usage_entropy_gap(two, 1.0)).abs() < 1e-6);
        let one = Tensor::<B, 2>::from_data(TensorData::new(vec![0.0, l3], [1, 2]), &device);
        assert!((scalar(usage_entropy_gap(one, 1.0)) - 0.472935).abs() < 1e-5);
    }

    #[test]
    fn losses_on_a_tiny_case_by_hand() {
        // input 1 -> latent 1 (identity encoder and decoder, no hidden layer), one level of two
        // codes (0, 10). x = (1, 3): z = (1, 3), both nearest to code 0, quantised (0, 0),
        // x_hat = (0, 0). recon = (1 + 9) / 2 = 5; codebook = commitment = (1 + 9) / 2 = 5;
        // distances rows (1, 81), (9, 49), mean 35: at tau = 1 the soft rows are
        // softmax(-(1, 81) / 35) = (0.908, 0.092) and softmax(-(9, 49) / 35) = (0.758, 0.242),
        // p = (0.833, 0.167), gap = 1 - H(p) / ln 2 = 0.349078.
        // total = 5 + (5 + 0.25 * 5) + 0.1 * 0.349078 = 11.284908.
        let device = Default::default();
        let mut model = RqVaeConfig::new(1, vec![], 1).with_levels(1).with_codebook_size(2).init::<B>(&device);
        for mlp in [&mut model.encoder, &mut model.decoder] {
            mlp.layers[0].weight = Param::from_tensor(Tensor::ones([1, 1], &device));
            mlp.layers[0].bias = Some(Param::from_tensor(Tensor::zeros([1], &device)));
        }
        let model = model.set_codebook(0, Tensor::from_data(TensorData::new(vec![0.0f32, 10.0], [2, 1]), &device));
        let x = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 3.0], [2, 1]), &device);
        let out = model.forward(x.clone(), 1);
        let losses = rqvae_losses(&out, x, &LossWeights::default());
        assert!((scalar(losses.recon) - 5.0).abs() < 1e-6);
        assert!((scalar(losses.codebook) - 5.0).abs() < 1e-6);
        assert!((scalar(losses.commitment) - 5.0).abs() < 1e-6);
        assert!((scalar(losses.entropy) - 0.349078).abs() < 1e-5);
        assert!((scalar(losses.total) - 11.284908).abs() < 1e-4);
    }
}
