//! The item-tokenizer recipe (`recipes/itemtok-rqvae.toml`, `recipes/itemtok-clvae.toml`):
//! serde structs that reject unknown keys, with explicit defaults, checked by `resolve()` into
//! the Burn [`RqVaeConfig`] and the plain settings of the training loop. RQ-VAE and CL-VAE
//! differ only in `[curriculum]` and `[reinit]` (issue 8 item 4), so the paper's ablations
//! (w/o curriculum, w/o re-init; RecBase Table 4) are one-line overrides.

use std::path::Path;

use super::ItemTokError;
use super::curriculum::{Curriculum, CurriculumRule};
use super::item_text::TextLayout;
use super::losses::LossWeights;
use super::reinit::ReinitRule;
use super::rqvae::RqVaeConfig;
use super::semantic_ids::CollisionStrategy;
use super::tfidf::TfidfConfig;

/// The whole recipe.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemTokRecipe {
    /// Item text and the embedded TF-IDF + SVD encoder.
    pub text: TextSection,
    pub model: ModelSection,
    pub train: TrainSection,
    #[serde(default)]
    pub loss: LossWeights,
    /// When each level joins (`kind = "off"`: plain RQ-VAE).
    #[serde(default = "curriculum_off")]
    pub curriculum: CurriculumRule,
    /// First-level re-initialisation by k-means (`kind = "off"`: none).
    #[serde(default = "reinit_off")]
    pub reinit: ReinitRule,
    #[serde(default)]
    pub ids: IdsSection,
}

fn curriculum_off() -> CurriculumRule {
    CurriculumRule::Off
}
fn reinit_off() -> ReinitRule {
    ReinitRule::Off
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextSection {
    /// `unified` (RecBase §3.2) or `plain` (the "w/o format" ablation).
    #[serde(default)]
    pub layout: TextLayout,
    pub tfidf: TfidfConfig,
}

/// The network's shape; `input_dim` comes from the text encoder.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub hidden_dims: Vec<usize>,
    pub latent_dim: usize,
    pub levels: usize,
    pub codebook_size: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    pub epochs: usize,
    pub batch_size: usize,
    /// AdamW learning rate (constant).
    pub lr: f64,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// Seeds weight init, the per-epoch shuffles and every k-means.
    #[serde(default)]
    pub seed: u64,
    /// Items (the first of a seeded shuffle) whose residuals k-means clusters to initialise each
    /// level when it joins, and to re-initialise level 0. At least `codebook_size`.
    #[serde(default = "default_kmeans_rows")]
    pub kmeans_rows: usize,
    /// Lloyd iterations of those k-means runs at most.
    #[serde(default = "default_kmeans_iters")]
    pub kmeans_iters: usize,
    /// Write a resumable checkpoint every this many epochs (and after the last).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
}

fn default_weight_decay() -> f64 {
    1e-4
}
fn default_kmeans_rows() -> usize {
    4096
}
fn default_kmeans_iters() -> usize {
    25
}
fn default_checkpoint_every() -> usize {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdsSection {
    /// `reassign_last_level` (default) or `append_level`.
    #[serde(default)]
    pub collision: CollisionStrategy,
}

impl ItemTokRecipe {
    /// Parses a recipe file, applying `--set key=value` overrides first (as `config::apply_set`).
    pub fn load(path: &Path, sets: &[String]) -> Result<Self, ItemTokError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ItemTokError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, sets).map_err(|message| ItemTokError::Format { path: path.to_path_buf(), message })
    }

    /// Parses recipe text (the error is the message without the file name).
    pub fn parse(text: &str, sets: &[String]) -> Result<Self, String> {
        // The file alone first, so that its errors carry line numbers.
        let mut recipe: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        if !sets.is_empty() {
            let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
            for set in sets {
                crate::config::apply_set(&mut table, set).map_err(|e| e.to_string())?;
            }
            recipe = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| format!("after --set: {e}"))?;
        }
        recipe.resolve(1).map_err(|e| e.to_string())?;
        Ok(recipe)
    }

    /// Checks every invariant (each error names its field) and builds the network config for
    /// inputs of `input_dim`.
    pub fn resolve(&self, input_dim: usize) -> Result<RqVaeConfig, ItemTokError> {
        self.text.tfidf.validate()?;
        let m = &self.model;
        let config = RqVaeConfig::new(input_dim, m.hidden_dims.clone(), m.latent_dim)
            .with_levels(m.levels)
            .with_codebook_size(m.codebook_size);
        config.validate()?;
        let t = &self.train;
        for (field, value) in
            [("epochs", t.epochs), ("batch_size", t.batch_size), ("checkpoint_every", t.checkpoint_every)]
        {
            if value == 0 {
                return Err(ItemTokError::config(&format!("train.{field}"), "must be at least 1"));
            }
        }
        if t.kmeans_rows < m.codebook_size {
            let message = format!("{} rows cannot seed {} codes", t.kmeans_rows, m.codebook_size);
            return Err(ItemTokError::config("train.kmeans_rows", message));
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return Err(ItemTokError::config("train.lr", format!("{} is not a positive number", t.lr)));
        }
        let l = &self.loss;
        let non_negative = |w: f64| w.is_finite() && w >= 0.0;
        if !(non_negative(l.temperature) && l.temperature > 0.0)
            || ![l.recon, l.quant, l.beta, l.entropy].into_iter().all(non_negative)
        {
            return Err(ItemTokError::config("loss", "weights must be >= 0 and temperature > 0"));
        }
        Curriculum::new(self.curriculum.clone(), m.levels)?;
        self.reinit.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECIPES: [&str; 2] =
        [include_str!("../../recipes/itemtok-rqvae.toml"), include_str!("../../recipes/itemtok-clvae.toml")];

    #[test]
    fn shipped_recipes_parse_and_differ_only_in_the_switches() {
        let rq = ItemTokRecipe::parse(RECIPES[0], &[]).unwrap();
        let cl = ItemTokRecipe::parse(RECIPES[1], &[]).unwrap();
        assert_eq!(rq.curriculum, CurriculumRule::Off);
        assert_eq!(rq.reinit, ReinitRule::Off);
        assert_ne!(cl.curriculum, CurriculumRule::Off);
        assert_ne!(cl.reinit, ReinitRule::Off);
        let same = ItemTokRecipe { curriculum: rq.curriculum.clone(), reinit: rq.reinit, ..cl.clone() };
        assert_eq!(same, rq);
        // The "w/o re-init" ablation is one override.
        let ablation = ItemTokRecipe::parse(RECIPES[1], &["reinit.kind=off".into()]).unwrap();
        assert_eq!(ablation.reinit, ReinitRule::Off);
    }

    #[test]
    fn bad_recipes_name_the_key() {
        let err = ItemTokRecipe::parse(RECIPES[0], &["train.epochz=3".into()]).unwrap_err();
        assert!(err.contains("epochz"), "{err}");
        // A typo in the file itself is reported with its line.
        let typo = RECIPES[0].replace("batch_size = 1024", "batch_sise = 1024");
        let err = ItemTokRecipe::parse(&typo, &[]).unwrap_err();
        assert!(err.contains("batch_sise") && err.contains("line"), "{err}");
        let err = ItemTokRecipe::parse(RECIPES[0], &["train.kmeans_rows=3".into()]).unwrap_err();
        assert!(err.contains("train.kmeans_rows"), "{err}");
        let err = ItemTokRecipe::parse(RECIPES[0], &["model.levels=0".into()]).unwrap_err();
        assert!(err.contains("levels"), "{err}");
    }
}
