//! The two losses of RecFound's joint training (§4.1, DESIGN.md §4): InfoNCE over pooled,
//! L2-normalised embeddings with in-batch and hard negatives, and token cross-entropy over the
//! response only.

use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};

/// Label of a position that takes no part in the cross-entropy (prompt, padding), as HF's -100.
pub const IGNORE: i64 = -100;

/// InfoNCE of GritLM / RecFound: query `i`'s positive is document `i * group`, every other
/// document in the batch (other queries' positives and every hard negative) is a negative.
/// Inputs are L2-normalised, so `q d^T` is the cosine similarity.
///
/// # Shapes
/// - queries: `[N, D]`, docs: `[N * group, D]` (per query: 1 positive then `group - 1` hard
///   negatives) -> `[1]` (the mean over queries)
pub fn info_nce<B: Backend>(queries: Tensor<B, 2>, docs: Tensor<B, 2>, group: usize, temperature: f64) -> Tensor<B, 1> {
    let n = queries.dims()[0];
    assert_eq!(docs.dims()[0], n * group, "InfoNCE needs `group` documents per query");
    let scores = queries.cast(DType::F32).matmul(docs.cast(DType::F32).transpose()) / temperature; // [N, N*group]
    let targets: Vec<i64> = (0..n).map(|i| (i * group) as i64).collect();
    let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(targets, [n]), &scores.device());
    let logp = log_softmax(scores, 1); // [N, N*group]
    let picked = logp.gather(1, targets.reshape([n, 1])); // [N, 1]
    picked.mean().neg()
}

/// Token cross-entropy over the positions whose target is not [`IGNORE`]; the sum of
/// `-log p(target)` over them and their count, so that micro-batches combine into the mean of
/// one big batch (`sum / count` over all of them).
///
/// # Shapes
/// - logits: `[B, T, V]` (position `t` predicts `targets[t]`), targets: `[B, T]` -> (`[1]`, count)
pub fn response_ce_sum<B: Backend>(logits: Tensor<B, 3>, targets: &[i64]) -> (Tensor<B, 1>, usize) {
    let [b, t, v] = logits.dims();
    assert_eq!(targets.len(), b * t, "one target per position");
    let device = logits.device();
    let count = targets.iter().filter(|&&x| x != IGNORE).count();
    let logits = logits.cast(DType::F32).reshape([b * t, v]); // [B*T, V]
    // CPU backends: one fused pass each way (backend::fused).
    let logits = match crate::backend::fused::token_nll(logits, targets) {
        Ok(nll) => return (nll.sum(), count),
        Err(logits) => logits,
    };
    let keep: Vec<f32> = targets.iter().map(|&x| if x == IGNORE { 0.0 } else { 1.0 }).collect();
    let index: Vec<i64> = targets.iter().map(|&x| if x == IGNORE { 0 } else { x }).collect();
    let index = Tensor::<B, 2, Int>::from_data(TensorData::new(index, [b * t, 1]), &device);
    let keep = Tensor::<B, 2>::from_data(TensorData::new(keep, [b * t, 1]), &device);
    let logp = log_softmax(logits, 1); // [B*T, V]
    let picked = logp.gather(1, index) * keep; // [B*T, 1]
    (picked.sum().neg(), count)
}

/// Targets for next-token prediction over the answer: position `t` predicts `ids[t + 1]` when
/// `t + 1 >= prompt_len`; everything else (prompt, the last position, padding up to `len`) is
/// [`IGNORE`].
pub fn response_targets(ids: &[u32], prompt_len: usize, len: usize) -> Vec<i64> {
    (0..len)
        .map(|t| match ids.get(t + 1) {
            Some(&next) if t + 1 >= prompt_len => next as i64,
            _ => IGNORE,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;

    type B = TestBackend;

    use crate::backend::test_matrix as t2;

    #[test]
    fn info_nce_matches_hand_computation() {
        // Two queries, group 2 (positive + one hard negative) -> 4 documents, D = 2.
        // q0 = (1, 0), q1 = (0, 1); docs: d0 = (1, 0) [q0+], d1 = (0, 1) [q0-], d2 = (0, 1) [q1+],
        // d3 = (1, 0) [q1-]. Temperature 0.5: scores row 0 = (2, 0, 0, 2), row 1 = (0, 2, 2, 0).
        // Row 0: -log(e^2 / (2e^2 + 2)) = ln(2 + 2e^-2); row 1 the same.
        let q = t2(&[1., 0., 0., 1.], [2, 2]);
        let d = t2(&[1., 0., 0., 1., 0., 1., 1., 0.], [4, 2]);
        let loss: f32 = info_nce(q, d, 2, 0.5).into_scalar();
        let want = (2.0f32 + 2.0 * (-2.0f32).exp()).ln();
        assert!((loss - want).abs() < 1e-5, "{loss} vs {want}");
    }

    #[test]
    fn response_ce_ignores_prompt_and_padding() {
        // ids [5, 6, 7] with prompt_len 2: only position 1 (predicting 7) counts.
        let targets = response_targets(&[5, 6, 7], 2, 4);
        assert_eq!(targets, [IGNORE, 7, IGNORE, IGNORE]);
        // V = 8; position 1 has logits 0 everywhere except ln(3) at token 7:
        // p(7) = 3 / (7 + 3) = 0.3, loss = -ln 0.3. Other positions carry huge logits that must not count.
        let mut logits = vec![0f32; 4 * 8];
        logits[8 + 7] = 3f32.ln();
        for p in [0usize, 2, 3] {
            logits[p * 8] = 50.0;
        }
        let logits = Tensor::<B, 3>::from_data(TensorData::new(logits, [1, 4, 8]), &Default::default());
        let (sum, count) = response_ce_sum(logits, &targets);
        assert_eq!(count, 1);
        let sum: f32 = sum.into_scalar();
        assert!((sum + 0.3f32.ln()).abs() < 1e-5, "{sum}");
    }
}
