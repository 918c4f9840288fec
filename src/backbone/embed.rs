//! Text embeddings from the decoder: mean of the final hidden states over a chosen token span
//! (so instruction tokens can be left out, as GritLM and RecFound pool), optionally
//! L2-normalised, with causal or bidirectional attention.

use burn::tensor::{Tensor, TensorData, backend::Backend};

use super::lm::Lm;
use super::mask::{AttnMode, TokenMask};

/// One sequence to embed: its ids and the index of the first token that is pooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedInput {
    pub ids: Vec<u32>,
    pub pool_start: usize,
}

/// Errors from embedding inputs.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("input {index}: pooling starts at token {pool_start} but the input has {len} tokens")]
    EmptySpan { index: usize, pool_start: usize, len: usize },
}

/// Mean-pooled embeddings of a batch (right-padded internally).
///
/// # Shapes
/// - returns `[N, D]`
pub fn embed<'a, B: Backend>(
    lm: impl Into<Lm<'a, B>>,
    inputs: &[EmbedInput],
    mode: AttnMode,
    normalize: bool,
    device: &B::Device,
) -> Result<Tensor<B, 2>, EmbedError> {
    let lm = lm.into();
    for (index, input) in inputs.iter().enumerate() {
        if input.pool_start >= input.ids.len() {
            return Err(EmbedError::EmptySpan { index, pool_start: input.pool_start, len: input.ids.len() });
        }
    }
    let n = inputs.len();
    let len = inputs.iter().map(|i| i.ids.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(n * len);
    let mut weights = Vec::with_capacity(n * len);
    for input in inputs {
        let span = (input.ids.len() - input.pool_start) as f32;
        for t in 0..len {
            ids.push(input.ids.get(t).map_or(0, |&id| id as i64));
            let pooled = t >= input.pool_start && t < input.ids.len();
            weights.push(if pooled { 1.0 / span } else { 0.0 });
        }
    }
    let lengths: Vec<usize> = inputs.iter().map(|i| i.ids.len()).collect();
    let mask = TokenMask::right_padded(&lengths, len);
    let ids = Tensor::from_data(TensorData::new(ids, [n, len]), device);
    let weights = Tensor::<B, 3>::from_data(TensorData::new(weights, [n, len, 1]), device);
    let hidden = lm.forward_hidden(ids, &mask, mode, None); // [N, T, D]
    let dtype = hidden.dtype();
    let pooled = (hidden * weights.cast(dtype)).sum_dim(1); // [N, 1, D]
    let d = pooled.dims()[2];
    let pooled = pooled.reshape([n, d]); // [N, D]
    Ok(if normalize { l2_normalize(pooled) } else { pooled })
}

/// Rows scaled to unit L2 norm (a zero row stays zero).
///
/// # Shapes
/// - x: `[N, D]` -> `[N, D]`
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12); // [N, 1]
    x / norm
}
