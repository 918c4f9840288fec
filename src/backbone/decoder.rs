//! The decoder, top to bottom: RmsNorm -> Mlp -> Attention -> DecoderLayer -> DecoderModel ->
//! Decoder (with the LM head). One file for Qwen2, Mistral and Llama: they differ only in
//! biases, head_dim and the sliding window, all read from [`DecoderConfig`].
//!
//! Mirrors transformers' `Qwen2ForCausalLM` / `MistralForCausalLM` / `LlamaForCausalLM`; module
//! fields carry HF's checkpoint names, so loading needs no rename table (see `load.rs`).

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::{DType, Tensor, activation::silu, backend::Backend, module::attention, ops::AttentionModuleOptions};
use burn::tensor::{Bool, Int};

use super::cache::KvCache;
use crate::backend::{fused, rowwise};
use super::config::DecoderConfig;
use super::mask::{AttnMode, AttnPlan, TokenMask};
use super::rope::{RopeTables, inv_freq};

/// HF's initializer_range default; only random (quickstart, test) models use it.
const INIT_STD: f64 = 0.02;

/// `linear.forward` on a `[B, T, D]` input as one `[B*T, D]` matrix product: Burn's `Linear`
/// broadcasts its weight over the batch, which some backends (ndarray) run as B small products
/// of T rows, at T = 1 during decoding matrix-vector products (3-4x slower at batch 8).
///
/// # Shapes
/// - x: `[B, T, D_in]` -> `[B, T, D_out]`
pub fn project<B: Backend>(layer: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, t, d] = x.dims();
    // A base stored in another dtype (bf16, see `Decoder::with_base_dtype`) multiplies in it;
    // the result comes back in the activations' dtype.
    let dtype = x.dtype();
    let x = in_dtype(x.reshape([b * t, d]), layer.weight.val().dtype()); // [B*T, D_in]
    let y = in_dtype(crate::backend::linear::apply(layer, x), dtype); // [B*T, D_out]
    let d_out = y.dims()[1];
    y.reshape([b, t, d_out]) // [B, T, D_out]
}

/// `x` cast to `dtype`, untouched when it already is.
fn in_dtype<B: Backend, const D: usize>(x: Tensor<B, D>, dtype: DType) -> Tensor<B, D> {
    if x.dtype() == dtype { x } else { x.cast(dtype) }
}

/// A projection an adapter may act on, named as in HF checkpoints (and PEFT's `target_modules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Proj {
    pub const ALL: [Proj; 7] = [Proj::Q, Proj::K, Proj::V, Proj::O, Proj::Gate, Proj::Up, Proj::Down];

    /// The module's own name (`q_proj`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Proj::Q => "q_proj",
            Proj::K => "k_proj",
            Proj::V => "v_proj",
            Proj::O => "o_proj",
            Proj::Gate => "gate_proj",
            Proj::Up => "up_proj",
            Proj::Down => "down_proj",
        }
    }

    /// The parent module (`self_attn` or `mlp`).
    pub fn parent(self) -> &'static str {
        match self {
            Proj::Q | Proj::K | Proj::V | Proj::O => "self_attn",
            _ => "mlp",
        }
    }

    /// The full HF module path of this projection in layer `layer`.
    pub fn module_path(self, layer: usize) -> String {
        format!("model.layers.{layer}.{}.{}", self.parent(), self.name())
    }

    /// Position in [`Proj::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What an adapter (LoRA, TMoLE) adds to the decoder's projections. Row `b` of every input
/// belongs to row `b` of the batch being run, so per-sample state (TMoLE's routing) is bound to
/// the batch's rows before the forward pass.
pub trait ProjectionDelta<B: Backend> {
    /// The addition to projection `proj` of layer `layer` for its input `x`, or `None` where the
    /// adapter does not act.
    ///
    /// # Shapes
    /// - x: `[B, T, D_in]` -> `[B, T, D_out]`
    fn delta(&self, layer: usize, proj: Proj, x: Tensor<B, 3>) -> Option<Tensor<B, 3>>;
}

/// The adapter (if any) as one layer sees it.
pub struct LayerDelta<'a, B: Backend> {
    pub adapter: Option<&'a dyn ProjectionDelta<B>>,
    pub layer: usize,
}

// Derived Clone/Copy would require `B: Copy`.
impl<B: Backend> Clone for LayerDelta<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Backend> Copy for LayerDelta<'_, B> {}

impl<B: Backend> LayerDelta<'_, B> {
    /// `base(x)` plus the adapter's delta where it acts.
    ///
    /// # Shapes
    /// - x: `[B, T, D_in]` -> `[B, T, D_out]`
    fn project(self, base: &Linear<B>, proj: Proj, x: Tensor<B, 3>) -> Tensor<B, 3> {
        match self.adapter.and_then(|a| a.delta(self.layer, proj, x.clone())) {
            Some(delta) => project(base, x) + delta,
            None => project(base, x),
        }
    }
}

fn linear<B: Backend>(d_in: usize, d_out: usize, bias: bool, device: &B::Device) -> Linear<B> {
    LinearConfig::new(d_in, d_out)
        .with_bias(bias)
        .with_initializer(Initializer::Normal { mean: 0.0, std: INIT_STD })
        .init(device)
}

/// Root-mean-square norm computed in f32 whatever the model dtype, as HF's `Qwen2RMSNorm`.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    pub fn new(size: usize, eps: f64, device: &B::Device) -> Self {
        Self { weight: Initializer::Ones.init([size], device), eps }
    }

    /// # Shapes
    /// - x: `[.., D]` -> `[.., D]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dims = x.dims();
        let (d, rows) = (dims[D - 1], dims.iter().product::<usize>() / dims[D - 1].max(1));
        let x = match rowwise::rms_norm(x.reshape([rows, d]), self.weight.val(), self.eps) {
            Ok(out) => return out.reshape(dims), // [.., D]
            Err((x, _)) => x.reshape(dims), // [.., D]
        };
        let dtype = x.dtype();
        let x = x.cast(DType::F32);
        let variance = x.clone().square().mean_dim(D - 1);
        let normed = x * (variance + self.eps).sqrt().recip();
        normed.cast(dtype) * self.weight.val().unsqueeze()
    }
}

/// SwiGLU feed-forward: `down(silu(gate(x)) * up(x))`.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub gate_proj: Linear<B>,
    pub up_proj: Linear<B>,
    pub down_proj: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// # Shapes
    /// - x: `[B, T, D]` -> `[B, T, D]`
    pub fn forward(&self, x: Tensor<B, 3>, delta: LayerDelta<'_, B>) -> Tensor<B, 3> {
        let gate = delta.project(&self.gate_proj, Proj::Gate, x.clone()); // [B, T, I]
        let up = delta.project(&self.up_proj, Proj::Up, x); // [B, T, I]
        let hidden = fused::swiglu(gate, up).unwrap_or_else(|(gate, up)| silu(gate) * up);
        delta.project(&self.down_proj, Proj::Down, hidden)
    }
}

/// Grouped-query self-attention (multi-query when `num_key_value_heads` = 1) with RoPE.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub o_proj: Linear<B>,
    pub num_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
}

impl<B: Backend> Attention<B> {
    /// # Shapes
    /// - x: `[B, T, D]` -> `[B, T, D]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: &RopeTables<B>,
        plan: &AttnPlan<B>,
        cache: Option<(&mut KvCache<B>, usize)>,
        delta: LayerDelta<'_, B>,
    ) -> Tensor<B, 3> {
        let [b, t, _] = x.dims();
        let (h, hkv, dh) = (self.num_heads, self.num_key_value_heads, self.head_dim);
        // RoPE runs on the projections' own [B, T, H, Dh] layout, before the head axis moves,
        // so its elementwise ops see contiguous memory.
        let q = delta.project(&self.q_proj, Proj::Q, x.clone()).reshape([b, t, h, dh]); // [B, T, H, Dh]
        let k = delta.project(&self.k_proj, Proj::K, x.clone()).reshape([b, t, hkv, dh]); // [B, T, Hkv, Dh]
        let v = delta.project(&self.v_proj, Proj::V, x).reshape([b, t, hkv, dh]); // [B, T, Hkv, Dh]
        let (mut q, mut k, mut v) = (rope.apply(q), rope.apply(k), v);
        let cached = cache.is_some();
        if let Some((cache, layer)) = cache {
            (k, v) = cache.append(layer, k, v); // [B, Tk, Hkv, Dh] each
        }
        // CPU backends: fused attention on this layout, no head-axis copies and no repeated
        // key/value heads (backend::fused).
        match fused::attention(q, k, v, plan.mask.as_ref(), plan.host_mask.as_ref(), plan.is_causal, cached) {
            Ok(out) => return delta.project(&self.o_proj, Proj::O, out.reshape([b, t, h * dh])), // [B, T, H*Dh]
            Err(back) => [q, k, v] = back,
        }
        let q = q.swap_dims(1, 2); // [B, H, T, Dh]
        let k = k.swap_dims(1, 2); // [B, Hkv, Tk, Dh]
        let v = v.swap_dims(1, 2); // [B, Hkv, Tk, Dh]
        let out = attend(q, k, v, plan.mask.clone(), plan.is_causal); // [B, H, T, Dh]
        let out = out.swap_dims(1, 2) // [B, T, H, Dh]
            .reshape([b, t, h * dh]); // [B, T, H*Dh]
        delta.project(&self.o_proj, Proj::O, out)
    }
}

/// softmax(q k^T / sqrt(Dh) + mask) v with `Hkv` key/value heads shared by `H / Hkv` query heads.
///
/// A single-token step (decoding) folds the query heads of a group into the query axis so keys
/// and values are never copied; longer chunks repeat keys/values so the op's causal flag holds.
///
/// # Shapes
/// - q: `[B, H, T, Dh]`, k, v: `[B, Hkv, Tk, Dh]`, mask: `[B, 1, T, Tk]` -> `[B, H, T, Dh]`
fn attend<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: Option<Tensor<B, 4, Bool>>,
    is_causal: bool,
) -> Tensor<B, 4> {
    let [b, h, t, dh] = q.dims();
    let [_, hkv, tk, _] = k.dims();
    let n_rep = h / hkv;
    let options = AttentionModuleOptions { scale: None, softcap: None, is_causal };
    if t == 1 && n_rep > 1 {
        let q = q.reshape([b, hkv, n_rep, dh]); // [B, Hkv, n_rep, Dh]: a group's heads as queries
        let mask = mask.map(|m| m.expand([b, hkv, n_rep, tk])); // [B, Hkv, n_rep, Tk]
        let options = AttentionModuleOptions { is_causal: false, ..options };
        return attention(q, k, v, mask, None, options) // [B, Hkv, n_rep, Dh]
            .reshape([b, h, 1, dh]); // [B, H, 1, Dh]
    }
    let (k, v) = if n_rep > 1 { (repeat_kv(k, n_rep), repeat_kv(v, n_rep)) } else { (k, v) };
    let mask = mask.map(|m| m.expand([b, h, t, tk])); // [B, H, T, Tk]
    attention(q, k, v, mask, None, options)
}

/// HF's `repeat_kv`: each key/value head serves `n_rep` consecutive query heads.
///
/// # Shapes
/// - x: `[B, Hkv, Tk, Dh]` -> `[B, Hkv*n_rep, Tk, Dh]`
fn repeat_kv<B: Backend>(x: Tensor<B, 4>, n_rep: usize) -> Tensor<B, 4> {
    let [b, hkv, tk, dh] = x.dims();
    x.unsqueeze_dim::<5>(2) // [B, Hkv, 1, Tk, Dh]
        .expand([b, hkv, n_rep, tk, dh]) // [B, Hkv, n_rep, Tk, Dh]
        .reshape([b, hkv * n_rep, tk, dh]) // [B, H, Tk, Dh]
}

/// Pre-norm transformer block: `x + attn(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub self_attn: Attention<B>,
    pub mlp: Mlp<B>,
    pub input_layernorm: RmsNorm<B>,
    pub post_attention_layernorm: RmsNorm<B>,
}

impl<B: Backend> DecoderLayer<B> {
    /// # Shapes
    /// - x: `[B, T, D]` -> `[B, T, D]`
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rope: &RopeTables<B>,
        plan: &AttnPlan<B>,
        cache: Option<(&mut KvCache<B>, usize)>,
        delta: LayerDelta<'_, B>,
    ) -> Tensor<B, 3> {
        let x = x.clone() + self.self_attn.forward(self.input_layernorm.forward(x), rope, plan, cache, delta);
        x.clone() + self.mlp.forward(self.post_attention_layernorm.forward(x), delta)
    }
}

/// Embeddings, the stack of layers and the final norm (HF's `model.*` keys).
#[derive(Module, Debug)]
pub struct DecoderModel<B: Backend> {
    pub embed_tokens: Embedding<B>,
    pub layers: Vec<DecoderLayer<B>>,
    pub norm: RmsNorm<B>,
    pub rope_theta: f64,
    pub rope_linear_factor: f64,
    pub head_dim: usize,
    /// 0 = no sliding window.
    pub sliding_window: usize,
}

/// The decoder with its LM head (HF's `*ForCausalLM`). `lm_head` is `None` when tied to
/// `model.embed_tokens`.
#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    pub model: DecoderModel<B>,
    pub lm_head: Option<Linear<B>>,
}

impl DecoderConfig {
    /// A randomly initialised decoder (HF's normal(0, 0.02)); load weights with `load.rs`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Decoder<B> {
        let (d, h, hkv, dh) = (self.hidden_size, self.num_attention_heads, self.num_key_value_heads, self.head_dim);
        let layers = (0..self.num_hidden_layers)
            .map(|_| DecoderLayer {
                self_attn: Attention {
                    q_proj: linear(d, h * dh, self.qkv_bias, device),
                    k_proj: linear(d, hkv * dh, self.qkv_bias, device),
                    v_proj: linear(d, hkv * dh, self.qkv_bias, device),
                    o_proj: linear(h * dh, d, self.o_bias, device),
                    num_heads: h,
                    num_key_value_heads: hkv,
                    head_dim: dh,
                },
                mlp: Mlp {
                    gate_proj: linear(d, self.intermediate_size, self.mlp_bias, device),
                    up_proj: linear(d, self.intermediate_size, self.mlp_bias, device),
                    down_proj: linear(self.intermediate_size, d, self.mlp_bias, device),
                },
                input_layernorm: RmsNorm::new(d, self.rms_norm_eps, device),
                post_attention_layernorm: RmsNorm::new(d, self.rms_norm_eps, device),
            })
            .collect();
        let embed_tokens = EmbeddingConfig::new(self.vocab_size, d)
            .with_initializer(Initializer::Normal { mean: 0.0, std: INIT_STD })
            .init(device);
        Decoder {
            model: DecoderModel {
                embed_tokens,
                layers,
                norm: RmsNorm::new(d, self.rms_norm_eps, device),
                rope_theta: self.rope_theta,
                rope_linear_factor: self.rope_linear_factor,
                head_dim: dh,
                sliding_window: self.sliding_window.unwrap_or(0),
            },
            lm_head: (!self.tie_word_embeddings).then(|| linear(d, self.vocab_size, false, device)),
        }
    }
}

impl<B: Backend> Decoder<B> {
    pub fn num_layers(&self) -> usize {
        self.model.layers.len()
    }

    /// The projection `proj` of layer `layer` (panics when the layer does not exist).
    pub fn projection(&self, layer: usize, proj: Proj) -> &Linear<B> {
        let l = &self.model.layers[layer];
        match proj {
            Proj::Q => &l.self_attn.q_proj,
            Proj::K => &l.self_attn.k_proj,
            Proj::V => &l.self_attn.v_proj,
            Proj::O => &l.self_attn.o_proj,
            Proj::Gate => &l.mlp.gate_proj,
            Proj::Up => &l.mlp.up_proj,
            Proj::Down => &l.mlp.down_proj,
        }
    }

    /// Mutable [`Decoder::projection`], for merging adapters into the base weights.
    pub fn projection_mut(&mut self, layer: usize, proj: Proj) -> &mut Linear<B> {
        let l = &mut self.model.layers[layer];
        match proj {
            Proj::Q => &mut l.self_attn.q_proj,
            Proj::K => &mut l.self_attn.k_proj,
            Proj::V => &mut l.self_attn.v_proj,
            Proj::O => &mut l.self_attn.o_proj,
            Proj::Gate => &mut l.mlp.gate_proj,
            Proj::Up => &mut l.mlp.up_proj,
            Proj::Down => &mut l.mlp.down_proj,
        }
    }

    /// The dtype activations are computed in: the norms', which stay f32.
    pub fn compute_dtype(&self) -> DType {
        self.model.norm.weight.val().dtype()
    }

    /// The decoder with its embeddings, projections and LM head stored in `dtype` (bf16 halves
    /// a frozen base's memory on GPUs); the norms stay f32, and so do the activations: each
    /// projection casts its input to the weight's dtype and its output back (`project`).
    /// Parameter ids are kept.
    pub fn with_base_dtype(mut self, dtype: DType) -> Self {
        let cast = |linear: &mut Linear<B>| {
            linear.weight = linear.weight.clone().map(|w| in_dtype(w, dtype));
            linear.bias = linear.bias.take().map(|b| b.map(|b| in_dtype(b, dtype)));
        };
        for layer in &mut self.model.layers {
            let (a, m) = (&mut layer.self_attn, &mut layer.mlp);
            [&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj, &mut m.gate_proj, &mut m.up_proj, &mut m.down_proj].into_iter().for_each(cast);
        }
        if let Some(head) = self.lm_head.as_mut() {
            cast(head);
        }
        let embed = &mut self.model.embed_tokens;
        embed.weight = embed.weight.clone().map(|w| in_dtype(w, dtype));
        self
    }

    /// A fresh KV cache sized for this decoder.
    pub fn new_cache(&self) -> KvCache<B> {
        KvCache::new(self.num_layers())
    }

    /// Final hidden states (after the last norm) of a chunk of tokens, appended to `cache` when
    /// given. `mask` says which tokens are real (padding is never attended to).
    ///
    /// # Shapes
    /// - ids: `[B, T]` -> `[B, T, D]`
    pub fn forward_hidden(&self, ids: Tensor<B, 2, Int>, mask: &TokenMask, mode: AttnMode, cache: Option<&mut KvCache<B>>) -> Tensor<B, 3> {
        self.forward_hidden_adapted(ids, mask, mode, cache, None)
    }

    /// [`Decoder::forward_hidden`] with an adapter adding its deltas to the projections.
    ///
    /// # Shapes
    /// - ids: `[B, T]` -> `[B, T, D]`
    pub fn forward_hidden_adapted(
        &self,
        ids: Tensor<B, 2, Int>,
        mask: &TokenMask,
        mode: AttnMode,
        mut cache: Option<&mut KvCache<B>>,
        adapter: Option<&dyn ProjectionDelta<B>>,
    ) -> Tensor<B, 3> {
        let [b, t] = ids.dims();
        assert_eq!([mask.batch(), mask.len()], [b, t], "token mask must match the ids' [B, T]");
        let device = ids.device();
        let (past_valid, seen) = match cache.as_deref() {
            Some(c) => (c.key_valid().to_vec(), c.seen().to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        let window = (self.model.sliding_window > 0).then_some(self.model.sliding_window);
        let plan = AttnPlan::new(mask, &past_valid, &seen, mode, window, &device);
        let freqs = inv_freq(self.model.head_dim, self.model.rope_theta, self.model.rope_linear_factor);
        let heads = self.model.layers.first().map_or(vec![], |l| vec![l.self_attn.num_heads, l.self_attn.num_key_value_heads]);
        let rope = RopeTables::new(&plan.positions, b, t, &freqs, &heads, &device);
        if let Some(c) = cache.as_deref_mut() {
            c.push_tokens((0..b).map(|row| mask.row(row).to_vec()));
        }

        // Activations are in the norms' dtype (f32), whatever the embeddings are stored in.
        let mut x = in_dtype(self.model.embed_tokens.forward(ids), self.compute_dtype()); // [B, T, D]
        for (i, layer) in self.model.layers.iter().enumerate() {
            let delta = LayerDelta { adapter, layer: i };
            x = layer.forward(x, &rope, &plan, cache.as_deref_mut().map(|c| (c, i)), delta);
        }
        self.model.norm.forward(x)
    }

    /// Vocabulary logits of hidden states.
    ///
    /// # Shapes
    /// - hidden: `[B, T, D]` -> `[B, T, V]`
    pub fn lm_head(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.lm_head {
            Some(head) => project(head, hidden),
            None => {
                let [b, t, d] = hidden.dims();
                let weight = self.model.embed_tokens.weight.val().transpose(); // [D, V]
                let (v, dtype) = (weight.dims()[1], hidden.dtype());
                let hidden = in_dtype(hidden.reshape([b * t, d]), weight.dtype()); // [B*T, D]
                in_dtype(crate::backend::linear::matmul(hidden, weight), dtype).reshape([b, t, v]) // [B, T, V]
            }
        }
    }

    /// Logits of every position.
    ///
    /// # Shapes
    /// - ids: `[B, T]` -> `[B, T, V]`
    pub fn forward(&self, ids: Tensor<B, 2, Int>, mask: &TokenMask, mode: AttnMode, cache: Option<&mut KvCache<B>>) -> Tensor<B, 3> {
        self.lm_head(self.forward_hidden(ids, mask, mode, cache))
    }

    /// Logits of the last position of each row only (what decoding needs; skips the LM head on
    /// every other position). Rows must be left-padded so that their last token is at `T - 1`.
    ///
    /// # Shapes
    /// - ids: `[B, T]` -> `[B, V]`
    pub fn forward_last(&self, ids: Tensor<B, 2, Int>, mask: &TokenMask, cache: Option<&mut KvCache<B>>) -> Tensor<B, 2> {
        super::lm::Lm::from(self).forward_last(ids, mask, cache)
    }
}
