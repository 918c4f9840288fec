//! RecBase (issue 9, DESIGN.md §8): a Qwen2-style decoder pretrained from scratch on users'
//! histories written as item concept ids, that then ranks items of domains it never saw.
//!
//! - [`vocab`]: specials plus one token per (level, code).
//! - the run directory (`run`), pretraining data (`packing`), pretraining and fine-tuning
//!   (`pretrain`), zero-shot scoring (`score`) and top-k recommendation (`recommend`).

pub mod baselines;
pub mod candidates;
pub mod corpus;
pub mod error;
pub mod finetune;
pub mod packing;
pub mod pretrain;
pub mod recommend;
pub mod run;
pub mod score;
pub mod vocab;
pub mod zero_shot;
pub mod zero_shot_metrics;

pub use error::RecBaseError;
pub use run::{RecBaseRun, save_final};
pub use vocab::{BOS, ConceptVocab, EOS, NUM_SPECIALS, PAD, VOCAB_FILE};
