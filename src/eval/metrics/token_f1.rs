//! Token-level F1 with SQuAD's answer normalisation (the official SQuAD v2 evaluation script),
//! reported for the free-text tasks (QR, AG, UP, IP) beside or instead of BERTScore.

use std::collections::HashMap;

use super::{MetricError, Score, check_lengths};

/// SQuAD's `normalize_answer`: lower-case, drop ASCII punctuation (`string.punctuation`), drop
/// the articles "a", "an", "the", and collapse whitespace. The script removes articles with a
/// `\b` regex after punctuation is gone; dropping whole whitespace-separated tokens is the same
/// except next to non-ASCII symbols.
pub fn normalize_answer(text: &str) -> String {
    let lowered: String = text.to_lowercase().chars().filter(|c| !c.is_ascii_punctuation()).collect();
    lowered.split_whitespace().filter(|t| !matches!(*t, "a" | "an" | "the")).collect::<Vec<_>>().join(" ")
}

/// F1 of the normalised token multisets of one prediction and its reference. When either side
/// has no tokens the score is 1 if both are empty, else 0 (SQuAD v2's rule).
pub fn token_f1(prediction: &str, reference: &str) -> f64 {
    let pred = normalize_answer(prediction);
    let gold = normalize_answer(reference);
    let pred: Vec<&str> = pred.split_whitespace().collect();
    let gold: Vec<&str> = gold.split_whitespace().collect();
    if pred.is_empty() || gold.is_empty() {
        return f64::from(u8::from(pred == gold));
    }
    let mut gold_counts: HashMap<&str, usize> = HashMap::new();
    for t in &gold {
        *gold_counts.entry(t).or_default() += 1;
    }
    // Multiset intersection: each reference token matches at most as often as it occurs.
    let common = pred
        .iter()
        .filter(|t| match gold_counts.get_mut(*t) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        })
        .count();
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / pred.len() as f64;
    let recall = common as f64 / gold.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Mean [`token_f1`] over a split. Free text cannot fail to parse, so `invalid` is 0.
pub fn token_f1_corpus<P: AsRef<str>, R: AsRef<str>>(predictions: &[P], references: &[R]) -> Result<Score, MetricError> {
    check_lengths("token_f1", predictions.len(), references.len())?;
    let sum: f64 = predictions.iter().zip(references).map(|(p, r)| token_f1(p.as_ref(), r.as_ref())).sum();
    Ok(Score { value: sum / references.len() as f64, count: references.len(), invalid: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::close;

    #[test]
    fn normalisation_follows_squad() {
        assert_eq!(normalize_answer("The  Cat's hat, an   apple!"), "cats hat apple");
        // "a" inside a word stays; only whole articles go.
        assert_eq!(normalize_answer("A banana"), "banana");
        assert_eq!(normalize_answer("  "), "");
    }

    #[test]
    fn f1_by_hand() {
        // pred "the red fox jumps" -> [red, fox, jumps]; gold "a quick red fox" -> [quick, red,
        // fox]. common 2, P = 2/3, R = 2/3 -> F1 2/3.
        assert!(close(token_f1("the red fox jumps", "a quick red fox"), 2.0 / 3.0));
        // Repeated tokens match at most as often as the reference has them: pred [x, x, y],
        // gold [x, y, z] -> common = min(2, 1) + 1 = 2, P = 2/3, R = 2/3.
        assert!(close(token_f1("x x y", "x y z"), 2.0 / 3.0));
        assert_eq!(token_f1("Blue!", "blue"), 1.0);
        assert_eq!(token_f1("green", "blue"), 0.0);
    }

    #[test]
    fn empty_sides() {
        assert_eq!(token_f1("", "the"), 1.0); // both normalise to nothing
        assert_eq!(token_f1("", "blue"), 0.0);
        assert_eq!(token_f1("blue", "..."), 0.0);
    }

    #[test]
    fn corpus_mean_and_errors() {
        // (2/3 + 1) / 2 = 5/6.
        let s = token_f1_corpus(&["the red fox jumps", "ok"], &["a quick red fox", "OK."]).unwrap();
        assert!(close(s.value, 5.0 / 6.0));
        assert_eq!(s.count, 2);
        assert!(matches!(token_f1_corpus::<&str, &str>(&[], &[]), Err(MetricError::Empty { .. })));
        assert!(matches!(token_f1_corpus(&["a"], &["a", "b"]), Err(MetricError::Length { .. })));
    }
}
