//! The paper's result tables as data: Table 2 (generative tasks) and Table 3 (embedding tasks),
//! one row per run or merged model, one column per task with that task's metric, the mean over
//! the row's tasks (Table 4's "Avg.") and the average rank ([`super::rank`]). Rendered as
//! markdown (best value bold, second underlined, as the paper prints them) and serialised as
//! JSON.

use serde::Serialize;

use super::rank::average_ranks;
use crate::eval::{EvalReport, TaskMetric};
use crate::recfound::TaskId;

/// Table 2's column order: general NLP (QR, AVE, AG), user understanding (SR, SA, UP, AP), item
/// understanding (PRP, PM, IP).
pub const GENERATIVE_COLUMNS: [TaskId; 10] = [
    TaskId::QueryRewriting,
    TaskId::AttributeValueExtraction,
    TaskId::AnswerGeneration,
    TaskId::SequentialRecommendation,
    TaskId::SentimentAnalysis,
    TaskId::UserProfile,
    TaskId::AnswerabilityPrediction,
    TaskId::ProductRelationPrediction,
    TaskId::ProductMatching,
    TaskId::ItemProfile,
];

/// Table 3's column order: item (I2I), query (Q2I), user (U2I) embedding.
pub const EMBEDDING_COLUMNS: [TaskId; 3] = [TaskId::EmbItem, TaskId::EmbQuery, TaskId::EmbUser];

/// The `extra` key `recfound eval --bertscore-model` stores BERTScore-F1 under.
pub const BERTSCORE_KEY: &str = crate::eval::BERTSCORE_KEYS[0];

/// Which number the free-text tasks (QR, AG, UP, IP) show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreeTextMetric {
    /// SQuAD token F1 (always computed).
    #[default]
    TokenF1,
    /// BERTScore-F1 (the paper's metric), when the eval was run with an encoder.
    BertScore,
}

/// One task column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub task: String,
    pub abbreviation: String,
    pub metric: String,
}

/// One model's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRow {
    pub label: String,
    /// One per column; `None` where this model was not evaluated on the task.
    pub values: Vec<Option<f64>>,
    /// Rank among the rows per column (1 = best, ties share the best rank).
    pub ranks: Vec<Option<usize>>,
    /// Mean of the row's values (Table 4's "Avg.").
    pub average: Option<f64>,
    pub average_rank: Option<f64>,
    /// Population std of the row's ranks (the paper's "(Std)").
    pub rank_std: Option<f64>,
}

/// A results table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<TableRow>,
}

/// A task value a table needs but the eval results lack.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{task} has no {key}; evaluate with --bertscore-model or report token F1")]
pub struct MissingValue {
    pub task: String,
    pub key: String,
}

/// The value of every task of `report` under `free_text`, with the column's metric name.
pub fn task_values(report: &EvalReport, free_text: FreeTextMetric) -> Result<Vec<(TaskId, f64, String)>, MissingValue> {
    report
        .tasks
        .iter()
        .map(|t| {
            if t.metric == TaskMetric::TokenF1 && free_text == FreeTextMetric::BertScore {
                let value = t.extra.get(BERTSCORE_KEY).copied().ok_or_else(|| MissingValue { task: t.task.name().into(), key: BERTSCORE_KEY.into() })?;
                return Ok((t.task, value, "BERTScore-F1".to_string()));
            }
            Ok((t.task, t.value, t.metric.label().to_string()))
        })
        .collect()
}

/// A model's label and its (task, value, metric name) of every task it was evaluated on.
pub type RowValues = (String, Vec<(TaskId, f64, String)>);

/// Builds a table over the tasks of `order` that at least one row has, in that order.
/// `rows`: (label, (task, value, metric name) of every task the model was evaluated on).
pub fn build_table(title: &str, order: &[TaskId], rows: &[RowValues]) -> Table {
    let present: Vec<TaskId> = order.iter().copied().filter(|task| rows.iter().any(|(_, v)| v.iter().any(|(t, ..)| t == task))).collect();
    let columns: Vec<Column> = present
        .iter()
        .map(|task| {
            let metric = rows.iter().flat_map(|(_, v)| v).find(|(t, ..)| t == task).map(|(.., m)| m.clone()).unwrap_or_default();
            Column { task: task.name().into(), abbreviation: task.abbreviation().into(), metric }
        })
        .collect();
    let cells: Vec<Vec<Option<f64>>> = present
        .iter()
        .map(|task| rows.iter().map(|(_, v)| v.iter().find(|(t, ..)| t == task).map(|(_, x, _)| *x)).collect())
        .collect();
    let (ranks, averages) = average_ranks(&cells, rows.len());
    let rows = rows
        .iter()
        .enumerate()
        .map(|(r, (label, _))| {
            let values: Vec<Option<f64>> = cells.iter().map(|c| c[r]).collect();
            let present: Vec<f64> = values.iter().flatten().copied().collect();
            TableRow {
                label: label.clone(),
                ranks: ranks.iter().map(|c| c[r]).collect(),
                average: (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64),
                average_rank: averages[r].map(|a| a.0),
                rank_std: averages[r].map(|a| a.1),
                values,
            }
        })
        .collect();
    Table { title: title.into(), columns, rows }
}

impl Table {
    /// A markdown table: `| model | QR (token F1) | ... | Avg. | Average rank (std) |`. With two
    /// or more rows the best value of a column is bold and the second underlined.
    pub fn to_markdown(&self) -> String {
        let mut md = format!("**{}**\n\n| model |", self.title);
        for c in &self.columns {
            md += &format!(" {} ({}) |", c.abbreviation, c.metric);
        }
        md += " Avg. | Average rank ↓ (std) |\n|---|";
        md += &"---:|".repeat(self.columns.len() + 2);
        md.push('\n');
        let mark = self.rows.len() >= 2;
        for row in &self.rows {
            md += &format!("| {} |", row.label);
            for (value, rank) in row.values.iter().zip(&row.ranks) {
                md += &match (value, rank) {
                    (None, _) => " – |".to_string(),
                    (Some(v), Some(1)) if mark => format!(" **{v:.4}** |"),
                    (Some(v), Some(2)) if mark => format!(" <u>{v:.4}</u> |"),
                    (Some(v), _) => format!(" {v:.4} |"),
                };
            }
            md += &match row.average {
                Some(a) => format!(" {a:.4} |"),
                None => " – |".into(),
            };
            md += &match (row.average_rank, row.rank_std) {
                (Some(m), Some(s)) => format!(" {m:.2} ({s:.2}) |\n"),
                _ => " – |\n".into(),
            };
        }
        md
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::TaskScore;
    use std::collections::BTreeMap;

    fn score(task: TaskId, value: f64) -> TaskScore {
        let metric = TaskMetric::of(task).unwrap();
        TaskScore { task, abbreviation: task.abbreviation().into(), metric, value, count: 2, invalid: 0, extra: BTreeMap::new() }
    }

    #[test]
    fn columns_follow_the_paper_and_ranks_are_by_hand() {
        // Two models: A evaluated on SA and PM, B on SA, PM and AG.
        // SA: A 0.5, B 0.7 -> ranks 2, 1. PM: A 0.8, B 0.8 -> tie, both 1. AG: B only -> 1.
        // A: (2 + 1) / 2 = 1.5, std 0.5, avg (0.5 + 0.8) / 2 = 0.65.
        // B: (1 + 1 + 1) / 3 = 1, std 0, avg (0.7 + 0.8 + 0.3) / 3 = 0.6.
        let a = EvalReport::new(vec![score(TaskId::SentimentAnalysis, 0.5), score(TaskId::ProductMatching, 0.8)]);
        let b = EvalReport::new(vec![score(TaskId::SentimentAnalysis, 0.7), score(TaskId::ProductMatching, 0.8), score(TaskId::AnswerGeneration, 0.3)]);
        let rows = vec![("A".to_string(), task_values(&a, FreeTextMetric::TokenF1).unwrap()), ("B".to_string(), task_values(&b, FreeTextMetric::TokenF1).unwrap())];
        let t = build_table("Generative", &GENERATIVE_COLUMNS, &rows);
        // Table 2 order: AG before SA before PM.
        assert_eq!(t.columns.iter().map(|c| c.abbreviation.as_str()).collect::<Vec<_>>(), ["AG", "SA", "PM"]);
        assert_eq!(t.rows[0].values, [None, Some(0.5), Some(0.8)]);
        assert_eq!(t.rows[0].ranks, [None, Some(2), Some(1)]);
        assert_eq!((t.rows[0].average_rank, t.rows[0].rank_std), (Some(1.5), Some(0.5)));
        assert!((t.rows[0].average.unwrap() - 0.65).abs() < 1e-12);
        assert_eq!((t.rows[1].average_rank, t.rows[1].rank_std), (Some(1.0), Some(0.0)));
        assert!((t.rows[1].average.unwrap() - 0.6).abs() < 1e-12);
        let md = t.to_markdown();
        assert!(md.contains("| model | AG (token F1) | SA (macro-F1) | PM (F1(yes)) | Avg. |"), "{md}");
        assert!(md.contains("| A | – | <u>0.5000</u> | **0.8000** | 0.6500 | 1.50 (0.50) |"), "{md}");
        assert!(md.contains("| B | **0.3000** | **0.7000** | **0.8000** | 0.6000 | 1.00 (0.00) |"), "{md}");
        // Embedding columns: none present -> an empty table.
        assert!(build_table("Embedding", &EMBEDDING_COLUMNS, &rows).is_empty());
    }

    #[test]
    fn bertscore_replaces_token_f1_when_asked() {
        let mut ag = score(TaskId::AnswerGeneration, 0.3);
        let report = EvalReport::new(vec![ag.clone()]);
        assert_eq!(task_values(&report, FreeTextMetric::BertScore).unwrap_err().task, "Answer_Generation");
        ag.extra.insert(BERTSCORE_KEY.into(), 0.85);
        let v = task_values(&EvalReport::new(vec![ag, score(TaskId::ProductMatching, 1.0)]), FreeTextMetric::BertScore).unwrap();
        assert_eq!(v[0], (TaskId::AnswerGeneration, 0.85, "BERTScore-F1".to_string()));
        assert_eq!(v[1].1, 1.0); // other tasks keep their metric
    }
}
