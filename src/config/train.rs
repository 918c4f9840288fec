//! The recipe's `[train]` and `[s2sched]` sections (RecFound §4.1, §4.3, §5.1). Defaults are the
//! paper's where it gives them; the tiny recipes override the sizes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::train::lr::Decay;
use crate::train::ScheduleMode;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// A RecFound dataset: a folder `<Task_Name>/{train,validation}.jsonl` (what `recfound data
    /// build-recfound` writes), or the authors' GritLM-style files (one `.jsonl` file or a
    /// folder of them, tasks mixed; see `train::data`).
    pub data: PathBuf,
    /// Tasks to train (released names); default every task folder found.
    #[serde(default)]
    pub tasks: Vec<String>,
    pub steps: usize,
    /// Embedding examples per step (each a query plus `group_size` documents).
    pub embedding_batch: usize,
    /// Generative examples per step.
    pub generative_batch: usize,
    /// Inputs per forward pass (0: a branch's whole batch at once). Smaller values reach the
    /// same gradients with less memory: cross-entropy sums over micro-batches, InfoNCE uses
    /// GradCache's two passes, so in-batch negatives still span the whole batch.
    #[serde(default)]
    pub micro_batch: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default)]
    pub min_lr: f64,
    /// Share of the steps spent warming the learning rate up.
    #[serde(default = "default_warmup")]
    pub warmup_ratio: f64,
    #[serde(default = "default_decay")]
    pub decay: Decay,
    #[serde(default)]
    pub weight_decay: f64,
    /// InfoNCE temperature (authors: 0.02).
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Documents per query: 1 positive + (group_size - 1) hard negatives.
    #[serde(default = "default_group")]
    pub group_size: usize,
    /// Tokens per input; longer inputs lose their tail (a generative answer is cut at the end).
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Prompt template of both branches: gritlm (authors'), recfound (Appendix B), mistral, chatml, raw.
    #[serde(default = "default_template")]
    pub template: String,
    /// Rows read per task and split (0 = all): small runs need not tokenise everything.
    #[serde(default)]
    pub max_rows_per_task: usize,
    /// Adapter checkpoints every this many steps (and at the end).
    #[serde(default = "default_save_every")]
    pub save_every: usize,
    /// The dtype the frozen base is stored and multiplied in: `auto` (bf16 on GPU backends,
    /// f32 on the CPU ones), `f32` or `bf16`. Norms, activations and the adapter stay f32.
    #[serde(default)]
    pub base_dtype: BaseDtype,
}

/// `[train] base_dtype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseDtype {
    #[default]
    Auto,
    F32,
    Bf16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S2SchedSection {
    /// `s2sched`, or `uniform`: the "w/o S2Sched" ablation.
    #[serde(default = "default_mode")]
    pub mode: ScheduleMode,
    /// ζ: share of the steps before the ratios move (paper 10 %).
    #[serde(default = "default_sched_warmup")]
    pub warmup_ratio: f64,
    /// L (paper 64).
    #[serde(default = "default_window")]
    pub window: usize,
    /// τ (paper 10).
    #[serde(default = "default_tau")]
    pub tau: f64,
    /// Steps between scheduling updates (a validation pass each).
    #[serde(default = "default_interval")]
    pub update_interval: usize,
    /// Fixed validation rows per task (paper 128).
    #[serde(default = "default_val_samples")]
    pub validation_samples: usize,
}

impl Default for S2SchedSection {
    fn default() -> Self {
        Self {
            mode: default_mode(),
            warmup_ratio: default_sched_warmup(),
            window: default_window(),
            tau: default_tau(),
            update_interval: default_interval(),
            validation_samples: default_val_samples(),
        }
    }
}

fn default_lr() -> f64 {
    2e-5
}
fn default_warmup() -> f64 {
    0.03
}
pub(super) fn default_decay() -> Decay {
    Decay::Cosine
}
fn default_temperature() -> f64 {
    0.02
}
fn default_group() -> usize {
    2
}
fn default_max_len() -> usize {
    512
}
fn default_template() -> String {
    "gritlm".into()
}
fn default_save_every() -> usize {
    100
}
fn default_mode() -> ScheduleMode {
    ScheduleMode::S2Sched
}
fn default_sched_warmup() -> f64 {
    0.1
}
fn default_window() -> usize {
    64
}
fn default_tau() -> f64 {
    10.0
}
fn default_interval() -> usize {
    1
}
fn default_val_samples() -> usize {
    128
}
