//! Batched autoregressive generation with a KV cache: greedy or sampled. Prompts of different
//! lengths are left-padded (as transformers' `generate`), so every row's next token is read at
//! the last position. Beam search lives in `beam.rs`.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use super::lm::Lm;
use super::mask::TokenMask;
use super::sampling::Sampler;

/// When to stop and what to emit after a row finished.
#[derive(Debug, Clone, PartialEq)]
pub struct StopConfig {
    pub max_new_tokens: usize,
    /// A row stops after emitting one of these (the EOS token is kept in its output, as HF does).
    pub eos_token_ids: Vec<u32>,
    /// Fills left padding; any id works since padding is masked.
    pub pad_token_id: u32,
}

/// Errors from generation inputs.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("prompt {index} is empty")]
    EmptyPrompt { index: usize },
    #[error("prompt {index}: token id {id} is outside the vocabulary (size {vocab_size})")]
    TokenOutOfRange { index: usize, id: u32, vocab_size: usize },
    #[error("num_beams must be at least 1")]
    NoBeams,
}

/// Checks prompts before any work: non-empty, ids inside the vocabulary.
pub fn check_prompts(prompts: &[Vec<u32>], vocab_size: usize) -> Result<(), GenerateError> {
    for (index, prompt) in prompts.iter().enumerate() {
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt { index });
        }
        if let Some(&id) = prompt.iter().find(|&&id| id as usize >= vocab_size) {
            return Err(GenerateError::TokenOutOfRange { index, id, vocab_size });
        }
    }
    Ok(())
}

/// Left-pads `rows` to one length. Returns ids `[B, T]` and the token mask.
pub fn left_pad<B: Backend>(rows: &[Vec<u32>], pad: u32, device: &B::Device) -> (Tensor<B, 2, Int>, TokenMask) {
    let len = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(rows.len() * len);
    for row in rows {
        ids.extend(std::iter::repeat_n(pad as i64, len - row.len()));
        ids.extend(row.iter().map(|&t| t as i64));
    }
    let lengths: Vec<usize> = rows.iter().map(Vec::len).collect();
    let ids = Tensor::from_data(TensorData::new(ids, [rows.len(), len]), device);
    (ids, TokenMask::left_padded(&lengths, len))
}

/// One token per row as a `[B, 1]` id tensor.
pub fn step_ids<B: Backend>(tokens: &[u32], device: &B::Device) -> Tensor<B, 2, Int> {
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    Tensor::from_data(TensorData::new(ids, [tokens.len(), 1]), device)
}

/// Generates up to `stop.max_new_tokens` tokens for every prompt, in one batch.
/// Returns the new tokens of each prompt (prompt excluded, EOS included when emitted). An
/// adapter in `lm` must be bound to one row per prompt.
pub fn generate<'a, B: Backend>(
    lm: impl Into<Lm<'a, B>>,
    prompts: &[Vec<u32>],
    sampler: &mut Sampler,
    stop: &StopConfig,
    device: &B::Device,
) -> Result<Vec<Vec<u32>>, GenerateError> {
    let _span = tracing::debug_span!("generate", prompts = prompts.len(), max_new_tokens = stop.max_new_tokens).entered();
    let lm = lm.into();
    check_prompts(prompts, lm.vocab_size())?;
    let batch = prompts.len();
    let mut out = vec![Vec::new(); batch];
    if batch == 0 || stop.max_new_tokens == 0 {
        return Ok(out);
    }
    let mut finished = vec![false; batch];
    let mut cache = lm.new_cache();
    let (ids, mask) = left_pad::<B>(prompts, stop.pad_token_id, device);
    let mut logits = lm.forward_last(ids, &mask, Some(&mut cache)); // [B, V]
    let step_mask = TokenMask::all(batch, 1);
    for step in 0..stop.max_new_tokens {
        let next = choose(logits, sampler);
        let mut fed = Vec::with_capacity(batch);
        for (row, token) in next.into_iter().enumerate() {
            if finished[row] {
                fed.push(stop.pad_token_id);
                continue;
            }
            out[row].push(token);
            finished[row] = stop.eos_token_ids.contains(&token);
            fed.push(token);
        }
        if step + 1 == stop.max_new_tokens || finished.iter().all(|f| *f) {
            break;
        }
        logits = lm.forward_last(step_ids::<B>(&fed, device), &step_mask, Some(&mut cache));
    }
    Ok(out)
}

/// Next token of every row. Greedy reads back only the argmax; sampling needs the logits.
///
/// # Shapes
/// - logits: `[B, V]`
fn choose<B: Backend>(logits: Tensor<B, 2>, sampler: &mut Sampler) -> Vec<u32> {
    let [batch, vocab] = logits.dims();
    if sampler.is_greedy() {
        // One host sync per step, and only B integers cross it.
        return logits.argmax(1).into_data().iter::<i64>().map(|t| t as u32).collect();
    }
    let values: Vec<f32> = logits.into_data().iter::<f32>().collect();
    (0..batch).map(|b| sampler.choose(&values[b * vocab..(b + 1) * vocab])).collect()
}
