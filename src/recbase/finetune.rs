//! In-domain fine-tuning (RecBase §5.3, Table 3; issue 9 item 6): a pretrained run continues
//! training on one domain's histories and is written out as a complete run (decoder, vocabulary,
//! item-tokenizer copy) that zero-shot scoring and recommendation read like any other.
//!
//! The domain's items get ids from the run's saved item tokenizer, never refit: a refit would
//! move every code, so the pretrained embeddings of the vocabulary would no longer mean what the
//! decoder learned, and the fine-tuned run could not be compared with the zero-shot one on the
//! same items. Each user's last item is held back (never a target, never an input), so that
//! zero-shot and fine-tuned scores of that held-back next item are a fair comparison.

use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use super::corpus::{DomainSummary, domain_rows, visiting_order};
use super::packing::HistoryFilter;
use super::pretrain::{LoopOutcome, METRICS_FILE, Start, StepSettings, train_loop};
use super::run::{ITEMTOK_DIR, RecBaseRun, copy_itemtok};
use super::{RecBaseError, save_final};
use crate::train::lr::Decay;

/// The settings file a fine-tuned run keeps (where a pretraining run keeps `recipe.toml`).
pub const FINETUNE_FILE: &str = "finetune.json";

/// How to fine-tune; [`Default`] gives a short run, the CLI overrides `steps` and `lr`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinetuneSettings {
    pub steps: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    /// Packed rows per step, and per forward pass (0 = the whole batch).
    pub batch_rows: usize,
    pub micro_batch: usize,
    /// Tokens per packed row.
    pub seq_len: usize,
    /// Users with fewer items after the hold-out are left out.
    pub min_items: usize,
    /// Longer histories keep their most recent items; 0 = no cap.
    pub max_items: usize,
    pub save_every: usize,
    pub seed: u64,
}

impl Default for FinetuneSettings {
    fn default() -> Self {
        Self {
            steps: 100,
            lr: 1e-4,
            min_lr: 0.0,
            warmup_ratio: 0.05,
            weight_decay: 0.1,
            batch_rows: 8,
            micro_batch: 0,
            seq_len: 512,
            min_items: 2,
            max_items: 2500,
            save_every: 100,
            seed: 0,
        }
    }
}

/// What a fine-tuning run did (also `summary.json` of the new run).
#[derive(Debug, Clone, Serialize)]
pub struct FinetuneReport {
    pub source_run: PathBuf,
    pub domain: DomainSummary,
    /// Users whose last item was held back (every user kept).
    pub held_out_users: usize,
    pub steps: usize,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub tokens_per_s: f64,
    pub seconds: f64,
}

/// Fine-tunes the run in `run` on `domain`'s histories (each user's last item held back) and
/// writes a complete run into `out`.
pub fn finetune<B: AutodiffBackend>(
    run: &Path,
    domain: &Path,
    out: &Path,
    settings: &FinetuneSettings,
    device: &B::Device,
) -> Result<FinetuneReport, RecBaseError> {
    if settings.steps == 0 || settings.batch_rows == 0 {
        return Err(RecBaseError::config("steps", "steps and batch_rows must be at least 1"));
    }
    if !(settings.lr.is_finite() && settings.lr > 0.0) {
        return Err(RecBaseError::config("lr", format!("must be positive, got {}", settings.lr)));
    }
    if std::path::absolute(run).ok() == std::path::absolute(out).ok() {
        return Err(RecBaseError::config("out", "must differ from the run being fine-tuned"));
    }
    let source = RecBaseRun::<B>::load(run, device)?;
    let tokens = source.encode_domain(domain, device)?;
    let filter = HistoryFilter { min_items: settings.min_items, max_items: settings.max_items, hold_out_last: true };
    let rows = domain_rows(domain, &tokens, source.vocab.levels(), filter, settings.seq_len)?;
    let summary = rows.summary(settings.seq_len);
    if rows.rows.is_empty() {
        return Err(RecBaseError::Empty { what: format!("{}: no user has {} items besides the held-back one", domain.display(), settings.min_items) });
    }
    let step = step_settings(settings);
    let (rows, order) = visiting_order(vec![rows], &[], step.steps * step.batch_rows, settings.seed)?;

    // The new run: its settings, the tokenizer copy and the vocabulary first, weights at the end.
    std::fs::create_dir_all(out).map_err(|e| RecBaseError::io(out, e))?;
    let _ = std::fs::remove_file(out.join(METRICS_FILE));
    let record = serde_json::json!({ "source_run": run, "domain": domain, "settings": settings });
    let path = out.join(FINETUNE_FILE);
    crate::io::write_atomic(&path, serde_json::to_string_pretty(&record).expect("plain values serialise").as_bytes())
        .map_err(|e| RecBaseError::io(&path, e))?;
    copy_itemtok(&run.join(ITEMTOK_DIR), out)?;
    let RecBaseRun { decoder, config, vocab, .. } = source;
    let (decoder, outcome): (_, LoopOutcome) = train_loop(Start::Fresh(decoder), &config, &rows, &order, &step, out, device)?;
    save_final(out, &decoder.valid(), &config, &vocab)?;
    let report = FinetuneReport {
        source_run: run.to_path_buf(),
        held_out_users: summary.filter.users_kept,
        domain: summary,
        steps: outcome.steps_done,
        first_loss: outcome.first_loss,
        last_loss: outcome.last_loss,
        tokens_per_s: outcome.tokens_per_s,
        seconds: outcome.seconds,
    };
    let path = out.join("summary.json");
    crate::io::write_atomic(&path, serde_json::to_string_pretty(&report).expect("plain values serialise").as_bytes())
        .map_err(|e| RecBaseError::io(&path, e))?;
    Ok(report)
}

fn step_settings(s: &FinetuneSettings) -> StepSettings {
    StepSettings {
        steps: s.steps,
        batch_rows: s.batch_rows,
        micro_batch: s.micro_batch,
        lr: s.lr,
        min_lr: s.min_lr,
        warmup_steps: (s.warmup_ratio * s.steps as f64).ceil() as usize,
        decay: Decay::Cosine,
        weight_decay: s.weight_decay,
        beta_1: 0.9,
        beta_2: 0.95,
        grad_clip: 1.0,
        save_every: s.save_every,
        seed: s.seed,
    }
}
