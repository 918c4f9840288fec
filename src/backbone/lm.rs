//! A decoder with an optional adapter bound to the batch's rows: what generation, beam search
//! and embedding run. `&Decoder` converts into it, so code that has no adapter is unchanged.

use burn::tensor::{Int, Tensor, backend::Backend};

use super::cache::KvCache;
use super::decoder::{Decoder, ProjectionDelta};
use super::mask::{AttnMode, TokenMask};

/// A decoder plus the adapter (if any) that adds to its projections.
pub struct Lm<'a, B: Backend> {
    pub decoder: &'a Decoder<B>,
    pub adapter: Option<&'a dyn ProjectionDelta<B>>,
}

// Derived Clone/Copy would require `B: Copy`.
impl<B: Backend> Clone for Lm<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Backend> Copy for Lm<'_, B> {}

impl<'a, B: Backend> From<&'a Decoder<B>> for Lm<'a, B> {
    fn from(decoder: &'a Decoder<B>) -> Self {
        Self { decoder, adapter: None }
    }
}

impl<'a, B: Backend> Lm<'a, B> {
    pub fn new(decoder: &'a Decoder<B>, adapter: Option<&'a dyn ProjectionDelta<B>>) -> Self {
        Self { decoder, adapter }
    }

    pub fn vocab_size(&self) -> usize {
        self.decoder.model.embed_tokens.weight.dims()[0]
    }

    pub fn new_cache(&self) -> KvCache<B> {
        self.decoder.new_cache()
    }

    /// # Shapes
    /// - ids: `[B, T]` -> `[B, T, D]`
    pub fn forward_hidden(&self, ids: Tensor<B, 2, Int>, mask: &TokenMask, mode: AttnMode, cache: Option<&mut KvCache<B>>) -> Tensor<B, 3> {
        self.decoder.forward_hidden_adapted(ids, mask, mode, cache, self.adapter)
    }

    /// Logits of every position.
    ///
    /// # Shapes
    /// - ids: `[B, T]` -> `[B, T, V]`
    pub fn forward(&self, ids: Tensor<B, 2, Int>, mask: &TokenMask, mode: AttnMode, cache: Option<&mut KvCache<B>>) -> Tensor<B, 3> {
        self.decoder.lm_head(self.forward_hidden(ids, mask, mode, cache))
    }

    /// Logits of the last position of each row only (what decoding needs; skips the LM head on
    /// every other position). Rows must be left-padded so that their last token is at `T - 1`.
    ///
    /// # Shapes
    /// - ids: `[B, T]` -> `[B, V]`
    pub fn forward_last(&self, ids: Tensor<B, 2, Int>, mask: &TokenMask, cache: Option<&mut KvCache<B>>) -> Tensor<B, 2> {
        let hidden = self.forward_hidden(ids, mask, AttnMode::Causal, cache); // [B, T, D]
        let [b, t, d] = hidden.dims();
        let last = hidden.slice([0..b, t - 1..t, 0..d]); // [B, 1, D]
        let logits = self.decoder.lm_head(last); // [B, 1, V]
        let v = logits.dims()[2];
        logits.reshape([b, v]) // [B, V]
    }
}
