//! Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p
//! applied in transformers' order (temperature, then top-k, then top-p). Pure functions on
//! plain slices plus a seeded RNG owned by the sampler.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Sampling settings; `top_k = 0` and `top_p = 1` switch those filters off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingConfig {
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub seed: u64,
}

/// How the next token is chosen.
#[derive(Debug)]
pub enum Sampler {
    Greedy,
    Sample { config: SamplingConfig, rng: StdRng },
}

impl Sampler {
    pub fn sample(config: SamplingConfig) -> Self {
        Sampler::Sample { config, rng: StdRng::seed_from_u64(config.seed) }
    }

    pub fn is_greedy(&self) -> bool {
        matches!(self, Sampler::Greedy)
    }

    /// Picks a token from one row of logits.
    pub fn choose(&mut self, logits: &[f32]) -> u32 {
        match self {
            Sampler::Greedy => argmax(logits),
            Sampler::Sample { config, rng } => {
                let probs = filtered_probs(logits, config);
                let u: f64 = rng.random();
                draw(&probs, u)
            }
        }
    }
}

/// Index of the largest value; the first one on ties, as `torch.argmax`.
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// Probabilities after temperature, top-k and top-p; filtered-out tokens get probability 0.
pub fn filtered_probs(logits: &[f32], config: &SamplingConfig) -> Vec<f64> {
    let temperature = if config.temperature > 0.0 { config.temperature } else { 1.0 };
    let mut scores: Vec<f64> = logits.iter().map(|l| (*l / temperature) as f64).collect();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    if config.top_k > 0 && config.top_k < scores.len() {
        // HF keeps every token tied with the k-th score.
        let kth = scores[order[config.top_k - 1]];
        for s in scores.iter_mut() {
            if *s < kth {
                *s = f64::NEG_INFINITY;
            }
        }
    }
    let mut probs = softmax(&scores);
    if config.top_p < 1.0 {
        // Keep the smallest set of most likely tokens whose mass reaches top_p (at least one).
        let mut mass = 0.0;
        let mut keep = vec![false; probs.len()];
        for (rank, &i) in order.iter().enumerate() {
            if rank > 0 && mass >= config.top_p as f64 {
                break;
            }
            keep[i] = true;
            mass += probs[i];
        }
        for (p, k) in probs.iter_mut().zip(keep) {
            if !k {
                *p = 0.0;
            }
        }
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
    }
    probs
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

/// Inverse-CDF draw with `u` uniform in [0, 1).
fn draw(probs: &[f64], u: f64) -> u32 {
    let mut acc = 0.0;
    let mut last_nonzero = 0;
    for (i, p) in probs.iter().enumerate() {
        if *p > 0.0 {
            last_nonzero = i;
            acc += p;
            if u < acc {
                return i as u32;
            }
        }
    }
    last_nonzero as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(temperature: f32, top_k: usize, top_p: f32) -> SamplingConfig {
        SamplingConfig { temperature, top_k, top_p, seed: 0 }
    }

    #[test]
    fn top_k_keeps_the_k_largest() {
        let p = filtered_probs(&[1.0, 3.0, 2.0, 0.0], &cfg(1.0, 2, 1.0));
        // softmax over {3, 2}: e^1 / (e^1 + 1) = 0.7311 for token 1
        assert!((p[1] - 0.731_058_6).abs() < 1e-6 && p[0] == 0.0 && p[3] == 0.0, "{p:?}");
    }

    #[test]
    fn top_p_keeps_smallest_set_reaching_mass() {
        // probs of ln([0.5, 0.3, 0.2]) are 0.5, 0.3, 0.2; top_p 0.7 keeps 0.5 + 0.3
        let logits = [0.5f32.ln(), 0.3f32.ln(), 0.2f32.ln()];
        let p = filtered_probs(&logits, &cfg(1.0, 0, 0.7));
        assert!((p[0] - 0.625).abs() < 1e-6 && (p[1] - 0.375).abs() < 1e-6 && p[2] == 0.0, "{p:?}");
    }

    #[test]
    fn temperature_sharpens() {
        // logits [0, ln 2] at T = 0.5 -> weights 1 and 4 -> p = 0.8
        let p = filtered_probs(&[0.0, 2f32.ln()], &cfg(0.5, 0, 1.0));
        assert!((p[1] - 0.8).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn seeded_sampling_is_reproducible() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = || {
            let mut s = Sampler::sample(cfg(1.0, 0, 1.0));
            (0..20).map(|_| s.choose(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
        assert!(run().iter().any(|t| *t != run()[0]), "sampling should vary");
    }

    #[test]
    fn argmax_takes_first_on_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}
