//! Training: S2Sched's sample scheduling (RecFound §4.3) and the task pools it samples from.
//! The training loop that drives them lives beside these modules.

pub mod s2sched;
pub mod task_pools;

pub use s2sched::{S2Sched, S2SchedConfig, S2SchedError, ScheduleMode, ScheduleUpdate};
pub use task_pools::TaskPools;
