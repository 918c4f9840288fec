//! The RQ-VAE of RecBase §3.1 (Eqs. 1-3) in Burn: an MLP encoder maps an item embedding to a
//! latent, L codebook levels of K codes quantise it residual by residual (nearest code by squared
//! L2), the straight-through estimator carries the decoder's gradient past the quantiser, and an
//! MLP decoder reconstructs the embedding. CL-VAE (§3.2) is the same network trained with a
//! curriculum and re-initialisation (see `train.rs`); the losses live in `losses.rs`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor};

use super::ItemTokError;
use crate::backend::rowwise;

/// Shape of an RQ-VAE. The paper uses 4 levels of 2048 codes (RecBase §4.2).
#[derive(Config, Debug, PartialEq)]
pub struct RqVaeConfig {
    /// Length of the item embeddings (the text encoder's `dim`).
    pub input_dim: usize,
    /// Hidden widths of the encoder MLP; the decoder mirrors them.
    pub hidden_dims: Vec<usize>,
    /// Length of the latent and of every code.
    pub latent_dim: usize,
    /// Codebook levels L.
    #[config(default = 4)]
    pub levels: usize,
    /// Codes per level K.
    #[config(default = 256)]
    pub codebook_size: usize,
}

impl RqVaeConfig {
    /// The shape of the side-by-side benchmark (issue 8 item 9): 768-512-256-64, 4 x 256.
    pub fn bench_768() -> Self {
        Self::new(768, vec![512, 256], 64)
    }

    /// Rejects zero sizes, naming the field.
    pub fn validate(&self) -> Result<(), ItemTokError> {
        let fields = [
            ("input_dim", self.input_dim),
            ("latent_dim", self.latent_dim),
            ("levels", self.levels),
            ("codebook_size", self.codebook_size),
        ];
        if let Some((field, _)) = fields.iter().find(|(_, v)| *v == 0) {
            return Err(ItemTokError::config(field, "must be at least 1"));
        }
        if self.hidden_dims.contains(&0) {
            return Err(ItemTokError::config("hidden_dims", format!("{:?} has a zero width", self.hidden_dims)));
        }
        Ok(())
    }

    /// A fresh RQ-VAE: default Linear init, codes drawn from N(0, 1) (k-means replaces them
    /// before training, see `train.rs`).
    pub fn init<B: Backend>(&self, device: &B::Device) -> RqVae<B> {
        let mut widths = vec![self.input_dim];
        widths.extend(&self.hidden_dims);
        widths.push(self.latent_dim);
        let encoder = Mlp::new(&widths, device);
        widths.reverse();
        let decoder = Mlp::new(&widths, device);
        let codebooks = (0..self.levels)
            .map(|_| {
                Param::from_tensor(Tensor::random(
                    [self.codebook_size, self.latent_dim],
                    Distribution::Normal(0.0, 1.0),
                    device,
                ))
            })
            .collect();
        RqVae { encoder, decoder, codebooks }
    }
}

/// The encoder's and decoder's MLP.
pub type Mlp<B> = crate::nn::ReluMlp<B>;

/// The network: `encoder` (Eq. 1), `codebooks[l]` of shape `[K, latent_dim]` (Eq. 2), `decoder`.
#[derive(Module, Debug)]
pub struct RqVae<B: Backend> {
    pub encoder: Mlp<B>,
    pub decoder: Mlp<B>,
    pub codebooks: Vec<Param<Tensor<B, 2>>>,
}

/// One level's choice for a batch of residuals.
#[derive(Debug, Clone)]
pub struct LevelChoice<B: Backend> {
    /// `[B, K]` squared L2 distances of each residual to every code.
    pub distances: Tensor<B, 2>,
    /// `[B]` the nearest code (ties: the lower code).
    pub codes: Tensor<B, 1, Int>,
    /// `[B, D]` the chosen code vectors (gradient flows to the codebook).
    pub quantized: Tensor<B, 2>,
}

/// Everything one forward pass yields; the losses are computed from it in `losses.rs`.
#[derive(Debug, Clone)]
pub struct RqVaeOutput<B: Backend> {
    /// `[B, D]` the encoder's output z.
    pub latent: Tensor<B, 2>,
    /// `r_l` per active level, each `[B, D]` (`r_0 = z`).
    pub residuals: Vec<Tensor<B, 2>>,
    /// The choice at each active level.
    pub levels: Vec<LevelChoice<B>>,
    /// `[B, input_dim]` the decoder's reconstruction from the straight-through latent.
    pub reconstruction: Tensor<B, 2>,
}

impl<B: Backend> RqVae<B> {
    pub fn levels(&self) -> usize {
        self.codebooks.len()
    }

    pub fn codebook_size(&self) -> usize {
        self.codebooks[0].dims()[0]
    }

    pub fn latent_dim(&self) -> usize {
        self.codebooks[0].dims()[1]
    }

    /// Input width of the encoder.
    pub fn input_dim(&self) -> usize {
        self.encoder.layers[0].weight.dims()[0]
    }

    /// Encodes, quantises with the first `active_levels` levels and decodes.
    ///
    /// # Shapes
    /// `x: [B, input_dim]`; see [`RqVaeOutput`].
    pub fn forward(&self, x: Tensor<B, 2>, active_levels: usize) -> RqVaeOutput<B> {
        let [_, d_in] = x.dims();
        assert_eq!(d_in, self.input_dim(), "RQ-VAE input width {d_in}, encoder expects {}", self.input_dim());
        assert!(
            (1..=self.levels()).contains(&active_levels),
            "active levels {active_levels} not in 1..={}",
            self.levels()
        );
        let latent = self.encoder.forward(x); // [B, D]
        let (residuals, levels) = self.quantize(latent.clone(), active_levels);
        let quantized_sum =
            levels.iter().map(|l| l.quantized.clone()).reduce(|a, b| a + b).expect("active_levels >= 1");
        // Straight-through: the value of the quantised sum, the gradient of the latent.
        let straight_through = latent.clone() + (quantized_sum - latent.clone()).detach(); // [B, D]
        let reconstruction = self.decoder.forward(straight_through);
        RqVaeOutput { latent, residuals, levels, reconstruction }
    }

    /// Residual quantisation of `latent` through the first `levels` codebooks (Eqs. 2-3):
    /// `c_l = argmin_k ||r_l - e_(l,k)||²`, `r_(l+1) = r_l - sg(e_(l,c_l))`. Returns the residual
    /// entering each level and each level's choice.
    ///
    /// # Shapes
    /// `latent: [B, D]`
    pub fn quantize(&self, latent: Tensor<B, 2>, levels: usize) -> (Vec<Tensor<B, 2>>, Vec<LevelChoice<B>>) {
        let mut residual = latent;
        let mut residuals = Vec::with_capacity(levels);
        let mut choices = Vec::with_capacity(levels);
        for codebook in &self.codebooks[..levels] {
            let choice = nearest_code(residual.clone(), codebook.val());
            let next = residual.clone() - choice.quantized.clone().detach();
            residuals.push(residual);
            choices.push(choice);
            residual = next;
        }
        (residuals, choices)
    }

    /// Latents of `x` (no quantisation).
    ///
    /// # Shapes
    /// `x: [B, input_dim]` -> `[B, D]`
    pub fn encode(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.encoder.forward(x)
    }

    /// Replaces level `level`'s codes by `codes` (`[K, D]`), keeping the parameter id so the
    /// optimizer state stays attached.
    pub fn set_codebook(mut self, level: usize, codes: Tensor<B, 2>) -> Self {
        assert_eq!(codes.dims(), self.codebooks[level].dims(), "codebook {level} shape");
        let id = self.codebooks[level].id;
        self.codebooks[level] = Param::initialized(id, codes.require_grad());
        self
    }
}

/// The nearest code of each residual by squared L2 (ties: the lower code).
///
/// # Shapes
/// `residual: [B, D]`, `codebook: [K, D]`
pub fn nearest_code<B: Backend>(residual: Tensor<B, 2>, codebook: Tensor<B, 2>) -> LevelChoice<B> {
    let distances = rowwise::squared_distances(residual, codebook.clone()).unwrap_or_else(|(residual, codebook)| {
        // ||r - e||² = ||r||² - 2 r·e + ||e||²
        let r2 = residual.clone().powi_scalar(2).sum_dim(1); // [B, 1]
        let e2 = codebook.clone().powi_scalar(2).sum_dim(1).transpose(); // [1, K]
        let cross = residual.matmul(codebook.transpose()); // [B, K]
        (r2 + e2 - cross.mul_scalar(2.0)).clamp_min(0.0) // [B, K]
    });
    let codes = distances.clone().argmin(1).squeeze_dim::<1>(1); // [B]
    let quantized = codebook.select(0, codes.clone()); // [B, D]
    LevelChoice { distances, codes, quantized }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;
    use burn::backend::Autodiff;
    use burn::tensor::TensorData;

    type B = TestBackend;
    type A = Autodiff<TestBackend>;

    fn t2<Bk: Backend>(rows: &[&[f32]], device: &Bk::Device) -> Tensor<Bk, 2> {
        let (n, d) = (rows.len(), rows[0].len());
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [n, d]), device)
    }

    #[test]
    fn nearest_code_by_hand_matches_the_reference() {
        // Residual (3, 1) against codes (0, 0), (2, 0), (4, 4): distances 10, 2, 10 -> code 1.
        // Residual (0, 0) against the same: 0, 4, 32 -> code 0.
        let device = Default::default();
        let codebook = t2::<B>(&[&[0.0, 0.0], &[2.0, 0.0], &[4.0, 4.0]], &device);
        let choice = nearest_code(t2::<B>(&[&[3.0, 1.0], &[0.0, 0.0]], &device), codebook);
        assert_eq!(choice.codes.into_data().convert::<i64>().to_vec::<i64>().unwrap(), [1, 0]);
        let d = choice.distances.into_data().to_vec::<f32>().unwrap();
        assert_eq!(d, [10.0, 2.0, 10.0, 0.0, 4.0, 32.0]);
        assert_eq!(choice.quantized.into_data().to_vec::<f32>().unwrap(), [2.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn two_level_quantize_equals_the_plain_reference() {
        // The same two levels as `quantize.rs`'s hand test: (3, 1) -> codes [1, 2].
        let device = Default::default();
        let config = RqVaeConfig::new(2, vec![], 2).with_levels(2).with_codebook_size(3);
        let books: [&[&[f32]]; 2] =
            [&[&[0.0, 0.0], &[2.0, 0.0], &[4.0, 4.0]], &[&[1.0, 0.0], &[0.0, 1.0], &[1.0, 1.0]]];
        let mut model = config.init::<B>(&device);
        for (l, book) in books.iter().enumerate() {
            model = model.set_codebook(l, t2::<B>(book, &device));
        }
        let (residuals, choices) = model.quantize(t2::<B>(&[&[3.0, 1.0]], &device), 2);
        let codes: Vec<i64> =
            choices.iter().map(|c| c.codes.clone().into_data().convert::<i64>().to_vec::<i64>().unwrap()[0]).collect();
        assert_eq!(codes, [1, 2]);
        assert_eq!(residuals[1].clone().into_data().to_vec::<f32>().unwrap(), [1.0, 1.0]);
        let plain: Vec<Vec<Vec<f32>>> = books.iter().map(|b| b.iter().map(|r| r.to_vec()).collect()).collect();
        let reference = super::super::residual_quantize(&[3.0, 1.0], &plain).unwrap();
        assert_eq!(reference.codes, [1, 2]);
        let last = choices[1].distances.clone().into_data().to_vec::<f32>().unwrap();
        assert_eq!(last, reference.last_distances);
    }

    #[test]
    fn straight_through_passes_the_decoder_gradient_to_the_latent() {
        // Encoder = identity 1x1 (weight 1, bias 0), decoder = identity; one code 5.0.
        // x = 2: z = 2, quantised value 5, x_hat = 5 (the code's value), and with
        // loss = sum(x_hat) the STE gives d loss / d x = d z / d x = 1 (not 0).
        let device = Default::default();
        let config = RqVaeConfig::new(1, vec![], 1).with_levels(1).with_codebook_size(1);
        let mut model = config.init::<A>(&device);
        for mlp in [&mut model.encoder, &mut model.decoder] {
            let layer = &mut mlp.layers[0];
            layer.weight = Param::from_tensor(t2::<A>(&[&[1.0]], &device));
            layer.bias = Some(Param::from_tensor(Tensor::zeros([1], &device)));
        }
        let model = model.set_codebook(0, t2::<A>(&[&[5.0]], &device));
        let x = t2::<A>(&[&[2.0]], &device).require_grad();
        let out = model.forward(x.clone(), 1);
        assert_eq!(out.reconstruction.clone().into_data().to_vec::<f32>().unwrap(), [5.0]);
        let grads = out.reconstruction.sum().backward();
        assert_eq!(x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap(), [1.0]);
    }

    #[test]
    fn config_rejects_zero_sizes() {
        let err = RqVaeConfig::new(8, vec![4, 0], 2).validate().unwrap_err().to_string();
        assert!(err.contains("hidden_dims"), "{err}");
        let err = RqVaeConfig::new(8, vec![4], 2).with_levels(0).validate().unwrap_err().to_string();
        assert!(err.contains("levels"), "{err}");
        assert!(RqVaeConfig::bench_768().validate().is_ok());
    }
}
