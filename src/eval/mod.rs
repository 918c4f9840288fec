//! Evaluation (RecFound §5.1): the metrics as pure functions on plain values, with the parse
//! rules of the authors' evaluation script (DESIGN.md §7); the per-task protocol; generative
//! and embedding evaluation runs ([`run`]) with saved, resumable predictions; and metrics
//! recomputed from those predictions ([`score`]).

pub mod bertscore;
pub mod embedding;
pub mod error;
pub mod generative;
pub mod metrics;
pub mod predictions;
pub mod protocol;
pub mod run;
pub mod score;

pub use error::EvalError;
pub use predictions::{EmbeddingPrediction, GenerativePrediction, Prediction, PredictionFile, PredictionWriter, predictions_path, prompt_id, read_predictions};
pub use protocol::{RANK_K, TaskMetric, count_options, default_max_new_tokens};
pub use score::{EvalReport, TaskScore, rescore, score_dir, score_predictions};
pub use bertscore::{BERTSCORE_KEYS, BertScoreConfig, BertScorer, add_bertscore};
pub use generative::EvalModel;
pub use run::{EvalConfig, EvalEvent, EvalSettings, find_tasks, run_eval};
