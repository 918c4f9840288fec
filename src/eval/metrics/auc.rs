//! AUC (Mann-Whitney, ties by average rank, as scikit-learn's `roc_auc_score`) and GAUC, the
//! mean of per-user AUCs over users whose labels hold both classes (Zhou et al., DIN 2018).

use std::collections::HashMap;
use std::hash::Hash;

use super::MetricError;

/// How [`gauc`] weights each user's AUC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GaucWeight {
    /// Every user counts once (the plain mean per user).
    Uniform,
    /// Each user weighs by their number of rows (DIN's impression weighting).
    Samples,
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting 1/2. Computed as (Σ ranks of positives - P(P+1)/2) / (P N) with
/// average ranks for tied scores.
pub fn auc(scores: &[f64], labels: &[bool]) -> Result<f64, MetricError> {
    if scores.len() != labels.len() {
        return Err(MetricError::Length { metric: "auc", predictions: scores.len(), labels: labels.len() });
    }
    if let Some(index) = scores.iter().position(|s| !s.is_finite()) {
        return Err(MetricError::NonFiniteScore { metric: "auc", index });
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if labels.is_empty() {
        return Err(MetricError::Empty { metric: "auc" });
    }
    if positives == 0 || negatives == 0 {
        return Err(MetricError::SingleClass { metric: "auc" });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let s = scores[order[start]];
        let end = start + order[start..].iter().take_while(|&&i| scores[i] == s).count();
        // 1-based ranks start+1 ..= end share their mean.
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        positive_rank_sum += mean_rank * order[start..end].iter().filter(|&&i| labels[i]).count() as f64;
        start = end;
    }
    let p = positives as f64;
    Ok((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Group AUC: [`auc`] per user (rows grouped by `users[i]`), averaged with `weight`; users whose
/// rows are all positive or all negative have no AUC and are skipped. Errors when no user is
/// left.
pub fn gauc<U: Eq + Hash>(users: &[U], scores: &[f64], labels: &[bool], weight: GaucWeight) -> Result<f64, MetricError> {
    if users.len() != labels.len() || scores.len() != labels.len() {
        return Err(MetricError::Length { metric: "gauc", predictions: scores.len().min(users.len()), labels: labels.len() });
    }
    if labels.is_empty() {
        return Err(MetricError::Empty { metric: "gauc" });
    }
    // Rows per user, users in order of first appearance so the sum's order is fixed.
    let mut index: HashMap<&U, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (row, user) in users.iter().enumerate() {
        let g = *index.entry(user).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(row);
    }
    let (mut total, mut weights) = (0.0, 0.0);
    for rows in &groups {
        let s: Vec<f64> = rows.iter().map(|&r| scores[r]).collect();
        let l: Vec<bool> = rows.iter().map(|&r| labels[r]).collect();
        match auc(&s, &l) {
            Ok(a) => {
                let w = match weight {
                    GaucWeight::Uniform => 1.0,
                    GaucWeight::Samples => rows.len() as f64,
                };
                total += w * a;
                weights += w;
            }
            Err(MetricError::SingleClass { .. }) => {}
            Err(MetricError::NonFiniteScore { index, .. }) => {
                return Err(MetricError::NonFiniteScore { metric: "gauc", index: rows[index] });
            }
            Err(e) => return Err(e),
        }
    }
    if weights == 0.0 {
        return Err(MetricError::SingleClass { metric: "gauc" });
    }
    Ok(total / weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::close;

    #[test]
    fn auc_by_hand() {
        // scikit-learn's example: pairs (pos, neg) won: 0.35>0.1, 0.8>0.1, 0.8>0.4 -> 3/4.
        assert!(close(auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap(), 0.75));
        assert_eq!(auc(&[0.9, 0.1], &[true, false]).unwrap(), 1.0);
        assert_eq!(auc(&[0.1, 0.9], &[true, false]).unwrap(), 0.0);
    }

    #[test]
    fn auc_ties_use_average_ranks() {
        // Ascending: 0.2 (neg) r1, 0.5/0.5 (pos, neg) r2.5, 0.9 (pos) r4.
        // (2.5 + 4 - 3) / (2 · 2) = 0.875 = (1/2 tie + 1 + 2) / 4 pairs.
        assert!(close(auc(&[0.5, 0.5, 0.2, 0.9], &[true, false, false, true]).unwrap(), 0.875));
        // All tied -> 1/2.
        assert!(close(auc(&[0.3; 4], &[true, false, true, false]).unwrap(), 0.5));
    }

    #[test]
    fn auc_bad_input() {
        assert_eq!(auc(&[], &[]), Err(MetricError::Empty { metric: "auc" }));
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), Err(MetricError::SingleClass { metric: "auc" }));
        assert!(matches!(auc(&[0.1], &[true, false]), Err(MetricError::Length { .. })));
        assert!(matches!(auc(&[0.1, f64::NAN], &[true, false]), Err(MetricError::NonFiniteScore { index: 1, .. })));
    }

    #[test]
    fn gauc_skips_single_class_users() {
        // u1: AUC 1 (2 rows); u2: AUC 1/2 from a tie (2 rows); u3: one class only, skipped.
        let users = ["u1", "u2", "u1", "u3", "u2", "u3", "u2"];
        let scores = [0.9, 0.4, 0.1, 0.5, 0.4, 0.7, 0.4];
        let labels = [true, true, false, true, false, true, false];
        // u2 has 3 rows: pos 0.4 vs negs 0.4, 0.4 -> both ties -> 1/2.
        assert!(close(gauc(&users, &scores, &labels, GaucWeight::Uniform).unwrap(), 0.75));
        // Weighted by rows: (2 · 1 + 3 · 0.5) / 5 = 0.7.
        assert!(close(gauc(&users, &scores, &labels, GaucWeight::Samples).unwrap(), 0.7));
        assert_eq!(gauc(&["a", "a"], &[0.1, 0.2], &[true, true], GaucWeight::Uniform), Err(MetricError::SingleClass { metric: "gauc" }));
        assert!(matches!(gauc(&["a"], &[0.1, 0.2], &[true, false], GaucWeight::Uniform), Err(MetricError::Length { .. })));
        assert!(matches!(
            gauc(&["a", "a"], &[0.1, f64::NAN], &[true, false], GaucWeight::Uniform),
            Err(MetricError::NonFiniteScore { metric: "gauc", index: 1 })
        ));
    }
}
