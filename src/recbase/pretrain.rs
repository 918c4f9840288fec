//! RecBase's training step loop (RecBase §3.3, eq. 9; issue 9 item 3), shared by pretraining
//! (`pipeline::recbase`) and in-domain fine-tuning (`finetune`): full-parameter AdamW with
//! warmup + decay over packed rows, the next-token loss on item tokens, micro-batches that sum
//! to one big batch's gradients, per-step `metrics.jsonl`, `loss.png`, atomic step checkpoints
//! with exact resume, and a stop on a non-finite loss.
//!
//! A plain loop rather than burn-train's `Learner`: RecBase has one loss, no scheduler of samples
//! and no validation pass; the pieces that are not specific to a model (LR schedule, checkpoint
//! directories, optimizer records, resume checks, log truncation, progress bar, plots, the abort
//! hook of the kill/resume test) are RecFound's, from `crate::train`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams, Optimizer};
use burn::optim::lr_scheduler::LrScheduler;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::backbone::{AttnMode, Decoder, DecoderConfig, TokenMask, load_decoder, save_hf_checkpoint};
use crate::train::checkpoint::{OPTIMIZER_FILE, optimizer_bytes, read_optimizer_record, read_state, write_checkpoint_dir, write_state};
use crate::train::losses::response_ce_sum;
use crate::train::lr::{Decay, WarmupDecay};
use crate::train::plots::RunHistory;
use crate::train::strategy::{abort_after_step, step_progress};

use super::RecBaseError;
use super::packing::PackedRow;

/// The optimizer of a RecBase run: AdamW over the whole decoder.
pub type RecBaseOptimizer<B> = crate::optim::Optimizer<Decoder<B>, B>;

/// Per-step log of a run.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Optimisation settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSettings {
    pub steps: usize,
    /// Packed rows per optimizer step.
    pub batch_rows: usize,
    /// Rows per forward pass (0 = the whole batch).
    pub micro_batch: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_steps: usize,
    pub decay: Decay,
    pub weight_decay: f64,
    pub beta_1: f64,
    pub beta_2: f64,
    /// Norm clip of each parameter's gradient (Burn's `GradientClipping::Norm`); 0 = none.
    pub grad_clip: f64,
    pub save_every: usize,
    /// Seeds the backend RNG as `seed + step` at every step (nothing in the decoder draws today;
    /// a future dropout would resume exactly).
    pub seed: u64,
}

impl StepSettings {
    fn optimizer<B: AutodiffBackend>(&self) -> RecBaseOptimizer<B> {
        crate::optim::AdamWSettings {
            beta_1: self.beta_1 as f32,
            beta_2: self.beta_2 as f32,
            weight_decay: self.weight_decay as f32,
            grad_clip_norm: (self.grad_clip > 0.0).then_some(self.grad_clip as f32),
            ..Default::default()
        }
        .init::<B, Decoder<B>>()
    }
}

/// Everything but the tensors of a step checkpoint (`state.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoopState {
    pub step: usize,
    /// The decoder's parameter ids in visiting order (they key the optimizer state).
    pub param_ids: Vec<u64>,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    /// Real (non-padding) tokens trained on so far.
    pub tokens_seen: usize,
    pub history: RunHistory,
}

/// How a loop ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoopOutcome {
    pub steps_done: usize,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub tokens_seen: usize,
    pub seconds: f64,
    /// Real tokens per second over this process's steps.
    pub tokens_per_s: f64,
}

/// Where a loop starts: a fresh decoder, or a step checkpoint to resume from.
pub enum Start<B: AutodiffBackend> {
    Fresh(Decoder<B>),
    Resume(PathBuf),
}

/// Mean next-token loss of `rows`' item tokens, as a sum and a target count, so micro-batches
/// combine into one big batch's mean.
///
/// # Shapes
/// - rows: B packed rows of T tokens -> (`[1]`, count)
pub fn rows_loss_sum<B: Backend>(decoder: &Decoder<B>, rows: &[&PackedRow], device: &B::Device) -> (Tensor<B, 1>, usize) {
    let t = rows.first().map_or(0, |r| r.ids.len());
    let ids: Vec<i64> = rows.iter().flat_map(|r| r.ids.iter().map(|&x| x as i64)).collect();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [rows.len(), t]), device); // [B, T]
    let segments: Vec<Vec<u32>> = rows.iter().map(|r| r.segments.clone()).collect();
    let targets: Vec<i64> = rows.iter().flat_map(|r| r.targets()).collect();
    let logits = decoder.forward(ids, &TokenMask::packed(&segments), AttnMode::Causal, None); // [B, T, V]
    response_ce_sum(logits, &targets)
}

/// The gradients of the mean next-token loss over `batch`, computed `micro` rows per forward
/// pass: each micro-batch contributes its loss sum over the *whole batch's* target count, so the
/// accumulated gradients equal one pass over the batch. Also returns that mean loss.
pub fn batch_gradients<B: AutodiffBackend>(
    decoder: &Decoder<B>,
    batch: &[&PackedRow],
    micro: usize,
    device: &B::Device,
) -> (GradientsParams, Tensor<B::InnerBackend, 1>) {
    let targets: usize = batch.iter().map(|r| r.targets().iter().filter(|&&x| x >= 0).count()).sum();
    let mut acc = GradientsAccumulator::<Decoder<B>>::new();
    let mut loss: Option<Tensor<B::InnerBackend, 1>> = None;
    for chunk in batch.chunks(micro.max(1)) {
        let (sum, _) = rows_loss_sum(decoder, chunk, device);
        let part = sum / targets.max(1) as f64;
        let value = part.clone().inner();
        loss = Some(match loss {
            Some(total) => total + value,
            None => value,
        });
        acc.accumulate(decoder, GradientsParams::from_grads(part.backward(), decoder));
    }
    (acc.grads(), loss.unwrap_or_else(|| Tensor::from_floats([f32::NAN], device)))
}

/// Trains `start` (a decoder built from `config`) over `order` (the rows of every step, `batch_rows` per step, in order) from the
/// step after the checkpoint (or 0) to `settings.steps`, writing `metrics.jsonl`, `loss.png` and
/// `checkpoints/` into `run_dir`. Returns the trained decoder.
pub fn train_loop<B: AutodiffBackend>(
    start: Start<B>,
    config: &DecoderConfig,
    rows: &[PackedRow],
    order: &[usize],
    settings: &StepSettings,
    run_dir: &Path,
    device: &B::Device,
) -> Result<(Decoder<B>, LoopOutcome), RecBaseError> {
    let train_err = |m: String| RecBaseError::Train(m);
    if order.len() < settings.steps * settings.batch_rows {
        return Err(train_err(format!("{} rows ordered for {} steps of {}", order.len(), settings.steps, settings.batch_rows)));
    }
    let mut optim = settings.optimizer::<B>();
    let (mut decoder, mut state) = match start {
        Start::Fresh(decoder) => (decoder, LoopState::default()),
        Start::Resume(dir) => {
            let state: LoopState = read_state(&dir).map_err(train_err)?;
            let decoder = load_decoder::<B>(&dir, device)?.decoder;
            let decoder = crate::nn::set_param_ids::<B, _>(decoder, &state.param_ids)
                .ok_or_else(|| train_err(format!("{}: parameter ids do not match the decoder", dir.display())))?;
            let record = read_optimizer_record::<Decoder<B>, B, RecBaseOptimizer<B>>(&dir.join(OPTIMIZER_FILE), device).map_err(train_err)?;
            optim = optim.load_record(record);
            crate::train::checkpoint::truncate_log(&run_dir.join(METRICS_FILE), state.step)
                .map_err(|e| RecBaseError::io(run_dir.join(METRICS_FILE), e))?;
            tracing::info!(step = state.step, dir = %dir.display(), "resuming");
            (decoder, state)
        }
    };
    if state.step >= settings.steps {
        return Err(train_err(format!("the run already finished its {} steps", settings.steps)));
    }
    let mut lr = WarmupDecay {
        lr: settings.lr,
        min_lr: settings.min_lr,
        warmup_steps: settings.warmup_steps,
        total_steps: settings.steps,
        decay: settings.decay,
        step: state.step,
    };
    let metrics_path = run_dir.join(METRICS_FILE);
    let mut metrics = std::fs::OpenOptions::new().create(true).append(true).open(&metrics_path).map_err(|e| RecBaseError::io(&metrics_path, e))?;
    let progress = step_progress(settings.steps);
    progress.set_position(state.step as u64);
    let abort_after = abort_after_step();
    let micro = if settings.micro_batch == 0 { settings.batch_rows } else { settings.micro_batch };
    let (began, first_step, tokens_before) = (Instant::now(), state.step, state.tokens_seen);

    while state.step < settings.steps {
        let step = state.step + 1;
        B::seed(device, settings.seed.wrapping_add(step as u64));
        let timer = Instant::now();
        let rate = lr.step();
        let batch: Vec<&PackedRow> = order[(step - 1) * settings.batch_rows..step * settings.batch_rows].iter().map(|&i| &rows[i]).collect();
        let targets: usize = batch.iter().map(|r| r.targets().iter().filter(|&&x| x >= 0).count()).sum();
        let tokens: usize = batch.iter().map(|r| r.real_tokens()).sum();
        let (grads, loss) = batch_gradients(&decoder, &batch, micro, device);
        // One read-back per step (a device sync).
        let loss = loss.into_data().convert::<f64>().to_vec::<f64>().expect("f64")[0];
        if !loss.is_finite() {
            progress.finish_and_clear();
            return Err(train_err(format!("step {step}: the loss is {loss}; stopping (the last good checkpoint is kept)")));
        }
        decoder = optim.step(rate, decoder, grads);
        let seconds = timer.elapsed().as_secs_f64();
        state.step = step;
        state.tokens_seen += tokens;
        state.first_loss.get_or_insert(loss);
        state.last_loss = Some(loss);
        state.history.train.push((step, None, Some(loss)));
        let line = json!({
            "step": step, "lr": rate, "loss": loss, "tokens": tokens, "targets": targets,
            "tokens_per_s": tokens as f64 / seconds.max(1e-9),
        });
        writeln!(metrics, "{line}").map_err(|e| RecBaseError::io(&metrics_path, e))?;
        progress.set_message(format!("loss {loss:.4}"));
        progress.inc(1);
        if step % settings.save_every.max(1) == 0 || step == settings.steps {
            save_checkpoint(run_dir, &decoder, config, &optim, &state).map_err(train_err)?;
            draw(&state.history, run_dir);
        }
        if abort_after == Some(step) {
            std::process::abort();
        }
    }
    progress.finish_and_clear();
    draw(&state.history, run_dir);
    let seconds = began.elapsed().as_secs_f64();
    let outcome = LoopOutcome {
        steps_done: state.step,
        first_loss: state.first_loss,
        last_loss: state.last_loss,
        tokens_seen: state.tokens_seen,
        seconds,
        tokens_per_s: (state.tokens_seen - tokens_before) as f64 / seconds.max(1e-9),
    };
    tracing::info!(steps = state.step - first_step, seconds, "trained");
    Ok((decoder, outcome))
}

fn save_checkpoint<B: AutodiffBackend>(
    run_dir: &Path,
    decoder: &Decoder<B>,
    config: &DecoderConfig,
    optim: &RecBaseOptimizer<B>,
    state: &LoopState,
) -> Result<(), String> {
    write_checkpoint_dir(run_dir, state.step, |tmp| {
        save_hf_checkpoint(&decoder.valid(), config, tmp).map_err(|e| e.to_string())?;
        let bytes = optimizer_bytes::<Decoder<B>, B, _>(optim)?;
        let path = tmp.join(OPTIMIZER_FILE);
        crate::io::write_atomic(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let state = LoopState { param_ids: crate::nn::param_ids::<B, _>(decoder), ..state.clone() };
        write_state(tmp, &state)
    })
}

fn draw(history: &RunHistory, run_dir: &Path) {
    if let Err(e) = history.write_pngs(run_dir) {
        tracing::warn!("drawing loss.png: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::Family;
    use crate::backend::TestBackend;
    use crate::recbase::packing::pack_rows;
    use burn::backend::Autodiff;

    type Ad = Autodiff<TestBackend>;

    #[test]
    fn micro_batches_give_the_one_pass_gradients() {
        let config = DecoderConfig::new(Family::Qwen2, 12, 16, 24, 2, 4, 2, 4).with_qkv_bias(true);
        let device = Default::default();
        let decoder = config.init::<Ad>(&device);
        // 4 rows of 9 tokens, 2 tokens per item, unequal target counts per row.
        let streams = vec![vec![3, 4, 5, 6], vec![7, 8], vec![3, 8, 5, 6, 9, 10, 11, 4], vec![9, 10, 3, 4], vec![5, 6]];
        let rows = pack_rows(&streams, 2, 9).unwrap();
        let batch: Vec<&PackedRow> = rows.iter().collect();
        assert!(batch.len() >= 3);
        let embed = |grads: &GradientsParams| {
            grads.get::<TestBackend, 2>(decoder.model.embed_tokens.weight.id).unwrap().into_data().to_vec::<f32>().unwrap()
        };
        let value = |t: Tensor<TestBackend, 1>| t.into_data().to_vec::<f32>().unwrap()[0];
        let (one, loss_one) = batch_gradients(&decoder, &batch, batch.len(), &device);
        let (micro, loss_micro) = batch_gradients(&decoder, &batch, 1, &device);
        assert!((value(loss_one) - value(loss_micro)).abs() < 1e-5);
        let (a, b) = (embed(&one), embed(&micro));
        let max_diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(max_diff < 1e-6, "max abs diff {max_diff}");
        assert!(a.iter().any(|x| x.abs() > 1e-4), "the gradients are not all zero");
    }
}
