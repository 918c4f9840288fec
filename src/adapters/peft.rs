//! Adapters on disk in PEFT's layout: a directory with `adapter_config.json` and
//! `adapter_model.safetensors`, tensors keyed `base_model.model.<module path>.lora_A.weight`
//! (`[r, d_in]`) and `.lora_B.weight` (`[d_out, r]`), PyTorch's `[out, in]` layout.
//!
//! Plain LoRA is exactly PEFT's format both ways (PEFT loads what we save, we load what PEFT
//! saves). TMoLE, which PEFT does not know, uses the same layout with `"peft_type": "TMOLE"`,
//! a `tmole` block in the config, experts stacked on a leading axis (`lora_A` `[N, r, d_in]`,
//! `lora_B` `[N, d_out, r]`), routers at `<module path>.router.layers.<i>.{weight,bias}` and the
//! task table at `base_model.model.task_embedding.weight`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::{Value, json};

use crate::backbone::{Decoder, Proj};

use super::adapter::{Adapter, Router, Site};
use super::config::{AdapterConfig, TargetModules, TmoleConfig};
use super::error::AdapterError;
use super::experts::LoraExperts;

pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";
const PREFIX: &str = "base_model.model.";

/// Reads `dir/adapter_config.json` as PEFT writes it (unknown PEFT keys are ignored; features we
/// cannot honour, such as DoRA or per-module ranks, are errors naming the key).
pub fn read_adapter_config(dir: &Path) -> Result<AdapterConfig, AdapterError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| AdapterError::Io { path: path.clone(), message: e.to_string() })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| AdapterError::Io { path: path.clone(), message: e.to_string() })?;
    parse_config(&v).map_err(|e| match e {
        AdapterError::Config { key, message } => AdapterError::Config { key, message: format!("{message} (in {})", path.display()) },
        other => other,
    })
}

fn parse_config(v: &Value) -> Result<AdapterConfig, AdapterError> {
    let bad = |key: &str, message: String| AdapterError::Config { key: key.into(), message };
    let peft_type = v.get("peft_type").and_then(Value::as_str).unwrap_or("LORA");
    let is_tmole = match peft_type {
        "LORA" => false,
        "TMOLE" => true,
        other => return Err(bad("peft_type", format!("is `{other}`; recfound reads LORA and TMOLE adapters"))),
    };
    let flag = |key: &str| v.get(key).and_then(Value::as_bool).unwrap_or(false);
    let non_empty = |key: &str| match v.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    for key in ["use_dora", "fan_in_fan_out"] {
        if flag(key) {
            return Err(bad(key, "is true, which recfound does not support".into()));
        }
    }
    for key in ["rank_pattern", "alpha_pattern", "layers_to_transform", "modules_to_save", "layer_replication"] {
        if non_empty(key) {
            return Err(bad(key, "is set, which recfound does not support".into()));
        }
    }
    if let Some(bias) = v.get("bias").and_then(Value::as_str).filter(|b| *b != "none") {
        return Err(bad("bias", format!("is `{bias}`; only \"none\" is supported")));
    }
    let r = v.get("r").and_then(Value::as_u64).ok_or_else(|| bad("r", "is missing or not a positive integer".into()))? as usize;
    let lora_alpha = match v.get("lora_alpha") {
        None => 8.0, // PEFT's default
        Some(a) => a.as_f64().ok_or_else(|| bad("lora_alpha", "is not a number".into()))?,
    };
    let lora_dropout = v.get("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0);
    let target_modules = match v.get("target_modules") {
        // PEFT's default for Llama/Mistral/Qwen2 models.
        None | Some(Value::Null) => TargetModules::Names(vec!["q_proj".into(), "v_proj".into()]),
        Some(t) => serde_json::from_value(t.clone()).map_err(|e| bad("target_modules", e.to_string()))?,
    };
    let tmole = if is_tmole {
        let t = v.get("tmole").ok_or_else(|| bad("tmole", "is missing from a TMOLE adapter".into()))?;
        Some(serde_json::from_value::<TmoleConfig>(t.clone()).map_err(|e| bad("tmole", e.to_string()))?)
    } else {
        None
    };
    let config = AdapterConfig { r, lora_alpha, lora_dropout, use_rslora: flag("use_rslora"), target_modules, tmole };
    config.validate()?;
    Ok(config)
}

/// The `adapter_config.json` document: PEFT's LoraConfig fields (so PEFT loads a LoRA adapter
/// as is), plus the `tmole` block for TMoLE.
pub fn config_json(config: &AdapterConfig, base_model: Option<&str>) -> Value {
    let alpha = if config.lora_alpha.fract() == 0.0 { json!(config.lora_alpha as i64) } else { json!(config.lora_alpha) };
    let mut j = json!({
        "peft_type": if config.tmole.is_some() { "TMOLE" } else { "LORA" },
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": config.r,
        "lora_alpha": alpha,
        "lora_dropout": config.lora_dropout,
        "use_rslora": config.use_rslora,
        "target_modules": config.target_modules,
        "bias": "none",
        "fan_in_fan_out": false,
        "init_lora_weights": true,
        "inference_mode": true,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_dora": false,
    });
    if let Some(t) = &config.tmole {
        j["tmole"] = serde_json::to_value(t).expect("TmoleConfig serialises");
    }
    j
}

/// Writes `adapter` alone (the frozen base is not written) to `dir` in PEFT's layout, each file
/// atomically. `base_model` goes into `base_model_name_or_path`.
pub fn save_adapter<B: Backend>(adapter: &Adapter<B>, dir: &Path, base_model: Option<&str>) -> Result<(), AdapterError> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (layer, proj, site) in adapter.sites() {
        let key = |suffix: &str| format!("{PREFIX}{}.{suffix}", proj.module_path(layer));
        let e = &site.experts;
        let (n, r, d_in, d_out) = (e.num_experts, e.r, e.d_in(), e.d_out());
        // Burn's [d_in, N*r] and [N*r, d_out] -> PyTorch's per-expert [r, d_in] and [d_out, r].
        let a = permute3(&host(e.lora_a.val()), [d_in, n, r], [1, 2, 0]); // [N, r, d_in]
        let b = permute3(&host(e.lora_b.val()), [n, r, d_out], [0, 2, 1]); // [N, d_out, r]
        let (a_shape, b_shape) = if adapter.is_tmole() { (vec![n, r, d_in], vec![n, d_out, r]) } else { (vec![r, d_in], vec![d_out, r]) };
        tensors.push((key("lora_A.weight"), a_shape, a));
        tensors.push((key("lora_B.weight"), b_shape, b));
        if let Some(router) = &site.router {
            for (i, linear) in router.layers.iter().enumerate() {
                let [fan_in, fan_out] = linear.weight.dims();
                tensors.push((key(&format!("router.layers.{i}.weight")), vec![fan_out, fan_in], transpose(&host(linear.weight.val()), fan_in, fan_out)));
                if let Some(bias) = &linear.bias {
                    tensors.push((key(&format!("router.layers.{i}.bias")), vec![fan_out], host(bias.val())));
                }
            }
        }
    }
    if let Some(table) = &adapter.task_embedding {
        tensors.push((format!("{PREFIX}task_embedding.weight"), table.weight.dims().to_vec(), host(table.weight.val())));
    }
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| Ok((name.clone(), TensorView::new(Dtype::F32, shape.clone(), b).map_err(|e| e.to_string())?)))
        .collect::<Result<Vec<_>, String>>();
    let weights_path = dir.join(WEIGHTS_FILE);
    let write_err = |path: &Path, message: String| AdapterError::Io { path: path.to_path_buf(), message };
    let views = views.map_err(|m| write_err(&weights_path, m))?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let file = safetensors::serialize(views, Some(metadata)).map_err(|e| write_err(&weights_path, e.to_string()))?;
    crate::io::write_atomic(&weights_path, &file).map_err(|e| write_err(&weights_path, e.to_string()))?;
    let config_path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&config_json(&adapter.config, base_model)).expect("JSON serialises");
    crate::io::write_atomic(&config_path, text.as_bytes()).map_err(|e| write_err(&config_path, e.to_string()))
}

/// Loads the adapter in `dir` (PEFT's or ours) for `decoder`, checking every tensor: a module
/// the model lacks, a rank that disagrees with `r`, a width that disagrees with the projection,
/// a missing or unexpected tensor are errors naming the key.
pub fn load_adapter<B: Backend>(dir: &Path, decoder: &Decoder<B>, device: &B::Device) -> Result<Adapter<B>, AdapterError> {
    let config = read_adapter_config(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| AdapterError::Io { path: path.clone(), message: e.to_string() })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| AdapterError::Io { path: path.clone(), message: e.to_string() })?;
    let mut reader = Reader { path: path.clone(), file: &file, used: Vec::new() };

    let num_layers = decoder.num_layers();
    let sites = config.target_modules.resolve(num_layers)?;
    let n = config.num_experts();
    let tmole = config.tmole.as_ref();
    let mut layers: Vec<Vec<Option<Site<B>>>> = (0..num_layers).map(|_| Proj::ALL.map(|_| None).to_vec()).collect();
    for (layer, proj) in sites {
        let module = proj.module_path(layer);
        let [d_in, d_out] = decoder.projection(layer, proj).weight.dims();
        let r = config.r;
        let (a_shape, b_shape) = if tmole.is_some() { (vec![n, r, d_in], vec![n, d_out, r]) } else { (vec![r, d_in], vec![d_out, r]) };
        let a = reader.take(&module, "lora_A.weight", &a_shape, r)?; // [N, r, d_in]
        let b = reader.take(&module, "lora_B.weight", &b_shape, r)?; // [N, d_out, r]
        let a = permute3(&a, [n, r, d_in], [2, 0, 1]); // [d_in, N, r]
        let b = permute3(&b, [n, d_out, r], [0, 2, 1]); // [N, r, d_out]
        let experts = LoraExperts::from_factors(
            Tensor::from_data(TensorData::new(a, [d_in, n * r]), device),
            Tensor::from_data(TensorData::new(b, [n * r, d_out]), device),
            n,
            r,
            config.scaling(),
            config.lora_dropout,
        );
        let router = match tmole {
            None => None,
            Some(t) => {
                let widths: Vec<usize> = std::iter::once(t.task_embedding_dim).chain(t.router_hidden.iter().copied()).chain([n]).collect();
                let mut linears = Vec::new();
                for (i, w) in widths.windows(2).enumerate() {
                    let weight = reader.take(&module, &format!("router.layers.{i}.weight"), &[w[1], w[0]], r)?;
                    let bias = reader.take(&module, &format!("router.layers.{i}.bias"), &[w[1]], r)?;
                    linears.push(Linear {
                        weight: Param::from_tensor(Tensor::from_data(TensorData::new(transpose(&weight, w[1], w[0]), [w[0], w[1]]), device)),
                        bias: Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [w[1]]), device))),
                    });
                }
                Some(Router { layers: linears })
            }
        };
        layers[layer][proj.index()] = Some(Site { experts, router });
    }
    let task_embedding = match tmole {
        None => None,
        Some(t) => {
            let shape = [t.num_tasks, t.task_embedding_dim];
            let values = reader.take_key(&format!("{PREFIX}task_embedding.weight"), "task_embedding", &shape, None)?;
            Some(Embedding { weight: Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device)) })
        }
    };
    reader.check_all_used(num_layers)?;
    Ok(Adapter { layers, task_embedding, config })
}

/// Reads tensors by key, checking shapes, and remembers which keys were used.
struct Reader<'a> {
    path: PathBuf,
    file: &'a SafeTensors<'a>,
    used: Vec<String>,
}

impl Reader<'_> {
    /// The tensor `base_model.model.<module>.<suffix>`; `r` is named in rank errors.
    fn take(&mut self, module: &str, suffix: &str, shape: &[usize], r: usize) -> Result<Vec<f32>, AdapterError> {
        self.take_key(&format!("{PREFIX}{module}.{suffix}"), module, shape, Some(r))
    }

    fn take_key(&mut self, key: &str, module: &str, shape: &[usize], r: Option<usize>) -> Result<Vec<f32>, AdapterError> {
        let err = |message: String| AdapterError::Tensor { path: self.path.clone(), key: key.to_string(), message };
        let view = self.file.tensor(key).map_err(|_| AdapterError::MissingTensor {
            path: self.path.clone(),
            module: module.to_string(),
            key: key.to_string(),
        })?;
        let found = view.shape();
        if found != shape {
            let lora_rank = |s: &[usize]| if key.ends_with("lora_A.weight") { s.get(s.len() - 2).copied() } else { s.last().copied() };
            let rank_axis = key.contains(".lora_") && found.len() == shape.len();
            if let (true, Some(r), Some(got)) = (rank_axis, r, lora_rank(found)) {
                if got != r {
                    return Err(err(format!("has rank {got} (shape {found:?}) but adapter_config r = {r}")));
                }
            }
            return Err(err(format!("has shape {found:?}; the model's projection needs {shape:?}")));
        }
        let values = to_f32(view.dtype(), view.data()).ok_or_else(|| err(format!("has dtype {:?}; expected a float type", view.dtype())))?;
        self.used.push(key.to_string());
        Ok(values)
    }

    /// Every tensor in the file was read; names the first that was not, with the likely cause.
    fn check_all_used(&self, num_layers: usize) -> Result<(), AdapterError> {
        let mut names: Vec<String> = self.file.names().into_iter().map(String::from).collect();
        names.sort();
        if let Some(extra) = names.iter().find(|n| !self.used.contains(n)) {
            let layer = extra.strip_prefix(PREFIX).and_then(|k| k.strip_prefix("model.layers.")).and_then(|k| k.split('.').next()).and_then(|l| l.parse::<usize>().ok());
            let message = match layer {
                Some(l) if l >= num_layers => format!("belongs to layer {l} but the model has {num_layers} layers"),
                _ => "is not an adapter tensor of a module targeted by adapter_config.json".to_string(),
            };
            return Err(AdapterError::Tensor { path: self.path.clone(), key: extra.clone(), message });
        }
        Ok(())
    }
}

/// Little-endian float tensor bytes widened to `f32`; `None` for non-float dtypes.
pub(crate) fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F64 => data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => return None,
    })
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("f32 data")
}

/// A row-major `[rows, cols]` matrix transposed.
fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    permute3(v, [1, rows, cols], [0, 2, 1])
}

/// A row-major 3-D array with its axes reordered: output axis `i` is input axis `perm[i]`.
fn permute3(v: &[f32], shape: [usize; 3], perm: [usize; 3]) -> Vec<f32> {
    let out_shape = perm.map(|p| shape[p]);
    let strides = [shape[1] * shape[2], shape[2], 1];
    let mut out = Vec::with_capacity(v.len());
    for i in 0..out_shape[0] {
        for j in 0..out_shape[1] {
            for k in 0..out_shape[2] {
                let idx = [i, j, k];
                let mut src = 0;
                for (axis, &p) in perm.iter().enumerate() {
                    src += idx[axis] * strides[p];
                }
                out.push(v[src]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_move_axes() {
        // [2, 3] -> [3, 2]
        assert_eq!(transpose(&[1., 2., 3., 4., 5., 6.], 2, 3), [1., 4., 2., 5., 3., 6.]);
        // [d_in 2, N 2, r 1] -> [N, r, d_in]: a[i][n][0] lands at [n][0][i].
        let a = [10., 11., 20., 21.]; // i=0: (10, 11); i=1: (20, 21)
        assert_eq!(permute3(&a, [2, 2, 1], [1, 2, 0]), [10., 20., 11., 21.]);
        // And back.
        assert_eq!(permute3(&[10., 20., 11., 21.], [2, 1, 2], [2, 0, 1]), a);
    }

    #[test]
    fn peft_config_is_read_and_unsupported_features_are_named() {
        let v = json!({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "bias": "none", "use_dora": false, "rank_pattern": {}, "revision": null});
        let c = parse_config(&v).unwrap();
        assert_eq!((c.r, c.lora_alpha, c.scaling()), (4, 8.0, 2.0));
        for (patch, key) in [
            (json!({"use_dora": true}), "use_dora"),
            (json!({"rank_pattern": {"q_proj": 8}}), "rank_pattern"),
            (json!({"bias": "all"}), "bias"),
            (json!({"peft_type": "IA3"}), "peft_type"),
            (json!({"r": 0}), "r"),
        ] {
            let mut bad = v.clone();
            bad.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
            let err = parse_config(&bad).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
        }
        let round = parse_config(&config_json(&AdapterConfig::recfound_tmole(), None)).unwrap();
        assert_eq!(round, AdapterConfig::recfound_tmole());
    }
}
