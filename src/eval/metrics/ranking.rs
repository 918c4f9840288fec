//! Ranking metrics of the embedding tasks (RecFound §5.1, k = 20): MRR@k for U2I and Q2I (one
//! positive among 1 + 19 candidates) and NDCG@k for I2I (binary relevance), per query, from the
//! candidates' scores (cosine similarities). Ties are scored by their expectation under a
//! uniformly random order of the tied candidates, so a constant scorer earns no credit for
//! where it happens to put the positive.

use super::MetricError;

/// Reciprocal rank of candidate `positive` if it ranks within the top `k` by descending score,
/// else 0. With `e` other candidates tied with it and `g` strictly above, its rank is uniform on
/// g+1 ..= g+e+1 and the result is the mean of 1/rank over those ranks (counting 0 beyond k).
pub fn mrr_at_k(scores: &[f32], positive: usize, k: usize) -> Result<f64, MetricError> {
    check_scores("mrr_at_k", scores, k)?;
    let Some(&s) = scores.get(positive) else {
        return Err(MetricError::PositiveOutOfRange { metric: "mrr_at_k", index: positive, len: scores.len() });
    };
    let greater = scores.iter().filter(|&&x| x > s).count();
    let tied = scores.iter().filter(|&&x| x == s).count(); // includes the positive itself
    let sum: f64 = (greater + 1..=greater + tied).filter(|&r| r <= k).map(|r| 1.0 / r as f64).sum();
    Ok(sum / tied as f64)
}

/// NDCG@k with binary gains: DCG = Σ_{r<=k} rel_r / log2(r + 1) over the candidates sorted by
/// descending score, divided by the DCG of the ideal order. Inside a group of m tied candidates
/// holding p relevant ones, each position gains p / m (the expectation over their orders).
pub fn ndcg_at_k(scores: &[f32], relevant: &[bool], k: usize) -> Result<f64, MetricError> {
    check_scores("ndcg_at_k", scores, k)?;
    if relevant.len() != scores.len() {
        return Err(MetricError::Length { metric: "ndcg_at_k", predictions: scores.len(), labels: relevant.len() });
    }
    let positives = relevant.iter().filter(|&&r| r).count();
    if positives == 0 {
        return Err(MetricError::NoPositive { metric: "ndcg_at_k" });
    }
    let discount = |rank: usize| 1.0 / (rank as f64 + 1.0).log2();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    let mut dcg = 0.0;
    let mut start = 0; // 0-based position of the current tie group
    while start < order.len() && start < k {
        let s = scores[order[start]];
        let end = start + order[start..].iter().take_while(|&&i| scores[i] == s).count();
        let gain = order[start..end].iter().filter(|&&i| relevant[i]).count() as f64 / (end - start) as f64;
        dcg += (start + 1..=end.min(k)).map(|r| gain * discount(r)).sum::<f64>();
        start = end;
    }
    let ideal: f64 = (1..=positives.min(k)).map(discount).sum();
    Ok(dcg / ideal)
}

/// Rejects k = 0, no candidates and non-finite scores.
fn check_scores(metric: &'static str, scores: &[f32], k: usize) -> Result<(), MetricError> {
    if k == 0 {
        return Err(MetricError::ZeroK { metric });
    }
    if scores.is_empty() {
        return Err(MetricError::Empty { metric });
    }
    match scores.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(MetricError::NonFiniteScore { metric, index }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::close;

    #[test]
    fn mrr_by_hand() {
        // Positive (0.7) ranks 2nd -> 1/2; with k = 1 it falls outside -> 0.
        assert!(close(mrr_at_k(&[0.9, 0.5, 0.7], 2, 20).unwrap(), 0.5));
        assert_eq!(mrr_at_k(&[0.9, 0.5, 0.7], 2, 1).unwrap(), 0.0);
        // Top-ranked positive among 1 + 19 gives 1.
        let mut scores = vec![0.1f32; 20];
        scores[7] = 0.95;
        assert_eq!(mrr_at_k(&scores, 7, 20).unwrap(), 1.0);
    }

    #[test]
    fn mrr_ties_take_the_expectation() {
        // Positive tied with two others at the top: rank 1, 2 or 3 -> (1 + 1/2 + 1/3)/3 = 11/18.
        assert!(close(mrr_at_k(&[0.5, 0.5, 0.5, 0.1], 0, 20).unwrap(), 11.0 / 18.0));
        // k = 2 cuts rank 3: (1 + 1/2 + 0)/3 = 1/2.
        assert!(close(mrr_at_k(&[0.5, 0.5, 0.5, 0.1], 0, 2).unwrap(), 0.5));
    }

    #[test]
    fn ndcg_by_hand() {
        // Relevant at ranks 2, 3: DCG = 1/log2 3 + 1/log2 4; IDCG = 1 + 1/log2 3.
        let l3 = 1.0 / 3f64.log2();
        let got = ndcg_at_k(&[0.9, 0.8, 0.7], &[false, true, true], 20).unwrap();
        assert!(close(got, (l3 + 0.5) / (1.0 + l3)));
        // k = 1: the top one is not relevant -> 0.
        assert_eq!(ndcg_at_k(&[0.9, 0.8, 0.7], &[false, true, true], 1).unwrap(), 0.0);
        // Perfect order -> 1.
        assert!(close(ndcg_at_k(&[0.9, 0.8, 0.7], &[true, true, false], 20).unwrap(), 1.0));
    }

    #[test]
    fn ndcg_ties_take_the_expectation() {
        // One relevant in a tie of two at the top: each position gains 1/2 ->
        // DCG = 1/2 (1 + 1/log2 3), IDCG = 1.
        let l3 = 1.0 / 3f64.log2();
        assert!(close(ndcg_at_k(&[0.5, 0.5, 0.1], &[true, false, false], 20).unwrap(), 0.5 * (1.0 + l3)));
        // k = 1 inside the tie: 1/2.
        assert!(close(ndcg_at_k(&[0.5, 0.5, 0.1], &[true, false, false], 1).unwrap(), 0.5));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(mrr_at_k(&[], 0, 20), Err(MetricError::Empty { metric: "mrr_at_k" }));
        assert_eq!(mrr_at_k(&[0.1], 0, 0), Err(MetricError::ZeroK { metric: "mrr_at_k" }));
        assert!(matches!(mrr_at_k(&[0.1, 0.2], 2, 20), Err(MetricError::PositiveOutOfRange { index: 2, len: 2, .. })));
        assert!(matches!(mrr_at_k(&[0.1, f32::NAN], 0, 20), Err(MetricError::NonFiniteScore { index: 1, .. })));
        assert_eq!(ndcg_at_k(&[0.1, 0.2], &[false, false], 20), Err(MetricError::NoPositive { metric: "ndcg_at_k" }));
        assert!(matches!(ndcg_at_k(&[0.1], &[true, false], 20), Err(MetricError::Length { .. })));
    }
}
