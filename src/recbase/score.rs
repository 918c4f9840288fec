//! Zero-shot candidate scores (RecBase §4.1 "inference", DESIGN.md §8): a candidate item's score
//! is the log-probability the decoder gives its concept ids after the user's history,
//! `score = Σ_l log P(code_l | history, code_0 .. code_{l-1})`, the joint probability of the L
//! tokens. By default every level's softmax runs over the whole vocabulary, exactly what the
//! pretraining loss trained; [`Normalisation::LevelTokens`] renormalises over the level's own
//! tokens instead (a model that put mass on specials or on another level's tokens is not
//! penalised for it).
//!
//! Batched with a shared-history KV cache: one forward over the users' histories (left-padded),
//! then one forward over every candidate's first L - 1 tokens, all of a user's candidates side by
//! side in its row after the cached history, each its own segment of a packed mask
//! ([`TokenMask::packed`]): it sees the history and its own earlier codes, never another
//! candidate, and the cache is never copied per candidate. Level 0 is read at the history's last
//! position. The result is
//! the same as a plain forward of `history + candidate` per candidate (tests/recbase_score.rs),
//! only faster: the history is processed once per user, not once per candidate.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::backbone::generate::left_pad;
use crate::backbone::{AttnMode, Lm, TokenMask};

use super::{ConceptVocab, PAD, RecBaseError};

/// Over which tokens each level's probability is normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalisation {
    /// Softmax over the full vocabulary (specials and every level's tokens): the model's own
    /// next-token distribution, as trained.
    #[default]
    FullVocab,
    /// Softmax over level l's tokens only when scoring code l.
    LevelTokens,
}

/// How [`score_queries`] batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreSettings {
    pub normalisation: Normalisation,
    /// Candidate rows per forward pass (bounds the `[rows, L-1, V]` logits). A user's
    /// candidates are never split, so a batch may exceed it when one user has more.
    pub max_rows: usize,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        Self { normalisation: Normalisation::FullVocab, max_rows: 256 }
    }
}

/// One user's history (`BOS item_1 ... item_n` as tokens) and candidates (each exactly
/// `vocab.levels()` tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreQuery {
    pub history: Vec<u32>,
    pub candidates: Vec<Vec<u32>>,
}

/// Scores every candidate of every query, in order: `result[q][c]` is the log-probability of
/// query q's candidate c. `progress` is called with the number of queries finished so far after
/// each batch. Errors (naming the query and candidate) on an empty history, a candidate of the
/// wrong length or a token past the decoder's vocabulary.
pub fn score_queries<'a, B: Backend>(
    lm: impl Into<Lm<'a, B>>,
    vocab: &ConceptVocab,
    queries: &[ScoreQuery],
    settings: &ScoreSettings,
    device: &B::Device,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<f32>>, RecBaseError> {
    let lm = lm.into();
    check_queries(queries, vocab, lm.vocab_size())?;
    let _span = tracing::debug_span!("score", queries = queries.len()).entered();
    let mut scores = Vec::with_capacity(queries.len());
    let mut start = 0;
    while start < queries.len() {
        let mut end = start + 1;
        let mut rows = queries[start].candidates.len();
        while end < queries.len() && rows + queries[end].candidates.len() <= settings.max_rows.max(1) {
            rows += queries[end].candidates.len();
            end += 1;
        }
        scores.extend(score_batch(lm, vocab, &queries[start..end], settings.normalisation, device));
        progress(end);
        start = end;
    }
    Ok(scores)
}

/// One batch of [`score_queries`]: the histories' forward, the cache repeated per candidate, the
/// candidates' forward, one read-back.
fn score_batch<B: Backend>(
    lm: Lm<'_, B>,
    vocab: &ConceptVocab,
    queries: &[ScoreQuery],
    normalisation: Normalisation,
    device: &B::Device,
) -> Vec<Vec<f32>> {
    let levels = vocab.levels();
    // The user (history row) of each candidate row.
    let rows: Vec<usize> = queries.iter().enumerate().flat_map(|(u, q)| std::iter::repeat_n(u, q.candidates.len())).collect();
    let n = rows.len();
    if n == 0 {
        return queries.iter().map(|_| Vec::new()).collect();
    }
    let tokens: Vec<u32> = queries.iter().flat_map(|q| q.candidates.iter().flatten().copied()).collect(); // [N*L]

    let histories: Vec<Vec<u32>> = queries.iter().map(|q| q.history.clone()).collect();
    let (ids, mask) = left_pad::<B>(&histories, PAD, device);
    let mut cache = lm.new_cache();
    let last = lm.forward_last(ids, &mask, Some(&mut cache)); // [U, V]
    let v = last.dims()[1];
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(rows.iter().map(|&r| r as i64).collect::<Vec<_>>(), [n]), device);
    let first_logits = last.select(0, index).reshape([n, 1, v]); // [N, 1, V]
    let first: Vec<u32> = (0..n).map(|r| tokens[r * levels]).collect();
    let mut per_level = vec![target_log_probs(first_logits, &first, 0, vocab, normalisation)]; // [N, 1]

    if levels > 1 {
        // Every user's candidates go into one row after its cached history, each candidate its
        // own segment: a segment sees the whole history and its own earlier codes, never another
        // candidate, so the history's keys are shared instead of copied once per candidate.
        let per = levels - 1;
        let width = queries.iter().map(|q| q.candidates.len() * per).max().unwrap_or(0);
        let mut inputs = vec![i64::from(PAD); queries.len() * width];
        let mut segments = vec![vec![0u32; width]; queries.len()];
        // Row of the flattened `[U*W, V]` logits read for each (candidate row, level >= 1).
        let mut read = Vec::with_capacity(n * per);
        let mut r = 0;
        for (u, q) in queries.iter().enumerate() {
            for c in 0..q.candidates.len() {
                for j in 0..per {
                    inputs[u * width + c * per + j] = i64::from(tokens[r * levels + j]);
                    segments[u][c * per + j] = c as u32 + 1;
                    read.push((u * width + c * per + j) as i64);
                }
                r += 1;
            }
        }
        let inputs = Tensor::<B, 2, Int>::from_data(TensorData::new(inputs, [queries.len(), width]), device); // [U, W]
        let logits = lm.forward(inputs, &TokenMask::packed(&segments), AttnMode::Causal, Some(&mut cache)); // [U, W, V]
        let read = Tensor::<B, 1, Int>::from_data(TensorData::new(read, [n * per]), device);
        let logits = logits.reshape([queries.len() * width, v]) // [U*W, V]
            .select(0, read) // [N*(L-1), V]
            .reshape([n, per, v]); // [N, L-1, V]
        let targets: Vec<u32> = (0..n).flat_map(|r| tokens[r * levels + 1..(r + 1) * levels].iter().copied()).collect();
        per_level.push(target_log_probs(logits, &targets, 1, vocab, normalisation)); // [N, L-1]
    }
    let total = Tensor::cat(per_level, 1).sum_dim(1); // [N, 1]
    // The one device sync of the batch.
    let flat: Vec<f32> = total.into_data().iter::<f32>().collect();
    let mut flat = flat.into_iter();
    queries.iter().map(|q| flat.by_ref().take(q.candidates.len()).collect()).collect()
}

/// Log-probability of each target token; position t of a row predicts level `first_level + t`.
///
/// # Shapes
/// - logits: `[N, T, V]`, targets: `N*T` row-major -> `[N, T]`
fn target_log_probs<B: Backend>(
    logits: Tensor<B, 3>,
    targets: &[u32],
    first_level: usize,
    vocab: &ConceptVocab,
    normalisation: Normalisation,
) -> Tensor<B, 2> {
    let [n, t, v] = logits.dims();
    let device = logits.device();
    let index = |values: Vec<i64>, len: usize| Tensor::<B, 3, Int>::from_data(TensorData::new(values, [n, len, 1]), &device);
    match normalisation {
        Normalisation::FullVocab => {
            let idx = index(targets.iter().map(|&x| i64::from(x)).collect(), t); // [N, T, 1]
            log_softmax(logits, 2).gather(2, idx).reshape([n, t]) // [N, T]
        }
        Normalisation::LevelTokens => {
            let columns = (0..t)
                .map(|j| {
                    let range = vocab.level_tokens(first_level + j);
                    let (lo, hi) = (range.start as usize, (range.end as usize).min(v));
                    let level = logits.clone().slice([0..n, j..j + 1, lo..hi]); // [N, 1, K_l]
                    let local: Vec<i64> = (0..n).map(|r| i64::from(targets[r * t + j]) - lo as i64).collect();
                    log_softmax(level, 2).gather(2, index(local, 1)).reshape([n, 1]) // [N, 1]
                })
                .collect();
            Tensor::cat(columns, 1) // [N, T]
        }
    }
}

/// Every query has a history; every candidate is one code token per level, inside the decoder.
fn check_queries(queries: &[ScoreQuery], vocab: &ConceptVocab, vocab_size: usize) -> Result<(), RecBaseError> {
    let levels = vocab.levels();
    if vocab.len() > vocab_size {
        return Err(RecBaseError::config(
            "vocab",
            format!("{} tokens, but the decoder's vocab_size is {vocab_size}", vocab.len()),
        ));
    }
    for (q, query) in queries.iter().enumerate() {
        if query.history.is_empty() {
            return Err(RecBaseError::Empty { what: format!("query {q}: no history tokens (not even BOS)") });
        }
        if let Some(&t) = query.history.iter().find(|&&t| t as usize >= vocab_size) {
            return Err(RecBaseError::config("history", format!("query {q}: token {t} is past the vocabulary ({vocab_size})")));
        }
        for (c, tokens) in query.candidates.iter().enumerate() {
            if vocab.item_codes(tokens).is_none() {
                let message = format!("tokens {tokens:?} are not one code per level ({levels} levels)");
                return Err(RecBaseError::Unencodable { item_id: format!("query {q} candidate {c}"), message });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::{DecoderConfig, Family};
    use crate::backend::TestBackend;

    fn tiny(vocab: &ConceptVocab) -> crate::backbone::Decoder<TestBackend> {
        let config = DecoderConfig::new(Family::Qwen2, vocab.len(), 32, 64, 2, 4, 2, 8).with_qkv_bias(true);
        config.init::<TestBackend>(&Default::default())
    }

    #[test]
    fn level_normalisation_gives_proper_distributions() {
        // Two levels of 3 codes: the level-restricted scores of all 9 items of one history sum
        // to probability 1 (a distribution over items); full-vocabulary ones to less than 1.
        let vocab = ConceptVocab::new(vec![3, 3]).unwrap();
        let decoder = tiny(&vocab);
        let items: Vec<Vec<u32>> = (0..3).flat_map(|a| (0..3).map(move |b| vec![3 + a, 6 + b])).collect();
        let query = ScoreQuery { history: vec![1, 4, 7], candidates: items };
        let total = |normalisation| {
            let settings = ScoreSettings { normalisation, max_rows: 4 };
            let s = score_queries(&decoder, &vocab, std::slice::from_ref(&query), &settings, &Default::default(), &mut |_| {}).unwrap();
            s[0].iter().map(|&x| f64::from(x).exp()).sum::<f64>()
        };
        assert!((total(Normalisation::LevelTokens) - 1.0).abs() < 1e-4);
        assert!(total(Normalisation::FullVocab) < 1.0);
    }

    #[test]
    fn bad_queries_are_named() {
        let vocab = ConceptVocab::new(vec![3, 3]).unwrap();
        let decoder = tiny(&vocab);
        let run = |q: ScoreQuery| score_queries(&decoder, &vocab, &[q], &ScoreSettings::default(), &Default::default(), &mut |_| {});
        let err = run(ScoreQuery { history: vec![1], candidates: vec![vec![3, 3]] }).unwrap_err().to_string();
        assert!(err.contains("query 0 candidate 0"), "{err}");
        let err = run(ScoreQuery { history: vec![], candidates: vec![] }).unwrap_err().to_string();
        assert!(err.contains("query 0"), "{err}");
        assert_eq!(run(ScoreQuery { history: vec![1], candidates: vec![] }).unwrap(), vec![Vec::<f32>::new()]);
    }
}
