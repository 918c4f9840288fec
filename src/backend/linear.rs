//! `x W + b` on the flex backend, read and written in flex's own buffers.
//!
//! Flex's matmul keeps products under 192^3 multiply-adds on one thread (every LoRA product at
//! the benchmark shape, `[1024, 256] x [256, 16]`, is 4.2 M) and zero-fills each output before
//! the product overwrites it. In a LoRA step `perf` put a third of the wall time on the main
//! thread alone while the second core waited: 10 % in those single-threaded products, 10 % in
//! the zero-fill and in copying outputs allocated as bytes into f32 vectors. Here every
//! product from 2^18 multiply-adds on is split between rayon's threads, outputs are written
//! into fresh `Vec<f32>` (which the fused kernels then take without a copy), the bias is the
//! product's starting value rather than a second pass, and backward keeps the input only when
//! the weight needs a gradient (a frozen base keeps nothing).
//!
//! Other backends and dtypes get their operands back in `Err` and the caller runs Burn's own
//! `linear`, as for the kernels in `fused`.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// The operands of [`linear`], handed back when the backend does not take the fused path.
pub type Operands<B> = (Tensor<B, 2>, Tensor<B, 2>, Option<Tensor<B, 1>>);

/// `x weight + bias` with Burn's `[d_in, d_out]` weight layout; the operands come back in
/// `Err` on backends other than flex (f32, with or without autodiff).
///
/// # Shapes
/// - x: `[M, K]`, weight: `[K, N]`, bias: `[N]` -> `[M, N]`
pub fn linear<B: Backend>(x: Tensor<B, 2>, weight: Tensor<B, 2>, bias: Option<Tensor<B, 1>>) -> Result<Tensor<B, 2>, Operands<B>> {
    fused(x, weight, bias, false)
}

/// `relu(x weight + bias)`, the ReLU applied to the product in place and its mask applied to
/// the output gradient before the backward products (an MLP's hidden layers save two
/// single-threaded passes each way); the operands come back in `Err` as for [`linear`].
///
/// # Shapes
/// - x: `[M, K]`, weight: `[K, N]`, bias: `[N]` -> `[M, N]`
pub fn linear_relu<B: Backend>(x: Tensor<B, 2>, weight: Tensor<B, 2>, bias: Option<Tensor<B, 1>>) -> Result<Tensor<B, 2>, Operands<B>> {
    fused(x, weight, bias, true)
}

fn fused<B: Backend>(x: Tensor<B, 2>, weight: Tensor<B, 2>, bias: Option<Tensor<B, 1>>, relu: bool) -> Result<Tensor<B, 2>, Operands<B>> {
    #[cfg(feature = "flex")]
    {
        use burn::backend::Autodiff;
        use std::any::TypeId;

        let ([m, k], [k_w, n]) = (x.dims(), weight.dims());
        let fits = k == k_w && m * n * k > 0 && bias.as_ref().is_none_or(|b| b.dims() == [n]);
        let mut dtypes = vec![x.dtype(), weight.dtype()];
        dtypes.extend(bias.as_ref().map(|b| b.dtype()));
        if fits && super::fused::host_f32(&dtypes) {
            type F = super::FlexBackend;
            let id = TypeId::of::<B>();
            if id == TypeId::of::<F>() {
                return Ok(super::fused::same(flex::plain(super::fused::same(x), super::fused::same(weight), super::fused::same(bias), relu)));
            } else if id == TypeId::of::<Autodiff<F>>() {
                return Ok(super::fused::same(flex::ad(super::fused::same(x), super::fused::same(weight), super::fused::same(bias), relu)));
            }
        }
    }
    Err((x, weight, bias))
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::Autodiff;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::tensor::{Tensor, TensorData, TensorPrimitive};

    use super::super::FlexBackend as F;
    use super::super::fused::{ad_parts, primitive};
    use crate::kernels::gemm::{View, ViewMut, par_matmul};
    use rayon::prelude::*;

    /// Elements per rayon task in the ReLU passes.
    const ELEMENTS: usize = 1 << 14;

    /// A matrix view of a rank-2 f32 tensor, in place when its strides are non-negative (every
    /// view flex makes but a flip), else of a contiguous copy kept in `hold`.
    fn view<'a>(t: &'a FlexTensor, hold: &'a mut Option<FlexTensor>) -> View {
        let t = if t.layout().has_positive_strides() { t } else { hold.insert(t.to_contiguous()) };
        let (layout, storage) = (t.layout(), t.storage::<f32>());
        let [rs, cs] = [layout.strides()[0], layout.strides()[1]];
        View { ptr: storage[layout.start_offset()..].as_ptr(), rs, cs }
    }

    fn transposed(v: View) -> View {
        View { rs: v.cs, cs: v.rs, ..v }
    }

    /// `lhs[m, k] rhs[k, n]`, plus `bias` on every row, through a ReLU when `relu`, as a fresh
    /// contiguous tensor.
    fn product(m: usize, n: usize, k: usize, lhs: View, rhs: View, bias: Option<&[f32]>, relu: bool) -> FlexTensor {
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        if let Some(bias) = bias {
            (0..m).for_each(|_| out.extend_from_slice(bias));
        }
        let dst = ViewMut { ptr: out.as_mut_ptr(), rs: n as isize, cs: 1 };
        // SAFETY: `out` has room for `m x n` values, the views address `m x k` and `k x n`
        // elements of live tensors, and `out` is new, so nothing else reads or writes it.
        // Without a bias the product writes every element (k > 0, checked by `linear`), so
        // all `m x n` are initialised before `set_len`.
        unsafe {
            par_matmul(m, n, k, dst, bias.is_some(), lhs, rhs, 1.0);
            out.set_len(m * n);
        }
        if relu {
            // `x <= 0` to 0 keeps NaN, as Burn's relu does, so a diverging run still shows.
            out.par_chunks_mut(ELEMENTS).for_each(|c| c.iter_mut().for_each(|v| *v = if *v <= 0.0 { 0.0 } else { *v }));
        }
        FlexTensor::from_data(TensorData::new(out, [m, n]))
    }

    fn contiguous_values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
        match t.as_slice::<f32>() {
            Some(values) => values.into(),
            None => t.to_contiguous().as_slice::<f32>().expect("contiguous").to_vec().into(),
        }
    }

    pub fn plain(x: Tensor<F, 2>, weight: Tensor<F, 2>, bias: Option<Tensor<F, 1>>, relu: bool) -> Tensor<F, 2> {
        let ([m, k], n) = (x.dims(), weight.dims()[1]);
        let (x, weight) = (primitive(x), primitive(weight));
        let bias = bias.map(primitive);
        let (mut hold_x, mut hold_w) = (None, None);
        let bias = bias.as_ref().map(contiguous_values);
        let out = product(m, n, k, view(&x, &mut hold_x), view(&weight, &mut hold_w), bias.as_deref(), relu);
        Tensor::from_primitive(TensorPrimitive::Float(out))
    }

    /// What backward needs: the input only if the weight takes a gradient, the weight only if
    /// the input does, and the output after a ReLU (its mask).
    #[derive(Debug, Clone)]
    struct State {
        x: Option<FlexTensor>,
        weight: Option<FlexTensor>,
        relu_out: Option<FlexTensor>,
        dims: [usize; 3],
    }

    #[derive(Debug)]
    struct LinearBackward;

    /// Parents: x, weight and, when there is one, the bias.
    impl<const N: usize> Backward<F, N> for LinearBackward {
        type State = State;

        fn backward(self, ops: Ops<State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
            let State { x, weight, relu_out, dims: [m, k, n] } = ops.state;
            let mut d_out: FlexTensor = grads.consume::<F>(&ops.node);
            if let Some(out) = relu_out {
                // d_out where the ReLU passed its input (out > 0), else 0.
                let (d, out) = (contiguous_values(&d_out), contiguous_values(&out));
                let mut masked: Vec<f32> = crate::kernels::zeroed(m * n);
                masked.par_chunks_mut(ELEMENTS).zip(d.par_chunks(ELEMENTS).zip(out.par_chunks(ELEMENTS))).for_each(|(g, (d, o))| {
                    g.iter_mut().zip(d).zip(o).for_each(|((g, &d), &o)| *g = if o > 0.0 { d } else { 0.0 })
                });
                d_out = FlexTensor::from_data(TensorData::new(masked, [m, n]));
            }
            let mut hold = [None, None, None];
            let [hold_d, hold_x, hold_w] = &mut hold;
            let d_view = view(&d_out, hold_d);
            if let (Some(parent), Some(weight)) = (&ops.parents[0], &weight) {
                // dx = d_out weight^T: [M, N] x [N, K]
                grads.register::<F>(parent.id, product(m, k, n, d_view, transposed(view(weight, hold_w)), None, false));
            }
            if let (Some(parent), Some(x)) = (&ops.parents[1], &x) {
                // dW = x^T d_out: [K, M] x [M, N]
                grads.register::<F>(parent.id, product(k, n, m, transposed(view(x, hold_x)), d_view, None, false));
            }
            if let Some(Some(parent)) = ops.parents.get(2) {
                let d_out = contiguous_values(&d_out);
                let mut d_bias = vec![0.0f32; n];
                for row in d_out.chunks_exact(n) {
                    d_bias.iter_mut().zip(row).for_each(|(acc, v)| *acc += v);
                }
                grads.register::<F>(parent.id, FlexTensor::from_data(TensorData::new(d_bias, [n])));
            }
        }
    }

    pub fn ad(x: Tensor<Autodiff<F>, 2>, weight: Tensor<Autodiff<F>, 2>, bias: Option<Tensor<Autodiff<F>, 1>>, relu: bool) -> Tensor<Autodiff<F>, 2> {
        let ([m, k], n) = (x.dims(), weight.dims()[1]);
        let ((x, x_ad), (weight, weight_ad)) = (ad_parts(x), ad_parts(weight));
        let bias = bias.map(ad_parts);
        let (x, weight) = (primitive(x), primitive(weight));
        let bias_values = bias.as_ref().map(|(b, _)| contiguous_values(&primitive(b.clone())).into_owned());
        let (mut hold_x, mut hold_w) = (None, None);
        let out = product(m, n, k, view(&x, &mut hold_x), view(&weight, &mut hold_w), bias_values.as_deref(), relu);
        let (x_node, weight_node) = (x_ad.node.clone(), weight_ad.node.clone());
        let requires = [&x_node, &weight_node].map(|node| !node.requirement.is_none());
        let state = || State {
            x: requires[1].then_some(x.clone()),
            weight: requires[0].then_some(weight.clone()),
            relu_out: relu.then(|| out.clone()),
            dims: [m, k, n],
        };
        let ad = match bias {
            None => {
                match <LinearBackward as Backward<F, 2>>::prepare::<NoCheckpointing>(LinearBackward, [x_node, weight_node]).compute_bound().stateful() {
                    OpsKind::Tracked(prep) => prep.finish(state(), out),
                    OpsKind::UnTracked(prep) => prep.finish(out),
                }
            }
            Some((_, bias_ad)) => {
                let nodes = [x_node, weight_node, bias_ad.node.clone()];
                match <LinearBackward as Backward<F, 3>>::prepare::<NoCheckpointing>(LinearBackward, nodes).compute_bound().stateful() {
                    OpsKind::Tracked(prep) => prep.finish(state(), out),
                    OpsKind::UnTracked(prep) => prep.finish(out),
                }
            }
        };
        Tensor::from_primitive(TensorPrimitive::Float(ad))
    }
}

/// `layer.forward(x)`, through [`linear`] where it applies.
///
/// # Shapes
/// - x: `[M, d_in]` -> `[M, d_out]`
pub fn apply<B: Backend>(layer: &burn::nn::Linear<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    match linear(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val())) {
        Ok(y) => y,
        Err((x, ..)) => layer.forward(x),
    }
}

/// `x.matmul(w)`, through [`linear`] where it applies.
///
/// # Shapes
/// - x: `[M, K]`, w: `[K, N]` -> `[M, N]`
pub fn matmul<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 2>) -> Tensor<B, 2> {
    linear(x, w, None).unwrap_or_else(|(x, w, _)| x.matmul(w))
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    //! The flex path against Burn's own `matmul` and broadcast add (an independent
    //! implementation) on `Autodiff<Flex>`: values and the gradients that reach each operand.
    use burn::backend::Autodiff;
    use burn::tensor::Tensor;

    use crate::backend::{FlexBackend, assert_close, test_input};

    type Ad = Autodiff<FlexBackend>;

    fn input<const D: usize>(shape: [usize; D], seed: f32) -> Tensor<Ad, D> {
        test_input(shape, seed)
    }

    /// `x [M, K] w [K, N] (+ b)` with each operand tracked or not; `w_t` reads the weight
    /// through a transposed view (the tied LM head does).
    fn case(m: usize, k: usize, n: usize, bias: bool, track: [bool; 3], w_t: bool) {
        // Fresh leaves for each side: the two graphs share nothing.
        let operands = || {
            let grad = |t: Tensor<Ad, 2>, on: bool| if on { t.require_grad() } else { t };
            let x = grad(input([m, k], 1.0), track[0]);
            let w = if w_t { grad(input([n, k], 2.0), track[1]) } else { grad(input([k, n], 2.0), track[1]) };
            let b = bias.then(|| if track[2] { input([n], 3.0).require_grad() } else { input([n], 3.0) });
            (x, w, b)
        };
        let view = |w: &Tensor<Ad, 2>| if w_t { w.clone().transpose() } else { w.clone() };
        let (x1, w1, b1) = operands();
        let fused = super::linear(x1.clone(), view(&w1), b1.clone()).unwrap_or_else(|_| panic!("flex f32 takes the path"));
        let (x2, w2, b2) = operands();
        let reference = match &b2 {
            Some(b) => x2.clone().matmul(view(&w2)) + b.clone().unsqueeze::<2>(),
            None => x2.clone().matmul(view(&w2)),
        };
        let what = format!("{m}x{k}x{n} bias={bias} track={track:?} w_t={w_t}");
        assert_close(&format!("{what}: value"), fused.clone().inner(), reference.clone().inner());
        if !track.iter().any(|t| *t) {
            return;
        }
        let weights = input([m, n], 4.0);
        let (g1, g2) = ((fused * weights.clone()).sum().backward(), (reference * weights).sum().backward());
        for (name, on, got, want) in [
            ("d_x", track[0], x1.grad(&g1), x2.grad(&g2)),
            ("d_w", track[1], w1.grad(&g1), w2.grad(&g2)),
        ] {
            match (on, got, want) {
                (true, Some(got), Some(want)) => assert_close(&format!("{what}: {name}"), got, want),
                (false, None, _) => {}
                (_, got, _) => panic!("{what}: {name} tracked={on} but gradient present={}", got.is_some()),
            }
        }
        if let (Some(b1), Some(b2), true) = (&b1, &b2, track[2]) {
            assert_close(&format!("{what}: d_b"), b1.grad(&g1).expect("bias gradient"), b2.grad(&g2).unwrap());
        }
    }

    #[test]
    fn products_and_gradients_match_burn() {
        case(5, 3, 4, false, [true, true, false], false);
        case(5, 3, 4, true, [true, true, true], false);
        // Frozen weight (LoRA's base): only the input takes a gradient.
        case(7, 6, 5, true, [true, false, false], true);
        // Only the weight trains (the first layer of an MLP on data).
        case(6, 4, 3, false, [false, true, false], false);
        // Large enough to split between threads: 600 x 40 x 48 = 1.15 M multiply-adds.
        case(600, 40, 48, true, [true, true, true], true);
        case(40, 48, 600, false, [true, true, false], false);
        // Nothing tracked: the value only.
        case(3, 2, 2, true, [false, false, false], false);
    }

    #[test]
    fn relu_products_and_gradients_match_burn() {
        use burn::tensor::activation::relu;
        // Half the pre-activations are negative; 600 x 40 x 48 also splits between threads.
        for (m, k, n) in [(5, 3, 4), (600, 40, 48)] {
            let operands = || (input([m, k], 1.0).require_grad(), input([k, n], 2.0).require_grad(), input([n], 3.0).require_grad());
            let (x1, w1, b1) = operands();
            let fused = super::linear_relu(x1.clone(), w1.clone(), Some(b1.clone())).unwrap_or_else(|_| panic!("flex f32 takes the path"));
            let (x2, w2, b2) = operands();
            let reference = relu(x2.clone().matmul(w2.clone()) + b2.clone().unsqueeze::<2>());
            let zeros = reference.clone().inner().lower_equal_elem(0.0).int().sum().into_scalar();
            assert!(zeros > 0 && (zeros as usize) < m * n, "{m}x{k}x{n}: the ReLU must cut some values, not all");
            assert_close("relu value", fused.clone().inner(), reference.clone().inner());
            let weights = input([m, n], 4.0);
            let (g1, g2) = ((fused * weights.clone()).sum().backward(), (reference * weights).sum().backward());
            assert_close("relu d_x", x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
            assert_close("relu d_w", w1.grad(&g1).unwrap(), w2.grad(&g2).unwrap());
            assert_close("relu d_b", b1.grad(&g1).unwrap(), b2.grad(&g2).unwrap());
        }
    }

    #[test]
    fn plain_flex_and_ndarray() {
        let (x, w) = (input([4, 3], 1.0).inner(), input([3, 2], 2.0).inner());
        let fused = super::linear(x.clone(), w.clone(), None).unwrap_or_else(|_| panic!("flex f32 takes the path"));
        assert_close("plain flex", fused, x.matmul(w));
        let x = Tensor::<crate::backend::TestBackend, 2>::ones([2, 2], &Default::default());
        assert!(super::linear(x.clone(), x, None).is_err(), "ndarray keeps Burn's own linear");
    }
}
