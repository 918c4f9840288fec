//! Template-aware encoding: token ids plus the boundary a trainer needs, the first text token
//! for mean pooling (embedding branch) or the first answer token for the loss (generative
//! branch). RecFound §4.1; GritLM's collator computes the same `instruction_lens`.
//!
//! The boundary is found by encoding the prefix on its own and checking that its ids start the
//! full encoding. Every prefix ends in "\n" or `[/INST]`, where BPE does not merge across
//! (Qwen's pre-tokenizer splits line breaks off, SentencePiece's "\n" is a byte-fallback piece),
//! so this holds unless the text itself starts with whitespace that merges with that "\n". Then
//! the boundary falls back to the longest common prefix: the merged token counts as text/answer.

use super::template::{EndOfTurn, PromptTemplate};
use super::tokenizer::{TextTokenizer, TokenizerError, snippet};

/// An embedding input: mean pooling runs over `ids[pool_start..]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedEncoding {
    pub ids: Vec<u32>,
    /// Index of the first token of the text; BOS and instruction tokens come before it.
    pub pool_start: usize,
}

/// A training pair: the loss covers `ids[prompt_len..]` (answer, then end of turn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationEncoding {
    pub ids: Vec<u32>,
    pub prompt_len: usize,
}

impl GenerationEncoding {
    pub fn answer_ids(&self) -> &[u32] {
        &self.ids[self.prompt_len..]
    }
}

/// Length of the longest common prefix of two id sequences.
pub fn shared_prefix_len(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Encodes `instruction` + `text` for the embedding branch.
///
/// Fails with [`TokenizerError::NothingToPool`] when `text` yields no token of its own (an empty
/// text would mean pooling over nothing; GritLM asserts "No text to embed").
pub fn encode_for_embedding(
    tok: &TextTokenizer,
    template: PromptTemplate,
    instruction: &str,
    text: &str,
) -> Result<EmbedEncoding, TokenizerError> {
    let prefix = template.embedding_prefix(instruction);
    let full = format!("{prefix}{text}");
    let prefix_ids = tok.encode(&prefix, true)?;
    let ids = tok.encode(&full, true)?;
    let pool_start = shared_prefix_len(&prefix_ids, &ids);
    if pool_start >= ids.len() {
        return Err(TokenizerError::NothingToPool {
            snippet: snippet(text),
        });
    }
    Ok(EmbedEncoding { ids, pool_start })
}

/// Ids of a generation prompt, ready for the decoder (BOS included where the model has one).
pub fn encode_prompt(
    tok: &TextTokenizer,
    template: PromptTemplate,
    prompt: &str,
) -> Result<Vec<u32>, TokenizerError> {
    tok.encode(&template.render_generation(prompt), true)
}

/// Encodes a prompt/answer pair for the generative branch: prompt, answer, then the end of turn
/// ([`EndOfTurn`]: ChatML's `<|im_end|>` is in the text; otherwise the EOS id is appended, when
/// the tokenizer has one). The EOS id is also appended when the textual end of turn is not one
/// token of this tokenizer (ChatML on Mistral): generation stops on ids, not on text.
pub fn encode_for_training(
    tok: &TextTokenizer,
    template: PromptTemplate,
    prompt: &str,
    answer: &str,
) -> Result<GenerationEncoding, TokenizerError> {
    let pair = template.render_generation_with_answer(prompt, answer);
    let prompt_ids = tok.encode(&pair.prompt, true)?;
    let mut ids = tok.encode(&pair.full, true)?;
    let ends_with_token = match template.end_of_turn() {
        EndOfTurn::Text(end) => tok.token_id(end).is_some(),
        EndOfTurn::EosToken => false,
    };
    if let (false, Some(eos)) = (ends_with_token, tok.eos_token_id()) {
        ids.push(eos);
    }
    let prompt_len = shared_prefix_len(&prompt_ids, &ids);
    Ok(GenerationEncoding { ids, prompt_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefix() {
        assert_eq!(shared_prefix_len(&[1, 2, 3], &[1, 2, 3, 4]), 3);
        assert_eq!(shared_prefix_len(&[1, 2, 9], &[1, 2, 3, 4]), 2);
        assert_eq!(shared_prefix_len(&[], &[1]), 0);
        assert_eq!(shared_prefix_len(&[5], &[]), 0);
    }
}
