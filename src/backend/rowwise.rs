//! RoPE, RMSNorm and softmax on the CPU backends: the per-row kernels of
//! [`crate::kernels::rope`], [`crate::kernels::rms_norm`] and [`crate::kernels::softmax`] behind
//! Burn's tensors, with their own backward steps, as the
//! kernels in `fused` are (same backends, same `Err` fallback, same `RECFOUND_FUSED=0`).
//!
//! Why: after the products moved to `linear`, a RecBase pretraining step spent 5 % of its wall
//! time in RoPE (its tables, the rotation, four element passes each way) and 3 % in RMSNorm's
//! seven passes, all on one thread, while the other core waited. The RQ-VAE's soft code
//! assignments spent 8 % of its step in Burn's softmax (scalar `expf`, one thread).

use std::any::TypeId;
use std::sync::Arc;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};

use super::fused::{Kept, ad_parts, from_host, host_grad, host_kind, on_host, primitive, same, to_host};
use crate::kernels;

// --- RoPE ------------------------------------------------------------------------------------

/// RoPE tables on the host: `[tokens, head_dim]` each, HF's `cat(freqs, freqs)` layout.
#[derive(Clone)]
pub struct HostTables {
    pub cos: Arc<Vec<f32>>,
    pub sin: Arc<Vec<f32>>,
}

impl std::fmt::Debug for HostTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HostTables({} values)", self.cos.len())
    }
}

/// `x * cos + rotate_half(x) * sin`, one table row per token shared by its heads; `x` comes
/// back in `Err` on other backends or dtypes.
///
/// # Shapes
/// - x: `[B, T, H, Dh]`, tables: `[B*T, Dh]` -> `[B, T, H, Dh]`
pub fn rope<B: Backend>(x: Tensor<B, 4>, tables: &HostTables) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    let [b, t, _, dh] = x.dims();
    let fits = dh % 2 == 0 && b * t * dh > 0 && tables.cos.len() == b * t * dh && tables.sin.len() == tables.cos.len();
    if fits && host_kind::<B>(&[x.dtype()]) {
        on_host!(B, rope_plain, rope_ad, (x, tables.clone()));
    }
    Err(x)
}

fn rope_forward<I: Backend>(x: Tensor<I, 4>, tables: &HostTables) -> Tensor<I, 4> {
    let (shape, device) = (x.dims(), x.device());
    let x = to_host(x);
    let mut out = vec![0.0; x.len()];
    kernels::rope::forward(&x, &tables.cos, &tables.sin, shape[3], &mut out);
    from_host(out, shape, &device)
}

fn rope_plain<I: Backend>(x: Tensor<I, 4>, tables: HostTables) -> Tensor<I, 4> {
    rope_forward(x, &tables)
}

#[derive(Debug)]
struct RopeBackward;

impl<I: Backend> Backward<I, 1> for RopeBackward {
    type State = (HostTables, [usize; 4], I::Device);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (tables, shape, device) = ops.state;
        let d_out = host_grad::<I>(grads.consume::<I>(&ops.node));
        if let [Some(parent)] = &ops.parents {
            let mut d_x = vec![0.0; d_out.len()];
            kernels::rope::backward(&d_out, &tables.cos, &tables.sin, shape[3], &mut d_x);
            grads.register::<I>(parent.id, primitive(from_host::<I, 4>(d_x, shape, &device)));
        }
    }
}

fn rope_ad<I: Backend>(x: Tensor<Autodiff<I>, 4>, tables: HostTables) -> Tensor<Autodiff<I>, 4> {
    let (shape, device) = (x.dims(), x.device());
    let (x, x_ad) = ad_parts(x);
    let out = primitive(rope_forward(x, &tables));
    let prep = <RopeBackward as Backward<I, 1>>::prepare::<NoCheckpointing>(RopeBackward, [x_ad.node.clone()]);
    let ad = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((tables, shape, device), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(ad))
}

// --- RMSNorm ---------------------------------------------------------------------------------

/// `x / sqrt(mean(x^2) + eps) * weight` over the last axis; the operands come back in `Err`
/// on other backends or dtypes.
///
/// # Shapes
/// - x: `[N, D]`, weight: `[D]` -> `[N, D]`
pub fn rms_norm<B: Backend>(x: Tensor<B, 2>, weight: Tensor<B, 1>, eps: f64) -> Result<Tensor<B, 2>, (Tensor<B, 2>, Tensor<B, 1>)> {
    let [n, d] = x.dims();
    if n * d > 0 && weight.dims() == [d] && host_kind::<B>(&[x.dtype(), weight.dtype()]) {
        on_host!(B, rms_norm_plain, rms_norm_ad, (x, weight, eps as f32));
    }
    Err((x, weight))
}

/// The output, and what backward needs: x, the weight and each row's `1 / rms`.
fn rms_norm_forward(x: Vec<f32>, weight: Vec<f32>, eps: f32) -> (Vec<f32>, [Kept; 3]) {
    let (mut out, mut inv_rms) = (vec![0.0; x.len()], vec![0.0; x.len() / weight.len()]);
    kernels::rms_norm::forward(&x, &weight, eps, &mut out, &mut inv_rms);
    (out, [x, weight, inv_rms].map(|v| Kept(Arc::new(v))))
}

fn rms_norm_plain<I: Backend>(x: Tensor<I, 2>, weight: Tensor<I, 1>, eps: f32) -> Tensor<I, 2> {
    let (shape, device) = (x.dims(), x.device());
    let (out, _) = rms_norm_forward(to_host(x), to_host(weight), eps);
    from_host(out, shape, &device)
}

#[derive(Debug)]
struct RmsNormBackward;

impl<I: Backend> Backward<I, 2> for RmsNormBackward {
    type State = ([Kept; 3], [usize; 2], I::Device);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let ([x, weight, inv_rms], shape, device) = ops.state;
        let d_out = host_grad::<I>(grads.consume::<I>(&ops.node));
        let (mut d_x, mut d_weight) = (vec![0.0; x.0.len()], vec![0.0; weight.0.len()]);
        kernels::rms_norm::backward(&x.0, &weight.0, &inv_rms.0, &d_out, &mut d_x, &mut d_weight);
        let [x_parent, weight_parent] = &ops.parents;
        if let Some(parent) = x_parent {
            grads.register::<I>(parent.id, primitive(from_host::<I, 2>(d_x, shape, &device)));
        }
        if let Some(parent) = weight_parent {
            grads.register::<I>(parent.id, primitive(from_host::<I, 1>(d_weight, [shape[1]], &device)));
        }
    }
}

fn rms_norm_ad<I: Backend>(x: Tensor<Autodiff<I>, 2>, weight: Tensor<Autodiff<I>, 1>, eps: f32) -> Tensor<Autodiff<I>, 2> {
    let (shape, device) = (x.dims(), x.device());
    let ((x, x_ad), (weight, weight_ad)) = (ad_parts(x), ad_parts(weight));
    let (out, kept) = rms_norm_forward(to_host(x), to_host(weight), eps);
    let out = primitive(from_host::<I, 2>(out, shape, &device));
    let prep = <RmsNormBackward as Backward<I, 2>>::prepare::<NoCheckpointing>(RmsNormBackward, [x_ad.node.clone(), weight_ad.node.clone()]);
    let ad = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((kept, shape, device), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(ad))
}

// --- softmax ---------------------------------------------------------------------------------

/// `softmax(x)` over the last axis; `x` comes back in `Err` on other backends or dtypes.
///
/// # Shapes
/// - x: `[N, C]` -> `[N, C]`
pub fn softmax<B: Backend>(x: Tensor<B, 2>) -> Result<Tensor<B, 2>, Tensor<B, 2>> {
    let [n, c] = x.dims();
    if n * c > 0 && host_kind::<B>(&[x.dtype()]) {
        on_host!(B, softmax_plain, softmax_ad, (x));
    }
    Err(x)
}

fn softmax_forward(x: Vec<f32>, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    kernels::softmax::forward(&x, cols, &mut out);
    out
}

fn softmax_plain<I: Backend>(x: Tensor<I, 2>) -> Tensor<I, 2> {
    let (shape, device) = (x.dims(), x.device());
    from_host(softmax_forward(to_host(x), shape[1]), shape, &device)
}

#[derive(Debug)]
struct SoftmaxBackward;

impl<I: Backend> Backward<I, 1> for SoftmaxBackward {
    type State = (Kept, [usize; 2], I::Device);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (probs, shape, device) = ops.state;
        let d_out = host_grad::<I>(grads.consume::<I>(&ops.node));
        if let [Some(parent)] = &ops.parents {
            let mut d_x = vec![0.0; d_out.len()];
            kernels::softmax::backward(&probs.0, &d_out, shape[1], &mut d_x);
            grads.register::<I>(parent.id, primitive(from_host::<I, 2>(d_x, shape, &device)));
        }
    }
}

fn softmax_ad<I: Backend>(x: Tensor<Autodiff<I>, 2>) -> Tensor<Autodiff<I>, 2> {
    let (shape, device) = (x.dims(), x.device());
    let (x, x_ad) = ad_parts(x);
    let probs = softmax_forward(to_host(x), shape[1]);
    let prep = <SoftmaxBackward as Backward<I, 1>>::prepare::<NoCheckpointing>(SoftmaxBackward, [x_ad.node.clone()]);
    let ad = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let out = primitive(from_host::<I, 2>(probs.clone(), shape, &device));
            prep.finish((Kept(Arc::new(probs)), shape, device), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(primitive(from_host::<I, 2>(probs, shape, &device))),
    };
    Tensor::from_primitive(TensorPrimitive::Float(ad))
}

#[cfg(test)]
mod tests {
    //! Each path against Burn's own ops (an independent implementation) on `Autodiff<NdArray>`:
    //! values and the gradients that reach the inputs.
    use std::sync::Arc;

    use burn::backend::Autodiff;
    use burn::tensor::{Tensor, TensorData};

    use super::HostTables;
    use crate::backend::{TestBackend, assert_close, test_input};
    use crate::backbone::rope::rotate_half;

    type Ad = Autodiff<TestBackend>;

    fn input<const D: usize>(shape: [usize; D], seed: f32) -> Tensor<Ad, D> {
        test_input(shape, seed)
    }

    #[test]
    fn rope_matches_burn() {
        let [b, t, h, dh] = [2, 3, 4, 6];
        let cos: Vec<f32> = (0..b * t * dh).map(|i| (i as f32 * 0.3).cos()).collect();
        let sin: Vec<f32> = (0..b * t * dh).map(|i| (i as f32 * 0.3).sin()).collect();
        let tables = HostTables { cos: Arc::new(cos.clone()), sin: Arc::new(sin.clone()) };
        // The tables repeated over heads, as Burn's broadcasting formula needs them.
        let repeat = |v: &[f32]| {
            let rows: Vec<f32> = v.chunks(dh).flat_map(|row| std::iter::repeat_n(row, h).flatten().copied()).collect();
            Tensor::<Ad, 4>::from_data(TensorData::new(rows, [b, t, h, dh]), &Default::default())
        };
        let (x1, x2) = (input([b, t, h, dh], 1.0).require_grad(), input([b, t, h, dh], 1.0).require_grad());
        let fused = super::rope(x1.clone(), &tables).unwrap_or_else(|_| panic!("ndarray f32 takes the fused path"));
        let reference = x2.clone() * repeat(&cos) + rotate_half(x2.clone()) * repeat(&sin);
        assert_close("value", fused.clone().inner(), reference.clone().inner());
        let weights = input([b, t, h, dh], 5.0);
        let (g1, g2) = ((fused * weights.clone()).sum().backward(), (reference * weights).sum().backward());
        assert_close("d_x", x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
    }

    #[test]
    fn softmax_matches_burn() {
        let (x1, x2) = (input([6, 9], 1.0).require_grad(), input([6, 9], 1.0).require_grad());
        let fused = super::softmax(x1.clone()).unwrap_or_else(|_| panic!("ndarray f32 takes the fused path"));
        let reference = burn::tensor::activation::softmax(x2.clone(), 1);
        assert_close("value", fused.clone().inner(), reference.clone().inner());
        let weights = input([6, 9], 5.0);
        let (g1, g2) = ((fused * weights.clone()).sum().backward(), (reference * weights).sum().backward());
        assert_close("d_x", x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
    }

    #[test]
    fn rms_norm_matches_burn() {
        let (eps, [n, d]) = (1e-5, [7, 10]);
        let (x1, x2) = (input([n, d], 1.0).require_grad(), input([n, d], 1.0).require_grad());
        let (w1, w2) = (input([d], 2.0).require_grad(), input([d], 2.0).require_grad());
        let fused = super::rms_norm(x1.clone(), w1.clone(), eps).unwrap_or_else(|_| panic!("ndarray f32 takes the fused path"));
        let variance = x2.clone().square().mean_dim(1); // [N, 1]
        let reference = x2.clone() * (variance + eps).sqrt().recip() * w2.clone().unsqueeze::<2>();
        assert_close("value", fused.clone().inner(), reference.clone().inner());
        let weights = input([n, d], 5.0);
        let (g1, g2) = ((fused * weights.clone()).sum().backward(), (reference * weights).sum().backward());
        assert_close("d_x", x1.grad(&g1).unwrap(), x2.grad(&g2).unwrap());
        assert_close("d_weight", w1.grad(&g1).unwrap(), w2.grad(&g2).unwrap());
    }
}
