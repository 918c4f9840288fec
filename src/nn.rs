//! Small building blocks shared across models.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Tensor, backend::Backend};

/// `Linear` layers with ReLU between them (none after the last): TMoLE's router and the
/// RQ-VAE's encoder and decoder.
#[derive(Module, Debug)]
pub struct ReluMlp<B: Backend> {
    pub layers: Vec<Linear<B>>,
}

impl<B: Backend> ReluMlp<B> {
    /// Layer widths `[in, hidden..., out]` (at least two).
    pub fn new(widths: &[usize], device: &B::Device) -> Self {
        let layers = widths.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect();
        Self { layers }
    }

    /// # Shapes
    /// - x: `[B, widths[0]]` -> `[B, widths[last]]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            let h = layer.forward(h);
            if i < last { relu(h) } else { h }
        })
    }
}
