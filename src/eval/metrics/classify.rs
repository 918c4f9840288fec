//! Option and yes/no tasks: Recall@1 (SR accuracy), macro-F1 over option letters (SA, PRP) and
//! F1 of the "yes" class (AP, PM). An unparseable prediction (`None`) is replaced by a wrong
//! answer exactly as the authors' script does it, so the numbers match theirs: the opposite
//! for yes/no, and "B" when the label is "A", else "A", for letters.

use std::collections::BTreeSet;

use super::{MetricError, Score, check_lengths, f1_from_counts};

/// The wrong letter the script substitutes for an unparseable output.
fn wrong_letter(label: char) -> char {
    if label == 'A' { 'B' } else { 'A' }
}

/// Share of rows whose letter equals the label: Recall@1 for sequential recommendation.
pub fn accuracy(predictions: &[Option<char>], labels: &[char]) -> Result<Score, MetricError> {
    check_lengths("accuracy", predictions.len(), labels.len())?;
    let hits = predictions.iter().zip(labels).filter(|(p, l)| **p == Some(**l)).count();
    Ok(Score { value: hits as f64 / labels.len() as f64, count: labels.len(), invalid: invalid(predictions) })
}

/// Macro-F1 as scikit-learn's `f1_score(average="macro")`: the mean of per-class F1 over every
/// letter that occurs among labels or (substituted) predictions; a class never predicted and
/// never true cannot occur, one with no true positive scores 0.
pub fn macro_f1(predictions: &[Option<char>], labels: &[char]) -> Result<Score, MetricError> {
    check_lengths("macro_f1", predictions.len(), labels.len())?;
    let preds: Vec<char> = predictions.iter().zip(labels).map(|(p, &l)| p.unwrap_or_else(|| wrong_letter(l))).collect();
    let classes: BTreeSet<char> = labels.iter().chain(&preds).copied().collect();
    let sum: f64 = classes
        .iter()
        .map(|&c| {
            let pairs = || preds.iter().zip(labels);
            let tp = pairs().filter(|&(&p, &l)| p == c && l == c).count();
            let fp = pairs().filter(|&(&p, &l)| p == c && l != c).count();
            let fn_ = pairs().filter(|&(&p, &l)| p != c && l == c).count();
            f1_from_counts(tp, fp, fn_)
        })
        .sum();
    Ok(Score { value: sum / classes.len() as f64, count: labels.len(), invalid: invalid(predictions) })
}

/// F1 of the positive ("yes") class; 0 when no row is or is predicted "yes" (scikit-learn's
/// `zero_division=0`).
pub fn yes_f1(predictions: &[Option<bool>], labels: &[bool]) -> Result<Score, MetricError> {
    check_lengths("yes_f1", predictions.len(), labels.len())?;
    let preds: Vec<bool> = predictions.iter().zip(labels).map(|(p, &l)| p.unwrap_or(!l)).collect();
    let pairs = || preds.iter().zip(labels);
    let tp = pairs().filter(|&(&p, &l)| p && l).count();
    let fp = pairs().filter(|&(&p, &l)| p && !l).count();
    let fn_ = pairs().filter(|&(&p, &l)| !p && l).count();
    Ok(Score { value: f1_from_counts(tp, fp, fn_), count: labels.len(), invalid: invalid(predictions) })
}

fn invalid<T>(predictions: &[Option<T>]) -> usize {
    predictions.iter().filter(|p| p.is_none()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::close;

    #[test]
    fn recall_at_1_counts_unparseable_as_wrong() {
        // [A, -, T] vs [A, C, T]: 2 of 3.
        let s = accuracy(&[Some('A'), None, Some('T')], &['A', 'C', 'T']).unwrap();
        assert!(close(s.value, 2.0 / 3.0));
        assert_eq!((s.count, s.invalid), (3, 1));
    }

    #[test]
    fn macro_f1_by_hand() {
        // Labels [A, A, B, C], predictions [A, B, B, -]; the unparseable one (label C) becomes A.
        // A: tp 1, fp 1, fn 1 -> 2/4. B: tp 1, fp 1 -> 2/3. C: fn 1 -> 0. Mean 7/18.
        let s = macro_f1(&[Some('A'), Some('B'), Some('B'), None], &['A', 'A', 'B', 'C']).unwrap();
        assert!(close(s.value, 7.0 / 18.0), "{}", s.value);
        assert_eq!(s.invalid, 1);
        // Unparseable with label A becomes B: labels [A, B], predictions [-, B] -> [B, B].
        // A: fn 1 -> 0. B: tp 1, fp 1 -> 2/3. Mean 1/3.
        assert!(close(macro_f1(&[None, Some('B')], &['A', 'B']).unwrap().value, 1.0 / 3.0));
        // A predicted class absent from the labels still counts (scikit-learn's union).
        // Labels [A, A], predictions [A, D]: A 2/3, D 0 -> 1/3.
        assert!(close(macro_f1(&[Some('A'), Some('D')], &['A', 'A']).unwrap().value, 1.0 / 3.0));
        assert!(close(macro_f1(&[Some('C')], &['C']).unwrap().value, 1.0));
    }

    #[test]
    fn yes_f1_by_hand() {
        // Labels [y, y, n, n], predictions [y, -, y, n]; the unparseable "yes" row becomes "no".
        // tp 1, fp 1, fn 1 -> 2/4.
        let s = yes_f1(&[Some(true), None, Some(true), Some(false)], &[true, true, false, false]).unwrap();
        assert!(close(s.value, 0.5));
        assert_eq!(s.invalid, 1);
        // No "yes" anywhere: 0, not NaN.
        assert_eq!(yes_f1(&[Some(false)], &[false]).unwrap().value, 0.0);
        // An unparseable "no" row becomes a false "yes": tp 0, fp 1 -> 0.
        assert_eq!(yes_f1(&[None], &[false]).unwrap().value, 0.0);
    }

    #[test]
    fn empty_and_mismatched_inputs_are_errors() {
        assert_eq!(accuracy(&[], &[]), Err(MetricError::Empty { metric: "accuracy" }));
        assert_eq!(macro_f1(&[None], &['A', 'B']), Err(MetricError::Length { metric: "macro_f1", predictions: 1, labels: 2 }));
        assert!(matches!(yes_f1(&[], &[true]), Err(MetricError::Length { .. })));
    }
}
