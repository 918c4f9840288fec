//! RecFound's tasks and data formats (RecFound §3, Appendix B): the 13 tasks with the authors'
//! task ids, the GritLM-style JSONL rows their released dataset uses, the B.2 instructions, and
//! the builders that make those rows from the public datasets.

pub mod build;
pub mod build_all;
pub mod build_i2i;
pub mod build_pm;
pub mod build_profiles;
pub mod build_qa;
pub mod build_reviews;
pub mod build_sr;
pub mod build_u2i;
pub mod card;
pub mod format;
pub mod instructions;
pub mod task;

pub use build::{BuildConfig, BuiltRow, Split, SplitSizes, Splits, TaskSplits};
pub use build_all::{Sources, build_all, build_prompt_tasks, write_splits};
pub use build_i2i::build_item_to_item;
pub use build_pm::build_product_matching;
pub use build_profiles::{
    PromptRow, PromptSplits, build_item_profile_prompts, build_user_profile_prompts, write_prompt_splits,
};
pub use build_qa::{QaTasks, build_qa_tasks};
pub use build_reviews::build_sentiment_analysis;
pub use build_sr::build_sequential_recommendation;
pub use build_u2i::build_user_to_item;
pub use card::write_card;
pub use format::{EmbeddingRow, GenerativeRow, RecFoundRow, read_numbered_rows, read_rows, write_rows};
pub use instructions::{choose_instruction, instructions};
pub use task::{TaskId, TaskKind, UnknownTask};
