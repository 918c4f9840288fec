//! Adapter settings with PEFT's names (`r`, `lora_alpha`, `lora_dropout`, `use_rslora`,
//! `target_modules`), plus TMoLE's expert groups and router; which decoder projections the
//! targets select.

use serde::{Deserialize, Serialize};

use crate::backbone::Proj;
use crate::recfound::TaskKind;

use super::error::AdapterError;

/// Which modules get an adapter, as PEFT's `target_modules`: a list of names matched as a whole
/// module path or its last components (`q_proj` matches `model.layers.3.self_attn.q_proj`), a
/// regular expression matched against the whole path, or `all-linear` (every projection; the
/// LM head never).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    Names(Vec<String>),
    Pattern(String),
}

impl TargetModules {
    /// The default of RecFound (DESIGN.md §3): the four attention projections.
    pub fn attention() -> Self {
        Self::Names(["q_proj", "k_proj", "v_proj", "o_proj"].map(String::from).to_vec())
    }

    /// Whether the module at `path` is targeted.
    pub fn matches(&self, path: &str) -> Result<bool, AdapterError> {
        Ok(match self {
            Self::Names(names) => names.iter().any(|n| suffix_match(path, n)),
            Self::Pattern(p) if p == "all-linear" => true,
            Self::Pattern(p) => regex_full_match(p, path)?,
        })
    }

    /// The targeted projections of a decoder with `num_layers` layers, layer-major. A name that
    /// matches no projection is an error naming it (as PEFT refuses such configs).
    pub fn resolve(&self, num_layers: usize) -> Result<Vec<(usize, Proj)>, AdapterError> {
        let mut sites = Vec::new();
        for layer in 0..num_layers {
            for proj in Proj::ALL {
                if self.matches(&proj.module_path(layer))? {
                    sites.push((layer, proj));
                }
            }
        }
        if let Self::Names(names) = self {
            let all_paths: Vec<String> = (0..num_layers).flat_map(|l| Proj::ALL.map(|p| p.module_path(l))).collect();
            if let Some(missing) = names.iter().find(|n| !all_paths.iter().any(|p| suffix_match(p, n))) {
                return Err(AdapterError::UnknownTarget { name: missing.clone() });
            }
        }
        if sites.is_empty() {
            return Err(AdapterError::UnknownTarget { name: format!("{self:?}") });
        }
        Ok(sites)
    }
}

/// PEFT's rule: the whole path, or the path ending in `.name`.
fn suffix_match(path: &str, name: &str) -> bool {
    path == name || path.ends_with(&format!(".{name}"))
}

fn regex_full_match(pattern: &str, path: &str) -> Result<bool, AdapterError> {
    let re = regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| AdapterError::Config { key: "target_modules".into(), message: e.to_string() })?;
    Ok(re.is_match(path))
}

/// TMoLE's experts: `embedding` experts serve only embedding tasks, `generative` only
/// generative ones, `shared` both. Stored in that order (experts `0..E` embedding, then shared,
/// then generative), as the authors' code numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertGroups {
    pub embedding: usize,
    pub shared: usize,
    pub generative: usize,
}

impl Default for ExpertGroups {
    fn default() -> Self {
        Self { embedding: 2, shared: 2, generative: 2 }
    }
}

impl ExpertGroups {
    pub fn total(&self) -> usize {
        self.embedding + self.shared + self.generative
    }

    /// Which experts a sample of task kind `kind` may use (`None`, the "none" task row, uses all):
    /// the group mask of RecFound §4.2.
    pub fn allowed(&self, kind: Option<TaskKind>) -> Vec<bool> {
        let (e, s, g) = (self.embedding, self.shared, self.generative);
        let (use_e, use_g) = match kind {
            Some(TaskKind::Embedding) => (true, false),
            Some(TaskKind::Generative) => (false, true),
            None => (true, true),
        };
        std::iter::repeat_n(use_e, e).chain(std::iter::repeat_n(true, s)).chain(std::iter::repeat_n(use_g, g)).collect()
    }
}

/// TMoLE's router and task table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmoleConfig {
    #[serde(default)]
    pub experts: ExpertGroups,
    /// Width of the task-embedding table shared by all layers (authors: 512).
    #[serde(default = "default_task_dim")]
    pub task_embedding_dim: usize,
    /// Rows of the task table: the 13 tasks plus "none".
    #[serde(default = "default_num_tasks")]
    pub num_tasks: usize,
    /// Hidden widths of the router MLP (ReLU between layers); empty = one Linear, as the
    /// authors' code.
    #[serde(default)]
    pub router_hidden: Vec<usize>,
}

fn default_task_dim() -> usize {
    512
}

fn default_num_tasks() -> usize {
    crate::recfound::TaskId::ALL.len()
}

impl Default for TmoleConfig {
    fn default() -> Self {
        Self {
            experts: ExpertGroups::default(),
            task_embedding_dim: default_task_dim(),
            num_tasks: default_num_tasks(),
            router_hidden: Vec::new(),
        }
    }
}

/// A LoRA or TMoLE adapter's settings. Plain LoRA (`tmole: None`) is the "w/o TMoLE" ablation:
/// one shared expert and no router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterConfig {
    /// Rank of each expert.
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    /// rsLoRA: scale by `lora_alpha / sqrt(r)` instead of `lora_alpha / r`.
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default = "TargetModules::attention")]
    pub target_modules: TargetModules,
    #[serde(default)]
    pub tmole: Option<TmoleConfig>,
}

impl AdapterConfig {
    /// Plain LoRA with RecFound's rank and alpha on the attention projections.
    pub fn lora(r: usize, lora_alpha: f64) -> Self {
        Self { r, lora_alpha, lora_dropout: 0.0, use_rslora: false, target_modules: TargetModules::attention(), tmole: None }
    }

    /// RecFound's TMoLE: r 16, alpha 64, dropout 0.1, experts 2/2/2, task table 14 x 512.
    pub fn recfound_tmole() -> Self {
        Self { lora_dropout: 0.1, tmole: Some(TmoleConfig::default()), ..Self::lora(16, 64.0) }
    }

    /// The factor on `B A x`.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora { self.lora_alpha / (self.r as f64).sqrt() } else { self.lora_alpha / self.r as f64 }
    }

    /// Experts per targeted projection.
    pub fn num_experts(&self) -> usize {
        self.tmole.as_ref().map_or(1, |t| t.experts.total())
    }

    pub fn validate(&self) -> Result<(), AdapterError> {
        let bad = |key: &str, message: &str| Err(AdapterError::Config { key: key.into(), message: message.into() });
        if self.r == 0 {
            return bad("r", "must be at least 1");
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return bad("lora_dropout", "must be in [0, 1)");
        }
        if !self.lora_alpha.is_finite() {
            return bad("lora_alpha", "must be finite");
        }
        if let Some(t) = &self.tmole {
            let g = t.experts;
            if g.embedding + g.shared == 0 || g.shared + g.generative == 0 {
                return bad("tmole.experts", "embedding and generative tasks each need at least one expert (shared or own)");
            }
            if t.task_embedding_dim == 0 || t.num_tasks == 0 {
                return bad("tmole", "task_embedding_dim and num_tasks must be positive");
            }
            if t.router_hidden.contains(&0) {
                return bad("tmole.router_hidden", "hidden widths must be positive");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_peft_suffixes() {
        let t = TargetModules::Names(vec!["q_proj".into(), "mlp.down_proj".into()]);
        assert!(t.matches("model.layers.0.self_attn.q_proj").unwrap());
        assert!(t.matches("model.layers.1.mlp.down_proj").unwrap());
        assert!(!t.matches("model.layers.1.self_attn.o_proj").unwrap());
        // A suffix must start at a component boundary.
        assert!(!TargetModules::Names(vec!["proj".into()]).matches("model.layers.0.self_attn.q_proj").unwrap());
        let sites = t.resolve(2).unwrap();
        assert_eq!(sites, vec![(0, Proj::Q), (0, Proj::Down), (1, Proj::Q), (1, Proj::Down)]);
    }

    #[test]
    fn regex_and_all_linear() {
        let t = TargetModules::Pattern(r".*\.1\.self_attn\.(q|v)_proj".into());
        assert_eq!(t.resolve(3).unwrap(), vec![(1, Proj::Q), (1, Proj::V)]);
        assert_eq!(TargetModules::Pattern("all-linear".into()).resolve(2).unwrap().len(), 14);
    }

    #[test]
    fn unknown_target_is_named() {
        let err = TargetModules::Names(vec!["q_proj".into(), "fc1".into()]).resolve(2).unwrap_err();
        assert!(err.to_string().contains("fc1"), "{err}");
    }

    #[test]
    fn group_mask_follows_task_kind() {
        let g = ExpertGroups { embedding: 1, shared: 2, generative: 1 };
        assert_eq!(g.allowed(Some(TaskKind::Embedding)), [true, true, true, false]);
        assert_eq!(g.allowed(Some(TaskKind::Generative)), [false, true, true, true]);
        assert_eq!(g.allowed(None), [true; 4]);
    }

    #[test]
    fn scaling_and_rslora() {
        let mut c = AdapterConfig::lora(16, 64.0);
        assert_eq!(c.scaling(), 4.0);
        c.use_rslora = true;
        assert_eq!(c.scaling(), 16.0);
        assert_eq!(AdapterConfig::recfound_tmole().num_experts(), 6);
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = AdapterConfig::recfound_tmole();
        c.tmole.as_mut().unwrap().experts = ExpertGroups { embedding: 0, shared: 0, generative: 2 };
        assert!(c.validate().unwrap_err().to_string().contains("tmole.experts"));
        assert!(AdapterConfig::lora(0, 1.0).validate().unwrap_err().to_string().contains("`r`"));
    }
}
