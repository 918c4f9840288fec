//! The quickstart's RecBase stage (issue 9 item 8): tokenize the items of the recipe's domains,
//! pretrain a tiny decoder on their histories, then score a held-out domain zero-shot against the
//! three baselines. Runs the same code as `recfound recipe recipes/recbase-tiny.toml` followed by
//! `recfound recbase zero-shot`, into `RUN/recbase/` and `RUN/recbase/zero-shot/`.

use std::path::Path;

use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use super::PipelineError;
use crate::config::{RecBaseQuickstartSection, RunKind, load_recipe};
use crate::recbase::RecBaseRun;
use crate::recbase::zero_shot::{MethodMetrics, ZeroShotSettings, write_outputs, zero_shot};

/// What the stage did (part of the quickstart's `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RecBaseQuickstartReport {
    pub pretrain: super::recbase::RecBaseReport,
    pub zero_shot_domain: String,
    pub rows: usize,
    pub candidates: usize,
    pub metrics: MethodMetrics,
}

/// Pretrains per `section.recipe` into `run_dir/recbase` and scores `section.zero_shot_domain`.
pub fn run<B: AutodiffBackend>(
    section: &RecBaseQuickstartSection,
    run_dir: &Path,
    device: &B::Device,
) -> Result<RecBaseQuickstartReport, PipelineError> {
    let recipe = load_recipe(&section.recipe, &[]).map_err(|e| PipelineError::Train(format!("recbase_quickstart.recipe: {e}")))?;
    if recipe.run.kind != RunKind::Recbase {
        let message = format!("recbase_quickstart.recipe: {} is not a `kind = \"recbase\"` recipe", section.recipe.display());
        return Err(PipelineError::Train(message));
    }
    let dir = run_dir.join("recbase");
    let pretrain = super::recbase::run::<B>(&recipe, &dir, device, false)?;

    let loaded = RecBaseRun::<B::InnerBackend>::load(&dir, device)?;
    let settings = ZeroShotSettings { seed: recipe.run.seed, ..ZeroShotSettings::default() };
    let outcome = zero_shot(&loaded, &section.zero_shot_domain, &settings, device, &mut |_| {})?;
    write_outputs(&dir.join("zero-shot"), &outcome)?;
    Ok(RecBaseQuickstartReport {
        pretrain,
        zero_shot_domain: section.zero_shot_domain.display().to_string(),
        rows: outcome.report.rows,
        candidates: outcome.report.candidates_scored,
        metrics: outcome.report.metrics,
    })
}
