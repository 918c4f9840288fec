//! RoPE, RMSNorm, softmax, squared distances and the mean squared error on the CPU backends: the
//! kernels of [`crate::kernels::rope`], [`crate::kernels::rms_norm`], [`crate::kernels::softmax`],
//! [`crate::kernels::sq_dist`] and [`crate::kernels::mse`] behind
//! Burn's tensors, with their own backward steps, as the
//! kernels in `fused` are (same backends, same `Err` fallback, same `RECFOUND_FUSED=0`).
//!
//! Why: after the products moved to `linear`, a RecBase pretraining step spent 5 % of its wall
//! time in RoPE (its tables, the rotation, four element passes each way) and 3 % in RMSNorm's
//! seven passes, all on one thread, while the other core waited. The RQ-VAE's soft code
//! assignments spent 8 % of its step in Burn's softmax (scalar `expf`, one thread), and its
//! code distances a fifth in eight single-threaded element passes per level (twenty with backward);
//! its three MSE terms were another eight passes each.

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
    let mut out = kernels::zeroed(x.len());
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
            let mut d_x = kernels::zeroed(d_out.len());
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
    let (mut out, mut inv_rms) = (kernels::zeroed(x.len()), kernels::zeroed(x.len() / weight.len()));
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
        let (mut d_x, mut d_weight) = (kernels::zeroed(x.0.len()), kernels::zeroed(weight.0.len()));
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
    let mut out = kernels::zeroed(x.len());
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
            let mut d_x = kernels::zeroed(d_out.len());
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

// --- squared distances -----------------------------------------------------------------------

/// `max(|r_i|² + |e_j|² - 2 r_i·e_j, 0)` for every row of `r` and every code of `e`; the
/// operands come back in `Err` on other backends or dtypes.
///
/// # Shapes
/// - r: `[N, D]`, e: `[K, D]` -> `[N, K]`
pub fn squared_distances<B: Backend>(r: Tensor<B, 2>, e: Tensor<B, 2>) -> Result<Tensor<B, 2>, (Tensor<B, 2>, Tensor<B, 2>)> {
    let ([n, d], [k, d_e]) = (r.dims(), e.dims());
    if d == d_e && n * k * d > 0 && host_kind::<B>(&[r.dtype(), e.dtype()]) {
        on_host!(B, squared_distances_plain, squared_distances_ad, (r, e));
    }
    Err((r, e))
}

fn squared_distances_forward(r: &[f32], e: &[f32], d: usize) -> Vec<f32> {
    let mut out = kernels::zeroed(r.len() / d * (e.len() / d));
    kernels::sq_dist::forward(r, e, d, &mut out);
    out
}

fn squared_distances_plain<I: Backend>(r: Tensor<I, 2>, e: Tensor<I, 2>) -> Tensor<I, 2> {
    let ([n, d], k, device) = (r.dims(), e.dims()[0], r.device());
    from_host(squared_distances_forward(&to_host(r), &to_host(e), d), [n, k], &device)
}

#[derive(Debug)]
struct SquaredDistancesBackward;

impl<I: Backend> Backward<I, 2> for SquaredDistancesBackward {
    /// r, e, the distances; `[N, K, D]`.
    type State = ([Kept; 3], [usize; 3], I::Device);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let ([r, e, dist], [n, k, d], device) = ops.state;
        let g = host_grad::<I>(grads.consume::<I>(&ops.node));
        let [r_parent, e_parent] = &ops.parents;
        let mut d_r = r_parent.as_ref().map(|_| kernels::zeroed(n * d));
        let mut d_e = e_parent.as_ref().map(|_| kernels::zeroed(k * d));
        kernels::sq_dist::backward(&r.0, &e.0, &dist.0, &g, d, d_r.as_deref_mut(), d_e.as_deref_mut());
        if let (Some(parent), Some(d_r)) = (r_parent, d_r) {
            grads.register::<I>(parent.id, primitive(from_host::<I, 2>(d_r, [n, d], &device)));
        }
        if let (Some(parent), Some(d_e)) = (e_parent, d_e) {
            grads.register::<I>(parent.id, primitive(from_host::<I, 2>(d_e, [k, d], &device)));
        }
    }
}

fn squared_distances_ad<I: Backend>(r: Tensor<Autodiff<I>, 2>, e: Tensor<Autodiff<I>, 2>) -> Tensor<Autodiff<I>, 2> {
    let ([n, d], k, device) = (r.dims(), e.dims()[0], r.device());
    let ((r, r_ad), (e, e_ad)) = (ad_parts(r), ad_parts(e));
    let (r, e) = (to_host(r), to_host(e));
    let dist = squared_distances_forward(&r, &e, d);
    let prep = <SquaredDistancesBackward as Backward<I, 2>>::prepare::<NoCheckpointing>(SquaredDistancesBackward, [r_ad.node.clone(), e_ad.node.clone()]);
    let ad = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let out = primitive(from_host::<I, 2>(dist.clone(), [n, k], &device));
            prep.finish(([r, e, dist].map(|v| Kept(Arc::new(v))), [n, k, d], device), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(primitive(from_host::<I, 2>(dist, [n, k], &device))),
    };
    Tensor::from_primitive(TensorPrimitive::Float(ad))
}

// --- mean squared error ----------------------------------------------------------------------

/// `mean((a - b)²)` over all elements; the operands come back in `Err` on other backends or
/// dtypes.
///
/// # Shapes
/// - a, b: `[N, D]` -> `[1]`
pub fn mse<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Result<Tensor<B, 1>, (Tensor<B, 2>, Tensor<B, 2>)> {
    let [n, d] = a.dims();
    if b.dims() == [n, d] && n * d > 0 && host_kind::<B>(&[a.dtype(), b.dtype()]) {
        on_host!(B, mse_plain, mse_ad, (a, b));
    }
    Err((a, b))
}

fn mse_forward(a: Vec<f32>, b: Vec<f32>) -> (f32, Vec<f32>) {
    let mut diff = kernels::zeroed(a.len());
    let value = kernels::mse::forward(&a, &b, &mut diff);
    (value, diff)
}

fn mse_plain<I: Backend>(a: Tensor<I, 2>, b: Tensor<I, 2>) -> Tensor<I, 1> {
    let device = a.device();
    from_host(vec![mse_forward(to_host(a), to_host(b)).0], [1], &device)
}

#[derive(Debug)]
struct MseBackward;

impl<I: Backend> Backward<I, 2> for MseBackward {
    /// `a - b`, `[N, D]`.
    type State = (Kept, [usize; 2], I::Device);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (diff, shape, device) = ops.state;
        let g = host_grad::<I>(grads.consume::<I>(&ops.node))[0];
        let mut d_a = kernels::zeroed(diff.0.len());
        kernels::mse::backward(&diff.0, g, &mut d_a);
        let [a_parent, b_parent] = &ops.parents;
        if let Some(parent) = b_parent {
            let d_b: Vec<f32> = d_a.iter().map(|v| -v).collect();
            grads.register::<I>(parent.id, primitive(from_host::<I, 2>(d_b, shape, &device)));
        }
        if let Some(parent) = a_parent {
            grads.register::<I>(parent.id, primitive(from_host::<I, 2>(d_a, shape, &device)));
        }
    }
}

fn mse_ad<I: Backend>(a: Tensor<Autodiff<I>, 2>, b: Tensor<Autodiff<I>, 2>) -> Tensor<Autodiff<I>, 1> {
    let (shape, device) = (a.dims(), a.device());
    let ((a, a_ad), (b, b_ad)) = (ad_parts(a), ad_parts(b));
    let (value, diff) = mse_forward(to_host(a), to_host(b));
    let out = primitive(from_host::<I, 1>(vec![value], [1], &device));
    let prep = <MseBackward as Backward<I, 2>>::prepare::<NoCheckpointing>(MseBackward, [a_ad.node.clone(), b_ad.node.clone()]);
    let ad = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((Kept(Arc::new(diff)), shape, device), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
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

    #[test]
    fn squared_distances_match_burn() {
        let [n, k, d] = [9, 5, 4];
        let (r1, r2) = (input([n, d], 1.0).require_grad(), input([n, d], 1.0).require_grad());
        let (e1, e2) = (input([k, d], 3.0).require_grad(), input([k, d], 3.0).require_grad());
        let fused = super::squared_distances(r1.clone(), e1.clone()).unwrap_or_else(|_| panic!("ndarray f32 takes the fused path"));
        // The definition, sum_c (r_c - e_c)², by broadcasting [N, 1, D] against [1, K, D].
        let diff = r2.clone().unsqueeze_dim::<3>(1) - e2.clone().unsqueeze_dim::<3>(0); // [N, K, D]
        let reference = diff.square().sum_dim(2).squeeze_dim::<2>(2); // [N, K]
        assert_close("value", fused.clone().inner(), reference.clone().inner());
        let weights = input([n, k], 5.0);
        let (g1, g2) = ((fused * weights.clone()).sum().backward(), (reference * weights).sum().backward());
        assert_close("d_r", r1.grad(&g1).unwrap(), r2.grad(&g2).unwrap());
        assert_close("d_e", e1.grad(&g1).unwrap(), e2.grad(&g2).unwrap());
    }

    #[test]
    fn mse_matches_burn() {
        for track in [[true, true], [true, false], [false, true]] {
            let grad = |t: Tensor<Ad, 2>, on: bool| if on { t.require_grad() } else { t };
            let (a1, b1) = (grad(input([7, 5], 1.0), track[0]), grad(input([7, 5], 4.0), track[1]));
            let (a2, b2) = (grad(input([7, 5], 1.0), track[0]), grad(input([7, 5], 4.0), track[1]));
            let fused = super::mse(a1.clone(), b1.clone()).unwrap_or_else(|_| panic!("ndarray f32 takes the fused path"));
            let reference = (a2.clone() - b2.clone()).powi_scalar(2).mean();
            assert_close("value", fused.clone().inner(), reference.clone().inner());
            // A downstream factor, so the upstream gradient is not 1.
            let (g1, g2) = (fused.mul_scalar(3.0).backward(), reference.mul_scalar(3.0).backward());
            for (on, got, want) in [(track[0], a1.grad(&g1), a2.grad(&g2)), (track[1], b1.grad(&g1), b2.grad(&g2))] {
                match (on, got, want) {
                    (true, Some(got), Some(want)) => assert_close("gradient", got, want),
                    (false, None, None) => {}
                    (on, got, _) => panic!("tracked={on} but gradient present={}", got.is_some()),
                }
            }
        }
    }
}
