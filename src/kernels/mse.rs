//! Mean squared error between two equally long buffers, and its gradient, in one parallel pass
//! each.
//!
//! Burn's `(a - b).powi(2).mean()` is three passes forward and, through autodiff, five backward
//! (a tensor of ones, the scale, the power's derivative, two products), all on one thread of the
//! CPU backends; the RQ-VAE's reconstruction loss alone is 786 k elements per step.

use rayon::prelude::*;

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

/// `mean((a - b)²)`, writing `a - b` into `diff` for the backward pass. The sum is taken in f64
/// per chunk, so the result does not depend on how the chunks fall between threads.
pub fn forward(a: &[f32], b: &[f32], diff: &mut [f32]) -> f32 {
    assert!(a.len() == b.len() && diff.len() == a.len() && !a.is_empty(), "mse: lengths");
    let sum: f64 = diff
        .par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .map(|(d, (a, b))| {
            let mut part = 0.0f32;
            for ((d, &a), &b) in d.iter_mut().zip(a).zip(b) {
                *d = a - b;
                part += *d * *d;
            }
            f64::from(part)
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    (sum / a.len() as f64) as f32
}

/// `d mean / d a = 2 (a - b) / n` times the upstream gradient `g` (`d / d b` is its negative).
pub fn backward(diff: &[f32], g: f32, d_a: &mut [f32]) {
    assert_eq!(diff.len(), d_a.len(), "mse: lengths");
    let scale = 2.0 * g / diff.len() as f32;
    d_a.par_chunks_mut(CHUNK).zip(diff.par_chunks(CHUNK)).for_each(|(out, diff)| {
        out.iter_mut().zip(diff).for_each(|(o, &d)| *o = scale * d);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // a - b = (1, -2, 3): mean of squares 14 / 3; gradient 2 (a - b) / 3 times g = 1.5.
        let mut diff = [0.0; 3];
        let value = forward(&[2.0, 0.0, 3.0], &[1.0, 2.0, 0.0], &mut diff);
        assert!((value - 14.0 / 3.0).abs() < 1e-6);
        let mut d_a = [0.0; 3];
        backward(&diff, 1.5, &mut d_a);
        assert_eq!(d_a, [1.0, -2.0, 3.0]);
    }

    #[test]
    fn long_inputs_equal_a_plain_sum() {
        let n = 5 * CHUNK + 3;
        let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 29) as f32 - 14.0) / 9.0).collect();
        let b: Vec<f32> = (0..n).map(|i| ((i * 3 % 17) as f32 - 8.0) / 5.0).collect();
        let want = a.iter().zip(&b).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>() / n as f64;
        let mut diff = vec![0.0; n];
        assert!((f64::from(forward(&a, &b, &mut diff)) - want).abs() < 1e-5 * want);
    }
}
