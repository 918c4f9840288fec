//! The low-rank experts of one projection, stacked so that any number of experts costs two
//! matrix products: `sum_j v_j * s * B_j A_j x = B_cat (v ⊗ s A_cat x)`, where `A_cat` holds
//! every expert's `A` side by side and `v ⊗` scales expert `j`'s block of `r` columns by that
//! sample's routing weight. Plain LoRA is the one-expert case without routing.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Initializer};
use burn::tensor::{Tensor, backend::Backend};

use crate::backend::linear;

/// `N` LoRA experts of rank `r` on a projection `d_in -> d_out`, in Burn's `x W` layout.
#[derive(Module, Debug)]
pub struct LoraExperts<B: Backend> {
    /// Every expert's `A` side by side: `[d_in, N * r]` (expert `j` in columns `j*r..(j+1)*r`).
    pub lora_a: Param<Tensor<B, 2>>,
    /// Every expert's `B` stacked: `[N * r, d_out]`.
    pub lora_b: Param<Tensor<B, 2>>,
    pub dropout: Dropout,
    pub num_experts: usize,
    pub r: usize,
    pub scaling: f64,
}

impl<B: Backend> LoraExperts<B> {
    /// Fresh experts as PEFT initialises LoRA: `A` Kaiming-uniform with `a = sqrt(5)` (so
    /// `U(-1/sqrt(d_in), 1/sqrt(d_in))`), `B` zeros, so the delta starts at exactly zero.
    /// `random_b` also draws `B` that way (PEFT's `init_lora_weights=False`, for tests).
    #[allow(clippy::too_many_arguments)]
    pub fn new(d_in: usize, d_out: usize, num_experts: usize, r: usize, scaling: f64, dropout: f64, random_b: bool, device: &B::Device) -> Self {
        // Kaiming-uniform bound = gain * sqrt(3 / fan_in); PyTorch's a = sqrt(5) gives gain 1/sqrt(3).
        let kaiming = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false };
        let lora_a = kaiming.init_with([d_in, num_experts * r], Some(d_in), Some(num_experts * r), device);
        let lora_b = if random_b {
            kaiming.init_with([num_experts * r, d_out], Some(r), Some(d_out), device)
        } else {
            Initializer::Zeros.init([num_experts * r, d_out], device)
        };
        Self { lora_a, lora_b, dropout: DropoutConfig::new(dropout).init(), num_experts, r, scaling }
    }

    /// Experts from given factors (`[d_in, N*r]` and `[N*r, d_out]`).
    pub fn from_factors(lora_a: Tensor<B, 2>, lora_b: Tensor<B, 2>, num_experts: usize, r: usize, scaling: f64, dropout: f64) -> Self {
        Self {
            lora_a: Param::from_tensor(lora_a),
            lora_b: Param::from_tensor(lora_b),
            dropout: DropoutConfig::new(dropout).init(),
            num_experts,
            r,
            scaling,
        }
    }

    pub fn d_in(&self) -> usize {
        self.lora_a.dims()[0]
    }

    pub fn d_out(&self) -> usize {
        self.lora_b.dims()[1]
    }

    /// `sum_j v_j * scaling * B_j A_j dropout(x)`; without `routing` every expert has weight 1
    /// (plain LoRA has one). Dropout is drawn once and shared by the experts (it acts only
    /// when autodiff is on, i.e. in training).
    ///
    /// # Shapes
    /// - x: `[B, T, d_in]`, routing: `[B, N]` -> `[B, T, d_out]`
    pub fn forward(&self, x: Tensor<B, 3>, routing: Option<Tensor<B, 2>>) -> Tensor<B, 3> {
        let [b, t, d_in] = x.dims();
        let (n, r) = (self.num_experts, self.r);
        let x = self.dropout.forward(x).reshape([b * t, d_in]); // [B*T, d_in]
        let h = linear::matmul(x, self.lora_a.val()); // [B*T, N*r]
        let h = match routing {
            Some(v) => {
                // One weight per (token, expert), laid out contiguously so the product below is
                // a per-row scalar broadcast (flex's SIMD path) rather than a strided
                // `[B, 1, N, 1]` broadcast walked element by element.
                let weights = (v * self.scaling).reshape([b, 1, n]).repeat_dim(1, t) // [B, T, N]
                    .reshape([b * t, n, 1]); // [B*T, N, 1]
                (h.reshape([b * t, n, r]) * weights) // [B*T, N, r]
                    .reshape([b * t, n * r]) // [B*T, N*r]
            }
            None => h * self.scaling,
        };
        let y = linear::matmul(h, self.lora_b.val()); // [B*T, d_out]
        y.reshape([b, t, self.d_out()]) // [B, T, d_out]
    }

    /// The weight update `sum_j w_j * scaling * A_j B_j` in Burn's `[d_in, d_out]` layout, for
    /// merging into the base (`w` = one routing vector, or all ones).
    ///
    /// # Shapes
    /// - weights: `[N]` -> `[d_in, d_out]`
    pub fn delta_weight(&self, weights: Tensor<B, 1>) -> Tensor<B, 2> {
        let (n, r) = (self.num_experts, self.r);
        let per_column = (weights * self.scaling).reshape([n, 1]).expand([n, r]).reshape([1, n * r]); // [1, N*r]
        let a = self.lora_a.val() * per_column; // [d_in, N*r]
        a.matmul(self.lora_b.val()) // [d_in, d_out]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;
    use burn::tensor::{TensorData, Tolerance};

    type B = TestBackend;

    use crate::backend::test_matrix as t2;

    #[test]
    fn fresh_experts_add_nothing() {
        let device = Default::default();
        let e = LoraExperts::<B>::new(8, 4, 3, 2, 2.0, 0.0, false, &device);
        let x = Tensor::<B, 3>::ones([2, 5, 8], &device);
        let y = e.forward(x, Some(Tensor::ones([2, 3], &device)));
        assert_eq!(y.dims(), [2, 5, 4]);
        assert_eq!(y.abs().max().into_scalar(), 0.0);
        // A is Kaiming-uniform with bound 1/sqrt(d_in).
        let a: Vec<f32> = e.lora_a.val().into_data().to_vec().unwrap();
        let bound = 1.0 / 8f32.sqrt();
        assert!(a.iter().all(|v| v.abs() <= bound) && a.iter().any(|v| v.abs() > bound / 2.0));
    }

    #[test]
    fn routed_sum_matches_hand_computation() {
        // d_in 2, d_out 1, two experts of rank 1, scaling 0.5.
        // A_0 = [1, 0], A_1 = [0, 1]; B_0 = 2, B_1 = 3; x = [1, 2].
        // Expert 0: 2 * (1*1 + 0*2) = 2; expert 1: 3 * (0*1 + 1*2) = 6.
        // Row 0 routing (0.25, 0.75): 0.5 * (0.25*2 + 0.75*6) = 2.5; row 1 (1, 0): 0.5 * 2 = 1.
        let e = LoraExperts::<B>::from_factors(t2(&[1., 0., 0., 1.], [2, 2]), t2(&[2., 3.], [2, 1]), 2, 1, 0.5, 0.0);
        let x = Tensor::<B, 3>::from_data(TensorData::new(vec![1f32, 2., 1., 2.], [2, 1, 2]), &Default::default());
        let y = e.forward(x.clone(), Some(t2(&[0.25, 0.75, 1.0, 0.0], [2, 2])));
        y.into_data().assert_approx_eq::<f32>(&TensorData::new(vec![2.5f32, 1.0], [2, 1, 1]), Tolerance::default());
        // Without routing both experts count fully: 0.5 * (2 + 6) = 4.
        let y = e.forward(x, None);
        y.into_data().assert_approx_eq::<f32>(&TensorData::new(vec![4f32, 4.0], [2, 1, 1]), Tolerance::default());
        // The merged weight: 0.5 * (0.25 * A_0^T B_0 + 0.75 * A_1^T B_1) = [0.25, 1.125].
        let w = e.delta_weight(Tensor::from_data(TensorData::new(vec![0.25f32, 0.75], [2]), &Default::default()));
        w.into_data().assert_approx_eq::<f32>(&TensorData::new(vec![0.25f32, 1.125], [2, 1]), Tolerance::default());
    }
}
