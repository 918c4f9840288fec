//! RecFound's tasks and data formats (RecFound §3, Appendix B): the 13 tasks with the authors'
//! task ids, and the GritLM-style JSONL rows their released dataset uses.

pub mod format;
pub mod instructions;
pub mod task;

pub use instructions::{choose_instruction, instructions};
pub use format::{EmbeddingRow, GenerativeRow, RecFoundRow, read_rows, write_rows};
pub use task::{TaskId, TaskKind, UnknownTask};
