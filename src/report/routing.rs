//! Figure 2 of RecFound (§5.4.1): how alike TMoLE routes the tasks. A task's routing vector is
//! its routing distribution v_i (Eq. 1) at every adapted projection, concatenated layer-major;
//! the heatmap shows the cosine similarity of every pair of tasks. Vectors come from a trained
//! adapter ([`routing_vectors`]) or from the `routing.json` that the quickstart and
//! `recfound adapter routing` write ([`read_routing_json`]).

use std::path::Path;

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use super::ReportError;
use super::table::{EMBEDDING_COLUMNS, GENERATIVE_COLUMNS};
use crate::adapters::{Adapter, AdapterError};
use crate::plot::{Chart, Heatmap};
use crate::recfound::TaskId;

/// Task order of the heatmap: embedding tasks (Table 3's order), then generative (Table 2's),
/// so the two classes form the blocks the paper outlines.
pub fn heatmap_order() -> Vec<TaskId> {
    EMBEDDING_COLUMNS.into_iter().chain(GENERATIVE_COLUMNS).collect()
}

/// Each task's routing vector, in [`heatmap_order`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingVectors {
    pub tasks: Vec<(TaskId, Vec<f64>)>,
}

/// The routing vectors of a TMoLE adapter (`None` for plain LoRA, which does not route).
pub fn routing_vectors<B: Backend>(adapter: &Adapter<B>) -> Result<Option<RoutingVectors>, AdapterError> {
    if !adapter.is_tmole() {
        return Ok(None);
    }
    let mut tasks = Vec::new();
    for task in heatmap_order() {
        let v = adapter.routing(task)?.into_iter().flat_map(|s| s.weights).map(f64::from).collect();
        tasks.push((task, v));
    }
    Ok(Some(RoutingVectors { tasks }))
}

/// Every task's routing on every adapted projection as `routing.json` holds it (the layout of
/// `recfound adapter routing`): `{"tasks": [{"task", "id", "sites": [{"layer", "module",
/// "weights"}]}]}`.
pub fn routing_json<B: Backend>(adapter: &Adapter<B>) -> Result<serde_json::Value, AdapterError> {
    let mut tasks = Vec::new();
    for task in TaskId::ALL {
        let sites: Vec<_> = adapter
            .routing(task)?
            .into_iter()
            .map(|s| serde_json::json!({"layer": s.layer, "module": s.proj.module_path(s.layer), "weights": s.weights}))
            .collect();
        tasks.push(serde_json::json!({"task": task.name(), "id": task.id(), "sites": sites}));
    }
    Ok(serde_json::json!({ "tasks": tasks }))
}

/// `routing.json` in either layout: the quickstart's list, or `recfound adapter routing`'s
/// `{"tasks": [...]}`. Sites are taken in file order (both writers go layer-major).
#[derive(Deserialize)]
#[serde(untagged)]
enum RoutingFile {
    Wrapped { tasks: Vec<TaskRouting> },
    List(Vec<TaskRouting>),
}

#[derive(Deserialize)]
struct TaskRouting {
    task: String,
    sites: Vec<SiteWeights>,
}

#[derive(Deserialize)]
struct SiteWeights {
    weights: Vec<f64>,
}

/// Reads `routing.json`; a syntax error names the line, an unknown task or a task whose vector
/// length differs from the others names the task.
pub fn read_routing_json(path: &Path) -> Result<RoutingVectors, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let file: RoutingFile = serde_json::from_str(&text).map_err(|e| ReportError::json(path, &e))?;
    let entries = match file {
        RoutingFile::Wrapped { tasks } | RoutingFile::List(tasks) => tasks,
    };
    let mut found = Vec::new();
    for entry in entries {
        let task: TaskId = entry.task.parse().map_err(|e| ReportError::Invalid { path: path.to_path_buf(), message: format!("{e}") })?;
        found.push((task, entry.sites.into_iter().flat_map(|s| s.weights).collect::<Vec<f64>>()));
    }
    let tasks: Vec<(TaskId, Vec<f64>)> = heatmap_order().into_iter().filter_map(|t| found.iter().find(|(f, _)| *f == t).cloned()).collect();
    if tasks.is_empty() {
        return Err(ReportError::Invalid { path: path.to_path_buf(), message: "no task routing in the file".into() });
    }
    let len = tasks[0].1.len();
    if let Some((task, v)) = tasks.iter().find(|(_, v)| v.len() != len) {
        return Err(ReportError::Invalid {
            path: path.to_path_buf(),
            message: format!("task {} has {} routing weights, {} has {len}", task.name(), v.len(), tasks[0].0.name()),
        });
    }
    Ok(RoutingVectors { tasks })
}

/// Cosine similarity of two vectors; 0 when either is all zeros.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

/// The task-by-task cosine similarity matrix of Figure 2.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingSimilarity {
    /// Task abbreviations, rows and columns in this order.
    pub tasks: Vec<String>,
    pub similarity: Vec<Vec<f64>>,
}

impl RoutingSimilarity {
    pub fn new(vectors: &RoutingVectors) -> Self {
        let v = &vectors.tasks;
        Self {
            tasks: v.iter().map(|(t, _)| t.abbreviation().to_string()).collect(),
            similarity: v.iter().map(|(_, a)| v.iter().map(|(_, b)| cosine(a, b)).collect()).collect(),
        }
    }

    /// The heatmap PNG. The plot labels only the first and last cell, so the task order is
    /// spelled out under the x axis.
    pub fn write_png(&self, title: &str, path: &Path) -> Result<(), crate::plot::PlotError> {
        let heat = Heatmap {
            title: title.into(),
            x_label: format!("tasks 0-{}: {}", self.tasks.len().saturating_sub(1), self.tasks.join(" ")),
            y_label: "task (same order)".into(),
            values: self.similarity.clone(),
            ..Default::default()
        };
        heat.write_png(path)
    }

    /// A markdown table of the matrix (2 decimals).
    pub fn to_markdown(&self) -> String {
        let mut md = format!("| |{}|\n|---|{}\n", self.tasks.iter().map(|t| format!(" {t} ")).collect::<Vec<_>>().join("|"), "---:|".repeat(self.tasks.len()));
        for (task, row) in self.tasks.iter().zip(&self.similarity) {
            md += &format!("| {task} |{}|\n", row.iter().map(|v| format!(" {v:.2} ")).collect::<Vec<_>>().join("|"));
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_by_hand() {
        // [1, 0] . [1, 1] = 1; norms 1 and sqrt 2 -> 1 / sqrt 2.
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }

    #[test]
    fn both_file_layouts_read_in_heatmap_order() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.json");
        // Generative first in the file; the result puts Emb_user (embedding) first.
        std::fs::write(&list, r#"[{"task": "Sentiment_Analysis", "sites": [{"module": "m", "weights": [0.0, 1.0]}]},
            {"task": "Emb_user", "sites": [{"module": "m", "weights": [1.0, 0.0]}]}]"#)
        .unwrap();
        let v = read_routing_json(&list).unwrap();
        assert_eq!(v.tasks, vec![(TaskId::EmbUser, vec![1.0, 0.0]), (TaskId::SentimentAnalysis, vec![0.0, 1.0])]);
        let sim = RoutingSimilarity::new(&v);
        assert_eq!(sim.tasks, ["U2I", "SA"]);
        assert_eq!(sim.similarity, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert!(sim.to_markdown().contains("| U2I | 1.00 | 0.00 |"));
        let png = dir.path().join("h.png");
        sim.write_png("Routing", &png).unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));

        let wrapped = dir.path().join("wrapped.json");
        std::fs::write(&wrapped, r#"{"tasks": [{"task": "Emb_user", "id": 0, "sites": [{"layer": 0, "module": "m", "weights": [0.5, 0.5]}]}]}"#).unwrap();
        assert_eq!(read_routing_json(&wrapped).unwrap().tasks[0].1, [0.5, 0.5]);
    }

    #[test]
    fn bad_files_name_the_line_or_the_task() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("routing.json");
        std::fs::write(&bad, "[\n{\"task\": \"Emb_user\",\n \"sites\": [oops]}]").unwrap();
        let err = read_routing_json(&bad).unwrap_err().to_string();
        assert!(err.contains("routing.json:3:"), "{err}");
        std::fs::write(&bad, r#"[{"task": "Emb_user", "sites": [{"weights": [1.0]}]}, {"task": "Sentiment_Analysis", "sites": []}]"#).unwrap();
        let err = read_routing_json(&bad).unwrap_err().to_string();
        assert!(err.contains("Sentiment_Analysis has 0 routing weights"), "{err}");
        std::fs::write(&bad, r#"[{"task": "Nope", "sites": []}]"#).unwrap();
        assert!(read_routing_json(&bad).unwrap_err().to_string().contains("unknown task `Nope`"));
    }
}
