//! The recipe file: what to run (`[run]`), on which model (`[model]`), and the settings of each
//! stage. Every struct rejects unknown keys; paths are relative to the recipe file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::adapter::AdapterSection;
use super::quickstart::RecBaseQuickstartSection;
use super::recbase::{PretrainSection, RecBaseSection};
use super::train::{S2SchedSection, TrainSection};
use super::overrides::{SetError, apply_set};

/// Errors from reading or checking a recipe; each names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(transparent)]
    Set(#[from] SetError),
    #[error("{path}: key `{key}`: {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

/// Which pipeline a recipe runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Build or load a decoder, generate (greedy and beam) and embed a few inputs.
    Quickstart,
    /// Joint embedding + generative training with TMoLE/LoRA and S2Sched (RecFound §4).
    Recfound,
    /// RecBase pretraining from scratch on concept-id histories (RecBase §3.3).
    Recbase,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub kind: RunKind,
    /// Seeds every RNG of the run (weight init, sampling).
    #[serde(default)]
    pub seed: u64,
}

/// Exactly one of `path` (an HF checkpoint directory) or `config` (an HF `config.json`,
/// randomly initialised: no download, no weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub path: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSection {
    /// Prompts as token ids.
    pub prompts: Vec<Vec<u32>>,
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// Beam width of the beam-search pass that follows the greedy one (1 = skip it).
    #[serde(default = "default_num_beams")]
    pub num_beams: usize,
    #[serde(default = "default_length_penalty")]
    pub length_penalty: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedSection {
    /// Inputs as token ids; pooling starts at `pool_start` (default 0).
    pub inputs: Vec<Vec<u32>>,
    #[serde(default)]
    pub pool_start: usize,
    #[serde(default = "yes")]
    pub bidirectional: bool,
    #[serde(default = "yes")]
    pub normalize: bool,
}

fn default_max_new_tokens() -> usize {
    16
}
fn default_num_beams() -> usize {
    4
}
fn default_length_penalty() -> f32 {
    1.0
}
fn yes() -> bool {
    true
}

/// A whole recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub run: RunSection,
    pub model: ModelSection,
    pub generate: Option<GenerateSection>,
    pub embed: Option<EmbedSection>,
    /// An adapter on the model (fresh or loaded).
    pub adapter: Option<AdapterSection>,
    /// Training settings (`kind = "recfound"`).
    pub train: Option<TrainSection>,
    /// S2Sched settings (`kind = "recfound"`; defaults: the paper's).
    pub s2sched: Option<S2SchedSection>,
    /// RecBase pretraining data (`kind = "recbase"`).
    pub recbase: Option<RecBaseSection>,
    /// RecBase optimisation settings (`kind = "recbase"`).
    pub pretrain: Option<PretrainSection>,
    /// The quickstart's RecBase stage: a `kind = "recbase"` recipe and a held-out domain.
    pub recbase_quickstart: Option<RecBaseQuickstartSection>,
    /// The file it came from; relative paths inside resolve against its directory.
    #[serde(skip)]
    pub source: PathBuf,
}

/// Reads `path`, applies `--set` overrides, checks every key, and resolves relative paths
/// against the recipe's directory.
pub fn load_recipe(path: &Path, sets: &[String]) -> Result<Recipe, RecipeError> {
    let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Io { path: path.to_path_buf(), source })?;
    let parse = |message: String| RecipeError::Parse { path: path.to_path_buf(), message };
    // Parse the file alone first, so errors in it carry its line numbers.
    let mut recipe: Recipe = toml::from_str(&text).map_err(|e| parse(e.to_string()))?;
    if !sets.is_empty() {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| parse(e.to_string()))?;
        for set in sets {
            apply_set(&mut table, set)?;
        }
        recipe = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| parse(format!("after --set: {}", e.message())))?;
    }
    recipe.source = path.to_path_buf();
    let base = path.parent().unwrap_or(Path::new("."));
    let adapter_path = recipe.adapter.as_mut().and_then(|a| a.path.as_mut());
    let data_path = recipe.train.as_mut().map(|t| &mut t.data);
    let recbase_paths: Vec<&mut PathBuf> = match recipe.recbase.as_mut() {
        Some(r) => r.domains.iter_mut().chain(r.itemtok.as_mut()).chain(r.itemtok_recipe.as_mut()).collect(),
        None => Vec::new(),
    };
    let quickstart_paths = recipe.recbase_quickstart.as_mut().map(|q| [&mut q.recipe, &mut q.zero_shot_domain]).into_iter().flatten();
    for p in [&mut recipe.model.path, &mut recipe.model.config]
        .into_iter()
        .flatten()
        .chain(adapter_path)
        .chain(data_path)
        .chain(recbase_paths)
        .chain(quickstart_paths)
    {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    recipe.check()?;
    Ok(recipe)
}

impl Recipe {
    /// Invariants serde cannot express, each reported with its key.
    pub fn check(&self) -> Result<(), RecipeError> {
        let invalid = |key: &str, message: String| RecipeError::Invalid {
            path: self.source.clone(),
            key: key.to_string(),
            message,
        };
        match (&self.model.path, &self.model.config) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(invalid("model", "give exactly one of `path` (checkpoint) or `config` (random init)".into()));
            }
            (Some(p), None) if !p.is_dir() => return Err(invalid("model.path", format!("{} is not a directory", p.display()))),
            (None, Some(c)) if !c.is_file() => return Err(invalid("model.config", format!("{} does not exist", c.display()))),
            _ => {}
        }
        if let Some(g) = &self.generate {
            if g.prompts.is_empty() || g.prompts.iter().any(Vec::is_empty) {
                return Err(invalid("generate.prompts", "needs at least one non-empty prompt".into()));
            }
            if g.num_beams == 0 {
                return Err(invalid("generate.num_beams", "must be at least 1".into()));
            }
        }
        if let Some(a) = &self.adapter {
            if let Some(p) = a.path.as_ref().filter(|p| !p.is_dir()) {
                return Err(invalid("adapter.path", format!("{} is not a directory", p.display())));
            }
            a.to_config().validate().map_err(|e| invalid("adapter", e.to_string()))?;
            if let Some(task) = &a.task {
                task.parse::<crate::recfound::TaskId>().map_err(|e| invalid("adapter.task", e.to_string()))?;
            }
        }
        if self.run.kind == RunKind::Recfound || self.train.is_some() {
            self.check_training(&invalid)?;
        }
        if let Some(q) = &self.recbase_quickstart {
            if self.run.kind != RunKind::Quickstart {
                return Err(invalid("recbase_quickstart", "belongs to `kind = \"quickstart\"` recipes".into()));
            }
            if !q.recipe.is_file() {
                return Err(invalid("recbase_quickstart.recipe", format!("{} does not exist", q.recipe.display())));
            }
            let d = &q.zero_shot_domain;
            if !d.join(crate::data::domain::SEQUENCES_FILE).is_file() || !d.join(crate::data::domain::ITEMS_FILE).is_file() {
                return Err(invalid("recbase_quickstart.zero_shot_domain", format!("{} is not a domain folder (items.jsonl + sequences.jsonl)", d.display())));
            }
        }
        if self.run.kind == RunKind::Recbase || self.recbase.is_some() || self.pretrain.is_some() {
            self.check_recbase(&invalid)?;
        }
        if let Some(e) = &self.embed {
            if e.inputs.is_empty() {
                return Err(invalid("embed.inputs", "needs at least one input".into()));
            }
            if let Some(i) = e.inputs.iter().position(|x| x.len() <= e.pool_start) {
                return Err(invalid("embed.pool_start", format!("input {i} has nothing to pool after token {}", e.pool_start)));
            }
        }
        Ok(())
    }

    /// A RecBase pretraining recipe's invariants: every one names its key; a missing domain
    /// folder or item tokenizer is named before any work starts.
    fn check_recbase(&self, invalid: &dyn Fn(&str, String) -> RecipeError) -> Result<(), RecipeError> {
        let (Some(r), Some(p)) = (&self.recbase, &self.pretrain) else {
            return Err(invalid("recbase", "a `recbase` run needs [recbase] and [pretrain] sections".into()));
        };
        if self.model.path.is_some() {
            return Err(invalid("model.path", "RecBase pretrains from scratch: give `model.config` (its vocab_size is replaced by the run's vocabulary)".into()));
        }
        if r.domains.is_empty() {
            return Err(invalid("recbase.domains", "needs at least one domain folder".into()));
        }
        for d in &r.domains {
            if !d.join(crate::data::domain::SEQUENCES_FILE).is_file() || !d.join(crate::data::domain::ITEMS_FILE).is_file() {
                return Err(invalid("recbase.domains", format!("{} is not a domain folder (items.jsonl + sequences.jsonl)", d.display())));
            }
        }
        if !r.domain_weights.is_empty() && r.domain_weights.len() != r.domains.len() {
            return Err(invalid("recbase.domain_weights", format!("{} weights for {} domains", r.domain_weights.len(), r.domains.len())));
        }
        if let Some(w) = r.domain_weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(invalid("recbase.domain_weights", format!("{w} is not a finite, non-negative weight")));
        }
        match (&r.itemtok, &r.itemtok_recipe) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(invalid("recbase", "give exactly one of `itemtok` (a tokenizer run) or `itemtok_recipe` (trained first)".into()));
            }
            (Some(dir), None) if !dir.join(crate::itemtok::run::MANIFEST_FILE).is_file() => {
                return Err(invalid("recbase.itemtok", format!("{} is not an item-tokenizer run (no manifest.json)", dir.display())));
            }
            (None, Some(file)) if !file.is_file() => {
                return Err(invalid("recbase.itemtok_recipe", format!("{} does not exist", file.display())));
            }
            _ => {}
        }
        if r.seq_len < 2 {
            return Err(invalid("recbase.seq_len", "must hold BOS and at least one item".into()));
        }
        if r.max_items > 0 && r.max_items < r.min_items {
            return Err(invalid("recbase.max_items", format!("{} is below min_items = {}", r.max_items, r.min_items)));
        }
        for (key, value) in [("pretrain.steps", p.steps), ("pretrain.batch_rows", p.batch_rows), ("pretrain.save_every", p.save_every)] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        for (key, value) in [("pretrain.lr", p.lr), ("pretrain.beta_1", p.beta_1), ("pretrain.beta_2", p.beta_2)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(invalid(key, format!("must be positive, got {value}")));
            }
        }
        for (key, value) in [("pretrain.min_lr", p.min_lr), ("pretrain.weight_decay", p.weight_decay), ("pretrain.grad_clip", p.grad_clip)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(key, format!("must be non-negative, got {value}")));
            }
        }
        if !(0.0..=1.0).contains(&p.warmup_ratio) {
            return Err(invalid("pretrain.warmup_ratio", "must be in [0, 1]".into()));
        }
        Ok(())
    }

    /// A training recipe's own invariants: every one names its key.
    fn check_training(&self, invalid: &dyn Fn(&str, String) -> RecipeError) -> Result<(), RecipeError> {
        let Some(t) = &self.train else {
            return Err(invalid("train", "a `recfound` run needs a [train] section".into()));
        };
        let tokenizer_dir = match (&self.model.path, &self.model.config) {
            (Some(dir), _) => dir.clone(),
            (None, Some(config)) => config.parent().map(Path::to_path_buf).unwrap_or_default(),
            (None, None) => PathBuf::new(),
        };
        if !tokenizer_dir.join("tokenizer.json").is_file() {
            return Err(invalid("model", format!("training needs tokenizer.json in {}", tokenizer_dir.display())));
        }
        if !t.data.is_dir() {
            return Err(invalid("train.data", format!("{} is not a directory", t.data.display())));
        }
        let mut seen = std::collections::HashSet::new();
        for name in &t.tasks {
            name.parse::<crate::recfound::TaskId>().map_err(|e| invalid("train.tasks", e.to_string()))?;
            if !seen.insert(name) {
                return Err(invalid("train.tasks", format!("`{name}` is named twice")));
            }
        }
        for (key, value) in [("train.steps", t.steps), ("train.group_size", t.group_size), ("train.max_len", t.max_len)] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if t.embedding_batch + t.generative_batch == 0 {
            return Err(invalid("train.embedding_batch", "both batch sizes are 0: nothing to train".into()));
        }
        if t.embedding_batch == 1 && t.group_size == 1 {
            return Err(invalid("train.embedding_batch", "one query with no hard negative has no negative at all: raise the batch or group_size".into()));
        }
        if !(t.temperature.is_finite() && t.temperature > 0.0) {
            return Err(invalid("train.temperature", format!("must be positive, got {}", t.temperature)));
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(invalid("train.lr", format!("must be positive, got {}", t.lr)));
        }
        if !(0.0..=1.0).contains(&t.warmup_ratio) {
            return Err(invalid("train.warmup_ratio", "must be in [0, 1]".into()));
        }
        t.template.parse::<crate::text::PromptTemplate>().map_err(|e| invalid("train.template", e.to_string()))?;
        let s = self.s2sched.clone().unwrap_or_default();
        if !(s.tau.is_finite() && s.tau > 0.0) {
            return Err(invalid("s2sched.tau", format!("must be positive, got {}", s.tau)));
        }
        if s.window < 2 {
            return Err(invalid("s2sched.window", "must be at least 2 (a slope needs two points)".into()));
        }
        if !(0.0..=1.0).contains(&s.warmup_ratio) {
            return Err(invalid("s2sched.warmup_ratio", "must be in [0, 1]".into()));
        }
        if s.update_interval == 0 || s.validation_samples == 0 {
            return Err(invalid("s2sched", "update_interval and validation_samples must be at least 1".into()));
        }
        Ok(())
    }
}
