//! The metrics of a zero-shot report (issue 9 item 4), from scored rows: AUC pooled over every
//! (row, candidate) pair; GAUC, the plain mean of per-user AUCs (a user's rows pooled; users
//! whose candidates are all positive or all negative have no AUC and are left out); NDCG@10 and
//! MRR, means over rows. Ties count by their expectation (average ranks for AUC, the expected
//! gain or reciprocal rank over the tied order for NDCG and MRR), so a constant scorer gets
//! AUC 1/2 and no credit for where it happens to put a positive.
//!
//! MRR of a row with several positives is the mean over its positives of 1 / rank among all
//! candidates (MIND's `mrr_score`); with one positive, the usual reciprocal rank.

use crate::eval::metrics::{GaucWeight, MetricError, auc, gauc, mrr_at_k, ndcg_at_k};

/// NDCG's cutoff in the report.
pub const NDCG_K: usize = 10;

/// One scored row: a score per candidate and its 0/1 label.
#[derive(Debug, Clone, Copy)]
pub struct ScoredRow<'a> {
    pub user_id: &'a str,
    pub scores: &'a [f64],
    pub labels: &'a [u8],
}

/// The report's metrics for one scoring method.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RankingMetrics {
    /// `None` when all pooled labels are of one class.
    pub auc: Option<f64>,
    /// `None` when no user has both classes.
    pub gauc: Option<f64>,
    /// Users that entered GAUC.
    pub gauc_users: usize,
    #[serde(rename = "ndcg@10")]
    pub ndcg_at_10: f64,
    pub mrr: f64,
}

/// AUC, GAUC, NDCG@10 and MRR of `rows`. Errors on no rows, a row without a positive, lengths
/// that differ or a score that is not finite.
pub fn ranking_metrics(rows: &[ScoredRow]) -> Result<RankingMetrics, MetricError> {
    if rows.is_empty() {
        return Err(MetricError::Empty { metric: "ranking_metrics" });
    }
    let mut users = Vec::new();
    let mut scores = Vec::new();
    let mut labels = Vec::new();
    let (mut ndcg, mut mrr) = (0.0, 0.0);
    for row in rows {
        if row.scores.len() != row.labels.len() {
            return Err(MetricError::Length { metric: "ranking_metrics", predictions: row.scores.len(), labels: row.labels.len() });
        }
        users.extend(std::iter::repeat_n(row.user_id, row.scores.len()));
        scores.extend_from_slice(row.scores);
        labels.extend(row.labels.iter().map(|&l| l == 1));
        // f32 as the per-query metrics take it; the model's scores are f32 sums already.
        let s: Vec<f32> = row.scores.iter().map(|&x| x as f32).collect();
        let relevant: Vec<bool> = row.labels.iter().map(|&l| l == 1).collect();
        ndcg += ndcg_at_k(&s, &relevant, NDCG_K)?;
        let positives: Vec<usize> = (0..s.len()).filter(|&i| relevant[i]).collect();
        let mut rr = 0.0;
        for &p in &positives {
            rr += mrr_at_k(&s, p, s.len())?;
        }
        mrr += rr / positives.len() as f64;
    }
    let optional = |r: Result<f64, MetricError>| match r {
        Ok(v) => Ok(Some(v)),
        Err(MetricError::SingleClass { .. }) => Ok(None),
        Err(e) => Err(e),
    };
    let n = rows.len() as f64;
    Ok(RankingMetrics {
        auc: optional(auc(&scores, &labels))?,
        gauc: optional(gauc(&users, &scores, &labels, GaucWeight::Uniform))?,
        gauc_users: two_class_users(rows),
        ndcg_at_10: ndcg / n,
        mrr: mrr / n,
    })
}

/// Users whose pooled rows hold both a positive and a negative (those GAUC averages over).
fn two_class_users(rows: &[ScoredRow]) -> usize {
    let mut seen: std::collections::HashMap<&str, (bool, bool)> = std::collections::HashMap::new();
    for row in rows {
        let entry = seen.entry(row.user_id).or_default();
        entry.0 |= row.labels.contains(&1);
        entry.1 |= row.labels.contains(&0);
    }
    seen.values().filter(|(p, n)| *p && *n).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn report_metrics_by_hand() {
        // u1 row 1: scores [3, 1, 2], positive first -> rank 1: RR 1, NDCG 1.
        // u1 row 2: scores [1, 2], positive first -> rank 2: RR 1/2, NDCG 1/log2 3.
        // u2 row:   scores [5, 5, 0], positive first, tied with a negative at the top:
        //           RR (1 + 1/2)/2 = 3/4, NDCG (1 + 1/log2 3)/2 (each tied slot gains 1/2).
        let rows = [
            ScoredRow { user_id: "u1", scores: &[3.0, 1.0, 2.0], labels: &[1, 0, 0] },
            ScoredRow { user_id: "u1", scores: &[1.0, 2.0], labels: &[1, 0] },
            ScoredRow { user_id: "u2", scores: &[5.0, 5.0, 0.0], labels: &[1, 0, 0] },
        ];
        let m = ranking_metrics(&rows).unwrap();
        let l3 = 1.0 / 3f64.log2();
        assert!(close(m.mrr, (1.0 + 0.5 + 0.75) / 3.0));
        assert!(close(m.ndcg_at_10, (1.0 + l3 + (1.0 + l3) / 2.0) / 3.0));
        // GAUC: u1 pools positives {3, 1} and negatives {1, 2, 2}: pairs won 3>1, 3>2, 3>2,
        // 1=1 (1/2), 1<2, 1<2 -> 3.5/6; u2: 5=5 (1/2), 5>0 -> 1.5/2. Mean (7/12 + 3/4)/2 = 2/3.
        assert!(close(m.gauc.unwrap(), 2.0 / 3.0));
        assert_eq!(m.gauc_users, 2);
        // Pooled AUC: positives {3, 1, 5} vs negatives {1, 2, 2, 5, 0}: wins per positive:
        // 3 -> 4 (beats 1, 2, 2, 0); 1 -> 1.5 (tie with 1, beats 0); 5 -> 4.5 (tie with 5).
        // (4 + 1.5 + 4.5) / 15 = 2/3.
        assert!(close(m.auc.unwrap(), 10.0 / 15.0));
    }

    #[test]
    fn several_positives_average_their_reciprocal_ranks() {
        // Positives at ranks 1 and 3: MRR (1 + 1/3)/2 = 2/3.
        let rows = [ScoredRow { user_id: "u", scores: &[0.9, 0.1, 0.5], labels: &[1, 1, 0] }];
        assert!(close(ranking_metrics(&rows).unwrap().mrr, 2.0 / 3.0));
    }

    #[test]
    fn constant_scores_earn_a_half_and_one_class_is_none() {
        let rows = [ScoredRow { user_id: "u", scores: &[0.0; 4], labels: &[1, 0, 0, 0] }];
        let m = ranking_metrics(&rows).unwrap();
        assert!(close(m.auc.unwrap(), 0.5) && close(m.gauc.unwrap(), 0.5));
        // RR expectation over 4 slots: (1 + 1/2 + 1/3 + 1/4)/4 = 25/48.
        assert!(close(m.mrr, 25.0 / 48.0));
        let all_positive = [ScoredRow { user_id: "u", scores: &[0.3, 0.1], labels: &[1, 1] }];
        let m = ranking_metrics(&all_positive).unwrap();
        assert_eq!((m.auc, m.gauc, m.gauc_users), (None, None, 0));
        assert!(ranking_metrics(&[]).is_err());
        let no_positive = [ScoredRow { user_id: "u", scores: &[0.3], labels: &[0] }];
        assert!(ranking_metrics(&no_positive).is_err());
    }
}
