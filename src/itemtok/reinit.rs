//! Codebook usage counting and the CL-VAE re-initialisation rule (RecBase §3.2: "we determine
//! whether to reinitialize the first-level codebook based on its usage during training"; issue 8
//! item 4). The official code re-initialises every 17 epochs without looking at usage; we also
//! offer a usage threshold with a cooldown (DESIGN.md §8). The re-initialisation itself is k-means.

use super::ItemTokError;

/// Per-level code counts over one epoch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeUsage {
    /// `[level][code]` assignments counted since the last reset.
    pub counts: Vec<Vec<usize>>,
}

impl CodeUsage {
    /// Zero counts for `levels` codebooks of `codebook_size` codes.
    pub fn new(levels: usize, codebook_size: usize) -> Self {
        Self { counts: vec![vec![0; codebook_size]; levels] }
    }

    /// Counts one assignment; errors name the level or code out of range.
    pub fn record(&mut self, level: usize, code: usize) -> Result<(), ItemTokError> {
        let levels = self.counts.len();
        let row = self
            .counts
            .get_mut(level)
            .ok_or_else(|| ItemTokError::config("level", format!("{level} out of range for {levels} levels")))?;
        let size = row.len();
        let slot = row
            .get_mut(code)
            .ok_or_else(|| ItemTokError::config("code", format!("{code} out of range for {size} codes")))?;
        *slot += 1;
        Ok(())
    }

    /// Codes of `level` never assigned since the last reset.
    pub fn dead_codes(&self, level: usize) -> usize {
        self.counts.get(level).map_or(0, |row| row.iter().filter(|&&n| n == 0).count())
    }

    /// Share of `level`'s codes assigned at least once (0 for an empty codebook).
    pub fn used_share(&self, level: usize) -> f64 {
        let size = self.counts.get(level).map_or(0, Vec::len);
        if size == 0 { 0.0 } else { 1.0 - self.dead_codes(level) as f64 / size as f64 }
    }

    /// Zeroes every count (at an epoch boundary).
    pub fn reset(&mut self) {
        self.counts.iter_mut().flatten().for_each(|n| *n = 0);
    }
}

/// When the first-level codebook is re-initialised.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReinitRule {
    /// Never (the "w/o re-init" ablation).
    Off,
    /// Every `epochs` epochs, whatever the usage (the official code: 17).
    Every { epochs: usize },
    /// When the share of first-level codes used in the epoch falls below `min_used_share`, and
    /// at least `cooldown` epochs have passed since the last re-initialisation.
    UsageBelow { min_used_share: f64, cooldown: usize },
}

impl ReinitRule {
    /// Rejects settings that can never or always fire by mistake, naming the field.
    pub fn validate(&self) -> Result<(), ItemTokError> {
        match *self {
            ReinitRule::Every { epochs: 0 } => Err(ItemTokError::config("epochs", "must be at least 1")),
            ReinitRule::UsageBelow { min_used_share, .. } if !(0.0..=1.0).contains(&min_used_share) => {
                Err(ItemTokError::config("min_used_share", format!("{min_used_share} is not in [0, 1]")))
            }
            _ => Ok(()),
        }
    }

    /// Whether to re-initialise after epoch `epoch` (1-based count of finished epochs), given
    /// the epoch's usage and the epochs since the last re-initialisation (or since the start).
    pub fn should_reinit(&self, epoch: usize, usage: &CodeUsage, epochs_since_last: usize) -> bool {
        match *self {
            ReinitRule::Off => false,
            ReinitRule::Every { epochs } => epochs > 0 && epoch > 0 && epoch.is_multiple_of(epochs),
            ReinitRule::UsageBelow { min_used_share, cooldown } => {
                epochs_since_last >= cooldown && usage.used_share(0) < min_used_share
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_dead_codes_and_used_share() {
        // 2 levels of 4 codes; level 0 sees codes 1, 1, 3: dead 0 and 2 -> used 2/4 = 0.5.
        let mut usage = CodeUsage::new(2, 4);
        for code in [1, 1, 3] {
            usage.record(0, code).unwrap();
        }
        assert_eq!(usage.counts[0], [0, 2, 0, 1]);
        assert_eq!((usage.dead_codes(0), usage.used_share(0)), (2, 0.5));
        assert_eq!((usage.dead_codes(1), usage.used_share(1)), (4, 0.0));
        usage.reset();
        assert_eq!(usage, CodeUsage::new(2, 4));
        assert!(usage.record(2, 0).unwrap_err().to_string().contains("level"));
        assert!(usage.record(0, 4).unwrap_err().to_string().contains("code"));
    }

    #[test]
    fn rules_fire_when_they_should() {
        let mut usage = CodeUsage::new(1, 4);
        usage.record(0, 0).unwrap(); // used share 1/4 = 0.25
        assert!(!ReinitRule::Off.should_reinit(17, &usage, 17));
        let every = ReinitRule::Every { epochs: 17 };
        assert!(every.should_reinit(17, &usage, 0) && every.should_reinit(34, &usage, 0));
        assert!(!every.should_reinit(16, &usage, 16) && !every.should_reinit(0, &usage, 0));
        let below = ReinitRule::UsageBelow { min_used_share: 0.5, cooldown: 3 };
        assert!(below.should_reinit(5, &usage, 3));
        assert!(!below.should_reinit(5, &usage, 2), "cooldown");
        for code in [1, 2] {
            usage.record(0, code).unwrap(); // 3/4 = 0.75 >= 0.5
        }
        assert!(!below.should_reinit(5, &usage, 3));
    }

    #[test]
    fn rules_deserialise_and_validate() {
        let rule: ReinitRule =
            serde_json::from_str(r#"{"kind": "usage_below", "min_used_share": 0.3, "cooldown": 2}"#).unwrap();
        assert_eq!(rule, ReinitRule::UsageBelow { min_used_share: 0.3, cooldown: 2 });
        assert!(rule.validate().is_ok());
        assert!(ReinitRule::Every { epochs: 0 }.validate().unwrap_err().to_string().contains("epochs"));
        let bad = ReinitRule::UsageBelow { min_used_share: 2.0, cooldown: 0 };
        assert!(bad.validate().unwrap_err().to_string().contains("min_used_share"));
    }
}
