//! A report over run directories. Each run directory holds (or is) a `recfound eval` output
//! (`metrics.json`, or `eval/metrics.json` below a training run), and may hold the training
//! run's `schedule.jsonl` and a `routing.json`. The report directory gets:
//! - `generative.md` / `generative.json`: Table 2, one row per run;
//! - `embedding.md` / `embedding.json`: Table 3;
//! - `<label>/ratios.png` (Figure 3) and `<label>/routing.png` (Figure 2) per run that has them;
//! - `report.md` / `report.json`: all of it on one page.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ReportError;
use super::ratios::{SCHEDULE_FILE, write_ratio_plot};
use super::routing::{RoutingSimilarity, RoutingVectors, read_routing_json};
use super::table::{EMBEDDING_COLUMNS, FreeTextMetric, GENERATIVE_COLUMNS, Table, build_table, task_values};
use crate::eval::EvalReport;

/// One row of the tables.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInput {
    pub label: String,
    pub dir: PathBuf,
    /// Routing computed by the caller from the run's adapter; when `None`, `dir/routing.json`
    /// is read if present.
    pub routing: Option<RoutingVectors>,
}

/// How to report.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReportOptions {
    pub free_text: FreeTextMetric,
}

/// What one run contributed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEntry {
    pub label: String,
    pub dir: PathBuf,
    pub eval: PathBuf,
    /// Relative to the report directory.
    pub ratios_png: Option<String>,
    pub routing_png: Option<String>,
    pub routing_similarity: Option<RoutingSimilarity>,
}

/// Everything the report holds (`report.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportSummary {
    pub free_text: FreeTextMetric,
    pub generative: Table,
    pub embedding: Table,
    pub runs: Vec<RunEntry>,
}

/// The eval results of a run directory: `dir/metrics.json`, else `dir/eval/metrics.json`.
pub fn find_eval_results(dir: &Path) -> Result<PathBuf, ReportError> {
    [dir.join("metrics.json"), dir.join("eval").join("metrics.json")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| ReportError::NoEval { dir: dir.to_path_buf() })
}

/// Reads a `metrics.json` that `recfound eval` wrote; a malformed file names its line.
pub fn read_eval_report(path: &Path) -> Result<EvalReport, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let report: EvalReport = serde_json::from_str(&text).map_err(|e| ReportError::json(path, &e))?;
    if report.tasks.is_empty() {
        return Err(ReportError::Invalid { path: path.to_path_buf(), message: "no task scores".into() });
    }
    Ok(report)
}

/// Row labels for run directories: the directory name, or more of its path where two runs
/// would share a name (`a/eval`, `b/eval`).
pub fn run_labels(dirs: &[PathBuf]) -> Vec<String> {
    let tail = |dir: &Path, parts: usize| -> String {
        let names: Vec<String> = dir.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).filter(|c| c != "." && c != "/").collect();
        names[names.len().saturating_sub(parts)..].join("/")
    };
    dirs.iter()
        .map(|dir| {
            let mut parts = 1;
            while parts < 8 && dirs.iter().filter(|other| *other != dir).any(|other| tail(other, parts) == tail(dir, parts)) {
                parts += 1;
            }
            let label = tail(dir, parts);
            if label.is_empty() { dir.display().to_string() } else { label }
        })
        .collect()
}

/// A label as one directory name under the report directory.
fn folder_name(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

/// Writes the report of `runs` into `out` (see the module docs); every file atomically.
pub fn write_report(runs: &[RunInput], options: &ReportOptions, out: &Path) -> Result<ReportSummary, ReportError> {
    let _span = tracing::info_span!("report", runs = runs.len(), out = %out.display()).entered();
    if runs.is_empty() {
        return Err(ReportError::NoRuns);
    }
    let mut rows = Vec::new();
    let mut entries = Vec::new();
    for run in runs {
        let eval = find_eval_results(&run.dir)?;
        let report = read_eval_report(&eval)?;
        let values = task_values(&report, options.free_text).map_err(|e| ReportError::Invalid { path: eval.clone(), message: e.to_string() })?;
        rows.push((run.label.clone(), values));

        let folder = folder_name(&run.label);
        let schedule = run.dir.join(SCHEDULE_FILE);
        let ratios_png = if schedule.is_file() {
            write_ratio_plot(&schedule, &out.join(&folder))?;
            Some(format!("{folder}/ratios.png"))
        } else {
            None
        };
        let routing_file = run.dir.join("routing.json");
        let routing = match (&run.routing, routing_file.is_file()) {
            (Some(v), _) => Some(v.clone()),
            (None, true) => Some(read_routing_json(&routing_file)?),
            (None, false) => None,
        };
        let routing_similarity = routing.as_ref().map(RoutingSimilarity::new);
        let routing_png = match &routing_similarity {
            Some(sim) => {
                sim.write_png(&format!("Routing similarity: {}", run.label), &out.join(&folder).join("routing.png"))?;
                Some(format!("{folder}/routing.png"))
            }
            None => None,
        };
        entries.push(RunEntry { label: run.label.clone(), dir: run.dir.clone(), eval, ratios_png, routing_png, routing_similarity });
    }
    let summary = ReportSummary {
        free_text: options.free_text,
        generative: build_table("Generative tasks (Table 2)", &GENERATIVE_COLUMNS, &rows),
        embedding: build_table("Embedding tasks (Table 3)", &EMBEDDING_COLUMNS, &rows),
        runs: entries,
    };
    let write = |name: &str, text: String| {
        let path = out.join(name);
        crate::io::write_atomic(&path, text.as_bytes()).map_err(|e| ReportError::io(&path, e))
    };
    write("generative.md", table_markdown(&summary.generative))?;
    write("generative.json", json(&summary.generative))?;
    write("embedding.md", table_markdown(&summary.embedding))?;
    write("embedding.json", json(&summary.embedding))?;
    write("report.json", json(&summary))?;
    write("report.md", summary.to_markdown())?;
    Ok(summary)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("report data serialises")
}

fn table_markdown(table: &Table) -> String {
    if table.is_empty() { format!("**{}**\n\nNo task of this table was evaluated.\n", table.title) } else { table.to_markdown() }
}

impl ReportSummary {
    /// The whole report as one markdown page, with the pictures linked.
    pub fn to_markdown(&self) -> String {
        let metric = match self.free_text {
            FreeTextMetric::TokenF1 => "token F1",
            FreeTextMetric::BertScore => "BERTScore-F1",
        };
        let mut md = format!(
            "# Report\n\nFree-text tasks (QR, AG, UP, IP) show {metric}. Average rank: each row ranked per task (ties share the best rank), mean (population std) of its ranks.\n\n"
        );
        md += &table_markdown(&self.generative);
        md.push('\n');
        md += &table_markdown(&self.embedding);
        for run in &self.runs {
            md += &format!("\n## {}\n\nEval results: `{}`\n", run.label, run.eval.display());
            if let Some(png) = &run.ratios_png {
                md += &format!("\nS2Sched sample ratios (Figure 3):\n\n![sample ratios of {}]({png})\n", run.label);
            }
            if let (Some(png), Some(sim)) = (&run.routing_png, &run.routing_similarity) {
                md += &format!("\nRouting similarity (Figure 2):\n\n![routing similarity of {}]({png})\n\n{}", run.label, sim.to_markdown());
            }
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_grow_until_unique() {
        let dirs = vec![PathBuf::from("runs/a/eval"), PathBuf::from("runs/b/eval"), PathBuf::from("runs/merged")];
        assert_eq!(run_labels(&dirs), ["a/eval", "b/eval", "merged"]);
        assert_eq!(folder_name("a/eval x"), "a_eval_x");
    }

    #[test]
    fn missing_and_malformed_eval_results_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_eval_results(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no eval results"), "{err}");
        let path = dir.path().join("metrics.json");
        std::fs::write(&path, "{\n  \"tasks\": [\n    {\"task\": 3,}\n  ]\n}").unwrap();
        let err = read_eval_report(&find_eval_results(dir.path()).unwrap()).unwrap_err().to_string();
        assert!(err.contains("metrics.json:3:"), "{err}");
        std::fs::write(&path, r#"{"tasks": [], "generative_average": null, "embedding_average": null}"#).unwrap();
        assert!(read_eval_report(&path).unwrap_err().to_string().contains("no task scores"));
    }
}
