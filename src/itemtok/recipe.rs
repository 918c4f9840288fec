//! The item-tokenizer recipe (`recipes/itemtok-rqvae.toml`, `recipes/itemtok-clvae.toml`):
//! serde structs that reject unknown keys, with explicit defaults, checked by `resolve()` into
//! the Burn [`RqVaeConfig`] and the plain settings of the training loop. RQ-VAE and CL-VAE
//! differ only in `[curriculum]` and `[reinit]` (issue 8 item 4), so the paper's ablations
//! (w/o curriculum, w/o re-init; RecBase Table 4) are one-line overrides.

use std::path::Path;

use super::ItemTokError;
use super::checkpoint_encoder::CheckpointEncoderConfig;
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
    /// Item text and its encoder.
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
    /// Which encoder turns item texts into vectors; TF-IDF + SVD unless the recipe says
    /// `encoder = { kind = "checkpoint", path = "...", ... }`.
    // Left out of the saved recipe when default, so runs from before the key keep their text.
    #[serde(default, skip_serializing_if = "EncoderChoice::is_tfidf")]
    pub encoder: EncoderChoice,
    /// The TF-IDF + SVD settings: required by that encoder, ignored by a checkpoint (so that
    /// `--set text.encoder.kind=checkpoint` works on the shipped recipes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tfidf: Option<TfidfConfig>,
}

/// The text encoder of a recipe (issue 8 item 2).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EncoderChoice {
    /// The embedded TF-IDF + truncated SVD of `[text.tfidf]`, fitted on the training items.
    // A struct variant, not a unit one: serde lets unknown keys beside the tag of an internally
    // tagged unit variant through, `deny_unknown_fields` only applies to fields.
    Tfidf {},
    /// A decoder checkpoint with mean pooling, cached on disk.
    Checkpoint(CheckpointEncoderConfig),
}

impl Default for EncoderChoice {
    fn default() -> Self {
        Self::Tfidf {}
    }
}

impl EncoderChoice {
    pub fn is_tfidf(&self) -> bool {
        matches!(self, Self::Tfidf {})
    }
}

impl TextSection {
    /// The TF-IDF settings, or an error naming the missing table.
    pub fn tfidf(&self) -> Result<&TfidfConfig, ItemTokError> {
        self.tfidf.as_ref().ok_or_else(|| ItemTokError::config("text.tfidf", "required by the TF-IDF encoder"))
    }
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
        match &self.text.encoder {
            EncoderChoice::Tfidf {} => self.text.tfidf()?.validate()?,
            EncoderChoice::Checkpoint(encoder) => encoder.validate()?,
        }
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
        let weights_ok = [l.recon, l.quant, l.beta, l.entropy].into_iter().all(non_negative);
        if !(weights_ok && non_negative(l.temperature) && l.temperature > 0.0) {
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

    #[test]
    fn checkpoint_encoder_keys() {
        let text = RECIPES[0].replace(
            "[text.tfidf]",
            "encoder = { kind = \"checkpoint\", path = \"models/m\", bidirectional = false, batch = 8 }\n[text.tfidf]",
        );
        let recipe = ItemTokRecipe::parse(&text, &[]).unwrap();
        let EncoderChoice::Checkpoint(encoder) = &recipe.text.encoder else { panic!("{:?}", recipe.text.encoder) };
        assert_eq!(
            (encoder.path.to_str(), encoder.bidirectional, encoder.batch, encoder.max_len),
            (Some("models/m"), false, 8, 256)
        );
        // The saved recipe reads back the same.
        let saved = toml::to_string(&recipe).unwrap();
        assert_eq!(ItemTokRecipe::parse(&saved, &[]).unwrap(), recipe);
        // Unknown keys, in the encoder table or beside its kind, are named.
        let err = ItemTokRecipe::parse(&text, &["text.encoder.pooling_mode=\"mean\"".into()]).unwrap_err();
        assert!(err.contains("pooling_mode"), "{err}");
        let err = ItemTokRecipe::parse(&text, &["text.encoder.batch=0".into()]).unwrap_err();
        assert!(err.contains("text.encoder.batch"), "{err}");
        let err = ItemTokRecipe::parse(&text, &["text.encoder.kind=\"nv_embed\"".into()]).unwrap_err();
        assert!(err.contains("nv_embed"), "{err}");
        // The TF-IDF default keeps the saved recipe of older runs unchanged, and needs its table.
        let rq = ItemTokRecipe::parse(RECIPES[0], &[]).unwrap();
        assert!(rq.text.encoder.is_tfidf() && !toml::to_string(&rq).unwrap().contains("encoder"));
        let err = ItemTokRecipe::parse("[text]\n[model]\nhidden_dims = [4]\nlatent_dim = 2\nlevels = 1\ncodebook_size = 2\n[train]\nepochs = 1\nbatch_size = 2\nlr = 0.1\n", &[]).unwrap_err();
        assert!(err.contains("text.tfidf"), "{err}");
        // A tfidf encoder with a stray key is refused too.
        let err =
            ItemTokRecipe::parse(RECIPES[0], &["text.encoder={ kind = \"tfidf\", path = \"x\" }".into()]).unwrap_err();
        assert!(err.contains("path"), "{err}");
    }
}
