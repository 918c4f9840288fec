//! Evaluation (RecFound §5.1): the metrics as pure functions on plain values, with the parse
//! rules of the authors' evaluation script (DESIGN.md §7).

pub mod metrics;
