//! Writing a decoder as a Hugging Face checkpoint (`config.json` + `model.safetensors`) that
//! transformers and [`load_decoder`](super::load_decoder) read back: random models for the
//! quickstart and tests, and (later) adapters merged into their base.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use serde_json::{Value, json};

use super::config::{DecoderConfig, Family};
use super::decoder::Decoder;
use super::load::WeightError;

impl DecoderConfig {
    /// The HF `config.json` of this configuration (transformers' field names per family).
    pub fn to_hf_json(&self) -> Value {
        let architecture = match self.family {
            Family::Qwen2 => "Qwen2ForCausalLM",
            Family::Mistral => "MistralForCausalLM",
            Family::Llama => "LlamaForCausalLM",
        };
        let mut j = json!({
            "architectures": [architecture],
            "model_type": self.family.name(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "hidden_act": "silu",
            "torch_dtype": self.torch_dtype.clone().unwrap_or_else(|| "float32".into()),
        });
        match self.family {
            Family::Qwen2 => {
                j["use_sliding_window"] = self.sliding_window.is_some().into();
                j["sliding_window"] = self.sliding_window.into();
            }
            Family::Mistral => j["sliding_window"] = self.sliding_window.into(),
            Family::Llama => {
                j["attention_bias"] = self.qkv_bias.into();
                j["mlp_bias"] = self.mlp_bias.into();
            }
        }
        if self.rope_linear_factor != 1.0 {
            j["rope_scaling"] = json!({"rope_type": "linear", "factor": self.rope_linear_factor});
        }
        if let Some(id) = self.bos_token_id {
            j["bos_token_id"] = id.into();
        }
        match self.eos_token_ids.as_slice() {
            [] => {}
            [one] => j["eos_token_id"] = (*one).into(),
            many => j["eos_token_id"] = many.into(),
        }
        if let Some(id) = self.pad_token_id {
            j["pad_token_id"] = id.into();
        }
        j
    }
}

/// Writes `dir/config.json` and `dir/model.safetensors` (HF key names and `[out, in]` Linear
/// layout), each atomically: a temporary file, then a rename.
pub fn save_hf_checkpoint<B: Backend>(decoder: &Decoder<B>, config: &DecoderConfig, dir: &Path) -> Result<(), WeightError> {
    let write_err = |path: &Path, message: String| WeightError::Write { path: path.to_path_buf(), message };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e.to_string()))?;
    let weights = dir.join("model.safetensors");
    let tmp = dir.join(format!(".model.safetensors.tmp-{}", std::process::id()));
    let mut store = SafetensorsStore::from_file(&tmp).with_to_adapter(BurnToPyTorchAdapter).overwrite(true);
    let saved = decoder.save_into(&mut store).map_err(|e| write_err(&weights, e.to_string()));
    if let Err(e) = saved {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &weights).map_err(|e| write_err(&weights, e.to_string()))?;
    let config_path = dir.join("config.json");
    let text = serde_json::to_string_pretty(&config.to_hf_json()).expect("a JSON value serialises");
    crate::io::write_atomic(&config_path, text.as_bytes()).map_err(|e| write_err(&config_path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_json_round_trips_every_family() {
        let base = |family| {
            DecoderConfig::new(family, 512, 64, 128, 2, 4, 2, 16)
                .with_eos_token_ids(vec![2, 3])
                .with_bos_token_id(Some(1))
                .with_torch_dtype(Some("float32".into()))
        };
        let configs = [
            base(Family::Qwen2).with_qkv_bias(true).with_sliding_window(Some(32)),
            base(Family::Mistral).with_sliding_window(Some(8)).with_tie_word_embeddings(true),
            base(Family::Llama).with_qkv_bias(true).with_o_bias(true).with_rope_linear_factor(2.0),
        ];
        for c in configs {
            let back = DecoderConfig::from_hf_json(&c.to_hf_json().to_string(), Path::new("config.json")).unwrap();
            assert_eq!(back, c);
        }
    }
}
