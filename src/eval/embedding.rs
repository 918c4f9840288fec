//! Embedding evaluation (RecFound §5.1; DESIGN.md §7): each query is ranked against 1 positive
//! (U2I, Q2I; all positives for I2I) and negatives by the cosine similarity of mean-pooled
//! embeddings, bidirectional attention, instruction tokens left out of the pool (GritLM's
//! `<|embed|>` layout through [`encode_for_embedding`]).
//!
//! Candidates: the row's positive(s), then its own negatives, then negatives drawn from the other
//! rows of the same split (their positives and negatives, texts the row does not hold) until
//! there are `num_candidates`. The draw is seeded per row, so resuming or `--limit` never changes
//! a row's candidates. Built rows carry one hard negative (book: data), the authors' test rows
//! 19; a row with more negatives than room keeps its first ones.

use std::collections::{HashMap, HashSet};

use burn::tensor::backend::Backend;

use super::error::EvalError;
use super::generative::EvalModel;
use super::predictions::fnv1a64;
use super::protocol::TaskMetric;
use crate::backbone::embed::{EmbedInput, embed};
use crate::backbone::{AttnMode, Lm, ProjectionDelta};
use crate::recfound::instructions::mix64;
use crate::recfound::{EmbeddingRow, TaskId};
use crate::text::{PromptTemplate, encode_for_embedding};

/// An `[instruction, text]` pair as the released rows hold it.
pub type InstructedText = (String, String);

/// A query with its candidates, ready to embed.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingQuery {
    pub task: TaskId,
    pub row: usize,
    pub prompt_id: String,
    pub query: InstructedText,
    pub candidates: Vec<InstructedText>,
    pub relevant: Vec<bool>,
}

/// Every positive and negative of a split, once per text, in file order: where filler
/// negatives are drawn from.
pub fn candidate_pool(rows: &[EmbeddingRow]) -> Vec<InstructedText> {
    let mut seen = HashSet::new();
    rows.iter().flat_map(|r| r.pos.iter().chain(&r.neg)).filter(|c| seen.insert(c.1.clone())).cloned().collect()
}

/// The candidates of test row `index`: positives (the first only for MRR tasks), the row's
/// negatives, then pool texts the row does not hold, ordered by a seeded hash of (row, text).
pub fn build_candidates(
    index: usize,
    row: &EmbeddingRow,
    pool: &[InstructedText],
    metric: TaskMetric,
    num_candidates: usize,
    seed: u64,
) -> (Vec<InstructedText>, Vec<bool>) {
    let positives: Vec<&InstructedText> = if metric == TaskMetric::MrrAt20 { row.pos.iter().take(1).collect() } else { row.pos.iter().collect() };
    let mut candidates: Vec<InstructedText> = positives.into_iter().cloned().collect();
    let mut relevant = vec![true; candidates.len()];
    let mut held: HashSet<&str> = row.pos.iter().map(|c| c.1.as_str()).collect();
    for neg in &row.neg {
        if candidates.len() >= num_candidates {
            break;
        }
        if held.insert(neg.1.as_str()) {
            candidates.push(neg.clone());
            relevant.push(false);
        }
    }
    let room = num_candidates.saturating_sub(candidates.len());
    if room > 0 {
        let row_seed = mix64(seed ^ mix64(index as u64));
        let mut fillers: Vec<(u64, &InstructedText)> =
            pool.iter().filter(|c| !held.contains(c.1.as_str())).map(|c| (mix64(row_seed ^ fnv1a64(&c.1)), c)).collect();
        fillers.sort_by_key(|(h, _)| *h);
        for (_, c) in fillers.into_iter().take(room) {
            candidates.push(c.clone());
            relevant.push(false);
        }
    }
    (candidates, relevant)
}

/// L2-normalised embeddings of `texts`, all bound to `task` (one batch).
pub fn embed_batch<B: Backend>(
    model: &EvalModel<'_, B>,
    task: TaskId,
    texts: &[&InstructedText],
    template: PromptTemplate,
    device: &B::Device,
) -> Result<Vec<Vec<f32>>, EvalError> {
    let inputs = texts
        .iter()
        .map(|(instruction, text)| {
            let enc = encode_for_embedding(model.tokenizer, template, instruction, text)?;
            Ok(EmbedInput { ids: enc.ids, pool_start: enc.pool_start })
        })
        .collect::<Result<Vec<_>, EvalError>>()?;
    let bound = model.adapter.map(|a| a.bind(&vec![task; inputs.len()])).transpose()?;
    let lm = Lm::new(model.decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
    let emb = embed(lm, &inputs, AttnMode::Bidirectional, true, device)?; // [N, D]
    let d = emb.dims()[1];
    let values: Vec<f32> = emb.into_data().convert::<f32>().to_vec().expect("f32 embeddings");
    Ok(values.chunks(d.max(1)).map(<[f32]>::to_vec).collect())
}

/// Embeddings by text, filled as batches are embedded (a candidate shared by many rows is
/// embedded once per task).
#[derive(Debug, Default)]
pub struct EmbeddingCache {
    vectors: HashMap<InstructedText, Vec<f32>>,
}

impl EmbeddingCache {
    /// Embeds those of `texts` not cached yet, `batch_size` at a time; calls `on_batch` after each.
    pub fn fill<B: Backend>(
        &mut self,
        model: &EvalModel<'_, B>,
        task: TaskId,
        texts: &[&InstructedText],
        template: PromptTemplate,
        batch_size: usize,
        device: &B::Device,
    ) -> Result<(), EvalError> {
        let mut seen = HashSet::new();
        let todo: Vec<&InstructedText> = texts.iter().copied().filter(|t| !self.vectors.contains_key(*t) && seen.insert(*t)).collect();
        for chunk in todo.chunks(batch_size.max(1)) {
            for (text, vector) in chunk.iter().zip(embed_batch(model, task, chunk, template, device)?) {
                self.vectors.insert((*text).clone(), vector);
            }
        }
        Ok(())
    }

    pub fn get(&self, text: &InstructedText) -> &[f32] {
        self.vectors.get(text).map(Vec::as_slice).expect("filled before use")
    }
}

/// Cosine similarity of unit vectors: their dot product.
pub fn cosine_unit(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(text: &str) -> InstructedText {
        ("Represent the item".into(), text.into())
    }

    fn row(pos: &[&str], neg: &[&str]) -> EmbeddingRow {
        EmbeddingRow { query: pair("q"), pos: pos.iter().map(|t| pair(t)).collect(), neg: neg.iter().map(|t| pair(t)).collect(), task: TaskId::EmbUser }
    }

    #[test]
    fn candidates_are_positive_own_negatives_then_seeded_fillers() {
        let rows = [row(&["p0"], &["n0"]), row(&["p1"], &["n1"]), row(&["p2"], &["n0"])];
        let pool = candidate_pool(&rows);
        assert_eq!(pool.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["p0", "n0", "p1", "n1", "p2"]);
        let (c, r) = build_candidates(0, &rows[0], &pool, TaskMetric::MrrAt20, 4, 7);
        assert_eq!((&c[0].1[..], &c[1].1[..]), ("p0", "n0"));
        assert_eq!(r, [true, false, false, false]);
        // Fillers come from the other rows, never repeat the row's own texts, and are stable.
        assert!(c[2..].iter().all(|x| ["p1", "n1", "p2"].contains(&x.1.as_str())) && c[2] != c[3]);
        assert_eq!(build_candidates(0, &rows[0], &pool, TaskMetric::MrrAt20, 4, 7).0, c);
        // More candidates than the pool holds: all of it, no more.
        assert_eq!(build_candidates(0, &rows[0], &pool, TaskMetric::MrrAt20, 20, 7).0.len(), 5);
        // MRR keeps the first positive only; NDCG keeps all.
        let multi = row(&["p0", "p1"], &[]);
        assert_eq!(build_candidates(0, &multi, &pool, TaskMetric::MrrAt20, 2, 7).1, [true, false]);
        assert_eq!(build_candidates(0, &multi, &pool, TaskMetric::NdcgAt20, 2, 7).1, [true, true]);
    }
}
