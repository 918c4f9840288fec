//! BERTScore (Zhang et al., ICLR 2020; the `bert_score` package) on plain vectors: greedy
//! cosine matching of contextual token embeddings. Recall matches every reference token to its
//! most similar candidate token, precision every candidate token to its most similar reference
//! token, each optionally idf-weighted; F1 is their harmonic mean. No baseline rescaling (the
//! package's default). The embeddings come from [`crate::eval::bertscore`].

use std::collections::{HashMap, HashSet};

/// Precision, recall and F1 of one candidate against one reference.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BertScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

fn unit(v: &[f32]) -> Vec<f64> {
    let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    v.iter().map(|x| if norm > 0.0 { f64::from(*x) / norm } else { 0.0 }).collect()
}

/// Weighted mean over `from`'s tokens of each one's best cosine match in `to`.
fn greedy(from: &[Vec<f64>], to: &[Vec<f64>], weights: &[f64]) -> f64 {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let best = |a: &Vec<f64>| to.iter().map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>()).fold(f64::NEG_INFINITY, f64::max);
    from.iter().zip(weights).map(|(a, w)| w * best(a)).sum::<f64>() / total
}

/// BERTScore of `candidate` against `reference` (token embeddings, one vector per token).
/// `idf`: per-token weights of (candidate, reference); `None` weighs every token 1. Either side
/// without tokens scores 0 (the package warns and gives 0 for an empty candidate).
pub fn bertscore(candidate: &[Vec<f32>], reference: &[Vec<f32>], idf: Option<(&[f64], &[f64])>) -> BertScore {
    if candidate.is_empty() || reference.is_empty() {
        return BertScore { precision: 0.0, recall: 0.0, f1: 0.0 };
    }
    let cand: Vec<Vec<f64>> = candidate.iter().map(|v| unit(v)).collect();
    let refs: Vec<Vec<f64>> = reference.iter().map(|v| unit(v)).collect();
    let ones = |n: usize| vec![1.0; n];
    let (wc, wr) = match idf {
        Some((c, r)) => (c.to_vec(), r.to_vec()),
        None => (ones(cand.len()), ones(refs.len())),
    };
    let precision = greedy(&cand, &refs, &wc);
    let recall = greedy(&refs, &cand, &wr);
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    BertScore { precision, recall, f1 }
}

/// The package's idf over the references: `idf(w) = ln((M + 1) / (df(w) + 1))` with M
/// references and df(w) the number of references holding token w (each counted once per
/// reference). A token no reference holds gets `ln(M + 1)`.
pub fn idf_weights(references: &[Vec<u32>]) -> HashMap<u32, f64> {
    let m = references.len() as f64;
    let mut df: HashMap<u32, usize> = HashMap::new();
    for r in references {
        for t in r.iter().collect::<HashSet<_>>() {
            *df.entry(*t).or_default() += 1;
        }
    }
    df.into_iter().map(|(t, n)| (t, ((m + 1.0) / (n as f64 + 1.0)).ln())).collect()
}

/// The idf weight of each of `ids` (`ln(M + 1)` for tokens outside the references).
pub fn idf_of(ids: &[u32], idf: &HashMap<u32, f64>, num_references: usize) -> Vec<f64> {
    let unseen = (num_references as f64 + 1.0).ln();
    ids.iter().map(|t| idf.get(t).copied().unwrap_or(unseen)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn greedy_matching_by_hand() {
        // Candidate tokens c1 = [1, 0], c2 = [0, 1]; reference r1 = [1, 0], r2 = [1, 1] (norm √2).
        // cos(c1, r1) = 1, cos(c1, r2) = 1/√2, cos(c2, r1) = 0, cos(c2, r2) = 1/√2.
        // P = mean over candidates of the best match = (1 + 1/√2) / 2.
        // R = mean over references = (max(1, 0) + max(1/√2, 1/√2)) / 2 = (1 + 1/√2) / 2.
        let c = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let r = vec![vec![1.0, 0.0], vec![1.0, 1.0]];
        let s = bertscore(&c, &r, None);
        let expected = (1.0 + 0.5f64.sqrt()) / 2.0;
        assert!(close(s.precision, expected) && close(s.recall, expected) && close(s.f1, expected));
    }

    #[test]
    fn precision_and_recall_differ_and_idf_weighs() {
        // Candidate [1, 0] alone; reference [1, 0], [0, 1]. P = 1 (its best match is exact).
        // R = (1 + 0) / 2 = 0.5. F1 = 2 * 1 * 0.5 / 1.5 = 2/3.
        let c = vec![vec![2.0, 0.0]]; // scale does not matter
        let r = vec![vec![1.0, 0.0], vec![0.0, 3.0]];
        let s = bertscore(&c, &r, None);
        assert!(close(s.precision, 1.0) && close(s.recall, 0.5) && close(s.f1, 2.0 / 3.0));
        // idf 3 on the matched reference token, 1 on the other: R = (3 * 1 + 1 * 0) / 4 = 0.75.
        let s = bertscore(&c, &r, Some((&[1.0], &[3.0, 1.0])));
        assert!(close(s.recall, 0.75) && close(s.precision, 1.0));
        // Opposite directions give negative cosines, as the package's raw scores can.
        let s = bertscore(&[vec![-1.0, 0.0]], &[vec![1.0, 0.0]], None);
        assert!(close(s.precision, -1.0));
        assert_eq!(bertscore(&[], &r, None).f1, 0.0);
    }

    #[test]
    fn idf_by_hand() {
        // M = 2 references: token 7 in both -> ln(3/3) = 0; token 8 in one -> ln(3/2); a token in
        // neither -> ln 3. Repeats within one reference count once.
        let idf = idf_weights(&[vec![7, 8, 8], vec![7]]);
        assert!(close(idf[&7], 0.0) && close(idf[&8], 1.5f64.ln()));
        let w = idf_of(&[8, 9], &idf, 2);
        assert!(close(w[0], 1.5f64.ln()) && close(w[1], 3f64.ln()));
    }
}
