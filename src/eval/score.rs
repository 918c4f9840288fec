//! Metrics from saved predictions only (DESIGN.md §7 parse rules through [`super::metrics`]):
//! the numbers of an eval run, and of any later re-check of its `predictions/` folder.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::EvalError;
use super::metrics::{
    LetterRule, MetricError, Score, accuracy, ave_f1, macro_f1, mrr_at_k, ndcg_at_k, parse_label_letter, parse_label_yes_no, parse_option_letter,
    parse_yes_no, token_f1_corpus,
};
use super::predictions::{Prediction, PredictionFile, read_predictions};
use super::protocol::{RANK_K, TaskMetric};
use crate::recfound::{TaskId, TaskKind};

/// Letters offered when a prompt lists no options block (any capital letter).
const ALL_LETTERS: usize = 26;

/// One task's number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    pub task: TaskId,
    pub abbreviation: String,
    pub metric: TaskMetric,
    pub value: f64,
    /// Rows scored.
    pub count: usize,
    /// Outputs that failed to parse (scored as wrong).
    pub invalid: usize,
    /// Secondary numbers: SR's lenient first-letter Recall@1, AVE's precision and recall.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

/// Scores one predictions file. A reference the metric cannot read is an error naming the
/// file and line.
pub fn score_predictions(file: &PredictionFile) -> Result<TaskScore, EvalError> {
    let task = file.task;
    let metric = TaskMetric::of(task).ok_or_else(|| EvalError::Task { task: task.name().into(), message: "is not scored".into() })?;
    if file.lines.is_empty() {
        return Err(EvalError::Prediction { path: file.path.clone(), line: 0, message: "no predictions to score".into() });
    }
    let bad_ref = |line: usize, message: String| EvalError::Prediction { path: file.path.clone(), line, message };
    let metric_err = |source: MetricError| EvalError::Metric { task: task.name().into(), source };
    let mut extra = BTreeMap::new();
    let score: Score = match metric {
        TaskMetric::RecallAt1 | TaskMetric::MacroF1 => {
            let mut labels = Vec::new();
            let (mut exact, mut first) = (Vec::new(), Vec::new());
            for (line, p) in generative(file)? {
                let n = p.options.unwrap_or(ALL_LETTERS);
                labels.push(parse_label_letter(&p.reference, n).ok_or_else(|| bad_ref(line, format!("reference `{}` is not one of {n} option letters", p.reference)))?);
                exact.push(parse_option_letter(&p.output, n, LetterRule::Exact));
                first.push(parse_option_letter(&p.output, n, LetterRule::FirstChar));
            }
            if metric == TaskMetric::RecallAt1 {
                extra.insert("recall@1_first_letter".into(), accuracy(&first, &labels).map_err(metric_err)?.value);
                accuracy(&exact, &labels).map_err(metric_err)?
            } else {
                macro_f1(&first, &labels).map_err(metric_err)?
            }
        }
        TaskMetric::YesF1 => {
            let (mut preds, mut labels) = (Vec::new(), Vec::new());
            for (line, p) in generative(file)? {
                labels.push(parse_label_yes_no(&p.reference).ok_or_else(|| bad_ref(line, format!("reference `{}` is not yes or no", p.reference)))?);
                preds.push(parse_yes_no(&p.output));
            }
            super::metrics::yes_f1(&preds, &labels).map_err(metric_err)?
        }
        TaskMetric::AveF1 => {
            let rows = generative(file)?;
            let preds: Vec<&str> = rows.iter().map(|(_, p)| p.output.as_str()).collect();
            let labels: Vec<&str> = rows.iter().map(|(_, p)| p.reference.as_str()).collect();
            let ave = ave_f1(&preds, &labels).map_err(|e| match e {
                MetricError::BadLabel { row, reason, .. } => bad_ref(rows[row].0, format!("reference: {reason}")),
                other => metric_err(other),
            })?;
            extra.insert("precision".into(), ave.precision);
            extra.insert("recall".into(), ave.recall);
            ave.f1
        }
        TaskMetric::TokenF1 => {
            let rows = generative(file)?;
            let preds: Vec<&str> = rows.iter().map(|(_, p)| p.output.as_str()).collect();
            let refs: Vec<&str> = rows.iter().map(|(_, p)| p.reference.as_str()).collect();
            token_f1_corpus(&preds, &refs).map_err(metric_err)?
        }
        TaskMetric::MrrAt20 | TaskMetric::NdcgAt20 => {
            let mut sum = 0.0;
            for (line, p) in &file.lines {
                let Prediction::Embedding(p) = p else { unreachable!("read by task kind") };
                let at_line = |e: MetricError| bad_ref(*line, e.to_string());
                sum += if metric == TaskMetric::MrrAt20 {
                    let positive = p.relevant.iter().position(|&r| r).ok_or_else(|| bad_ref(*line, "no relevant candidate".into()))?;
                    mrr_at_k(&p.scores, positive, RANK_K).map_err(at_line)?
                } else {
                    ndcg_at_k(&p.scores, &p.relevant, RANK_K).map_err(at_line)?
                };
            }
            Score { value: sum / file.lines.len() as f64, count: file.lines.len(), invalid: 0 }
        }
    };
    Ok(TaskScore { task, abbreviation: task.abbreviation().into(), metric, value: score.value, count: score.count, invalid: score.invalid, extra })
}

/// The generative lines of a file.
fn generative(file: &PredictionFile) -> Result<Vec<(usize, &super::predictions::GenerativePrediction)>, EvalError> {
    Ok(file
        .lines
        .iter()
        .map(|(line, p)| match p {
            Prediction::Generative(g) => (*line, g),
            Prediction::Embedding(_) => unreachable!("read by task kind"),
        })
        .collect())
}

/// Every task's score from `dir/predictions/<task>.jsonl`, in task-id order.
pub fn score_dir(dir: &Path) -> Result<Vec<TaskScore>, EvalError> {
    let mut scores = Vec::new();
    for task in TaskId::ALL.into_iter().filter(|t| t.kind().is_some()) {
        let path = super::predictions::predictions_path(dir, task);
        if path.is_file() {
            scores.push(score_predictions(&read_predictions(&path, task, false)?)?);
        }
    }
    if scores.is_empty() {
        return Err(EvalError::Io { path: dir.join("predictions"), message: "no predictions/<task>.jsonl files".into() });
    }
    Ok(scores)
}

/// The scores of a run with the averages of Table 4 (mean over the generative and over the
/// embedding tasks present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub tasks: Vec<TaskScore>,
    pub generative_average: Option<f64>,
    pub embedding_average: Option<f64>,
}

impl EvalReport {
    pub fn new(tasks: Vec<TaskScore>) -> Self {
        let mean = |kind: TaskKind| {
            let v: Vec<f64> = tasks.iter().filter(|t| t.task.kind() == Some(kind)).map(|t| t.value).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        Self { generative_average: mean(TaskKind::Generative), embedding_average: mean(TaskKind::Embedding), tasks }
    }

    /// A markdown table: task, abbreviation, metric, value, rows, unparseable outputs.
    pub fn to_markdown(&self) -> String {
        let mut md = String::from("| task | abbr. | metric | value | rows | unparseable |\n|---|---|---|---|---|---|\n");
        for t in &self.tasks {
            let extra: String = t.extra.iter().map(|(k, v)| format!(", {k} {v:.4}")).collect();
            md += &format!("| {} | {} | {} | {:.4}{extra} | {} | {} |\n", t.task.name(), t.abbreviation, t.metric.label(), t.value, t.count, t.invalid);
        }
        for (name, avg) in [("generative average", self.generative_average), ("embedding average", self.embedding_average)] {
            if let Some(avg) = avg {
                md += &format!("| {name} | | | {avg:.4} | | |\n");
            }
        }
        md
    }

    /// Writes `metrics.json` and `metrics.md` into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            crate::io::write_atomic(&path, bytes).map_err(|e| EvalError::io(&path, e))
        };
        write("metrics.json", serde_json::to_string_pretty(self).expect("report serialises").as_bytes())?;
        write("metrics.md", self.to_markdown().as_bytes())
    }
}

/// Recomputes the metrics of an eval directory from its saved predictions and rewrites
/// `metrics.json` and `metrics.md` into `out` (the same directory unless told otherwise).
pub fn rescore(dir: &Path, out: &Path) -> Result<EvalReport, EvalError> {
    let report = EvalReport::new(score_dir(dir)?);
    report.write(out)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::predictions::{EmbeddingPrediction, GenerativePrediction};
    use std::path::PathBuf;

    fn file(task: TaskId, rows: Vec<(&str, &str, Option<usize>)>) -> PredictionFile {
        let lines = rows
            .into_iter()
            .enumerate()
            .map(|(i, (output, reference, options))| {
                let p = GenerativePrediction { row: i, prompt_id: String::new(), task, output: output.into(), reference: reference.into(), options, new_tokens: 1 };
                (i + 1, Prediction::Generative(p))
            })
            .collect();
        PredictionFile { path: PathBuf::from("p.jsonl"), task, lines }
    }

    #[test]
    fn sr_is_exact_with_a_lenient_extra() {
        // "B" right, "A: x" wrong under the exact rule (right under first letter), "C" wrong.
        let f = file(TaskId::SequentialRecommendation, vec![("B", "B", Some(20)), ("A: x", "A", Some(20)), ("C", "D", Some(20))]);
        let s = score_predictions(&f).unwrap();
        assert_eq!((s.value, s.count, s.invalid), (1.0 / 3.0, 3, 1));
        assert_eq!(s.extra["recall@1_first_letter"], 2.0 / 3.0);
    }

    #[test]
    fn yes_f1_and_a_bad_reference_names_the_line() {
        // tp 1 (yes/yes), fn 1 (no/yes), fp 0 -> F1 = 2/3.
        let s = score_predictions(&file(TaskId::ProductMatching, vec![("yes", "yes", None), ("no", "yes", None), ("no", "no", None)])).unwrap();
        assert!((s.value - 2.0 / 3.0).abs() < 1e-12);
        let err = score_predictions(&file(TaskId::ProductMatching, vec![("yes", "yes", None), ("yes", "maybe", None)])).unwrap_err().to_string();
        assert!(err.contains("p.jsonl:2:") && err.contains("maybe"), "{err}");
        let err = score_predictions(&file(TaskId::SentimentAnalysis, vec![("A", "F: odd", Some(5))])).unwrap_err().to_string();
        assert!(err.contains("p.jsonl:1:"), "{err}");
    }

    #[test]
    fn ranking_rows_average() {
        // Row 0: positive ranked 2nd -> 1/2; row 1: first -> 1. MRR = 0.75.
        let rows = [(vec![0.9, 0.5, 0.1], vec![false, true, false]), (vec![0.2, 0.1, 0.0], vec![true, false, false])];
        let lines = rows
            .into_iter()
            .enumerate()
            .map(|(i, (scores, relevant))| {
                let p = EmbeddingPrediction { row: i, prompt_id: String::new(), task: TaskId::EmbUser, candidates: vec![String::new(); 3], relevant, scores };
                (i + 1, Prediction::Embedding(p))
            })
            .collect();
        let s = score_predictions(&PredictionFile { path: PathBuf::from("u.jsonl"), task: TaskId::EmbUser, lines }).unwrap();
        assert_eq!(s.value, 0.75);
        let report = EvalReport::new(vec![s]);
        assert_eq!((report.embedding_average, report.generative_average), (Some(0.75), None));
        assert!(report.to_markdown().contains("| Emb_user | U2I | MRR@20 | 0.7500 | 2 | 0 |"));
    }
}
