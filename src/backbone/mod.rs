//! The HF-compatible decoder backbone (Qwen2, Mistral, Llama): configuration, the network,
//! RoPE, masks, KV cache, checkpoint loading, generation and embedding.

pub mod cache;
pub mod config;
pub mod decoder;
pub mod lm;
pub mod mask;
pub mod rope;

pub use cache::KvCache;
pub use config::{ConfigError, DecoderConfig, Family, generation_eos_ids};
pub use decoder::{Decoder, Proj, ProjectionDelta};
pub use lm::Lm;
pub use mask::{AttnMode, TokenMask};
pub mod load;
pub use load::{LoadReport, LoadedDecoder, WeightError, load_decoder};
pub mod beam;
pub mod constraint;
pub mod embed;
pub mod generate;
pub mod sampling;
pub mod save;
pub use beam::{BeamConfig, beam_rows, BeamHypothesis, beam_search};
pub use constraint::{PrefixTrie, TokenConstraint};
pub use generate::{GenerateError, StopConfig, generate};
pub use sampling::{Sampler, SamplingConfig};
pub use save::save_hf_checkpoint;
