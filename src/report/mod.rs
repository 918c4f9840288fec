//! Paper-style reports of runs (RecFound §5): Table 2 (generative) and Table 3 (embedding) with
//! average ranks over any number of runs or merged models ([`table`], [`rank`]), the routing
//! similarity heatmap of Figure 2 ([`routing`]) and the sample-ratio plot of Figure 3
//! ([`ratios`]), written by [`write_report`] from what `recfound eval` and training leave in
//! each run directory.

pub mod rank;
pub mod ratios;
pub mod routing;
pub mod runs;
pub mod table;

use std::path::{Path, PathBuf};

pub use rank::{average_ranks, competition_ranks, mean_and_std};
pub use routing::{RoutingSimilarity, RoutingVectors, read_routing_json, routing_json, routing_vectors};
pub use runs::{ReportOptions, ReportSummary, RunInput, find_eval_results, read_eval_report, run_labels, write_report};
pub use table::{BERTSCORE_KEY, FreeTextMetric, Table, build_table};

/// What can go wrong reading runs or writing a report; each names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}:{line}:{column}: {message}")]
    Json { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}:{line}: {message}")]
    Line { path: PathBuf, line: usize, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{dir}: no eval results (looked for metrics.json and eval/metrics.json); run `recfound eval ... --out {dir}/eval` first")]
    NoEval { dir: PathBuf },
    #[error("no runs to report")]
    NoRuns,
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
}

impl ReportError {
    pub(crate) fn io(path: &Path, e: impl std::fmt::Display) -> Self {
        ReportError::Io { path: path.to_path_buf(), message: e.to_string() }
    }

    /// A JSON error with serde's line and column.
    pub(crate) fn json(path: &Path, e: &serde_json::Error) -> Self {
        // serde's message ends in "at line L column C", which the variant already leads with.
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        ReportError::Json { path: path.to_path_buf(), line: e.line(), column: e.column(), message }
    }
}
