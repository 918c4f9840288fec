//! Metrics of a ranked top-k list against a set of relevant items (RecBase's top-k
//! recommendation, issue 9 item 5): Recall@K and NDCG@K with binary gains. Unlike
//! [`super::ranking`], the input is an ordered list (no scores, so no ties); an item repeated in
//! the list counts once, at its first position.

use super::MetricError;

/// Share of the relevant items found in the first `k` of `ranked`: |top-k ∩ relevant| /
/// |relevant|. With one relevant item this is the hit rate.
pub fn list_recall_at_k<T: PartialEq>(ranked: &[T], relevant: &[T], k: usize) -> Result<f64, MetricError> {
    check("list_recall_at_k", relevant, k)?;
    let hits = relevant.iter().filter(|r| first_rank(ranked, r).is_some_and(|rank| rank <= k)).count();
    Ok(hits as f64 / relevant.len() as f64)
}

/// NDCG@K with binary gains: Σ over relevant items ranked r <= k of 1 / log2(r + 1), divided by
/// the ideal DCG (every relevant item at the top).
pub fn list_ndcg_at_k<T: PartialEq>(ranked: &[T], relevant: &[T], k: usize) -> Result<f64, MetricError> {
    check("list_ndcg_at_k", relevant, k)?;
    let discount = |rank: usize| 1.0 / (rank as f64 + 1.0).log2();
    let dcg: f64 = relevant.iter().filter_map(|r| first_rank(ranked, r)).filter(|&rank| rank <= k).map(discount).sum();
    let ideal: f64 = (1..=relevant.len().min(k)).map(discount).sum();
    Ok(dcg / ideal)
}

/// 1-based position of the first occurrence of `item`.
fn first_rank<T: PartialEq>(ranked: &[T], item: &T) -> Option<usize> {
    ranked.iter().position(|x| x == item).map(|i| i + 1)
}

fn check<T>(metric: &'static str, relevant: &[T], k: usize) -> Result<(), MetricError> {
    if k == 0 {
        return Err(MetricError::ZeroK { metric });
    }
    if relevant.is_empty() {
        return Err(MetricError::NoPositive { metric });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::close;

    #[test]
    fn recall_by_hand() {
        // Relevant {b, d}; top-3 of [a, b, c, d] holds b only -> 1/2; top-4 holds both -> 1.
        assert!(close(list_recall_at_k(&["a", "b", "c", "d"], &["b", "d"], 3).unwrap(), 0.5));
        assert!(close(list_recall_at_k(&["a", "b", "c", "d"], &["b", "d"], 4).unwrap(), 1.0));
        // A list shorter than k, relevant item absent -> 0.
        assert_eq!(list_recall_at_k(&["a"], &["z"], 10).unwrap(), 0.0);
    }

    #[test]
    fn ndcg_by_hand() {
        // One relevant at rank 3: DCG 1/log2 4 = 1/2, IDCG 1 -> 0.5.
        assert!(close(list_ndcg_at_k(&["a", "b", "c"], &["c"], 3).unwrap(), 0.5));
        // k = 2 cuts it -> 0.
        assert_eq!(list_ndcg_at_k(&["a", "b", "c"], &["c"], 2).unwrap(), 0.0);
        // Relevant {a, c} at ranks 1, 3: (1 + 1/2) / (1 + 1/log2 3).
        let l3 = 1.0 / 3f64.log2();
        assert!(close(list_ndcg_at_k(&["a", "b", "c"], &["a", "c"], 3).unwrap(), 1.5 / (1.0 + l3)));
        // A repeated item counts at its first position only: [c, c] against {c} -> 1.
        assert!(close(list_ndcg_at_k(&["c", "c"], &["c"], 2).unwrap(), 1.0));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(list_recall_at_k(&["a"], &["a"], 0), Err(MetricError::ZeroK { metric: "list_recall_at_k" }));
        assert_eq!(list_ndcg_at_k::<&str>(&["a"], &[], 3), Err(MetricError::NoPositive { metric: "list_ndcg_at_k" }));
    }
}
