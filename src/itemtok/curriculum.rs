//! The CL-VAE curriculum of RecBase §3.2: train the first codebook level alone, add the second
//! once the loss has stabilised, and so on (issue 8 item 4). Either fixed start epochs (the
//! official code: levels enter at epochs 0/5/10/15, DESIGN.md §8) or a plateau rule on the
//! epoch loss; `Off` is plain RQ-VAE. Plain state, serialisable for exact resume.

use super::ItemTokError;

/// When each codebook level joins training.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CurriculumRule {
    /// Every level from epoch 0 (plain RQ-VAE, the "w/o curriculum" ablation).
    Off,
    /// Level `l` trains from epoch `start_epochs[l]`; `start_epochs[0]` is 0, non-decreasing.
    FixedEpochs { start_epochs: Vec<usize> },
    /// The next level joins after `patience` consecutive epochs whose loss failed to beat the
    /// stage's best by the relative margin `min_improvement`, and at least `min_epochs` epochs
    /// in the stage.
    Plateau { patience: usize, min_improvement: f64, min_epochs: usize },
}

/// Curriculum state: which levels are on, and the current stage's loss record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Curriculum {
    rule: CurriculumRule,
    levels: usize,
    /// Levels trained in the coming epoch (the first `active`).
    active: usize,
    /// Epochs finished so far.
    epoch: usize,
    /// Epochs finished since the last level joined.
    stage_epochs: usize,
    /// Best loss of the stage (`None` before its first epoch).
    best: Option<f64>,
    /// Epochs since `best` last improved by the margin.
    stale: usize,
}

impl Curriculum {
    /// A curriculum over `levels` codebook levels; errors name the rule's bad field.
    pub fn new(rule: CurriculumRule, levels: usize) -> Result<Self, ItemTokError> {
        if levels == 0 {
            return Err(ItemTokError::config("levels", "must be at least 1"));
        }
        match &rule {
            CurriculumRule::Off => {}
            CurriculumRule::FixedEpochs { start_epochs } => {
                if start_epochs.len() != levels {
                    let message = format!("{} entries for {levels} levels", start_epochs.len());
                    return Err(ItemTokError::config("start_epochs", message));
                }
                if start_epochs[0] != 0 || start_epochs.windows(2).any(|w| w[0] > w[1]) {
                    let message = format!("{start_epochs:?} must start at 0 and never decrease");
                    return Err(ItemTokError::config("start_epochs", message));
                }
            }
            CurriculumRule::Plateau { patience, min_improvement, .. } => {
                if *patience == 0 {
                    return Err(ItemTokError::config("patience", "must be at least 1"));
                }
                if !(0.0..1.0).contains(min_improvement) {
                    return Err(ItemTokError::config("min_improvement", format!("{min_improvement} is not in [0, 1)")));
                }
            }
        }
        let mut curriculum = Self { rule, levels, active: 1, epoch: 0, stage_epochs: 0, best: None, stale: 0 };
        curriculum.active = curriculum.scheduled_levels();
        Ok(curriculum)
    }

    /// Levels to train in the coming epoch.
    pub fn active_levels(&self) -> usize {
        self.active
    }

    /// Epochs recorded so far.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Records the finished epoch's loss (of the active levels) and returns the levels to train
    /// next. A non-finite loss is an error naming the epoch.
    pub fn end_epoch(&mut self, loss: f64) -> Result<usize, ItemTokError> {
        if !loss.is_finite() {
            return Err(ItemTokError::NonFiniteLoss { epoch: self.epoch });
        }
        self.epoch += 1;
        self.stage_epochs += 1;
        if let CurriculumRule::Plateau { min_improvement, .. } = self.rule {
            match self.best {
                Some(best) if loss >= best - min_improvement * best.abs() => {
                    self.stale += 1;
                    self.best = Some(best.min(loss));
                }
                _ => {
                    self.best = Some(loss);
                    self.stale = 0;
                }
            }
        }
        let next = self.scheduled_levels();
        if next > self.active {
            self.active = next;
            self.stage_epochs = 0;
            self.best = None;
            self.stale = 0;
        }
        Ok(self.active)
    }

    /// Levels the rule allows after `self.epoch` epochs (never fewer than now).
    fn scheduled_levels(&self) -> usize {
        match &self.rule {
            CurriculumRule::Off => self.levels,
            CurriculumRule::FixedEpochs { start_epochs } => start_epochs.iter().filter(|&&s| s <= self.epoch).count(),
            CurriculumRule::Plateau { patience, min_epochs, .. } => {
                let plateaued = self.stale >= *patience && self.stage_epochs >= *min_epochs;
                (self.active + usize::from(plateaued)).min(self.levels)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(curriculum: &mut Curriculum, losses: &[f64]) -> Vec<usize> {
        losses.iter().map(|&l| curriculum.end_epoch(l).unwrap()).collect()
    }

    #[test]
    fn off_trains_every_level_from_the_start() {
        let mut c = Curriculum::new(CurriculumRule::Off, 4).unwrap();
        assert_eq!(c.active_levels(), 4);
        assert_eq!(run(&mut c, &[1.0, 2.0]), [4, 4]);
    }

    #[test]
    fn fixed_epochs_follow_the_official_schedule() {
        // Levels enter at epochs 0, 5, 10, 15: after epoch e (e epochs done) the levels with
        // start <= e are on, so the 5th call (5 epochs done) switches level 2 on.
        let mut c = Curriculum::new(CurriculumRule::FixedEpochs { start_epochs: vec![0, 5, 10, 15] }, 4).unwrap();
        assert_eq!(c.active_levels(), 1);
        let levels = run(&mut c, &[1.0; 16]);
        assert_eq!(levels[3], 1);
        assert_eq!(levels[4], 2);
        assert_eq!(levels[9], 3);
        assert_eq!((levels[14], levels[15]), (4, 4));
    }

    #[test]
    fn plateau_adds_a_level_after_patience_stale_epochs() {
        // patience 2, margin 10%: 10 (best), 8 (below 10 - 1 = 9: best), 7.5 (not below
        // 8 - 0.8 = 7.2: stale 1), 7.3 (stale 2: level 2 joins). New stage: 9 (best), 5 (below
        // 8.1: best), 4.9 (not below 4.5: stale 1), 4.8 (stale 2: level 3 joins, the last).
        let rule = CurriculumRule::Plateau { patience: 2, min_improvement: 0.1, min_epochs: 0 };
        let mut c = Curriculum::new(rule, 3).unwrap();
        assert_eq!(run(&mut c, &[10.0, 8.0, 7.5, 7.3, 9.0, 5.0, 4.9]), [1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(run(&mut c, &[4.8, 4.7, 4.6, 4.5]), [3, 3, 3, 3]);
        assert_eq!(c.epoch(), 11);
    }

    #[test]
    fn plateau_respects_min_epochs() {
        // Flat loss: stale after epoch 2 already, but 4 epochs per stage are required.
        let rule = CurriculumRule::Plateau { patience: 1, min_improvement: 0.0, min_epochs: 4 };
        let mut c = Curriculum::new(rule, 2).unwrap();
        assert_eq!(run(&mut c, &[1.0; 5]), [1, 1, 1, 2, 2]);
    }

    #[test]
    fn state_round_trips_and_bad_settings_are_named() {
        let rule = CurriculumRule::Plateau { patience: 1, min_improvement: 0.0, min_epochs: 0 };
        let mut c = Curriculum::new(rule, 2).unwrap();
        c.end_epoch(1.0).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Curriculum>(&json).unwrap(), c);
        let rule: CurriculumRule = serde_json::from_str(r#"{"kind": "fixed_epochs", "start_epochs": [0, 5]}"#).unwrap();
        assert_eq!(rule, CurriculumRule::FixedEpochs { start_epochs: vec![0, 5] });
        for (rule, field) in [
            (CurriculumRule::FixedEpochs { start_epochs: vec![0, 5] }, "start_epochs"),
            (CurriculumRule::FixedEpochs { start_epochs: vec![1, 2, 3] }, "start_epochs"),
            (CurriculumRule::Plateau { patience: 0, min_improvement: 0.0, min_epochs: 0 }, "patience"),
            (CurriculumRule::Plateau { patience: 1, min_improvement: 1.5, min_epochs: 0 }, "min_improvement"),
        ] {
            let err = Curriculum::new(rule, 3).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
        assert!(matches!(c.end_epoch(f64::NAN), Err(ItemTokError::NonFiniteLoss { epoch: 1 })));
    }
}
