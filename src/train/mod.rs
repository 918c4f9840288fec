//! Training: S2Sched's sample scheduling (RecFound §4.3) and the task pools it samples from.
//! The training loop that drives them lives beside these modules.

pub mod batch;
pub mod checkpoint;
pub mod data;
pub mod loader;
pub mod losses;
pub mod lr;
pub mod model;
pub mod plots;
pub mod progress;
pub mod replay;
pub mod s2sched;
pub mod strategy;
pub mod task_pools;

pub use batch::{BatchError, EmbeddingExample, GenerativeExample, JointBatch};
pub use model::{JointOutput, RecFoundModel};
pub use s2sched::{S2Sched, S2SchedConfig, S2SchedError, ScheduleMode, ScheduleUpdate};
pub use task_pools::TaskPools;
