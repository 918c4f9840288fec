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
            if i == last {
                return crate::backend::linear::apply(layer, h);
            }
            let (weight, bias) = (layer.weight.val(), layer.bias.as_ref().map(|b| b.val()));
            crate::backend::linear::linear_relu(h, weight, bias).unwrap_or_else(|(h, ..)| relu(layer.forward(h)))
        })
    }
}

/// The ids of a module's float parameters in visiting order. Optimizer state is keyed by them
/// and safetensors does not keep them, so a checkpoint stores them beside the weights.
pub fn param_ids<B: Backend, M: Module<B>>(module: &M) -> Vec<u64> {
    struct Ids(Vec<u64>);
    impl<B: Backend> burn::module::ModuleVisitor<B> for Ids {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
            self.0.push(param.id.val());
        }
    }
    let mut ids = Ids(Vec::new());
    module.visit(&mut ids);
    ids.0
}

/// Gives the float parameters the ids `ids` (from [`param_ids`]) in visiting order, so a saved
/// optimizer state applies to a module loaded from safetensors. `None` when the counts differ.
pub fn set_param_ids<B: Backend, M: Module<B>>(module: M, ids: &[u64]) -> Option<M> {
    if param_ids::<B, M>(&module).len() != ids.len() {
        return None;
    }
    struct SetIds<'a>(std::slice::Iter<'a, u64>);
    impl<B: Backend> burn::module::ModuleMapper<B> for SetIds<'_> {
        fn map_float<const D: usize>(&mut self, param: burn::module::Param<Tensor<B, D>>) -> burn::module::Param<Tensor<B, D>> {
            let (_, tensor, mapper) = param.consume();
            let id = burn::module::ParamId::from(*self.0.next().expect("counts checked above"));
            burn::module::Param::from_mapped_value(id, tensor, mapper)
        }
    }
    Some(module.map(&mut SetIds(ids.iter())))
}
