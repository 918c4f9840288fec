//! Token cross-entropy: per row, `-log softmax(logits)[target]` and its gradient
//! `softmax - onehot(target)`, one pass over the logits each way.
//!
//! Through Burn's ops a log-softmax over `[B*T, V]` logits is seven passes over a tensor as
//! large as the logits (max, subtract, exp, sum, log, subtract, gather), and its backward
//! recomputes the exponentials; at vocabulary 4096 that cost as much as the LM head's product.

use rayon::prelude::*;

use super::exp::exp;
use super::{lanes, vectorized};

/// Rows per rayon task.
const ROWS: usize = 16;

vectorized! {
    /// Writes `softmax(row)` into `probs`, and the row's max and `log(sum(exp(row - max)))`
    /// (kept apart: adding them first would round away the loss of rows with large logits).
    pub(crate) fn softmax_row(row: &[f32], probs: &mut [f32], max_out: &mut f32, log_sum: &mut f32) {
        let max = lanes::max(row);
        for (p, &x) in probs.iter_mut().zip(row) {
            *p = exp(x - max);
        }
        let sum = lanes::sum(probs);
        let inv = 1.0 / sum;
        for p in probs.iter_mut() {
            *p *= inv;
        }
        *max_out = max;
        *log_sum = sum.ln();
    }
}

vectorized! {
    fn scale_row(probs: &[f32], scale: f32, out: &mut [f32]) {
        for (o, &p) in out.iter_mut().zip(probs) {
            *o = p * scale;
        }
    }
}

/// Whether `target` takes part in the loss: negative labels (HF's -100) do not.
fn counted(target: i64) -> bool {
    target >= 0
}

/// Per-row losses and the softmax of every row (kept for [`backward`]). Rows whose target is
/// negative get loss 0.
///
/// # Shapes
/// - logits, probs: `[N, V]` row-major; targets, loss: `[N]`
///
/// # Panics
/// When a target is `>= V` (callers build targets from the same vocabulary).
pub fn forward(logits: &[f32], vocab: usize, targets: &[i64], loss: &mut [f32], probs: &mut [f32]) {
    let n = targets.len();
    assert!(logits.len() == n * vocab && probs.len() == n * vocab && loss.len() == n, "token_nll: shapes disagree");
    if let Some(bad) = targets.iter().find(|&&t| t >= vocab as i64) {
        panic!("token_nll: target {bad} is outside the vocabulary of {vocab}");
    }
    probs
        .par_chunks_mut(ROWS * vocab)
        .zip(logits.par_chunks(ROWS * vocab))
        .zip(loss.par_chunks_mut(ROWS).zip(targets.par_chunks(ROWS)))
        .for_each(|((probs, logits), (loss, targets))| {
            for (i, (&target, l)) in targets.iter().zip(loss.iter_mut()).enumerate() {
                let row = &logits[i * vocab..(i + 1) * vocab];
                let (mut max, mut log_sum) = (0.0, 0.0);
                softmax_row(row, &mut probs[i * vocab..(i + 1) * vocab], &mut max, &mut log_sum);
                *l = if counted(target) { log_sum + (max - row[target as usize]) } else { 0.0 };
            }
        });
}

/// Gradient of the per-row losses with respect to the logits, given the losses' gradient:
/// `d_loss[i] * (probs[i] - onehot(targets[i]))`, and zero on rows that are not counted.
///
/// # Shapes
/// - probs, d_logits: `[N, V]`; targets, d_loss: `[N]`
pub fn backward(probs: &[f32], vocab: usize, targets: &[i64], d_loss: &[f32], d_logits: &mut [f32]) {
    let n = targets.len();
    assert!(probs.len() == n * vocab && d_logits.len() == n * vocab && d_loss.len() == n, "token_nll: shapes disagree");
    d_logits
        .par_chunks_mut(ROWS * vocab)
        .zip(probs.par_chunks(ROWS * vocab))
        .zip(targets.par_chunks(ROWS).zip(d_loss.par_chunks(ROWS)))
        .for_each(|((d_logits, probs), (targets, d_loss))| {
            for (i, (&target, &d)) in targets.iter().zip(d_loss).enumerate() {
                let out = &mut d_logits[i * vocab..(i + 1) * vocab];
                if counted(target) {
                    scale_row(&probs[i * vocab..(i + 1) * vocab], d, out);
                    out[target as usize] -= d;
                } else {
                    out.fill(0.0);
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_by_hand() {
        // Row 0: logits [0, ln 2, ln 3] -> softmax [1/6, 2/6, 3/6]; target 2 -> -ln(1/2).
        // Row 1: ignored. Row 2: [1000, 1000] (stable) -> -ln(1/2) whichever target.
        let logits = [0.0, 2f32.ln(), 3f32.ln(), 5.0, 1.0, 2.0, 1000.0, 1000.0, -1.0e30];
        let (mut loss, mut probs) = ([9.0; 3], [0.0; 9]);
        forward(&logits, 3, &[2, -100, 0], &mut loss, &mut probs);
        assert!((loss[0] - 2f32.ln()).abs() < 1e-6, "{loss:?}");
        assert_eq!(loss[1], 0.0);
        assert!((loss[2] - 2f32.ln()).abs() < 1e-6, "{loss:?}");
        for (p, want) in probs[..3].iter().zip([1.0 / 6.0, 2.0 / 6.0, 0.5]) {
            assert!((p - want).abs() < 1e-6);
        }
        assert_eq!(probs[8], 0.0);
    }

    #[test]
    fn backward_by_hand() {
        let probs = [0.25, 0.25, 0.5, 0.1, 0.2, 0.7];
        let mut d = [9.0; 6];
        backward(&probs, 3, &[1, -100], &[2.0, 5.0], &mut d);
        assert_eq!(d, [0.5, -1.5, 1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    #[should_panic(expected = "outside the vocabulary")]
    fn rejects_targets_past_the_vocabulary() {
        forward(&[0.0; 4], 2, &[0, 2], &mut [0.0; 2], &mut [0.0; 4]);
    }
}
