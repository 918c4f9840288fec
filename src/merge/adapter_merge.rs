//! Merging adapter directories (RecFound §4.4; DESIGN.md §6): M checkpoints of one LoRA or
//! TMoLE adapter (ours or PEFT's layout) and the state training started from, merged tensor by
//! tensor (factors, stacked experts, routers, task table) with TIES or plain averaging, or in
//! ΔW = s·B A space per expert followed by a rank-r SVD back to factors. The output has the
//! inputs' `adapter_config.json` and keys, in `f32`, so `load_adapter` and PEFT read it as they
//! read the inputs.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::adapters::peft::{CONFIG_FILE, WEIGHTS_FILE};
use crate::adapters::{AdapterConfig, AdapterError, read_adapter_config};

use super::named_tensors::{NamedTensor, NamedTensors, TensorFileError, read_named_tensors, write_named_tensors};
use super::{MergeError, TiesConfig, TrimScope, average, delta_weight, factorize_delta, merge_ties, merge_ties_tensor};

/// Provenance written beside the merged adapter (PEFT ignores it).
pub const MERGE_FILE: &str = "merge.json";

/// How checkpoints are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MergeMethod {
    /// TIES on the raw tensors (A and B factors separately), as the authors' script.
    #[serde(rename = "ties")]
    Ties,
    /// Element-wise mean of the checkpoints (the baseline; needs no base).
    #[serde(rename = "average")]
    Average,
    /// TIES on ΔW = s·B A per site and expert, then rank-r SVD back to B, A; routers and the
    /// task table by TIES on the raw tensors.
    #[serde(rename = "ties-svd")]
    TiesSvd,
}

impl MergeMethod {
    pub const ALL: [MergeMethod; 3] = [MergeMethod::Ties, MergeMethod::Average, MergeMethod::TiesSvd];

    pub fn name(self) -> &'static str {
        match self {
            MergeMethod::Ties => "ties",
            MergeMethod::Average => "average",
            MergeMethod::TiesSvd => "ties-svd",
        }
    }
}

impl FromStr for MergeMethod {
    type Err = AdapterMergeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| AdapterMergeError::Method {
            message: format!("unknown merge method `{s}` (expected ties, average or ties-svd)"),
        })
    }
}

/// Errors of an adapter merge; each names the directory and the tensor or config key.
#[derive(Debug, thiserror::Error)]
pub enum AdapterMergeError {
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error(transparent)]
    File(#[from] TensorFileError),
    #[error("{dir}: tensor `{key}` is missing (it is in {reference})")]
    MissingTensor { dir: PathBuf, key: String, reference: PathBuf },
    #[error("{dir}: tensor `{key}` is not in {reference}")]
    ExtraTensor { dir: PathBuf, key: String, reference: PathBuf },
    #[error("{dir}: tensor `{key}` {message}")]
    Shape { dir: PathBuf, key: String, message: String },
    #[error("{dir}: adapter_config `{key}` is {found} but {reference} has {expected}")]
    Config { dir: PathBuf, key: &'static str, found: String, expected: String, reference: PathBuf },
    #[error("tensor `{key}`: {source}")]
    Merge { key: String, source: MergeError },
    #[error("{message}")]
    Method { message: String },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// One adapter directory as plain data.
#[derive(Debug, Clone)]
pub struct AdapterCheckpoint {
    pub dir: PathBuf,
    pub config: AdapterConfig,
    /// `adapter_config.json` verbatim, so the output keeps every key PEFT wrote.
    pub config_text: String,
    pub tensors: NamedTensors,
}

/// Reads `dir/adapter_config.json` (checked as `load_adapter` checks it) and every tensor of
/// `dir/adapter_model.safetensors`.
pub fn read_adapter_checkpoint(dir: &Path) -> Result<AdapterCheckpoint, AdapterMergeError> {
    let config = read_adapter_config(dir)?;
    let config_path = dir.join(CONFIG_FILE);
    let config_text =
        std::fs::read_to_string(&config_path).map_err(|e| AdapterMergeError::Io { path: config_path, message: e.to_string() })?;
    let tensors = read_named_tensors(&dir.join(WEIGHTS_FILE))?;
    Ok(AdapterCheckpoint { dir: dir.to_path_buf(), config, config_text, tensors })
}

/// Merge settings: the method and, for TIES, density, λ and trim scope.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdapterMergeConfig {
    pub method: MergeMethod,
    pub ties: TiesConfig,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeSummary {
    pub method: MergeMethod,
    pub ties: TiesConfig,
    pub base_init: Option<PathBuf>,
    pub checkpoints: Vec<PathBuf>,
    pub tensors: usize,
    pub parameters: usize,
    /// ties-svd: LoRA sites (× experts) factorised back, and the largest share of a merged ΔW's
    /// Frobenius norm lost by the rank-r truncation.
    pub svd_matrices: usize,
    pub max_svd_residual: f64,
}

/// Merges the adapters in `checkpoints` (started from `base_init`) and writes the result to
/// `out` (`adapter_config.json` of the first checkpoint, `adapter_model.safetensors`,
/// `merge.json`), each file atomically.
pub fn merge_adapter_dirs(
    base_init: Option<&Path>,
    checkpoints: &[PathBuf],
    config: &AdapterMergeConfig,
    out: &Path,
) -> Result<MergeSummary, AdapterMergeError> {
    let _span = tracing::info_span!("merge", method = config.method.name(), checkpoints = checkpoints.len()).entered();
    let base = base_init.map(read_adapter_checkpoint).transpose()?;
    let inputs = checkpoints.iter().map(|d| read_adapter_checkpoint(d)).collect::<Result<Vec<_>, _>>()?;
    let (merged, mut summary) = merge_adapters(base.as_ref(), &inputs, config)?;
    let first = &inputs[0];
    write_named_tensors(&out.join(WEIGHTS_FILE), &merged)?;
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        crate::io::write_atomic(&path, bytes).map_err(|e| AdapterMergeError::Io { path, message: e.to_string() })
    };
    write(CONFIG_FILE, first.config_text.as_bytes())?;
    summary.base_init = base_init.map(Path::to_path_buf);
    summary.checkpoints = checkpoints.to_vec();
    write(MERGE_FILE, serde_json::to_string_pretty(&summary).expect("summary serialises").as_bytes())?;
    tracing::info!(tensors = summary.tensors, parameters = summary.parameters, out = %out.display(), "merged");
    Ok(summary)
}

/// Merges checkpoints held in memory; checks that every input (and the base) has the first
/// checkpoint's config, tensor names and shapes.
pub fn merge_adapters(
    base: Option<&AdapterCheckpoint>,
    checkpoints: &[AdapterCheckpoint],
    config: &AdapterMergeConfig,
) -> Result<(NamedTensors, MergeSummary), AdapterMergeError> {
    let first = checkpoints.first().ok_or(AdapterMergeError::Method { message: "no checkpoints to merge".into() })?;
    for other in checkpoints[1..].iter().chain(base) {
        check_compatible(first, other)?;
    }
    let method = config.method;
    if method != MergeMethod::Average && base.is_none() {
        return Err(AdapterMergeError::Method {
            message: format!("{} needs the adapter state training started from (--base-init)", method.name()),
        });
    }
    if method == MergeMethod::TiesSvd && config.ties.trim_scope == TrimScope::Adapter {
        return Err(AdapterMergeError::Method {
            message: "ties-svd trims each ΔW on its own; trim scope `adapter` is for ties".into(),
        });
    }
    let mut summary = MergeSummary {
        method,
        ties: config.ties,
        base_init: None,
        checkpoints: Vec::new(),
        tensors: first.tensors.len(),
        parameters: first.tensors.values().map(|t| t.values.len()).sum(),
        svd_matrices: 0,
        max_svd_residual: 0.0,
    };
    let merged = match (method, base) {
        (MergeMethod::Average, _) => map_tensors(first, |key| {
            let views: Vec<&[f32]> = checkpoints.iter().map(|c| c.tensors[key].values.as_slice()).collect();
            average(&views).map_err(|source| AdapterMergeError::Merge { key: key.to_string(), source })
        })?,
        (MergeMethod::Ties, Some(base)) => ties_raw(base, checkpoints, &config.ties)?,
        (MergeMethod::TiesSvd, Some(base)) => ties_svd(base, checkpoints, &config.ties, &mut summary)?,
        (_, None) => unreachable!("checked above"),
    };
    Ok((merged, summary))
}

/// The first checkpoint's tensors with values from `f(key)`.
fn map_tensors(
    first: &AdapterCheckpoint,
    mut f: impl FnMut(&str) -> Result<Vec<f32>, AdapterMergeError>,
) -> Result<NamedTensors, AdapterMergeError> {
    first.tensors.iter().map(|(key, t)| Ok((key.clone(), NamedTensor { shape: t.shape.clone(), values: f(key)? }))).collect()
}

/// TIES over every tensor as stored (per tensor, or one ranking over the adapter).
fn ties_raw(base: &AdapterCheckpoint, checkpoints: &[AdapterCheckpoint], ties: &TiesConfig) -> Result<NamedTensors, AdapterMergeError> {
    match ties.trim_scope {
        TrimScope::PerTensor => map_tensors(&checkpoints[0], |key| {
            let views: Vec<&[f32]> = checkpoints.iter().map(|c| c.tensors[key].values.as_slice()).collect();
            merge_ties_tensor(&base.tensors[key].values, &views, ties).map_err(|source| AdapterMergeError::Merge { key: key.to_string(), source })
        }),
        TrimScope::Adapter => {
            let keys: Vec<&String> = base.tensors.keys().collect();
            let base_views: Vec<&[f32]> = keys.iter().map(|k| base.tensors[*k].values.as_slice()).collect();
            let views: Vec<Vec<&[f32]>> = checkpoints.iter().map(|c| keys.iter().map(|k| c.tensors[*k].values.as_slice()).collect()).collect();
            let merged = merge_ties(&base_views, &views, ties).map_err(|source| {
                let key = match &source {
                    MergeError::TensorLength { tensor, .. } | MergeError::NotFinite { tensor, .. } => keys[*tensor].clone(),
                    _ => "(adapter)".to_string(),
                };
                AdapterMergeError::Merge { key, source }
            })?;
            Ok(keys.into_iter().zip(merged).map(|(k, values)| (k.clone(), NamedTensor { shape: base.tensors[k].shape.clone(), values })).collect())
        }
    }
}

/// A LoRA site's factor keys: `<module>.lora_A.weight` and `<module>.lora_B.weight`.
fn lora_pairs(tensors: &NamedTensors) -> Vec<(String, String)> {
    tensors
        .keys()
        .filter_map(|k| k.strip_suffix("lora_A.weight").map(|stem| (k.clone(), format!("{stem}lora_B.weight"))))
        .filter(|(_, b)| tensors.contains_key(b))
        .collect()
}

/// Experts, rows, rank and columns of a site from its factor shapes: A `[r, in]` or `[N, r, in]`,
/// B `[out, r]` or `[N, out, r]`.
fn site_dims(a: &[usize], b: &[usize]) -> Option<(usize, usize, usize, usize)> {
    match (a, b) {
        ([r, cols], [rows, rb]) if r == rb => Some((1, *rows, *r, *cols)),
        ([n, r, cols], [nb, rows, rb]) if n == nb && r == rb => Some((*n, *rows, *r, *cols)),
        _ => None,
    }
}

/// ties-svd: TIES on each expert's ΔW = s·B A (base: the initial state's ΔW), then the rank-r
/// factors of the merged ΔW; every other tensor by TIES as stored.
fn ties_svd(
    base: &AdapterCheckpoint,
    checkpoints: &[AdapterCheckpoint],
    ties: &TiesConfig,
    summary: &mut MergeSummary,
) -> Result<NamedTensors, AdapterMergeError> {
    let scaling = checkpoints[0].config.scaling() as f32;
    let pairs = lora_pairs(&base.tensors);
    let factor_keys: Vec<&String> = pairs.iter().flat_map(|(a, b)| [a, b]).collect();
    let others: Vec<&String> = base.tensors.keys().filter(|k| !factor_keys.contains(k)).collect();
    let mut out = NamedTensors::new();
    for key in others {
        let views: Vec<&[f32]> = checkpoints.iter().map(|c| c.tensors[key].values.as_slice()).collect();
        let values = merge_ties_tensor(&base.tensors[key].values, &views, ties).map_err(|source| AdapterMergeError::Merge { key: key.clone(), source })?;
        out.insert(key.clone(), NamedTensor { shape: base.tensors[key].shape.clone(), values });
    }
    for (a_key, b_key) in pairs {
        let (a_shape, b_shape) = (base.tensors[&a_key].shape.clone(), base.tensors[&b_key].shape.clone());
        let (n, rows, r, cols) = site_dims(&a_shape, &b_shape).ok_or_else(|| AdapterMergeError::Method {
            message: format!("tensors `{a_key}` {a_shape:?} and `{b_key}` {b_shape:?} are not the factors of one LoRA site"),
        })?;
        let err = |key: &String| {
            let key = key.clone();
            move |source| AdapterMergeError::Merge { key, source }
        };
        let (mut a_out, mut b_out) = (Vec::with_capacity(n * r * cols), Vec::with_capacity(n * rows * r));
        for e in 0..n {
            // ΔW of expert e in one adapter: s · B_e [rows, r] · A_e [r, cols].
            let dw = |t: &NamedTensors| {
                let a = &t[&a_key].values[e * r * cols..(e + 1) * r * cols];
                let b = &t[&b_key].values[e * rows * r..(e + 1) * rows * r];
                delta_weight(b, a, rows, r, cols, scaling).map_err(err(&a_key))
            };
            let base_dw = dw(&base.tensors)?;
            let dws = checkpoints.iter().map(|c| dw(&c.tensors)).collect::<Result<Vec<_>, _>>()?;
            let views: Vec<&[f32]> = dws.iter().map(Vec::as_slice).collect();
            let merged = merge_ties_tensor(&base_dw, &views, ties).map_err(err(&a_key))?;
            let factors = factorize_delta(&merged, rows, cols, r, scaling).map_err(err(&a_key))?;
            let back = delta_weight(&factors.b, &factors.a, rows, r, cols, scaling).map_err(err(&a_key))?;
            summary.max_svd_residual = summary.max_svd_residual.max(relative_residual(&merged, &back));
            summary.svd_matrices += 1;
            a_out.extend(factors.a);
            b_out.extend(factors.b);
        }
        out.insert(a_key, NamedTensor { shape: a_shape, values: a_out });
        out.insert(b_key, NamedTensor { shape: b_shape, values: b_out });
    }
    Ok(out)
}

/// ‖target − approx‖_F / ‖target‖_F (0 for a zero target).
fn relative_residual(target: &[f32], approx: &[f32]) -> f64 {
    let norm = target.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let diff = target.iter().zip(approx).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>().sqrt();
    if norm == 0.0 { 0.0 } else { diff / norm }
}

/// `other` has `reference`'s tensors (same names and shapes) and the same adapter settings
/// (dropout aside, which does not change the weights' meaning).
fn check_compatible(reference: &AdapterCheckpoint, other: &AdapterCheckpoint) -> Result<(), AdapterMergeError> {
    let (dir, refdir) = (other.dir.clone(), reference.dir.clone());
    for (key, t) in &reference.tensors {
        let Some(o) = other.tensors.get(key) else {
            return Err(AdapterMergeError::MissingTensor { dir, key: key.clone(), reference: refdir });
        };
        if o.shape != t.shape {
            let rank = |s: &[usize]| match key {
                k if k.ends_with("lora_A.weight") => s.len().checked_sub(2).map(|i| s[i]),
                k if k.ends_with("lora_B.weight") => s.last().copied(),
                _ => None,
            };
            let hint = match (rank(&o.shape), rank(&t.shape)) {
                (Some(x), Some(y)) if x != y => format!(" (rank {x} vs {y})"),
                _ if key.contains("lora_") && o.shape.len() == 3 && t.shape.len() == 3 && o.shape[0] != t.shape[0] => {
                    format!(" ({} experts vs {})", o.shape[0], t.shape[0])
                }
                _ => String::new(),
            };
            let message = format!("has shape {:?} but {} has {:?}{hint}", o.shape, refdir.display(), t.shape);
            return Err(AdapterMergeError::Shape { dir, key: key.clone(), message });
        }
    }
    if let Some(key) = other.tensors.keys().find(|k| !reference.tensors.contains_key(*k)) {
        return Err(AdapterMergeError::ExtraTensor { dir, key: key.clone(), reference: refdir });
    }
    let (a, b) = (&other.config, &reference.config);
    let differs = |key: &'static str, found: String, expected: String| {
        (found != expected).then(|| AdapterMergeError::Config { dir: dir.clone(), key, found, expected, reference: refdir.clone() })
    };
    let checks = [
        differs("r", a.r.to_string(), b.r.to_string()),
        differs("lora_alpha", a.lora_alpha.to_string(), b.lora_alpha.to_string()),
        differs("use_rslora", a.use_rslora.to_string(), b.use_rslora.to_string()),
        differs("target_modules", format!("{:?}", a.target_modules), format!("{:?}", b.target_modules)),
        differs("tmole", format!("{:?}", a.tmole), format!("{:?}", b.tmole)),
    ];
    match checks.into_iter().flatten().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(name: &str, r: usize, tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> AdapterCheckpoint {
        AdapterCheckpoint {
            dir: PathBuf::from(name),
            config: AdapterConfig::lora(r, 2.0 * r as f64),
            config_text: String::new(),
            tensors: tensors.iter().map(|(k, s, v)| (k.to_string(), NamedTensor { shape: s.clone(), values: v.clone() })).collect(),
        }
    }

    const A: &str = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    const B: &str = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";

    fn config(method: MergeMethod) -> AdapterMergeConfig {
        AdapterMergeConfig { method, ties: TiesConfig { density: 1.0, lambda: 1.0, trim_scope: TrimScope::PerTensor } }
    }

    #[test]
    fn ties_svd_merges_delta_w_by_hand() {
        // r = 1, alpha 2 -> s = 2; base B = 0 so ΔW_init = 0.
        // c1: B = [1, 0], A = [1, 0] -> ΔW = 2 [[1, 0], [0, 0]]; c2: B = [1, 0], A = [3, 0] -> 2 [[3, 0], [0, 0]].
        // TIES (density 1): both positive at (0, 0) -> mean 4; ΔW = [[4, 0], [0, 0]] -> rank 1:
        // A = [1, 0], B = ΔW v / s = [2, 0].
        let base = checkpoint("base", 1, &[(A, vec![1, 2], vec![0.5, 0.5]), (B, vec![2, 1], vec![0.0, 0.0])]);
        let c1 = checkpoint("c1", 1, &[(A, vec![1, 2], vec![1.0, 0.0]), (B, vec![2, 1], vec![1.0, 0.0])]);
        let c2 = checkpoint("c2", 1, &[(A, vec![1, 2], vec![3.0, 0.0]), (B, vec![2, 1], vec![1.0, 0.0])]);
        let (merged, summary) = merge_adapters(Some(&base), &[c1, c2], &config(MergeMethod::TiesSvd)).unwrap();
        assert_eq!(merged[A].values, vec![1.0, 0.0]);
        assert_eq!(merged[B].values, vec![2.0, 0.0]);
        assert_eq!((summary.svd_matrices, summary.max_svd_residual), (1, 0.0));
    }

    #[test]
    fn raw_ties_and_average_by_hand() {
        // Base 0: c1 = [1, -2], c2 = [3, 2] -> TIES (density 1): signs +, 0-sum -> [2, 0]; mean [2, 0].
        let base = checkpoint("base", 1, &[(A, vec![1, 2], vec![0.0, 0.0])]);
        let c1 = checkpoint("c1", 1, &[(A, vec![1, 2], vec![1.0, -2.0])]);
        let c2 = checkpoint("c2", 1, &[(A, vec![1, 2], vec![3.0, 2.0])]);
        let (ties, _) = merge_adapters(Some(&base), &[c1.clone(), c2.clone()], &config(MergeMethod::Ties)).unwrap();
        assert_eq!(ties[A].values, vec![2.0, 0.0]);
        let (avg, _) = merge_adapters(None, &[c1.clone(), c2], &config(MergeMethod::Average)).unwrap();
        assert_eq!(avg[A].values, vec![2.0, 0.0]);
        let err = merge_adapters(None, &[c1], &config(MergeMethod::Ties)).unwrap_err().to_string();
        assert!(err.contains("--base-init"), "{err}");
    }

    #[test]
    fn incompatible_inputs_name_the_tensor() {
        let c1 = checkpoint("c1", 2, &[(A, vec![2, 3], vec![0.0; 6]), (B, vec![4, 2], vec![0.0; 8])]);
        let c2 = checkpoint("c2", 1, &[(A, vec![1, 3], vec![0.0; 3]), (B, vec![4, 1], vec![0.0; 4])]);
        let err = merge_adapters(None, &[c1.clone(), c2], &config(MergeMethod::Average)).unwrap_err().to_string();
        assert!(err.contains(&format!("`{A}`")) && err.contains("rank 1 vs 2"), "{err}");
        let missing = checkpoint("c3", 2, &[(A, vec![2, 3], vec![0.0; 6])]);
        let err = merge_adapters(None, &[c1.clone(), missing.clone()], &config(MergeMethod::Average)).unwrap_err().to_string();
        assert!(err.contains("c3") && err.contains(&format!("`{B}` is missing")), "{err}");
        let err = merge_adapters(None, &[missing, c1.clone()], &config(MergeMethod::Average)).unwrap_err().to_string();
        assert!(err.contains(&format!("`{B}` is not in c3")), "{err}");
        let mut alpha = c1.clone();
        alpha.config.lora_alpha = 1.0;
        let err = merge_adapters(None, &[c1, alpha], &config(MergeMethod::Average)).unwrap_err().to_string();
        assert!(err.contains("`lora_alpha`"), "{err}");
        assert!("ties-dare".parse::<MergeMethod>().is_err());
        assert_eq!("ties-svd".parse::<MergeMethod>().unwrap(), MergeMethod::TiesSvd);
    }
}
