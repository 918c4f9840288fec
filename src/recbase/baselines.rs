//! The baselines `recbase zero-shot` reports beside RecBase, on the same rows (issue 9 item 4),
//! each a pure function from the rows to one score per candidate:
//!
//! - random: uniform in [0, 1) from a seeded generator, candidates in row order;
//! - popularity: how often the item occurs in the domain's sequences, without the evaluated
//!   items: for every row, one occurrence of each positive candidate is removed from that user's
//!   sequence (the held-out interaction the row asks about) when the sequence has one left;
//! - text similarity: cosine between the candidate's text embedding and the mean of the history
//!   items' (the run's own item text encoder, so RecBase and this baseline see the same text).

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::data::domain::DomainSequence;

use super::candidates::EvalRow;

/// Uniform scores in [0, 1), one per candidate, drawn row by row from `seed`.
pub fn random_scores(rows: &[EvalRow], seed: u64) -> Vec<Vec<f64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    rows.iter().map(|row| row.candidates.iter().map(|_| rng.random::<f64>()).collect()).collect()
}

/// Occurrences of each item in `sequences`, minus the evaluated interactions: for each row,
/// each positive candidate loses one occurrence from the row's user's sequence, as long as that
/// sequence still holds one (a candidates file may ask about items the sequences never saw; a
/// user listed twice in `sequences` is counted with all their lines).
pub fn popularity_counts(sequences: &[DomainSequence], rows: &[EvalRow]) -> HashMap<String, f64> {
    let mut counts: HashMap<String, f64> = HashMap::new();
    let mut per_user: HashMap<(&str, &str), usize> = HashMap::new();
    for seq in sequences {
        for item in &seq.item_ids {
            *counts.entry(item.clone()).or_default() += 1.0;
            *per_user.entry((seq.user_id.as_str(), item.as_str())).or_default() += 1;
        }
    }
    for row in rows {
        for (item, _) in row.candidates.iter().zip(&row.labels).filter(|(_, l)| **l == 1) {
            if let Some(left) = per_user.get_mut(&(row.user_id.as_str(), item.as_str()))
                && *left > 0
            {
                *left -= 1;
                *counts.get_mut(item).expect("counted above") -= 1.0;
            }
        }
    }
    counts
}

/// Each candidate's count in `counts` (0 for an item never seen).
pub fn popularity_scores(counts: &HashMap<String, f64>, rows: &[EvalRow]) -> Vec<Vec<f64>> {
    rows.iter().map(|row| row.candidates.iter().map(|c| counts.get(c).copied().unwrap_or(0.0)).collect()).collect()
}

/// Cosine between each candidate's embedding and the mean of the history's embeddings; 0 when
/// either vector is zero (an item whose text shares no term with the encoder's vocabulary).
/// Every item of the rows must have an embedding (the caller encodes all of the domain's items).
pub fn text_similarity_scores(embeddings: &HashMap<String, Vec<f32>>, rows: &[EvalRow]) -> Vec<Vec<f64>> {
    let vector = |id: &String| -> &[f32] { embeddings.get(id).map_or(&[], Vec::as_slice) };
    rows.iter()
        .map(|row| {
            let dim = row.history.first().map_or(0, |id| vector(id).len());
            let mut mean = vec![0.0f64; dim];
            for id in &row.history {
                for (m, &x) in mean.iter_mut().zip(vector(id)) {
                    *m += f64::from(x);
                }
            }
            // The mean's direction is the sum's: no division needed for a cosine.
            row.candidates.iter().map(|c| cosine(&mean, vector(c))).collect()
        })
        .collect()
}

fn cosine(a: &[f64], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let y = f64::from(y);
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na.sqrt() * nb.sqrt()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user: &str, history: &[&str], candidates: &[&str], labels: &[u8]) -> EvalRow {
        let s = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect();
        EvalRow { line: None, user_id: user.into(), history: s(history), candidates: s(candidates), labels: labels.to_vec() }
    }

    fn seq(user: &str, items: &[&str]) -> DomainSequence {
        DomainSequence { user_id: user.into(), item_ids: items.iter().map(|x| x.to_string()).collect() }
    }

    #[test]
    fn popularity_leaves_out_the_evaluated_interaction() {
        // a: 3 occurrences (u1 twice, u2 once); b: 2; c: 1. u1's row asks about a (positive) and
        // c (negative): one a of u1 is removed -> a 2, c stays 1. u2's row asks about z, which
        // u2 never had: nothing removed.
        let seqs = [seq("u1", &["a", "b", "a"]), seq("u2", &["b", "a", "c"])];
        let rows = [row("u1", &["a", "b"], &["a", "c"], &[1, 0]), row("u2", &["b"], &["z", "b"], &[1, 0])];
        let counts = popularity_counts(&seqs, &rows);
        assert_eq!((counts["a"], counts["b"], counts["c"]), (2.0, 2.0, 1.0));
        assert_eq!(popularity_scores(&counts, &rows), vec![vec![2.0, 1.0], vec![0.0, 2.0]]);
    }

    #[test]
    fn text_similarity_by_hand() {
        // History x = (1, 0), y = (0, 1): mean direction (1, 1)/√2. Candidate x -> 1/√2,
        // candidate (1, 1) -> 1, the zero vector -> 0.
        let emb: HashMap<String, Vec<f32>> =
            [("x", vec![1.0, 0.0]), ("y", vec![0.0, 1.0]), ("d", vec![1.0, 1.0]), ("z", vec![0.0, 0.0])]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        let s = text_similarity_scores(&emb, &[row("u", &["x", "y"], &["x", "d", "z"], &[1, 0, 0])]);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((s[0][0] - h).abs() < 1e-12 && (s[0][1] - 1.0).abs() < 1e-12 && s[0][2] == 0.0);
    }

    #[test]
    fn random_is_seeded() {
        let rows = [row("u", &["x"], &["a", "b", "c"], &[1, 0, 0])];
        assert_eq!(random_scores(&rows, 3), random_scores(&rows, 3));
        assert_ne!(random_scores(&rows, 3), random_scores(&rows, 4));
        assert!(random_scores(&rows, 0)[0].iter().all(|&x| (0.0..1.0).contains(&x)));
    }
}
