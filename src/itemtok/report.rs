//! The tokenizer run's report (issue 8 item 6): per level the codes used, usage entropy and
//! perplexity, the share of items on the most used code, the collision rate of full ids before
//! and after the fix (JSON), and the pictures: code-usage frequency per level (RecBase Figure
//! 5c), item latents on their first two principal axes coloured by domain (Figure 2), and the
//! training curves.

use std::path::{Path, PathBuf};

use crate::plot::{BarChart, Chart, LineChart, PALETTE, ScatterPlot, Series};

use super::ItemTokError;
use super::projection::pca_2d;
use super::semantic_ids::{IdReport, LevelUsage, level_usage};
use super::train::EpochMetrics;

/// One domain's share of the report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DomainUsage {
    pub name: String,
    pub items: usize,
    /// Usage of each level by this domain's items (ids before the collision fix).
    pub levels: Vec<LevelUsage>,
}

/// `report.json` of a tokenizer run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenizerReport {
    pub codebook_size: usize,
    /// All items: per-level usage and the collision rates before and after the fix.
    pub ids: IdReport,
    pub domains: Vec<DomainUsage>,
    /// Per level, the mean L2 norm of the residual entering it (level 0: the latent).
    pub mean_residual_norm: Vec<f64>,
    /// The last epoch's metrics.
    pub last_epoch: Option<EpochMetrics>,
    /// Wall time of the training loop (this process; a resumed run counts only its part).
    pub train_seconds: f64,
}

/// Per-domain usage: `domain_of[i]` is item `i`'s index into `names`.
pub fn domain_usage(codes: &[Vec<u32>], domain_of: &[usize], names: &[String]) -> Vec<DomainUsage> {
    names
        .iter()
        .enumerate()
        .map(|(d, name)| {
            let mine: Vec<Vec<u32>> =
                codes.iter().zip(domain_of).filter(|&(_, &of)| of == d).map(|(c, _)| c.clone()).collect();
            DomainUsage { name: name.clone(), items: mine.len(), levels: level_usage(&mine) }
        })
        .collect()
}

/// Items per code of one level, most used first (`codebook_size` entries, unused codes as 0).
pub fn sorted_counts(codes: &[Vec<u32>], level: usize, codebook_size: usize) -> Vec<usize> {
    let mut counts = vec![0usize; codebook_size];
    for tuple in codes {
        if let Some(slot) = tuple.get(level).and_then(|&c| counts.get_mut(c as usize)) {
            *slot += 1;
        }
    }
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts
}

/// Writes the PNGs into `dir` and returns their paths: `usage.png` (share of items per code
/// rank, one line per level), `usage_level_{l}.png` (items per code, most used first),
/// `latents_pca.png` (when there are two or more items) and `loss.png` (when there are metrics).
pub fn write_plots(
    dir: &Path,
    codes: &[Vec<u32>],
    codebook_size: usize,
    latents: &[Vec<f32>],
    domain_of: &[usize],
    names: &[String],
    metrics: &[EpochMetrics],
) -> Result<Vec<PathBuf>, ItemTokError> {
    let mut written = Vec::new();
    let levels = codes.iter().map(Vec::len).max().unwrap_or(0);
    let items = codes.len().max(1) as f64;
    let mut usage = LineChart {
        title: "Code usage per level".into(),
        x_label: "code rank (most used first)".into(),
        y_label: "share of items (%)".into(),
        ..Default::default()
    };
    for level in 0..levels {
        let counts = sorted_counts(codes, level, codebook_size);
        let used = counts.iter().filter(|&&n| n > 0).count();
        let points = counts.iter().enumerate().map(|(r, &n)| (r as f64, 100.0 * n as f64 / items)).collect();
        usage.series.push(Series::new(format!("level {level}: {used} codes"), points));
        let bars = BarChart {
            title: format!("Level {level}: {used} of {codebook_size} codes used"),
            x_label: "code rank (most used first)".into(),
            y_label: "items".into(),
            values: counts.iter().map(|&n| n as f64).collect(),
            color: PALETTE[level % PALETTE.len()],
            ..Default::default()
        };
        written.push(save(&bars, dir.join(format!("usage_level_{level}.png")))?);
    }
    written.push(save(&usage, dir.join("usage.png"))?);
    if latents.len() >= 2 && latents[0].len() >= 2 {
        let points = pca_2d(latents, 0)?;
        let series = names
            .iter()
            .enumerate()
            .map(|(d, name)| {
                let mine: Vec<(f64, f64)> = points
                    .iter()
                    .zip(domain_of)
                    .filter(|&(_, &of)| of == d)
                    .map(|(p, _)| (f64::from(p[0]), f64::from(p[1])))
                    .collect();
                Series::new(format!("{name} ({})", mine.len()), mine)
            })
            .collect();
        let scatter = ScatterPlot {
            title: "Item latents (PCA)".into(),
            x_label: "PC 1".into(),
            y_label: "PC 2".into(),
            series,
            ..Default::default()
        };
        written.push(save(&scatter, dir.join("latents_pca.png"))?);
    }
    if !metrics.is_empty() {
        let curve = |label: &str, value: fn(&EpochMetrics) -> f64| {
            Series::new(label, metrics.iter().map(|m| (m.epoch as f64, value(m))).collect())
        };
        let loss = LineChart {
            title: "Training loss".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![curve("total", |m| m.loss), curve("recon", |m| m.recon), curve("codebook", |m| m.codebook)],
            ..Default::default()
        };
        written.push(save(&loss, dir.join("loss.png"))?);
    }
    Ok(written)
}

fn save(chart: &dyn Chart, path: PathBuf) -> Result<PathBuf, ItemTokError> {
    chart.write_png(&path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_domains_by_hand() {
        // Level 0 codes 2, 2, 0 with K = 4 -> sorted counts [2, 1, 0, 0].
        let codes = vec![vec![2, 1], vec![2, 3], vec![0, 1]];
        assert_eq!(sorted_counts(&codes, 0, 4), [2, 1, 0, 0]);
        let names = vec!["a".to_string(), "b".to_string()];
        let usage = domain_usage(&codes, &[0, 0, 1], &names);
        assert_eq!((usage[0].items, usage[0].levels[0].codes_used, usage[0].levels[1].codes_used), (2, 1, 2));
        assert_eq!(usage[1].items, 1);
    }

    #[test]
    fn writes_every_plot() {
        let dir = tempfile::tempdir().unwrap();
        let codes = vec![vec![2, 1], vec![2, 3], vec![0, 1]];
        let latents = vec![vec![0.0, 1.0, 2.0], vec![1.0, 0.0, 2.0], vec![3.0, 1.0, 0.0]];
        let names = vec!["a".to_string(), "b".to_string()];
        let written = write_plots(dir.path(), &codes, 4, &latents, &[0, 0, 1], &names, &[]).unwrap();
        let files: Vec<String> =
            written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(files, ["usage_level_0.png", "usage_level_1.png", "usage.png", "latents_pca.png"]);
    }
}
