//! Figure 3 of RecFound (§5.4.2): each task's share of its branch's batch over training, read
//! back from the run's `schedule.jsonl` (one line per S2Sched update, `{"step", "omega": {task:
//! share}}`) and drawn by the very code training draws `ratios.png` with
//! ([`RunHistory`](crate::train::plots::RunHistory)).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::ReportError;
use crate::train::plots::RunHistory;

/// The S2Sched log file of a run directory.
pub const SCHEDULE_FILE: &str = "schedule.jsonl";

#[derive(Deserialize)]
struct ScheduleLine {
    step: usize,
    omega: BTreeMap<String, f64>,
}

/// Every task's (step, share) from `schedule.jsonl`; a line that is not JSON or lacks `step` or
/// `omega` is an error naming the line.
pub fn read_schedule(path: &Path) -> Result<BTreeMap<String, Vec<(f64, f64)>>, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let mut ratios: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parsed: ScheduleLine =
            serde_json::from_str(line).map_err(|e| ReportError::Line { path: path.to_path_buf(), line: i + 1, message: e.to_string() })?;
        for (task, share) in parsed.omega {
            ratios.entry(task).or_default().push((parsed.step as f64, share));
        }
    }
    if ratios.is_empty() {
        return Err(ReportError::Invalid { path: path.to_path_buf(), message: "no S2Sched updates logged".into() });
    }
    Ok(ratios)
}

/// Draws `dir/ratios.png` from the run's schedule log.
pub fn write_ratio_plot(schedule: &Path, dir: &Path) -> Result<(), ReportError> {
    let history = RunHistory { ratios: read_schedule(schedule)?, ..Default::default() };
    history.write_pngs(dir).map_err(ReportError::Plot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_shares_per_task_and_names_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join(SCHEDULE_FILE);
        std::fs::write(&log, "{\"step\": 0, \"val_loss\": {}, \"omega\": {\"A\": 0.5, \"B\": 0.5}}\n\n{\"step\": 5, \"omega\": {\"A\": 0.25, \"B\": 0.75}}\n").unwrap();
        let r = read_schedule(&log).unwrap();
        assert_eq!(r["B"], [(0.0, 0.5), (5.0, 0.75)]);
        write_ratio_plot(&log, dir.path()).unwrap();
        assert!(std::fs::read(dir.path().join("ratios.png")).unwrap().starts_with(b"\x89PNG"));
        // Only the ratio plot: no loss.png from an empty history.
        assert!(!dir.path().join("loss.png").exists());
        std::fs::write(&log, "{\"step\": 0, \"omega\": {\"A\": 1.0}}\n{\"step\": 5, \"omeg").unwrap();
        let err = read_schedule(&log).unwrap_err().to_string();
        assert!(err.contains("schedule.jsonl:2:"), "{err}");
    }
}
