//! AdamW for every training loop in recfound (RecFound adapters, the RQ-VAE, the RecBase
//! decoder): Burn's AdamW, with the whole update fused into one parallel pass on flex
//! ([`crate::backend::adamw`]). The state is Burn's own `AdamWState`, so optimizer checkpoints
//! keep their format, and Burn's AdamW runs the update wherever the fused path does not apply.

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, SimpleOptimizer};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::backend;
use crate::kernels::adamw::AdamWStep;

/// AdamW's settings; the defaults are Burn's (`AdamWConfig::new()`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWSettings {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// Decoupled weight decay (per unit of learning rate).
    pub weight_decay: f32,
    /// Clip the gradients to this global norm first (`None`: no clipping).
    pub grad_clip_norm: Option<f32>,
}

impl Default for AdamWSettings {
    fn default() -> Self {
        Self { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-5, weight_decay: 1e-4, grad_clip_norm: None }
    }
}

impl AdamWSettings {
    pub fn with_weight_decay(self, weight_decay: f32) -> Self {
        Self { weight_decay, ..self }
    }

    /// The optimizer over the parameters of a module `M`.
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(&self) -> Optimizer<M, B> {
        let reference = AdamWConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_weight_decay(self.weight_decay)
            .build();
        let optim = OptimizerAdaptor::from(FusedAdamW { settings: *self, reference });
        match self.grad_clip_norm {
            Some(norm) => optim.with_grad_clipping(GradientClippingConfig::Norm(norm).init()),
            None => optim,
        }
    }
}

/// The optimizer type of a module `M`.
pub type Optimizer<M, B> = OptimizerAdaptor<FusedAdamW, M, B>;

/// AdamW whose update is one fused pass where the backend allows it.
#[derive(Clone)]
pub struct FusedAdamW {
    settings: AdamWSettings,
    /// Burn's AdamW with the same settings: the update on every other backend.
    reference: AdamW,
}

impl<B: Backend> SimpleOptimizer<B> for FusedAdamW {
    type State<const D: usize> = AdamWState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        // AMSGrad states (never written by this optimizer) go to Burn's AdamW as they are.
        if state.as_ref().is_some_and(|s| s.momentum.max_moment_2.is_some()) {
            return self.reference.step(lr, tensor, grad, state);
        }
        let time = state.as_ref().map_or(0, |s| s.momentum.time);
        let s = &self.settings;
        let settings = AdamWStep {
            beta_1: s.beta_1,
            beta_2: s.beta_2,
            epsilon: s.epsilon,
            lr,
            weight_decay: f64::from(s.weight_decay),
            time: i32::try_from(time + 1).unwrap_or(i32::MAX),
        };
        let moments = state.map(|s| (s.momentum.moment_1, s.momentum.moment_2));
        match backend::adamw::step(tensor, grad, moments, settings) {
            Ok((tensor, moment_1, moment_2)) => {
                let momentum = AdaptiveMomentumState { time: time + 1, moment_1, moment_2, max_moment_2: None };
                (tensor, Some(AdamWState { momentum }))
            }
            Err((tensor, grad, moments)) => {
                let state = moments.map(|(moment_1, moment_2)| AdamWState {
                    momentum: AdaptiveMomentumState { time, moment_1, moment_2, max_moment_2: None },
                });
                self.reference.step(lr, tensor, grad, state)
            }
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <AdamW as SimpleOptimizer<B>>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    //! Against Burn's own AdamW (an independent implementation) over a few steps of one Linear
    //! layer: exactly equal on ndarray (the fallback), equal to rounding on flex (the fused pass).
    use burn::backend::Autodiff;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams, Optimizer as _};
    use burn::tensor::Tensor;
    use burn::tensor::backend::AutodiffBackend;

    use super::AdamWSettings;
    use crate::backend::test_input;

    /// The layer's weight after `steps` updates by the fused optimizer and by Burn's.
    fn both<B: AutodiffBackend>(steps: usize) -> (Vec<f32>, Vec<f32>) {
        let device = Default::default();
        B::seed(&device, 5);
        let settings = AdamWSettings { weight_decay: 0.1, ..Default::default() };
        let start: Linear<B> = LinearConfig::new(6, 5).init(&device);
        // Parameters initialise lazily, each clone on its own draw: draw once before cloning.
        let _ = (start.weight.val(), start.bias.as_ref().map(|b| b.val()));
        let (mut ours, mut theirs) = (start.clone(), start);
        let mut fused = settings.init::<B, Linear<B>>();
        let mut burn = AdamWConfig::new().with_weight_decay(0.1).init::<B, Linear<B>>();
        for step in 0..steps {
            let x: Tensor<B, 2> = test_input([4, 6], step as f32);
            let grads = GradientsParams::from_grads(ours.forward(x.clone()).powi_scalar(2).sum().backward(), &ours);
            ours = fused.step(1e-2, ours, grads);
            let grads = GradientsParams::from_grads(theirs.forward(x).powi_scalar(2).sum().backward(), &theirs);
            theirs = burn.step(1e-2, theirs, grads);
        }
        let weight = |l: Linear<B>| l.weight.val().into_data().to_vec::<f32>().unwrap();
        (weight(ours), weight(theirs))
    }

    #[test]
    fn equals_burns_adamw_on_ndarray() {
        let (ours, theirs) = both::<Autodiff<crate::backend::TestBackend>>(4);
        assert_eq!(ours, theirs);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn fused_update_matches_burns_adamw_on_flex() {
        let (ours, theirs) = both::<Autodiff<crate::backend::FlexBackend>>(4);
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "[{i}]: {a} vs {b}");
        }
        // Four steps of lr 1e-2 moved the weights: the comparison is not of two untouched copies.
        let (fresh, _) = both::<Autodiff<crate::backend::FlexBackend>>(0);
        assert!(ours.iter().zip(&fresh).any(|(a, b)| (a - b).abs() > 1e-3));
    }
}
