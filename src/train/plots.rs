//! The run's pictures, redrawn at every S2Sched update and at the end: `loss.png` (training
//! loss of each branch per step, validation loss of each task per update) and `ratios.png`
//! (each task's share of its branch's batch per update: the paper's Figure 3).

use std::collections::BTreeMap;
use std::path::Path;

use crate::plot::{Chart, LineChart, Series};

/// What the plots are drawn from, collected as training goes.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunHistory {
    /// (step, embedding loss, generative loss)
    pub train: Vec<(usize, Option<f64>, Option<f64>)>,
    /// task -> (step, validation loss)
    pub validation: BTreeMap<String, Vec<(f64, f64)>>,
    /// task -> (step, share of its branch's batch)
    pub ratios: BTreeMap<String, Vec<(f64, f64)>>,
}

impl RunHistory {
    pub fn write_pngs(&self, dir: &Path) -> Result<(), crate::plot::PlotError> {
        let branch = |pick: fn(&(usize, Option<f64>, Option<f64>)) -> Option<f64>, label: &str| {
            Series::new(label, self.train.iter().filter_map(|r| pick(r).map(|v| (r.0 as f64, v))).collect())
        };
        let mut series: Vec<Series> = [branch(|r| r.1, "train InfoNCE"), branch(|r| r.2, "train CE")].into_iter().filter(|s| !s.points.is_empty()).collect();
        series.extend(self.validation.iter().map(|(task, points)| Series::new(format!("val {task}"), points.clone())));
        if !series.is_empty() {
            let chart = LineChart { title: "Loss".into(), x_label: "step".into(), y_label: "loss".into(), series, ..Default::default() };
            chart.write_png(&dir.join("loss.png"))?;
        }
        if self.ratios.values().any(|p| !p.is_empty()) {
            let series = self.ratios.iter().map(|(task, points)| Series::new(task.clone(), points.clone())).collect();
            let chart = LineChart { title: "S2Sched sample ratios".into(), x_label: "step".into(), y_label: "share of batch".into(), series, ..Default::default() };
            chart.write_png(&dir.join("ratios.png"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_both_pictures() {
        let mut h = RunHistory::default();
        h.train = vec![(1, Some(3.0), Some(6.0)), (2, Some(2.0), Some(5.5))];
        h.validation.insert("Emb_user".into(), vec![(0.0, 1.0), (2.0, 0.8)]);
        h.ratios.insert("Emb_user".into(), vec![(0.0, 1.0), (2.0, 1.0)]);
        let tmp = tempfile::tempdir().unwrap();
        h.write_pngs(tmp.path()).unwrap();
        for name in ["loss.png", "ratios.png"] {
            let bytes = std::fs::read(tmp.path().join(name)).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{name}");
        }
    }
}
