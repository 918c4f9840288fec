//! Tuning S2Sched without retraining: logged per-task validation losses replayed through the
//! very scheduler training uses, with other hyperparameters. Input lines (what training writes
//! to `schedule.jsonl`; other keys are ignored): `{"step": t, "val_loss": {"<task>": loss}}`.
//! Output lines: `{"step": t, "beta": {"E": b, "G": b}, "omega": {"<task>": w}}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::recfound::{TaskId, TaskKind};

use super::s2sched::{S2Sched, S2SchedConfig, S2SchedError};

/// One logged scheduling update.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReplayInput {
    pub step: usize,
    pub val_loss: BTreeMap<String, f64>,
}

/// The replayed decision at that update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayOutput {
    pub step: usize,
    /// β per task type present (`E`, `G`); 1 while the scheduler is still in its warmup.
    pub beta: BTreeMap<String, f64>,
    pub omega: BTreeMap<String, f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("line {line}: unknown task `{name}`")]
    UnknownTask { line: usize, name: String },
    #[error("line {line}: the tasks differ from line 1's ({expected})")]
    TaskSet { line: usize, expected: String },
    #[error("no input lines")]
    Empty,
    #[error("line {line}: {source}")]
    Sched { line: usize, source: S2SchedError },
}

/// Replays `lines` (in order) through one S2Sched per task type with `config`.
pub fn replay(lines: &[ReplayInput], config: &S2SchedConfig) -> Result<Vec<ReplayOutput>, ReplayError> {
    let first = lines.first().ok_or(ReplayError::Empty)?;
    let mut tasks: Vec<(String, TaskKind)> = Vec::new();
    for name in first.val_loss.keys() {
        let task: TaskId = name.parse().map_err(|_| ReplayError::UnknownTask { line: 1, name: name.clone() })?;
        let kind = task.kind().ok_or_else(|| ReplayError::UnknownTask { line: 1, name: name.clone() })?;
        tasks.push((name.clone(), kind));
    }
    let of_kind = |k: TaskKind| tasks.iter().filter(|(_, kind)| *kind == k).map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let groups: Vec<(&str, Vec<String>)> = [("E", of_kind(TaskKind::Embedding)), ("G", of_kind(TaskKind::Generative))].into_iter().filter(|(_, names)| !names.is_empty()).collect();
    let mut scheds = groups
        .iter()
        .map(|(_, names)| S2Sched::new(config.clone(), &vec![1; names.len()]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ReplayError::Sched { line: 1, source })?;
    let expected = first.val_loss.keys().cloned().collect::<Vec<_>>().join(", ");
    let mut out = Vec::with_capacity(lines.len());
    for (i, input) in lines.iter().enumerate() {
        let line = i + 1;
        if !input.val_loss.keys().eq(first.val_loss.keys()) {
            return Err(ReplayError::TaskSet { line, expected });
        }
        let mut result = ReplayOutput { step: input.step, beta: BTreeMap::new(), omega: BTreeMap::new() };
        for ((label, names), sched) in groups.iter().zip(&mut scheds) {
            let losses: Vec<f64> = names.iter().map(|n| input.val_loss[n]).collect();
            let update = sched.observe(input.step, &losses).map_err(|source| ReplayError::Sched { line, source })?;
            result.beta.insert(label.to_string(), update.beta.unwrap_or(1.0));
            for (name, &w) in names.iter().zip(&update.ratios) {
                result.omega.insert(name.clone(), w);
            }
        }
        out.push(result);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::ScheduleMode;

    fn input(step: usize, pairs: &[(&str, f64)]) -> ReplayInput {
        ReplayInput { step, val_loss: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect() }
    }

    #[test]
    fn replay_matches_the_scheduler_and_names_bad_lines() {
        let config = S2SchedConfig { mode: ScheduleMode::S2Sched, warmup_steps: 1, window: 2, tau: 10.0 };
        let lines = vec![
            input(0, &[("Emb_user", 2.0), ("Sentiment_Analysis", 4.0), ("Product_Matching", 4.0)]),
            input(1, &[("Emb_user", 1.5), ("Sentiment_Analysis", 3.0), ("Product_Matching", 3.9)]),
            input(2, &[("Emb_user", 1.2), ("Sentiment_Analysis", 2.0), ("Product_Matching", 3.8)]),
        ];
        let out = replay(&lines, &config).unwrap();
        // The same losses through S2Sched directly give the same generative ratios.
        let mut g = S2Sched::new(config.clone(), &[1, 1]).unwrap();
        for l in &lines {
            g.observe(l.step, &[l.val_loss["Product_Matching"], l.val_loss["Sentiment_Analysis"]]).unwrap();
        }
        assert_eq!(out[2].omega["Product_Matching"], g.ratios()[0]);
        assert_eq!(out[2].omega["Sentiment_Analysis"], g.ratios()[1]);
        // Inside the warmup the ratios are uniform; one embedding task always gets everything.
        assert_eq!(out[0].omega["Sentiment_Analysis"], 0.5);
        assert_eq!(out[2].omega["Emb_user"], 1.0);
        // The task whose loss falls steeply gets fewer samples (CoBa's signs, DESIGN.md §5).
        assert!(out[2].omega["Sentiment_Analysis"] < out[2].omega["Product_Matching"]);
        let mut bad = lines.clone();
        bad[1].val_loss.remove("Product_Matching");
        assert!(matches!(replay(&bad, &config), Err(ReplayError::TaskSet { line: 2, .. })));
        let unknown = vec![input(0, &[("Emb_nobody", 1.0)])];
        assert!(replay(&unknown, &config).unwrap_err().to_string().contains("Emb_nobody"));
    }
}
