//! The fused CPU kernels of [`crate::kernels`] behind Burn's tensor types.
//!
//! Each function here returns `Some` when its tensors are f32 tensors of the ndarray or flex
//! backend, with or without autodiff (then it records its own backward step, as Burn's own ops
//! do), and `None` otherwise: the caller then runs its generic formula, which is what GPU
//! backends and other dtypes use. Which backends qualify is decided by type identity here, the
//! one place besides `backend/mod.rs` that names concrete backends.
//!
//! `RECFOUND_FUSED=0` in the environment turns the fused paths off (to compare, or to rule them
//! out when debugging).

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{Arc, OnceLock};

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::{Backend, BackendTypes};
use burn::tensor::{Bool, DType, Tensor, TensorData, TensorMetadata, TensorPrimitive};

use crate::kernels::{self, attention::Dims, attention::Visible};

/// Whether the fused paths are on (`RECFOUND_FUSED=0` turns them off).
fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("RECFOUND_FUSED").map_or(true, |v| v != "0"))
}

/// Moves a value between two names of one type (`B` and the concrete backend it was found to be).
pub(super) fn same<T: 'static, U: 'static>(x: T) -> U {
    *(Box::new(x) as Box<dyn Any>).downcast::<U>().unwrap_or_else(|_| unreachable!("the types were compared first"))
}

/// Returns `Ok($plain::<Inner>(args))` or `Ok($ad::<Inner>(args))` from the enclosing function
/// for the concrete backend `$B` is, moving the arguments and the result between the two names
/// of their types; falls through for other backends.
macro_rules! on_host {
    ($B:ty, $plain:ident, $ad:ident, ($($arg:expr),*)) => {{
        let id = TypeId::of::<$B>();
        #[cfg(feature = "ndarray")]
        {
            type Cpu = super::NdArrayBackend;
            if id == TypeId::of::<Cpu>() {
                return Ok(same($plain::<Cpu>($(same($arg)),*)));
            } else if id == TypeId::of::<Autodiff<Cpu>>() {
                return Ok(same($ad::<Cpu>($(same($arg)),*)));
            }
        }
        #[cfg(feature = "flex")]
        {
            type Cpu = super::FlexBackend;
            if id == TypeId::of::<Cpu>() {
                return Ok(same($plain::<Cpu>($(same($arg)),*)));
            } else if id == TypeId::of::<Autodiff<Cpu>>() {
                return Ok(same($ad::<Cpu>($(same($arg)),*)));
            }
        }
        let _ = id;
    }};
}
pub(super) use on_host;

/// Whether `B` is one of the backends [`on_host!`] serves and the tensors are f32 (checked
/// before any work the fused path needs, such as reading a mask back).
pub(super) fn host_kind<B: Backend>(dtypes: &[DType]) -> bool {
    host_f32(dtypes) && super::is_cpu::<B>()
}

/// Whether the fused paths are on and every tensor is f32.
pub(super) fn host_f32(dtypes: &[DType]) -> bool {
    enabled() && dtypes.iter().all(|d| *d == DType::F32)
}

// --- moving data between tensors and the host ----------------------------------------------

pub(super) fn to_host<I: Backend, const D: usize>(x: Tensor<I, D>) -> Vec<f32> {
    x.into_data().into_vec::<f32>().expect("fused kernels only take f32 tensors (checked by host_kind)")
}

pub(super) fn from_host<I: Backend, const D: usize>(values: Vec<f32>, shape: [usize; D], device: &I::Device) -> Tensor<I, D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// An autodiff tensor: the inner tensor plus its graph node.
pub(super) type AdPrimitive<I> = <Autodiff<I> as BackendTypes>::FloatTensorPrimitive;

/// The inner tensor, and the autodiff tensor left with its graph node and an empty inner one.
/// The inner tensor is moved out, not cloned: a buffer nobody else holds reaches the host
/// without a copy (ndarray copies a shared one element by element).
pub(super) fn ad_parts<I: Backend, const D: usize>(x: Tensor<Autodiff<I>, D>) -> (Tensor<I, D>, AdPrimitive<I>) {
    let mut ad: AdPrimitive<I> = x.into_primitive().tensor();
    let empty = primitive(Tensor::<I, 1>::empty([0], &I::float_device(&ad.primitive)));
    let inner = std::mem::replace(&mut ad.primitive, empty);
    (Tensor::from_primitive(TensorPrimitive::Float(inner)), ad)
}

pub(super) fn primitive<I: Backend, const D: usize>(x: Tensor<I, D>) -> I::FloatTensorPrimitive {
    x.into_primitive().tensor()
}

/// A gradient primitive (as `Gradients::consume` returns it) on the host.
pub(super) fn host_grad<I: Backend>(grad: I::FloatTensorPrimitive) -> Vec<f32> {
    // The data is row-major whatever the primitive's rank; a rank-1 view reads it as is.
    let n = grad.shape().num_elements();
    to_host(Tensor::<I, 1>::from_primitive(TensorPrimitive::Float(I::float_reshape(grad, [n].into()))))
}

/// A host buffer kept for a backward step (Debug without printing the values).
#[derive(Clone)]
pub(super) struct Kept(pub(super) Arc<Vec<f32>>);

impl fmt::Debug for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kept({} values)", self.0.len())
    }
}

// --- SwiGLU ----------------------------------------------------------------------------------

/// `silu(gate) * up` (SwiGLU's gating) in one pass each way; the operands come back in `Err`
/// on other backends.
///
/// # Shapes
/// - gate, up: `[B, T, I]` -> `[B, T, I]`
pub fn swiglu<B: Backend>(gate: Tensor<B, 3>, up: Tensor<B, 3>) -> Result<Tensor<B, 3>, (Tensor<B, 3>, Tensor<B, 3>)> {
    if host_kind::<B>(&[gate.dtype(), up.dtype()]) && gate.dims() == up.dims() {
        on_host!(B, swiglu_plain, swiglu_ad, (gate, up));
    }
    Err((gate, up))
}

fn swiglu_plain<I: Backend>(gate: Tensor<I, 3>, up: Tensor<I, 3>) -> Tensor<I, 3> {
    let (shape, device) = (gate.dims(), gate.device());
    let (g, u) = (to_host(gate), to_host(up));
    let mut out = kernels::zeroed(g.len());
    kernels::swiglu::forward(&g, &u, &mut out);
    from_host(out, shape, &device)
}

#[derive(Debug)]
struct SwigluBackward;

impl<I: Backend> Backward<I, 2> for SwigluBackward {
    type State = (Kept, Kept, [usize; 3], I::Device);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (gate, up, shape, device) = ops.state;
        let d_out = host_grad::<I>(grads.consume::<I>(&ops.node));
        let (mut d_gate, mut d_up) = (kernels::zeroed(d_out.len()), kernels::zeroed(d_out.len()));
        kernels::swiglu::backward(&gate.0, &up.0, &d_out, &mut d_gate, &mut d_up);
        for (parent, grad) in ops.parents.iter().zip([d_gate, d_up]) {
            if let Some(parent) = parent {
                grads.register::<I>(parent.id, primitive(from_host::<I, 3>(grad, shape, &device)));
            }
        }
    }
}

fn swiglu_ad<I: Backend>(gate: Tensor<Autodiff<I>, 3>, up: Tensor<Autodiff<I>, 3>) -> Tensor<Autodiff<I>, 3> {
    let (shape, device) = (gate.dims(), gate.device());
    let ((gate, gate_ad), (up, up_ad)) = (ad_parts(gate), ad_parts(up));
    let (g, u) = (to_host(gate), to_host(up));
    let mut out = kernels::zeroed(g.len());
    kernels::swiglu::forward(&g, &u, &mut out);
    let out = primitive(from_host::<I, 3>(out, shape, &device));
    let prep = <SwigluBackward as Backward<I, 2>>::prepare::<NoCheckpointing>(SwigluBackward, [gate_ad.node.clone(), up_ad.node.clone()]);
    let ad = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((Kept(Arc::new(g)), Kept(Arc::new(u)), shape, device), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(ad))
}

// --- token cross-entropy -----------------------------------------------------------------------

/// Per-row `-log softmax(logits)[target]`, 0 where the target is negative (HF's -100); the
/// logits come back in `Err` on other backends.
///
/// # Shapes
/// - logits: `[N, V]`, targets: `N` values -> `[N]`
pub fn token_nll<B: Backend>(logits: Tensor<B, 2>, targets: &[i64]) -> Result<Tensor<B, 1>, Tensor<B, 2>> {
    if host_kind::<B>(&[logits.dtype()]) && logits.dims()[0] == targets.len() {
        on_host!(B, token_nll_plain, token_nll_ad, (logits, Arc::new(targets.to_vec())));
    }
    Err(logits)
}

fn token_nll_forward<I: Backend>(logits: Tensor<I, 2>, targets: &[i64]) -> (Vec<f32>, Vec<f32>) {
    let [n, v] = logits.dims();
    let logits = to_host(logits);
    let (mut loss, mut probs) = (kernels::zeroed(n), kernels::zeroed(n * v));
    kernels::token_nll::forward(&logits, v, targets, &mut loss, &mut probs);
    (loss, probs)
}

fn token_nll_plain<I: Backend>(logits: Tensor<I, 2>, targets: Arc<Vec<i64>>) -> Tensor<I, 1> {
    let device = logits.device();
    let (loss, _) = token_nll_forward(logits, &targets);
    let n = loss.len();
    from_host(loss, [n], &device)
}

#[derive(Debug)]
struct TokenNllBackward;

impl<I: Backend> Backward<I, 1> for TokenNllBackward {
    type State = (Kept, Arc<Vec<i64>>, I::Device);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (probs, targets, device) = ops.state;
        let d_loss = host_grad::<I>(grads.consume::<I>(&ops.node));
        let [parent] = ops.parents;
        if let Some(parent) = parent {
            let (n, v) = (targets.len(), probs.0.len() / targets.len().max(1));
            let mut d_logits = kernels::zeroed(n * v);
            kernels::token_nll::backward(&probs.0, v, &targets, &d_loss, &mut d_logits);
            grads.register::<I>(parent.id, primitive(from_host::<I, 2>(d_logits, [n, v], &device)));
        }
    }
}

fn token_nll_ad<I: Backend>(logits: Tensor<Autodiff<I>, 2>, targets: Arc<Vec<i64>>) -> Tensor<Autodiff<I>, 1> {
    let device = logits.device();
    let (logits, logits_ad) = ad_parts(logits);
    let (loss, probs) = token_nll_forward(logits, &targets);
    let n = loss.len();
    let out = primitive(from_host::<I, 1>(loss, [n], &device));
    let prep = <TokenNllBackward as Backward<I, 1>>::prepare::<NoCheckpointing>(TokenNllBackward, [logits_ad.node.clone()]);
    let ad = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((Kept(Arc::new(probs)), targets, device), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(ad))
}

// --- attention ---------------------------------------------------------------------------------

/// What an attention call sees besides q, k and v.
#[derive(Debug, Clone)]
struct Masking {
    /// `[B, T, Tk]`, true = hidden; `None` with `causal` or for full attention.
    hidden: Option<Arc<Vec<bool>>>,
    causal: bool,
}

impl Masking {
    fn visible(&self) -> Visible<'_> {
        match (&self.hidden, self.causal) {
            (Some(mask), _) => Visible::Hidden(mask),
            (None, true) => Visible::Causal,
            (None, false) => Visible::All,
        }
    }
}

/// Scaled dot-product attention with grouped-query heads on the projections' own layout,
/// `softmax(q k^T / sqrt(Dh) + mask) v`, the key/value head `j` serving query heads
/// `j * H/Hkv ..`. `mask` is true where a key is hidden; `is_causal` applies when it is `None`.
/// `host_mask`, when given, is the same mask already on the host (`AttnPlan` keeps one, so the
/// layers do not each read the tensor back). `cached` says k and v come from a KV cache, which
/// also holds them: ndarray copies such shared buffers one element at a time, so there the
/// cached calls keep Burn's attention (flex copies them whole). q, k and v come back in `Err`
/// on other backends.
///
/// # Shapes
/// - q: `[B, T, H, Dh]`, k, v: `[B, Tk, Hkv, Dh]`, mask: `[B, 1, T, Tk]` -> `[B, T, H, Dh]`
pub fn attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: Option<&Tensor<B, 4, Bool>>,
    host_mask: Option<&Arc<Vec<bool>>>,
    is_causal: bool,
    cached: bool,
) -> Result<Tensor<B, 4>, [Tensor<B, 4>; 3]> {
    if cached && !super::is_flex::<B>() {
        return Err([q, k, v]);
    }
    let ([b, t, h, dh], [_, tk, hkv, _]) = (q.dims(), k.dims());
    let fits = k.dims() == v.dims() && k.dims()[0] == b && k.dims()[3] == dh && hkv > 0 && h % hkv == 0 && tk >= t;
    let mask_fits = mask.is_none_or(|m| m.dims() == [b, 1, t, tk]);
    if host_kind::<B>(&[q.dtype(), k.dtype(), v.dtype()]) && fits && mask_fits {
        let dims = Dims { batch: b, q_len: t, kv_len: tk, heads: h, kv_heads: hkv, head_dim: dh };
        let from_tensor = |m: &Tensor<B, 4, Bool>| Arc::new(m.clone().into_data().iter::<bool>().collect::<Vec<bool>>());
        let hidden = mask.map(|m| host_mask.filter(|h| h.len() == b * t * tk).cloned().unwrap_or_else(|| from_tensor(m)));
        let masking = Masking { hidden, causal: is_causal };
        on_host!(B, attention_plain, attention_ad, (q, k, v, dims, masking));
    }
    Err([q, k, v])
}

fn attention_forward(dims: Dims, q: &[f32], k: &[f32], v: &[f32], masking: &Masking) -> (Vec<f32>, Vec<f32>) {
    let mut out = kernels::zeroed(q.len());
    let mut probs = kernels::zeroed(dims.batch * dims.heads * dims.q_len * dims.kv_len);
    kernels::attention::forward(dims, q, k, v, masking.visible(), &mut out, &mut probs);
    (out, probs)
}

fn attention_plain<I: Backend>(q: Tensor<I, 4>, k: Tensor<I, 4>, v: Tensor<I, 4>, dims: Dims, masking: Masking) -> Tensor<I, 4> {
    let (shape, device) = (q.dims(), q.device());
    let (out, _) = attention_forward(dims, &to_host(q), &to_host(k), &to_host(v), &masking);
    from_host(out, shape, &device)
}

#[derive(Debug, Clone)]
struct AttentionState<D: Clone + fmt::Debug> {
    dims: Dims,
    q: Kept,
    k: Kept,
    v: Kept,
    out: Kept,
    probs: Kept,
    device: D,
}

#[derive(Debug)]
struct AttentionBackward;

impl<I: Backend> Backward<I, 3> for AttentionBackward {
    type State = AttentionState<I::Device>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        let d_out = host_grad::<I>(grads.consume::<I>(&ops.node));
        let (mut d_q, mut d_k, mut d_v) = (kernels::zeroed(s.q.0.len()), kernels::zeroed(s.k.0.len()), kernels::zeroed(s.v.0.len()));
        kernels::attention::backward(s.dims, &s.q.0, &s.k.0, &s.v.0, &s.out.0, &s.probs.0, &d_out, &mut d_q, &mut d_k, &mut d_v);
        let d = s.dims;
        let q_shape = [d.batch, d.q_len, d.heads, d.head_dim];
        let kv_shape = [d.batch, d.kv_len, d.kv_heads, d.head_dim];
        for (parent, (grad, shape)) in ops.parents.iter().zip([(d_q, q_shape), (d_k, kv_shape), (d_v, kv_shape)]) {
            if let Some(parent) = parent {
                grads.register::<I>(parent.id, primitive(from_host::<I, 4>(grad, shape, &s.device)));
            }
        }
    }
}

fn attention_ad<I: Backend>(
    q: Tensor<Autodiff<I>, 4>,
    k: Tensor<Autodiff<I>, 4>,
    v: Tensor<Autodiff<I>, 4>,
    dims: Dims,
    masking: Masking,
) -> Tensor<Autodiff<I>, 4> {
    let (shape, device) = (q.dims(), q.device());
    let ((q, q_ad), (k, k_ad), (v, v_ad)) = (ad_parts(q), ad_parts(k), ad_parts(v));
    let (q, k, v) = (to_host(q), to_host(k), to_host(v));
    let (out, probs) = attention_forward(dims, &q, &k, &v, &masking);
    let nodes = [q_ad.node.clone(), k_ad.node.clone(), v_ad.node.clone()];
    let prep = <AttentionBackward as Backward<I, 3>>::prepare::<NoCheckpointing>(AttentionBackward, nodes);
    let ad = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let out_tensor = primitive(from_host::<I, 4>(out.clone(), shape, &device));
            let keep = |x: Vec<f32>| Kept(Arc::new(x));
            let state = AttentionState { dims, q: keep(q), k: keep(k), v: keep(v), out: keep(out), probs: keep(probs), device };
            prep.finish(state, out_tensor)
        }
        OpsKind::UnTracked(prep) => prep.finish(primitive(from_host::<I, 4>(out, shape, &device))),
    };
    Tensor::from_primitive(TensorPrimitive::Float(ad))
}

#[cfg(test)]
mod tests {
    //! Each fused path against Burn's own ops (an independent implementation) on
    //! `Autodiff<NdArray>`: the values, and the gradients that reach the inputs.
    use burn::backend::Autodiff;
    use burn::tensor::activation::{log_softmax, silu};
    use burn::tensor::module::attention as burn_attention;
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{Bool, Int, Tensor, TensorData};

    use crate::backend::{TestBackend, assert_close, test_input};

    type Ad = Autodiff<TestBackend>;

    fn input<const D: usize>(shape: [usize; D], seed: f32) -> Tensor<Ad, D> {
        test_input::<Ad, D>(shape, seed).require_grad()
    }

    #[test]
    fn swiglu_matches_burn() {
        let (gate, up) = (input([2, 3, 11], 1.0), input([2, 3, 11], 2.0));
        let weights = input([2, 3, 11], 3.0).detach();
        let fused = super::swiglu(gate.clone(), up.clone()).unwrap_or_else(|_| panic!("ndarray f32 takes the fused path"));
        let reference = silu(gate.clone()) * up.clone();
        assert_close("value", fused.clone().inner(), reference.clone().inner());
        let g1 = (fused * weights.clone()).sum().backward();
        let g2 = (reference * weights).sum().backward();
        assert_close("d_gate", gate.grad(&g1).unwrap(), gate.grad(&g2).unwrap());
        assert_close("d_up", up.grad(&g1).unwrap(), up.grad(&g2).unwrap());
    }

    #[test]
    fn token_nll_matches_burn() {
        let logits = input([5, 7], 1.0);
        let targets = [3i64, -100, 0, 6, 2];
        let fused = super::token_nll(logits.clone(), &targets).unwrap_or_else(|_| panic!("fused path"));
        let index = Tensor::<Ad, 2, Int>::from_data(TensorData::new(vec![3i64, 0, 0, 6, 2], [5, 1]), &Default::default());
        let keep = Tensor::<Ad, 1>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0, 1.0, 1.0], [5]), &Default::default());
        let reference = log_softmax(logits.clone(), 1).gather(1, index).reshape([5]).neg() * keep;
        assert_close("loss", fused.clone().inner(), reference.clone().inner());
        let scale = input([5], 4.0).detach();
        let g1 = (fused * scale.clone()).sum().backward();
        let g2 = (reference * scale).sum().backward();
        assert_close("d_logits", logits.grad(&g1).unwrap(), logits.grad(&g2).unwrap());
    }

    /// Burn's attention on `[B, H, T, Dh]` with each kv head repeated for its query heads.
    fn burn_reference(q: Tensor<Ad, 4>, k: Tensor<Ad, 4>, v: Tensor<Ad, 4>, mask: Option<Tensor<Ad, 4, Bool>>, causal: bool) -> Tensor<Ad, 4> {
        let [b, _, h, _] = q.dims();
        let [_, tk, hkv, dh] = k.dims();
        let repeat = |x: Tensor<Ad, 4>| {
            x.swap_dims(1, 2) // [B, Hkv, Tk, Dh]
                .unsqueeze_dim::<5>(2)
                .expand([b, hkv, h / hkv, tk, dh])
                .reshape([b, h, tk, dh])
        };
        let t = q.dims()[1];
        let mask = mask.map(|m| m.expand([b, h, t, tk]));
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: causal };
        burn_attention(q.swap_dims(1, 2), repeat(k), repeat(v), mask, None, options).swap_dims(1, 2) // [B, T, H, Dh]
    }

    fn attention_case(mask: Option<Vec<bool>>, causal: bool) {
        let (q, k, v) = (input([2, 6, 4, 8], 1.0), input([2, 6, 2, 8], 2.0), input([2, 6, 2, 8], 3.0));
        let mask = mask.map(|m| Tensor::<Ad, 4, Bool>::from_data(TensorData::new(m, [2, 1, 6, 6]), &Default::default()));
        let fused = super::attention(q.clone(), k.clone(), v.clone(), mask.as_ref(), None, causal, false).unwrap_or_else(|_| panic!("fused path"));
        let reference = burn_reference(q.clone(), k.clone(), v.clone(), mask, causal);
        assert_close("out", fused.clone().inner(), reference.clone().inner());
        let weights = input([2, 6, 4, 8], 4.0).detach();
        let g1 = (fused * weights.clone()).sum().backward();
        let g2 = (reference * weights).sum().backward();
        assert_close("d_q", q.grad(&g1).unwrap(), q.grad(&g2).unwrap());
        assert_close("d_k", k.grad(&g1).unwrap(), k.grad(&g2).unwrap());
        assert_close("d_v", v.grad(&g1).unwrap(), v.grad(&g2).unwrap());
    }

    #[test]
    fn causal_attention_matches_burn() {
        attention_case(None, true);
    }

    #[test]
    fn masked_attention_matches_burn() {
        // Row 1 left-padded by two tokens (as batched prompts are), plus causality.
        let mask: Vec<bool> = (0..2 * 36).map(|x| (x / 36, x / 6 % 6, x % 6)).map(|(b, i, j)| j > i || (b == 1 && j < 2)).collect();
        attention_case(Some(mask), false);
    }

    #[test]
    fn other_dtypes_fall_back() {
        let x = Tensor::<TestBackend, 3>::ones([1, 2, 3], &Default::default()).cast(burn::tensor::DType::F64);
        assert!(super::swiglu(x.clone(), x).is_err());
    }
}
