//! The recipe's `[recbase]` (pretraining data: domains, item tokenizer, Appendix B.2 filters,
//! packing, mixing) and `[pretrain]` (optimisation) sections of a `kind = "recbase"` run
//! (RecBase §3.3, §4.2; issue 9 items 2-3). Defaults are the paper's where it gives them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::train::lr::Decay;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecBaseSection {
    /// Domain folders to pretrain on (`items.jsonl` + `sequences.jsonl`).
    pub domains: Vec<PathBuf>,
    /// Relative weight of each domain in the mixture, in `domains` order; empty = each domain in
    /// proportion to its packed rows (every row seen about equally often).
    #[serde(default)]
    pub domain_weights: Vec<f64>,
    /// An existing item-tokenizer run, copied into the run as `itemtok/`.
    #[serde(default)]
    pub itemtok: Option<PathBuf>,
    /// Or an item-tokenizer recipe, trained first on `domains` into the run's `itemtok/`.
    #[serde(default)]
    pub itemtok_recipe: Option<PathBuf>,
    /// Users with fewer items are dropped (Appendix B.2: 15).
    #[serde(default = "default_min_items")]
    pub min_items: usize,
    /// Longer histories keep their most recent items (Appendix B.2: 2500); 0 = no cap.
    #[serde(default = "default_max_items")]
    pub max_items: usize,
    /// Tokens per packed training row.
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSection {
    pub steps: usize,
    /// Packed rows per optimizer step.
    pub batch_rows: usize,
    /// Rows per forward pass (0: the whole batch at once); the gradients are the whole batch's.
    #[serde(default)]
    pub micro_batch: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default)]
    pub min_lr: f64,
    /// Share of the steps spent warming the learning rate up.
    #[serde(default = "default_warmup")]
    pub warmup_ratio: f64,
    #[serde(default = "super::train::default_decay")]
    pub decay: Decay,
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "default_beta_1")]
    pub beta_1: f64,
    #[serde(default = "default_beta_2")]
    pub beta_2: f64,
    /// Global gradient-norm clip (0 = none).
    #[serde(default = "default_grad_clip")]
    pub grad_clip: f64,
    /// Step checkpoints every this many steps (and at the end).
    #[serde(default = "default_save_every")]
    pub save_every: usize,
}

fn default_min_items() -> usize {
    15
}
fn default_max_items() -> usize {
    2500
}
fn default_seq_len() -> usize {
    1024
}
fn default_lr() -> f64 {
    3e-4
}
fn default_warmup() -> f64 {
    0.01
}
fn default_weight_decay() -> f64 {
    0.1
}
fn default_beta_1() -> f64 {
    0.9
}
fn default_beta_2() -> f64 {
    0.95
}
fn default_grad_clip() -> f64 {
    1.0
}
fn default_save_every() -> usize {
    500
}
