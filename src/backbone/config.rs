//! Decoder hyper-parameters: `DecoderConfig` (a Burn config with HF `config.json` field names)
//! and the parsing of HF `config.json` files for the Qwen2, Mistral and Llama families.
//!
//! Mirrors transformers' `Qwen2Config`, `MistralConfig` and `LlamaConfig`: the three differ only
//! in biases, sliding window and defaults, so one decoder serves them all.

use std::path::{Path, PathBuf};

use burn::config::Config;
use serde::{Deserialize, Serialize};

/// Which HF architecture a checkpoint is. Decides biases and sliding-window semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Qwen2,
    Mistral,
    Llama,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Qwen2 => "qwen2",
            Family::Mistral => "mistral",
            Family::Llama => "llama",
        }
    }
}

/// Everything the decoder needs to be built; field names follow HF `config.json`.
#[derive(Config, Debug, PartialEq)]
pub struct DecoderConfig {
    pub family: Family,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    /// Per-head width; HF derives it as hidden_size / num_attention_heads when absent.
    pub head_dim: usize,
    #[config(default = 1e-6)]
    pub rms_norm_eps: f64,
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// Linear RoPE scaling factor (`rope_scaling: {"type": "linear", "factor": f}`); 1 = none.
    #[config(default = 1.0)]
    pub rope_linear_factor: f64,
    #[config(default = 4096)]
    pub max_position_embeddings: usize,
    #[config(default = false)]
    pub tie_word_embeddings: bool,
    /// Keys further back than this many positions are not attended to (Mistral, Qwen2 option).
    #[config(default = "None")]
    pub sliding_window: Option<usize>,
    /// Bias on q/k/v projections (always on for Qwen2, `attention_bias` for Llama).
    #[config(default = false)]
    pub qkv_bias: bool,
    /// Bias on o_proj (Llama's `attention_bias`; never for Qwen2/Mistral).
    #[config(default = false)]
    pub o_bias: bool,
    /// Bias on the MLP projections (Llama's `mlp_bias`).
    #[config(default = false)]
    pub mlp_bias: bool,
    #[config(default = "None")]
    pub bos_token_id: Option<u32>,
    #[config(default = "Vec::new()")]
    pub eos_token_ids: Vec<u32>,
    #[config(default = "None")]
    pub pad_token_id: Option<u32>,
    /// The dtype the checkpoint was saved in (`torch_dtype` / `dtype`), for `recfound info`.
    #[config(default = "None")]
    pub torch_dtype: Option<String>,
}

/// Errors from reading or checking a model configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: missing field `{field}`")]
    MissingField { path: PathBuf, field: &'static str },
    #[error("{path}: field `{field}`: {message}")]
    Invalid { path: PathBuf, field: &'static str, message: String },
}

impl DecoderConfig {
    /// Checks the invariants the decoder relies on; `origin` names the file or recipe in errors.
    pub fn validate(&self, origin: &Path) -> Result<(), ConfigError> {
        let invalid = |field, message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            field,
            message,
        };
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(invalid(field, "must be positive".into()));
            }
        }
        if self.num_attention_heads % self.num_key_value_heads != 0 {
            return Err(invalid(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads = {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        if self.head_dim % 2 != 0 {
            return Err(invalid("head_dim", format!("{} must be even for RoPE", self.head_dim)));
        }
        if !(self.rms_norm_eps > 0.0) {
            return Err(invalid("rms_norm_eps", "must be positive".into()));
        }
        if !(self.rope_theta > 0.0) {
            return Err(invalid("rope_theta", "must be positive".into()));
        }
        if self.sliding_window == Some(0) {
            return Err(invalid("sliding_window", "must be positive or null".into()));
        }
        Ok(())
    }

    /// Reads an HF `config.json` (Qwen2, Mistral or Llama).
    pub fn from_hf_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_hf_json(&text, path)
    }

    /// Parses the text of an HF `config.json`; `path` only names the file in errors.
    pub fn from_hf_json(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: HfConfig = serde_json::from_str(text).map_err(|source| ConfigError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        raw.resolve(path)
    }

    /// Number of parameters of the decoder this config builds.
    pub fn num_parameters(&self) -> usize {
        let (d, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let q = self.num_attention_heads * self.head_dim;
        let kv = self.num_key_value_heads * self.head_dim;
        let attn = d * q + 2 * d * kv + q * d
            + if self.qkv_bias { q + 2 * kv } else { 0 }
            + if self.o_bias { d } else { 0 };
        let mlp = 3 * d * i + if self.mlp_bias { 2 * i + d } else { 0 };
        let layer = attn + mlp + 2 * d;
        let head = if self.tie_word_embeddings { 0 } else { v * d };
        v * d + self.num_hidden_layers * layer + d + head
    }
}

/// The EOS ids of a checkpoint's `generation_config.json` (what transformers' `generate` stops
/// on; chat models list their end-of-turn token there, e.g. Qwen2.5-Instruct's `<|im_end|>`).
/// Empty when the file is absent or has no `eos_token_id`.
pub fn generation_eos_ids(dir: &Path) -> Result<Vec<u32>, ConfigError> {
    #[derive(Deserialize)]
    struct GenerationConfig {
        eos_token_id: Option<OneOrMany>,
    }
    let path = dir.join("generation_config.json");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io { path: path.clone(), source })?;
    let config: GenerationConfig = serde_json::from_str(&text).map_err(|source| ConfigError::Json { path, source })?;
    Ok(match config.eos_token_id {
        Some(OneOrMany::One(id)) => vec![id],
        Some(OneOrMany::Many(ids)) => ids,
        None => Vec::new(),
    })
}

/// `eos_token_id` is an int or a list of ints in HF configs.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

/// The subset of HF `config.json` we read. Unknown keys are fine here: HF configs carry many.
#[derive(Debug, Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    /// transformers 5 moves `rope_theta` (and scaling) here.
    rope_parameters: Option<serde_json::Value>,
    rope_scaling: Option<serde_json::Value>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    hidden_act: Option<String>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<OneOrMany>,
    pad_token_id: Option<u32>,
    torch_dtype: Option<String>,
    dtype: Option<String>,
}

impl HfConfig {
    fn family(&self, path: &Path) -> Result<Family, ConfigError> {
        let name = self
            .model_type
            .clone()
            .or_else(|| self.architectures.first().cloned())
            .ok_or_else(|| ConfigError::MissingField { path: path.to_path_buf(), field: "model_type" })?
            .to_ascii_lowercase();
        if name.starts_with("qwen2") {
            Ok(Family::Qwen2)
        } else if name.starts_with("mistral") {
            Ok(Family::Mistral)
        } else if name.starts_with("llama") {
            Ok(Family::Llama)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                field: "model_type",
                message: format!("`{name}` is not supported (expected qwen2, mistral or llama)"),
            })
        }
    }

    fn resolve(self, path: &Path) -> Result<DecoderConfig, ConfigError> {
        let family = self.family(path)?;
        let missing = |field| ConfigError::MissingField { path: path.to_path_buf(), field };
        let invalid = |field, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            message,
        };
        if let Some(act) = &self.hidden_act {
            if act != "silu" && act != "swish" {
                return Err(invalid("hidden_act", format!("`{act}` is not supported (expected silu)")));
            }
        }
        let hidden_size = self.hidden_size.ok_or_else(|| missing("hidden_size"))?;
        let num_attention_heads = self.num_attention_heads.ok_or_else(|| missing("num_attention_heads"))?;
        if num_attention_heads == 0 {
            return Err(invalid("num_attention_heads", "must be positive".into()));
        }
        let rope = self.rope_parameters.as_ref().or(self.rope_scaling.as_ref());
        let rope_theta = self
            .rope_theta
            .or_else(|| rope.and_then(|r| r.get("rope_theta")).and_then(|v| v.as_f64()))
            .unwrap_or(10000.0);
        let rope_linear_factor = rope_linear_factor(rope).map_err(|m| invalid("rope_scaling", m))?;
        let (qkv_bias, o_bias, sliding_window) = match family {
            // Qwen2 hard-codes q/k/v biases; its sliding window only applies when switched on.
            Family::Qwen2 => (
                true,
                false,
                self.sliding_window.filter(|_| self.use_sliding_window.unwrap_or(false)),
            ),
            Family::Mistral => (false, false, self.sliding_window),
            Family::Llama => {
                let bias = self.attention_bias.unwrap_or(false);
                (bias, bias, None)
            }
        };
        let eos_token_ids = match self.eos_token_id {
            Some(OneOrMany::One(id)) => vec![id],
            Some(OneOrMany::Many(ids)) => ids,
            None => Vec::new(),
        };
        let config = DecoderConfig {
            family,
            vocab_size: self.vocab_size.ok_or_else(|| missing("vocab_size"))?,
            hidden_size,
            intermediate_size: self.intermediate_size.ok_or_else(|| missing("intermediate_size"))?,
            num_hidden_layers: self.num_hidden_layers.ok_or_else(|| missing("num_hidden_layers"))?,
            num_attention_heads,
            num_key_value_heads: self.num_key_value_heads.unwrap_or(num_attention_heads),
            head_dim: self.head_dim.unwrap_or(hidden_size / num_attention_heads),
            rms_norm_eps: self.rms_norm_eps.unwrap_or(1e-6),
            rope_theta,
            rope_linear_factor,
            max_position_embeddings: self.max_position_embeddings.unwrap_or(4096),
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(false),
            sliding_window,
            qkv_bias,
            o_bias,
            mlp_bias: family == Family::Llama && self.mlp_bias.unwrap_or(false),
            bos_token_id: self.bos_token_id,
            eos_token_ids,
            pad_token_id: self.pad_token_id,
            torch_dtype: self.torch_dtype.or(self.dtype),
        };
        config.validate(path)?;
        Ok(config)
    }
}

/// Reads the RoPE scaling block. Only "default" and "linear" are implemented: anything else
/// would silently change the model's positions, so it is an error rather than ignored.
fn rope_linear_factor(rope: Option<&serde_json::Value>) -> Result<f64, String> {
    let Some(rope) = rope.filter(|r| !r.is_null()) else {
        return Ok(1.0);
    };
    let kind = rope
        .get("rope_type")
        .or_else(|| rope.get("type"))
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    match kind {
        "default" => Ok(1.0),
        "linear" => rope
            .get("factor")
            .and_then(|v| v.as_f64())
            .filter(|f| *f > 0.0)
            .ok_or_else(|| "linear scaling needs a positive `factor`".to_string()),
        other => Err(format!("rope type `{other}` is not supported (default, linear)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<DecoderConfig, ConfigError> {
        DecoderConfig::from_hf_json(json, Path::new("config.json"))
    }

    const LLAMA: &str = r#"{"model_type": "llama", "vocab_size": 512, "hidden_size": 64,
        "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8,
        "num_key_value_heads": 4, "head_dim": 8, "rms_norm_eps": 1e-5,
        "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
        "tie_word_embeddings": true, "eos_token_id": 2, "bos_token_id": 1}"#;

    #[test]
    fn rope_theta_is_read_from_rope_parameters() {
        let c = parse(&LLAMA.replace("10000.0", "500000.0")).unwrap();
        assert_eq!(c.rope_theta, 500000.0);
        assert_eq!(c.family, Family::Llama);
        assert_eq!(c.head_dim, 8);
        assert_eq!(c.eos_token_ids, vec![2]);
        assert!(c.tie_word_embeddings);
    }

    #[test]
    fn missing_field_is_named() {
        let err = parse(&LLAMA.replace(r#""hidden_size": 64,"#, "")).unwrap_err();
        assert!(err.to_string().contains("missing field `hidden_size`"), "{err}");
    }

    #[test]
    fn qwen2_has_qkv_bias_and_window_only_when_enabled() {
        let json = LLAMA.replace("llama", "qwen2").replace("\"head_dim\": 8,", "\"sliding_window\": 32,");
        let c = parse(&json).unwrap();
        assert!(c.qkv_bias && !c.o_bias);
        assert_eq!(c.sliding_window, None);
        assert_eq!(c.head_dim, 8); // 64 / 8
        let c = parse(&json.replace("\"sliding_window\"", "\"use_sliding_window\": true, \"sliding_window\"")).unwrap();
        assert_eq!(c.sliding_window, Some(32));
    }

    #[test]
    fn unsupported_rope_scaling_is_an_error() {
        let err = parse(&LLAMA.replace("\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"")).unwrap_err();
        assert!(err.to_string().contains("rope_scaling"), "{err}");
    }

    #[test]
    fn kv_heads_must_divide_heads() {
        let err = parse(&LLAMA.replace("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3")).unwrap_err();
        assert!(err.to_string().contains("num_key_value_heads"), "{err}");
    }

    #[test]
    fn generation_config_eos_ids_are_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(generation_eos_ids(dir.path()).unwrap().is_empty(), "absent file: no ids");
        std::fs::write(dir.path().join("generation_config.json"), r#"{"eos_token_id": [151645, 151643], "do_sample": true}"#).unwrap();
        assert_eq!(generation_eos_ids(dir.path()).unwrap(), vec![151645, 151643]);
        std::fs::write(dir.path().join("generation_config.json"), "{\"eos_token_id\": 2").unwrap();
        let err = generation_eos_ids(dir.path()).unwrap_err().to_string();
        assert!(err.contains("generation_config.json"), "{err}");
    }

    #[test]
    fn parameter_count_of_stories260k_shape() {
        // embed 512*64 + 5 layers * (q 64*64 + k,v 2*64*32 + o 64*64 + mlp 3*64*172 + norms 128) + norm 64
        let c = parse(LLAMA).unwrap();
        let layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 172 + 128;
        assert_eq!(c.num_parameters(), 512 * 64 + 5 * layer + 64);
    }
}
