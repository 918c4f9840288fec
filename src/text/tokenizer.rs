//! `TextTokenizer`: a Hugging Face `tokenizer.json` behind a small, typed surface.
//!
//! Mirrors what `transformers.AutoTokenizer` gives the RecFound/GritLM training code (encode,
//! decode, BOS/EOS/PAD ids) without Python. Special-token ids come from the model dir's
//! `tokenizer_config.json` when there is one, else from well-known token names (see
//! [`SpecialTokens`]). Everything that can fail returns [`TokenizerError`], naming the file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// File name HF model directories use for the fast-tokenizer description.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// File name of the HF tokenizer config (special-token names, chat template).
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

// Well-known special-token names, most common first. Only tokens registered as *special added
// tokens* are considered: a byte-level vocabulary may hold `</s>` as an ordinary merged piece.
const BOS_NAMES: &[&str] = &["<s>", "<|begin_of_text|>", "<bos>"];
// `<|endoftext|>` comes before `<|im_end|>`: it is the EOS of base Qwen2/2.5 and the token HF
// declares as Qwen's `eos_token` in base checkpoints; chat models end turns with `<|im_end|>`,
// which `stop_token_ids` also returns and which the ChatML template writes out as text.
const EOS_NAMES: &[&str] = &[
    "</s>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<eos>",
];
const PAD_NAMES: &[&str] = &["<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>"];

/// Errors of the text boundary: loading, encoding and decoding.
#[derive(Debug, Error)]
pub enum TokenizerError {
    #[error("tokenizer file `{}` not found", path.display())]
    NotFound { path: PathBuf },

    #[error("cannot load tokenizer `{}`: {source}", path.display())]
    Load {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },

    #[error("cannot read tokenizer config `{}`: {source}", path.display())]
    Config {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("cannot encode text starting {snippet:?}: {source}")]
    Encode {
        snippet: String,
        #[source]
        source: tokenizers::Error,
    },

    #[error("cannot decode {len} token ids: {source}")]
    Decode {
        len: usize,
        #[source]
        source: tokenizers::Error,
    },

    #[error("embedding text {snippet:?} produced no tokens after its instruction prefix")]
    NothingToPool { snippet: String },
}

/// First characters of a text, for error messages (never the whole 4k-token prompt).
pub(crate) fn snippet(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut out: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// BOS / EOS / PAD ids of a tokenizer, resolved once at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpecialTokens {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// Falls back to BOS, then EOS: RecFound/GritLM set `pad_token = bos_token` for Mistral,
    /// which has no pad token. Padded positions are masked, so the choice is not learned.
    pub pad: Option<u32>,
}

/// A loaded `tokenizer.json` plus its resolved special tokens.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    special: SpecialTokens,
    stop_ids: Vec<u32>,
    adds_bos: bool,
    vocab_size: usize,
}

impl std::fmt::Debug for TextTokenizer {
    // The inner tokenizer's Debug dumps the whole vocabulary.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("special", &self.special)
            .field("adds_bos", &self.adds_bos)
            .field("vocab_size", &self.vocab_size)
            .finish()
    }
}

impl TextTokenizer {
    /// Loads a `tokenizer.json`. Special tokens are guessed from well-known names.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        Self::load(path.as_ref(), None)
    }

    /// Loads `<dir>/tokenizer.json`, taking BOS/EOS/PAD names from `<dir>/tokenizer_config.json`
    /// when it exists.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let dir = dir.as_ref();
        let config = dir.join(TOKENIZER_CONFIG_FILE);
        let config = config.is_file().then_some(config);
        Self::load(&dir.join(TOKENIZER_FILE), config.as_deref())
    }

    /// Like [`Self::from_dir`], but `Ok(None)` when the dir has no `tokenizer.json` (checkpoints
    /// such as llama2.c conversions ship without one and are driven by token ids).
    pub fn try_from_dir(dir: impl AsRef<Path>) -> Result<Option<Self>, TokenizerError> {
        let dir = dir.as_ref();
        if !dir.join(TOKENIZER_FILE).is_file() {
            return Ok(None);
        }
        Self::from_dir(dir).map(Some)
    }

    fn load(path: &Path, config: Option<&Path>) -> Result<Self, TokenizerError> {
        if !path.is_file() {
            return Err(TokenizerError::NotFound {
                path: path.to_path_buf(),
            });
        }
        let mut inner =
            tokenizers::Tokenizer::from_file(path).map_err(|source| TokenizerError::Load {
                path: path.to_path_buf(),
                source,
            })?;
        // Length policy belongs to the collator: a `truncation`/`padding` block left in a
        // tokenizer.json would otherwise cut prompts silently and shift the pooling boundary.
        inner
            .with_truncation(None)
            .map_err(|source| TokenizerError::Load {
                path: path.to_path_buf(),
                source,
            })?;
        inner.with_padding(None);

        let specials: HashSet<String> = inner
            .get_added_tokens_decoder()
            .into_values()
            .filter(|t| t.special)
            .map(|t| t.content)
            .collect();
        let find = |names: &[&str]| {
            names
                .iter()
                .filter(|name| specials.contains(**name))
                .find_map(|name| inner.token_to_id(name))
        };
        let mut special = SpecialTokens {
            bos: find(BOS_NAMES),
            eos: find(EOS_NAMES),
            pad: find(PAD_NAMES),
        };
        if let Some(config) = config {
            let named = read_config_names(config)?;
            let id = |name: Option<String>| name.and_then(|n| inner.token_to_id(&n));
            special.bos = id(named.bos).or(special.bos);
            special.eos = id(named.eos).or(special.eos);
            special.pad = id(named.pad).or(special.pad);
        }
        special.pad = special.pad.or(special.bos).or(special.eos);

        let mut stop_ids: Vec<u32> = EOS_NAMES
            .iter()
            .filter(|name| specials.contains(**name))
            .filter_map(|name| inner.token_to_id(name))
            .collect();
        if let Some(eos) = special.eos {
            stop_ids.retain(|&id| id != eos);
            stop_ids.insert(0, eos);
        }

        // Whether the post-processor prepends BOS (Mistral/Llama `TemplateProcessing` does,
        // Qwen's `ByteLevel` does not). Probed once rather than parsed from the JSON.
        let adds_bos = match (special.bos, inner.encode_fast("a", true)) {
            (Some(bos), Ok(enc)) => enc.get_ids().first() == Some(&bos),
            _ => false,
        };
        let vocab_size = inner.get_vocab_size(true);

        Ok(Self {
            inner,
            special,
            stop_ids,
            adds_bos,
            vocab_size,
        })
    }

    /// Token ids of `text`. With `add_special_tokens`, the tokenizer's post-processor adds its
    /// BOS (Mistral: `<s>`; Qwen2.5: nothing). Prompt templates rely on this (see `template`).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, TokenizerError> {
        // `encode_fast` skips offset tracking; the ids are the same as `encode`'s.
        self.inner
            .encode_fast(text, add_special_tokens)
            .map(|enc| enc.get_ids().to_vec())
            .map_err(|source| TokenizerError::Encode {
                snippet: snippet(text),
                source,
            })
    }

    /// Text of `ids`; `skip_special_tokens` drops BOS/EOS/`<|im_end|>` and other special tokens.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|source| TokenizerError::Decode {
                len: ids.len(),
                source,
            })
    }

    /// Id of one exact token (vocabulary piece or added token), if it exists.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Number of distinct ids the tokenizer can emit, added tokens included. Checkpoints often
    /// pad their embedding table beyond this (Qwen2.5: 151,936 rows for 151,665 tokens).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub fn bos_token_id(&self) -> Option<u32> {
        self.special.bos
    }

    pub fn eos_token_id(&self) -> Option<u32> {
        self.special.eos
    }

    pub fn pad_token_id(&self) -> Option<u32> {
        self.special.pad
    }

    pub fn special_tokens(&self) -> SpecialTokens {
        self.special
    }

    /// Every end-of-sequence/end-of-turn id present (EOS first): generation stops on any of
    /// them, since Qwen2.5-Instruct ends turns with `<|im_end|>` but documents with
    /// `<|endoftext|>`.
    pub fn stop_token_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// Whether `encode(.., add_special_tokens = true)` starts with the BOS id.
    pub fn adds_bos(&self) -> bool {
        self.adds_bos
    }

    /// The wrapped `tokenizers::Tokenizer`, for batch encoding and offsets.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// Special-token names as written in `tokenizer_config.json`.
#[derive(Debug, Default)]
struct ConfigNames {
    bos: Option<String>,
    eos: Option<String>,
    pad: Option<String>,
}

fn read_config_names(path: &Path) -> Result<ConfigNames, TokenizerError> {
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| TokenizerError::Config {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.into()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(e.into()))?;
    // HF writes each either as a plain string, as an AddedToken object `{"content": ..}`, or null.
    let name = |key: &str| match json.get(key) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Object(o)) => {
            o.get("content").and_then(|c| c.as_str()).map(str::to_owned)
        }
        _ => None,
    };
    Ok(ConfigNames {
        bos: name("bos_token"),
        eos: name("eos_token"),
        pad: name("pad_token"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_cuts_long_text() {
        assert_eq!(snippet("short"), "short");
        let long = "x".repeat(100);
        assert_eq!(snippet(&long).chars().count(), 41);
        assert!(snippet(&long).ends_with('…'));
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = TextTokenizer::from_file("/nonexistent/dir/tokenizer.json").unwrap_err();
        assert!(matches!(err, TokenizerError::NotFound { .. }));
        assert!(err.to_string().contains("/nonexistent/dir/tokenizer.json"));
    }
}
