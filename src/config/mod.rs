//! Recipes: TOML files deserialised into serde structs that reject unknown keys
//! (`deny_unknown_fields`), with `--set key=value` overrides, resolved into Burn configs by the
//! pipelines that run them.

mod adapter;
mod overrides;
mod quickstart;
mod recbase;
mod train;
mod recipe;

pub use adapter::{AdapterKind, AdapterSection};
pub use train::{BaseDtype, S2SchedSection, TrainSection};
pub use overrides::{SetError, apply_set};
pub use quickstart::RecBaseQuickstartSection;
pub use recbase::{PretrainSection, RecBaseSection};
pub use recipe::{EmbedSection, GenerateSection, ModelSection, Recipe, RecipeError, RunKind, RunSection, load_recipe};
