//! Learning-rate schedule: linear warmup, then cosine or linear decay to `min_lr`, or constant.
//! Its state is the step count, so it saves and resumes exactly.

use burn::optim::LearningRate;
use burn::optim::lr_scheduler::LrScheduler;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

/// What follows the warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    Cosine,
    Linear,
    Constant,
}

/// Warmup for `warmup_steps` (from `lr / warmup_steps` up to `lr`), then `decay` down to `min_lr`
/// at `total_steps`.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupDecay {
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    pub decay: Decay,
    /// Steps taken so far.
    pub step: usize,
}

impl WarmupDecay {
    /// The rate of step `step` (1-based, as `LrScheduler::step` returns it).
    pub fn rate(&self, step: usize) -> f64 {
        if step <= self.warmup_steps {
            return self.lr * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let factor = match self.decay {
            Decay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            Decay::Linear => 1.0 - progress,
            Decay::Constant => 1.0,
        };
        self.min_lr + (self.lr - self.min_lr) * factor
    }
}

impl LrScheduler for WarmupDecay {
    type Record<B: Backend> = usize;

    fn step(&mut self) -> LearningRate {
        self.step += 1;
        self.rate(self.step)
    }

    fn to_record<B: Backend>(&self) -> usize {
        self.step
    }

    fn load_record<B: Backend>(mut self, record: usize) -> Self {
        self.step = record;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine_and_linear() {
        let s = WarmupDecay { lr: 1.0, min_lr: 0.0, warmup_steps: 4, total_steps: 14, decay: Decay::Cosine, step: 0 };
        assert_eq!(s.rate(1), 0.25);
        assert_eq!(s.rate(4), 1.0);
        // Halfway through the decay (step 9 of 4 + 10): cos(pi/2) -> 0.5.
        assert!((s.rate(9) - 0.5).abs() < 1e-12);
        assert!(s.rate(14).abs() < 1e-12);
        let lin = WarmupDecay { decay: Decay::Linear, min_lr: 0.1, ..s.clone() };
        assert!((lin.rate(9) - 0.55).abs() < 1e-12);
        assert!((lin.rate(20) - 0.1).abs() < 1e-12, "past the end it stays at min_lr");
        let mut stepped = WarmupDecay { decay: Decay::Constant, ..s };
        assert_eq!([stepped.step(), stepped.step()], [0.25, 0.5]);
        assert_eq!(stepped.rate(100), 1.0);
    }
}
