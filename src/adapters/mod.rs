//! Adapters on the decoder's projections (RecFound §4.2, DESIGN.md §3): PEFT-compatible LoRA
//! and TMoLE, the task-wise mixture of low-rank experts. The base stays frozen and separate;
//! an adapter is bound to a batch ([`Adapter::bind`]) and handed to the decoder as its
//! [`ProjectionDelta`](crate::backbone::ProjectionDelta).

pub mod adapter;
pub mod config;
pub mod error;
pub mod experts;
pub mod peft;

pub use adapter::{Adapter, BoundAdapter, Router, Site, SiteRouting};
pub use config::{AdapterConfig, ExpertGroups, TargetModules, TmoleConfig};
pub use error::AdapterError;
pub use experts::LoraExperts;
pub use peft::{load_adapter, read_adapter_config, save_adapter};
