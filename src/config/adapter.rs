//! The recipe's `[adapter]` section: attach a fresh LoRA or TMoLE adapter (RecFound's defaults),
//! or load a saved one. `kind = "lora"` is the paper's "w/o TMoLE" ablation
//! (`--set adapter.kind=lora`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::adapters::{AdapterConfig, ExpertGroups, TargetModules, TmoleConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdapterKind {
    /// Routed experts in embedding / shared / generative groups (RecFound §4.2).
    Tmole,
    /// One shared expert, no router: the "w/o TMoLE" ablation.
    Lora,
}

/// Settings of a fresh adapter (defaults: RecFound's TMoLE), or `path` of a saved one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSection {
    /// A saved adapter directory (LoRA from PEFT or recfound, or TMoLE). Its own
    /// adapter_config.json then decides the settings; only `task` below still applies.
    pub path: Option<PathBuf>,
    #[serde(default = "default_kind")]
    pub kind: AdapterKind,
    #[serde(default = "default_r")]
    pub r: usize,
    #[serde(default = "default_alpha")]
    pub lora_alpha: f64,
    #[serde(default = "default_dropout")]
    pub lora_dropout: f64,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default = "TargetModules::attention")]
    pub target_modules: TargetModules,
    #[serde(default)]
    pub experts: ExpertGroups,
    #[serde(default = "default_task_dim")]
    pub task_embedding_dim: usize,
    #[serde(default)]
    pub router_hidden: Vec<usize>,
    /// The task the quickstart's inputs run as (released name); default "none".
    pub task: Option<String>,
}

fn default_kind() -> AdapterKind {
    AdapterKind::Tmole
}
fn default_r() -> usize {
    16
}
fn default_alpha() -> f64 {
    64.0
}
fn default_dropout() -> f64 {
    0.1
}
fn default_task_dim() -> usize {
    512
}

impl AdapterSection {
    /// The adapter config of a fresh adapter.
    pub fn to_config(&self) -> AdapterConfig {
        let tmole = match self.kind {
            AdapterKind::Lora => None,
            AdapterKind::Tmole => Some(TmoleConfig {
                experts: self.experts,
                task_embedding_dim: self.task_embedding_dim,
                router_hidden: self.router_hidden.clone(),
                ..TmoleConfig::default()
            }),
        };
        AdapterConfig {
            r: self.r,
            lora_alpha: self.lora_alpha,
            lora_dropout: self.lora_dropout,
            use_rslora: self.use_rslora,
            target_modules: self.target_modules.clone(),
            tmole,
        }
    }
}
