//! RecFound rows tokenised for training: an embedding example is a query with its group of
//! documents (one positive, then hard negatives), a generative example is prompt + answer with
//! the answer boundary. A [`JointBatch`] holds both branches of one step.

use crate::recfound::{EmbeddingRow, GenerativeRow, TaskId};
use crate::text::{EmbedEncoding, GenerationEncoding, PromptTemplate, TextTokenizer, TokenizerError, encode_for_embedding, encode_for_training};

/// Errors from turning rows into training examples.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{task} row {row}: {message}")]
    Row { task: TaskId, row: usize, message: String },
    #[error("{task} row {row}: {source}")]
    Tokenizer { task: TaskId, row: usize, source: TokenizerError },
}

/// A query and its `group` documents: `docs[0]` is the positive, the rest hard negatives.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingExample {
    pub task: TaskId,
    pub query: EmbedEncoding,
    pub docs: Vec<EmbedEncoding>,
}

/// A prompt/answer pair; the loss covers `ids[prompt_len..]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerativeExample {
    pub task: TaskId,
    pub encoding: GenerationEncoding,
}

/// The examples of one training (or validation) step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JointBatch {
    pub embedding: Vec<EmbeddingExample>,
    pub generative: Vec<GenerativeExample>,
}

impl JointBatch {
    pub fn is_empty(&self) -> bool {
        self.embedding.is_empty() && self.generative.is_empty()
    }
}

/// Cuts an embedding input to `max_len` tokens (the text's tail goes; the instruction stays).
fn truncate_embed(mut e: EmbedEncoding, max_len: usize) -> EmbedEncoding {
    e.ids.truncate(max_len.max(e.pool_start + 1));
    e
}

/// An embedding row with exactly `group - 1` hard negatives: GritLM samples negatives from the
/// row's list; we take them in order and cycle when the row has fewer (the list is already
/// shuffled by the builder). A row without a positive, or without negatives when `group > 1`,
/// is an error naming it.
pub fn embedding_example(
    row: &EmbeddingRow,
    index: usize,
    tok: &TextTokenizer,
    template: PromptTemplate,
    group: usize,
    max_len: usize,
) -> Result<EmbeddingExample, BatchError> {
    let err = |message: &str| BatchError::Row { task: row.task, row: index, message: message.to_string() };
    let tok_err = |source| BatchError::Tokenizer { task: row.task, row: index, source };
    let pos = row.pos.first().ok_or_else(|| err("has no positive"))?;
    if group > 1 && row.neg.is_empty() {
        return Err(err(&format!("has no hard negative, but the train group size is {group}")));
    }
    let encode = |(instruction, text): &(String, String)| {
        encode_for_embedding(tok, template, instruction, text).map(|e| truncate_embed(e, max_len)).map_err(tok_err)
    };
    let mut docs = vec![encode(pos)?];
    for neg in row.neg.iter().cycle().take(group - 1) {
        docs.push(encode(neg)?);
    }
    Ok(EmbeddingExample { task: row.task, query: encode(&row.query)?, docs })
}

/// A generative row's first prompt/answer turn (the released rows have one), cut to `max_len`
/// tokens from the end of the answer. `None` when the prompt alone fills `max_len` (no answer
/// token would be trained; the caller counts these as skipped).
pub fn generative_example(
    row: &GenerativeRow,
    index: usize,
    tok: &TextTokenizer,
    template: PromptTemplate,
    max_len: usize,
) -> Result<Option<GenerativeExample>, BatchError> {
    let [prompt, answer, ..] = row.text.as_slice() else {
        return Err(BatchError::Row { task: row.task, row: index, message: "needs a prompt and an answer in `text`".into() });
    };
    let mut encoding = encode_for_training(tok, template, prompt, answer).map_err(|source| BatchError::Tokenizer { task: row.task, row: index, source })?;
    if encoding.prompt_len >= max_len || encoding.prompt_len >= encoding.ids.len() {
        return Ok(None);
    }
    encoding.ids.truncate(max_len);
    Ok(Some(GenerativeExample { task: row.task, encoding }))
}
