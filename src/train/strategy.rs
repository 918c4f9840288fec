//! S2Sched inside burn-train. burn-train 0.21 has no per-step callback; its extension point is
//! a custom training strategy (`TrainingStrategy::Custom`), whose `fit` receives the `Learner`
//! (model, optimizer, LR scheduler) with burn-train's event processor and interrupter. This
//! strategy runs the step loop: LR step, forward/backward through the learner, optimizer step,
//! then every `update_interval` steps a validation pass on the fixed per-task samples, one
//! S2Sched update per task type, and new per-task counts written to the shared [`Sampling`] the
//! task-weighted loader reads, so the very next batch follows them.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::data::dataloader::Progress;
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::train::{
    EventProcessorTraining, LearnerEvent, Learner, LearningComponentsMarker, SupervisedLearningStrategy, SupervisedTrainingEventProcessor,
    TrainLoader, TrainingComponents, TrainingItem, ValidLoader,
};
use serde_json::json;

use crate::adapters::save_adapter;
use crate::recfound::TaskId;

use super::batch::{EmbeddingExample, GenerativeExample};
use super::loader::Sampling;
use super::lr::WarmupDecay;
use super::model::RecFoundModel;
use super::checkpoint::{OPTIMIZER_FILE, SharedOptimizer, TrainState, write_checkpoint_dir, write_state};
use super::plots::RunHistory;
use super::s2sched::S2Sched;

/// The learning components this strategy trains.
pub type RecFoundComponents<B> = LearningComponentsMarker<B, WarmupDecay, RecFoundModel<B>, RecFoundOptimizer<B>>;

/// AdamW over the model, with a handle the strategy reads to checkpoint its state.
pub type RecFoundOptimizer<B> = SharedOptimizer<crate::optim::Optimizer<RecFoundModel<B>, B>>;

/// Writes the optimizer's state to a file (set up by the caller, which knows the backend).
pub type SaveOptimizer = Box<dyn Fn(&std::path::Path) -> Result<(), String> + Send + Sync>;

/// The fixed validation sample of every task (paper: 128 rows each).
#[derive(Debug, Default)]
pub struct ValidationSets {
    pub embedding: Vec<(TaskId, Vec<EmbeddingExample>)>,
    pub generative: Vec<(TaskId, Vec<GenerativeExample>)>,
}

/// Step-loop settings.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    pub steps: usize,
    pub embedding_batch: usize,
    pub generative_batch: usize,
    pub update_interval: usize,
    pub save_every: usize,
    /// Rows per forward pass in the validation pass.
    pub validation_chunk: usize,
    pub run_dir: PathBuf,
    pub base_model: String,
    /// Steps already done (a resumed run); 0 for a fresh one.
    pub start_step: usize,
    /// Seeds the backend's RNG (dropout) at every step as `seed + step`, so a resumed run
    /// draws what the uninterrupted one drew.
    pub seed: u64,
}

/// Test hook: `RECFOUND_ABORT_AFTER_STEP=N` aborts the process (as `kill -9` would) right after
/// step N's checkpoint, so crash-and-resume can be tested deterministically.
const ABORT_ENV: &str = "RECFOUND_ABORT_AFTER_STEP";

/// The step after whose checkpoint [`ABORT_ENV`] asks the process to abort (tests only).
pub fn abort_after_step() -> Option<usize> {
    std::env::var(ABORT_ENV).ok().and_then(|v| v.parse().ok())
}

pub use super::progress::step_progress;

/// How the run ended, read by the caller after `launch` returns.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub steps_done: usize,
    pub last_loss: Option<f64>,
    pub first_loss: Option<f64>,
    /// Set when the run had to stop (non-finite loss); the last good checkpoint is kept.
    pub error: Option<String>,
}

/// S2Sched as a burn-train training strategy.
pub struct S2SchedStrategy {
    pub settings: LoopSettings,
    pub embedding_sched: Mutex<S2Sched>,
    pub generative_sched: Mutex<S2Sched>,
    pub sampling: Arc<Mutex<Sampling>>,
    pub validation: ValidationSets,
    pub outcome: Arc<Mutex<Outcome>>,
    /// What `loss.png` and `ratios.png` are drawn from.
    pub history: Mutex<RunHistory>,
    pub save_optimizer: SaveOptimizer,
}

impl S2SchedStrategy {
    /// Mean validation loss of every task on `model` (InfoNCE for embedding tasks, response
    /// cross-entropy per token for generative ones), in the schedulers' task order.
    pub fn validation_losses<B: Backend>(&self, model: &RecFoundModel<B>) -> (Vec<f64>, Vec<f64>) {
        let chunk = self.settings.validation_chunk.max(2);
        let value = |t: burn::tensor::Tensor<B, 1>| t.into_data().convert::<f64>().to_vec::<f64>().expect("f64")[0];
        let emb = self
            .validation
            .embedding
            .iter()
            .map(|(_, rows)| {
                let losses: Vec<f64> = rows.chunks(chunk).filter(|c| c.len() > 1).map(|c| value(model.embedding_loss(c))).collect();
                if losses.is_empty() { f64::NAN } else { losses.iter().sum::<f64>() / losses.len() as f64 }
            })
            .collect();
        let generative = self
            .validation
            .generative
            .iter()
            .map(|(_, rows)| {
                let (mut sum, mut count) = (0.0, 0usize);
                for c in rows.chunks(chunk) {
                    let (s, n) = model.generative_loss_sum(c);
                    sum += value(s);
                    count += n;
                }
                if count == 0 { f64::NAN } else { sum / count as f64 }
            })
            .collect();
        (emb, generative)
    }

    /// One scheduling update: validation losses, S2Sched per task type, new counts published.
    fn update<B: Backend>(&self, step: usize, model: &RecFoundModel<B>, log: &mut impl Write) {
        let (emb_losses, gen_losses) = self.validation_losses(model);
        let mut emb = self.embedding_sched.lock().expect("scheduler lock");
        let mut generative = self.generative_sched.lock().expect("scheduler lock");
        let names = |sets: &[TaskId], values: &[f64]| -> serde_json::Map<String, serde_json::Value> {
            sets.iter().zip(values).map(|(t, v)| (t.name().to_string(), json!(v))).collect()
        };
        let emb_tasks: Vec<TaskId> = self.validation.embedding.iter().map(|(t, _)| *t).collect();
        let gen_tasks: Vec<TaskId> = self.validation.generative.iter().map(|(t, _)| *t).collect();
        let mut val = names(&emb_tasks, &emb_losses);
        val.extend(names(&gen_tasks, &gen_losses));
        let mut line = json!({"step": step, "val_loss": val});
        if !emb_tasks.is_empty() {
            let u = emb.observe(step, &emb_losses).expect("one loss per task");
            line["beta_E"] = json!(u.beta);
        }
        if !gen_tasks.is_empty() {
            let u = generative.observe(step, &gen_losses).expect("one loss per task");
            line["beta_G"] = json!(u.beta);
        }
        let mut omega = names(&emb_tasks, emb.ratios());
        omega.extend(names(&gen_tasks, generative.ratios()));
        line["omega"] = json!(omega);
        let mut sampling = self.sampling.lock().expect("sampling lock");
        if !emb_tasks.is_empty() {
            sampling.embedding_counts = emb.allocation(self.settings.embedding_batch).expect("ratios sum to 1");
        }
        if !gen_tasks.is_empty() {
            sampling.generative_counts = generative.allocation(self.settings.generative_batch).expect("ratios sum to 1");
        }
        let mut n = names(&emb_tasks, &sampling.embedding_counts.iter().map(|&c| c as f64).collect::<Vec<_>>());
        n.extend(names(&gen_tasks, &sampling.generative_counts.iter().map(|&c| c as f64).collect::<Vec<_>>()));
        line["n"] = json!(n);
        let _ = writeln!(log, "{line}");
        let mut history = self.history.lock().expect("history lock");
        let ratios = emb_tasks.iter().zip(emb.ratios()).chain(gen_tasks.iter().zip(generative.ratios()));
        for (task, &r) in ratios {
            history.ratios.entry(task.name().to_string()).or_default().push((step as f64, r));
        }
        let losses = emb_tasks.iter().zip(&emb_losses).chain(gen_tasks.iter().zip(&gen_losses));
        for (task, &l) in losses.filter(|(_, l)| l.is_finite()) {
            history.validation.entry(task.name().to_string()).or_default().push((step as f64, l));
        }
        self.draw(&history);
    }

    /// Writes `checkpoints/step-N/` whole or not at all (`state.json` last).
    fn save_checkpoint<B: Backend>(&self, step: usize, adapter: &crate::adapters::Adapter<B>) -> Result<(), String> {
        let s = &self.settings;
        write_checkpoint_dir(&s.run_dir, step, |tmp| {
            save_adapter(adapter, tmp, Some(&s.base_model)).map_err(|e| e.to_string())?;
            (self.save_optimizer)(&tmp.join(OPTIMIZER_FILE))?;
            let sampling = self.sampling.lock().expect("sampling lock");
            let outcome = self.outcome.lock().expect("outcome lock");
            let state = TrainState {
                step,
                param_ids: crate::nn::param_ids::<B, _>(adapter),
                embedding_sched: self.embedding_sched.lock().expect("scheduler lock").clone(),
                generative_sched: self.generative_sched.lock().expect("scheduler lock").clone(),
                embedding_counts: sampling.embedding_counts.clone(),
                generative_counts: sampling.generative_counts.clone(),
                embedding_pools: sampling.embedding_pools.clone(),
                generative_pools: sampling.generative_pools.clone(),
                first_loss: outcome.first_loss,
                last_loss: outcome.last_loss,
                history: self.history.lock().expect("history lock").clone(),
            };
            write_state(tmp, &state)
        })
    }

    fn draw(&self, history: &RunHistory) {
        if let Err(e) = history.write_pngs(&self.settings.run_dir) {
            tracing::warn!("drawing the run's plots: {e}");
        }
    }
}

impl<B: AutodiffBackend> SupervisedLearningStrategy<RecFoundComponents<B>> for S2SchedStrategy {
    fn fit(
        &self,
        training_components: TrainingComponents<RecFoundComponents<B>>,
        mut learner: Learner<RecFoundComponents<B>>,
        dataloader_train: TrainLoader<RecFoundComponents<B>>,
        _dataloader_valid: ValidLoader<RecFoundComponents<B>>,
        _starting_epoch: usize,
    ) -> (RecFoundModel<B>, SupervisedTrainingEventProcessor<RecFoundComponents<B>>) {
        let mut events = training_components.event_processor;
        let interrupter = training_components.interrupter;
        let s = &self.settings;
        let open = |name: &str| {
            std::fs::OpenOptions::new().create(true).append(true).open(s.run_dir.join(name)).expect("the run directory is writable")
        };
        let (mut metrics, mut schedule) = (open("metrics.jsonl"), open("schedule.jsonl"));
        let progress = step_progress(s.steps);
        // Ratios from the first validation pass (S2Sched keeps them uniform during its warmup);
        // a resumed run restored them with the rest of its state.
        if s.start_step == 0 {
            self.update(0, &learner.model().valid(), &mut schedule);
        }
        progress.set_position(s.start_step as u64);
        let abort_after = abort_after_step();
        let device = learner.model().decoder.model.embed_tokens.weight.device();
        let global = Progress { items_processed: 1, items_total: 1 };
        let mut batches = dataloader_train.iter();
        let mut step = s.start_step;
        while let Some(batch) = batches.next() {
            step += 1;
            B::seed(&device, s.seed.wrapping_add(step as u64));
            let start = Instant::now();
            learner.lr_step();
            let tokens: usize = batch.generative.iter().map(|e| e.encoding.ids.len()).sum::<usize>()
                + batch.embedding.iter().map(|e| e.query.ids.len() + e.docs.iter().map(|d| d.ids.len()).sum::<usize>()).sum::<usize>();
            let tasks: Vec<String> = batch.embedding.iter().map(|e| e.task.name().to_string()).chain(batch.generative.iter().map(|e| e.task.name().to_string())).collect();
            let out = learner.train_step(batch);
            let loss = out.item.loss.clone().into_data().convert::<f64>().to_vec::<f64>().expect("f64")[0];
            if !loss.is_finite() {
                let message = format!("step {step}: the loss is {loss}; stopping (the last good adapter checkpoint is kept)");
                self.outcome.lock().expect("outcome lock").error = Some(message.clone());
                interrupter.stop(Some(&message));
                break;
            }
            learner.optimizer_step(out.grads);
            let seconds = start.elapsed().as_secs_f64();
            let line = json!({
                "step": step, "lr": learner.lr_current(), "loss": loss,
                "embedding_loss": out.item.embedding_loss, "generative_loss": out.item.generative_loss,
                "tokens": tokens, "tokens_per_s": tokens as f64 / seconds.max(1e-9), "tasks": tasks,
            });
            let _ = writeln!(metrics, "{line}");
            self.history.lock().expect("history lock").train.push((step, out.item.embedding_loss, out.item.generative_loss));
            {
                let mut outcome = self.outcome.lock().expect("outcome lock");
                outcome.steps_done = step;
                outcome.first_loss.get_or_insert(loss);
                outcome.last_loss = Some(loss);
            }
            let item = TrainingItem::new(out.item, batches.progress(), global.clone(), Some(step), Some(learner.lr_current()));
            events.process_train(LearnerEvent::ProcessedItem(item));
            progress.set_message(format!("loss {loss:.4}"));
            progress.inc(1);
            if step % s.update_interval.max(1) == 0 && step < s.steps {
                self.update(step, &learner.model().valid(), &mut schedule);
            }
            if step % s.save_every.max(1) == 0 || step == s.steps {
                if let Err(e) = self.save_checkpoint(step, &learner.model().adapter) {
                    tracing::warn!("checkpoint at step {step}: {e}");
                }
            }
            if abort_after == Some(step) {
                std::process::abort();
            }
            if interrupter.should_stop() {
                break;
            }
        }
        progress.finish_and_clear();
        self.draw(&self.history.lock().expect("history lock"));
        events.process_train(LearnerEvent::EndEpoch(1));
        (learner.model(), events)
    }
}

/// burn-train's renderer slot filled with nothing: the strategy draws its own progress bar
/// (steps, ETA, loss) and writes every number to `metrics.jsonl` / `schedule.jsonl`, so
/// burn-train's CLI renderer (which prints each item's debug form) is not wanted.
pub struct QuietRenderer;

impl burn::train::renderer::MetricsRendererTraining for QuietRenderer {
    fn update_train(&mut self, _state: burn::train::renderer::MetricState) {}
    fn update_valid(&mut self, _state: burn::train::renderer::MetricState) {}
    fn render_train(&mut self, _item: burn::train::renderer::TrainingProgress, _p: Vec<burn::train::renderer::ProgressType>) {}
    fn render_valid(&mut self, _item: burn::train::renderer::TrainingProgress, _p: Vec<burn::train::renderer::ProgressType>) {}
}

impl burn::train::renderer::MetricsRendererEvaluation for QuietRenderer {
    fn update_test(&mut self, _name: burn::train::renderer::EvaluationName, _state: burn::train::renderer::MetricState) {}
    fn render_test(&mut self, _item: burn::train::renderer::EvaluationProgress, _p: Vec<burn::train::renderer::ProgressType>) {}
}

impl burn::train::renderer::MetricsRenderer for QuietRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _definition: burn::train::metric::MetricDefinition) {}
}
