//! One AdamW update of a parameter, its two moments and its gradient, in a single parallel pass.
//!
//! Burn's AdamW builds the update from eleven tensor ops (two moment updates, two bias
//! corrections, a square, a square root, a division, the decay and the step), each a pass over
//! the parameter on one thread of the CPU backends. An RQ-VAE step (1.1 M parameters) spent a
//! quarter of its single-threaded time there. The arithmetic here follows Burn's order of
//! operations, so both give the same values to rounding.

use rayon::prelude::*;

use super::vectorized;

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

/// The settings of one update: the moments' decay rates, epsilon, and this step's learning
/// rate, decoupled weight decay and time (1 on the first update).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub lr: f64,
    pub weight_decay: f64,
    pub time: i32,
}

vectorized! {
    fn update(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], c: &[f32; 9]) {
        let [beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, correction_1, correction_2, epsilon, keep, lr] = *c;
        for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = *m * beta_1 + g * one_minus_beta_1;
            *v = *v * beta_2 + g * g * one_minus_beta_2;
            let delta = (*m / correction_1) / ((*v / correction_2).sqrt() + epsilon);
            *p = *p * keep - delta * lr;
        }
    }
}

/// Applies one AdamW update in place: `m`, `v` and `param` are overwritten.
pub fn step(param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], s: AdamWStep) {
    assert!(grad.len() == param.len() && m.len() == param.len() && v.len() == param.len(), "adamw: lengths");
    let constants = [
        s.beta_1,
        1.0 - s.beta_1,
        s.beta_2,
        1.0 - s.beta_2,
        1.0 - s.beta_1.powi(s.time),
        1.0 - s.beta_2.powi(s.time),
        s.epsilon,
        // Burn computes `1 - lr * decay` in f64 and scales by it in f32, and the step by `lr`
        // as f32.
        (1.0 - s.lr * s.weight_decay) as f32,
        s.lr as f32,
    ];
    param.par_chunks_mut(CHUNK).zip(grad.par_chunks(CHUNK)).zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK))).for_each(
        |((p, g), (m, v))| update(p, g, m, v, &constants),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_updates_by_hand() {
        // beta (0.5, 0.75), eps 0, lr 0.1, decay 0.5 (keep 0.95), g = 2 then 1, p = 1:
        // t=1: m = 1, v = 1, m^ = 1 / 0.5 = 2, v^ = 1 / 0.25 = 4, delta = 2 / 2 = 1,
        //      p = 0.95 - 0.1 = 0.85.
        // t=2: m = 0.5 + 0.5 = 1, v = 0.75 + 0.25 = 1, m^ = 1 / 0.75, v^ = 1 / 0.4375,
        //      delta = (4/3) / sqrt(16/7) = 0.881917, p = 0.85 * 0.95 - 0.0881917 = 0.7193083.
        let s = AdamWStep { beta_1: 0.5, beta_2: 0.75, epsilon: 0.0, lr: 0.1, weight_decay: 0.5, time: 1 };
        let (mut p, mut m, mut v) = ([1.0f32], [0.0f32], [0.0f32]);
        step(&mut p, &[2.0], &mut m, &mut v, s);
        assert_eq!((m[0], v[0]), (1.0, 1.0));
        assert!((p[0] - 0.85).abs() < 1e-7, "{}", p[0]);
        step(&mut p, &[1.0], &mut m, &mut v, AdamWStep { time: 2, ..s });
        assert!((p[0] - 0.7193083).abs() < 1e-6, "{}", p[0]);
    }

    #[test]
    fn chunks_update_independently() {
        // Every element sees only its own gradient: a long vector equals its elements alone.
        let n = 3 * CHUNK + 5;
        let grad: Vec<f32> = (0..n).map(|i| ((i * 7 % 23) as f32 - 11.0) / 7.0).collect();
        let (mut p, mut m, mut v) = (vec![0.5f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let s = AdamWStep { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-5, lr: 1e-3, weight_decay: 1e-2, time: 1 };
        step(&mut p, &grad, &mut m, &mut v, s);
        for i in [0, CHUNK - 1, CHUNK, 2 * CHUNK + 3, n - 1] {
            let (mut p1, mut m1, mut v1) = ([0.5f32], [0.0f32], [0.0f32]);
            step(&mut p1, &grad[i..=i], &mut m1, &mut v1, s);
            assert_eq!((p[i], m[i], v[i]), (p1[0], m1[0], v1[0]), "element {i}");
        }
    }
}
