//! The RecFound training run (`[run] kind = "recfound"`): a frozen base from a local checkpoint,
//! a fresh (or loaded) TMoLE/LoRA adapter, the tasks of a RecFound dataset folder, AdamW with
//! warmup + decay, and S2Sched steering the task mix, all driven by burn-train through
//! [`S2SchedStrategy`]. Writes into the run directory: `recipe.toml`, `adapter-init/` (the
//! state training started from, TIES's `theta_init`), `metrics.jsonl` (per step),
//! `schedule.jsonl` (per S2Sched update: validation losses, beta, omega, n), `checkpoints/`,
//! `adapter/` (the final adapter) and `summary.json`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::module::Module;
use burn::optim::Optimizer;
use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{Learner, SupervisedTraining, TrainingStrategy};
use serde::Serialize;

use super::{PipelineError, write_output};
use crate::adapters::{Adapter, load_adapter, save_adapter};
use crate::backbone::{DecoderConfig, load_decoder};
use crate::config::Recipe;
use crate::config::BaseDtype;
use crate::recfound::TaskId;
use crate::text::{PromptTemplate, TextTokenizer};
use crate::train::data::{PrepareSettings, prepare};
use crate::train::loader::{Sampling, TaskWeightedLoader};
use crate::train::lr::WarmupDecay;
use crate::train::checkpoint::{OPTIMIZER_FILE, SharedOptimizer, TrainState, optimizer_bytes, read_optimizer_record, read_state, resume_point, start_fresh, truncate_log};
use crate::train::plots::RunHistory;
use crate::train::strategy::{LoopSettings, Outcome, QuietRenderer, RecFoundOptimizer, S2SchedStrategy, SaveOptimizer};
use crate::train::{RecFoundModel, S2Sched, S2SchedConfig, TaskPools};

/// What the run did (also `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub steps: usize,
    pub embedding_tasks: Vec<String>,
    pub generative_tasks: Vec<String>,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub trainable_parameters: usize,
    pub skipped_rows: usize,
    pub seconds: f64,
}

fn invalid(message: impl Into<String>) -> PipelineError {
    PipelineError::Train(message.into())
}

/// The dtype `[train] base_dtype` asks for on this backend: `auto` is bf16 where the backend
/// computes in it (GPUs) and f32 on the CPU backends; bf16 where the backend has none is an
/// error naming the key.
fn base_dtype<B: AutodiffBackend>(choice: BaseDtype, device: &B::Device) -> Result<DType, PipelineError> {
    let bf16 = B::supports_dtype(device, DType::BF16);
    match choice {
        BaseDtype::F32 => Ok(DType::F32),
        BaseDtype::Auto => Ok(if bf16 && !crate::backend::is_cpu::<B>() { DType::BF16 } else { DType::F32 }),
        BaseDtype::Bf16 if bf16 => Ok(DType::BF16),
        BaseDtype::Bf16 => Err(invalid(format!("train.base_dtype = \"bf16\": the {} backend has no bf16 (use \"f32\" or \"auto\")", B::name(device)))),
    }
}

/// Trains per the recipe into `run_dir`; with `resume`, continues from the run's newest complete
/// checkpoint exactly where it stopped.
pub fn run<B: AutodiffBackend>(recipe: &Recipe, run_dir: &Path, device: &B::Device, resume: bool) -> Result<TrainReport, PipelineError> {
    let t = recipe.train.as_ref().ok_or_else(|| invalid("a `recfound` run needs [train]"))?;
    let sched = recipe.s2sched.clone().unwrap_or_default();
    let base_dtype = base_dtype::<B>(t.base_dtype, device)?;
    B::seed(device, recipe.run.seed);
    let resolved = toml::to_string_pretty(recipe).map_err(|e| PipelineError::Serialize { what: "the resolved recipe", message: e.to_string() })?;
    let resumed: Option<(std::path::PathBuf, TrainState)> = if resume {
        let dir = resume_point(run_dir, &resolved).map_err(invalid)?;
        let state: TrainState = read_state(&dir).map_err(invalid)?;
        // The logs keep what the checkpoint covers; the steps after it are redone.
        for name in ["metrics.jsonl", "schedule.jsonl"] {
            truncate_log(&run_dir.join(name), state.step).map_err(|e| invalid(format!("{name}: {e}")))?;
        }
        tracing::info!(step = state.step, dir = %dir.display(), "resuming");
        Some((dir, state))
    } else {
        start_fresh(run_dir, &resolved, &["metrics.jsonl", "schedule.jsonl"]).map_err(invalid)?;
        None
    };

    // A checkpoint, or a config.json to initialise randomly (the quickstart's tiny model); the
    // tokenizer sits beside either.
    let model_dir = match (&recipe.model.path, &recipe.model.config) {
        (Some(dir), _) => dir.clone(),
        (None, Some(config)) => config.parent().map(Path::to_path_buf).unwrap_or_default(),
        (None, None) => return Err(invalid("a model is needed")),
    };
    let model_dir = &model_dir;
    let tok = TextTokenizer::from_dir(model_dir).map_err(|e| invalid(format!("{}: {e}", model_dir.display())))?;
    let template: PromptTemplate = t.template.parse().map_err(|e| invalid(format!("train.template: {e}")))?;
    let tasks = t.tasks.iter().map(|n| n.parse::<TaskId>()).collect::<Result<Vec<_>, _>>().map_err(|e| invalid(format!("train.tasks: {e}")))?;
    let settings = PrepareSettings {
        template,
        group_size: t.group_size,
        max_len: t.max_len,
        max_rows: t.max_rows_per_task,
        validation_samples: sched.validation_samples,
    };
    let data = prepare(&t.data, &tasks, &tok, &settings).map_err(|e| invalid(e.to_string()))?;
    if data.skipped > 0 {
        tracing::warn!(skipped = data.skipped, "generative rows whose prompt fills max_len were skipped");
    }
    tracing::info!(embedding = ?data.embedding_tasks, generative = ?data.generative_tasks, "tasks");
    if t.embedding_batch > 0 && data.embedding_tasks.is_empty() && t.generative_batch == 0 {
        return Err(invalid("train.embedding_batch > 0 but the data has no embedding task"));
    }

    let decoder = match (&recipe.model.path, &recipe.model.config) {
        (Some(dir), _) => load_decoder::<B>(dir, device)?.decoder,
        (None, Some(file)) => DecoderConfig::from_hf_file(file)?.init::<B>(device),
        (None, None) => unreachable!("checked above"),
    }
    .no_grad();
    let decoder = if base_dtype == DType::F32 { decoder } else { decoder.with_base_dtype(base_dtype) };
    tracing::info!(dtype = ?base_dtype, "frozen base");
    let adapter_section = recipe.adapter.clone().unwrap_or_else(|| toml::from_str("").expect("defaults"));
    let base_name = model_dir.display().to_string();
    let adapter = match (&resumed, &adapter_section.path) {
        (Some((dir, state)), _) => {
            let adapter = load_adapter(dir, &decoder, device)?;
            crate::nn::set_param_ids::<B, _>(adapter, &state.param_ids).ok_or_else(|| invalid(format!("{}: parameter ids do not match the adapter", dir.display())))?
        }
        (None, Some(dir)) => load_adapter(dir, &decoder, device)?,
        (None, None) => Adapter::new(adapter_section.to_config(), &decoder, false, device)?,
    };
    if resumed.is_none() {
        save_adapter(&adapter, &run_dir.join("adapter-init"), Some(&base_name))?;
    }
    let trainable = adapter.num_params();
    let model = RecFoundModel { decoder, adapter, temperature: t.temperature, micro_batch: t.micro_batch, seed: recipe.run.seed };

    // Per-type batch sizes apply only where the data has tasks of that type.
    let embedding_batch = if data.embedding_tasks.is_empty() { 0 } else { t.embedding_batch };
    let generative_batch = if data.generative_tasks.is_empty() { 0 } else { t.generative_batch };
    let warmup = crate::train::s2sched::warmup_steps(sched.warmup_ratio, t.steps).map_err(|e| invalid(e.to_string()))?;
    let sched_config = S2SchedConfig { mode: sched.mode, warmup_steps: warmup, window: sched.window, tau: sched.tau };
    let emb_sizes: Vec<usize> = data.examples.embedding.iter().map(Vec::len).collect();
    let gen_sizes: Vec<usize> = data.examples.generative.iter().map(Vec::len).collect();
    let (emb_sched, gen_sched, sampling, start_step, outcome, history) = match &resumed {
        Some((_, st)) => (
            st.embedding_sched.clone(),
            st.generative_sched.clone(),
            Sampling {
                embedding_counts: st.embedding_counts.clone(),
                generative_counts: st.generative_counts.clone(),
                embedding_pools: st.embedding_pools.clone(),
                generative_pools: st.generative_pools.clone(),
            },
            st.step,
            Outcome { steps_done: st.step, first_loss: st.first_loss, last_loss: st.last_loss, error: None },
            st.history.clone(),
        ),
        None => {
            let emb_sched = S2Sched::new(sched_config.clone(), &emb_sizes).map_err(|e| invalid(e.to_string()))?;
            let gen_sched = S2Sched::new(sched_config, &gen_sizes).map_err(|e| invalid(e.to_string()))?;
            let sampling = Sampling {
                embedding_counts: emb_sched.allocation(embedding_batch).map_err(|e| invalid(e.to_string()))?,
                generative_counts: gen_sched.allocation(generative_batch).map_err(|e| invalid(e.to_string()))?,
                embedding_pools: TaskPools::new(&emb_sizes, recipe.run.seed),
                generative_pools: TaskPools::new(&gen_sizes, recipe.run.seed.wrapping_add(1)),
            };
            (emb_sched, gen_sched, sampling, 0, Outcome::default(), RunHistory::default())
        }
    };
    if start_step >= t.steps {
        return Err(invalid(format!("the run already finished its {} steps", t.steps)));
    }
    let sampling = Arc::new(Mutex::new(sampling));
    let examples = Arc::new(data.examples);
    let outcome = Arc::new(Mutex::new(outcome));
    let mut optim = SharedOptimizer { inner: Arc::new(Mutex::new(crate::optim::AdamWSettings::default().with_weight_decay(t.weight_decay as f32).init::<B, RecFoundModel<B>>())) };
    if let Some((dir, _)) = &resumed {
        let record = read_optimizer_record::<RecFoundModel<B>, B, RecFoundOptimizer<B>>(&dir.join(OPTIMIZER_FILE), device).map_err(invalid)?;
        optim = optim.load_record(record);
    }
    let handle = optim.clone();
    let save_optimizer: SaveOptimizer = Box::new(move |path| {
        let bytes = optimizer_bytes::<RecFoundModel<B>, B, _>(&handle)?;
        crate::io::write_atomic(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
    });
    let strategy = S2SchedStrategy {
        settings: LoopSettings {
            steps: t.steps,
            embedding_batch,
            generative_batch,
            update_interval: sched.update_interval,
            save_every: t.save_every,
            validation_chunk: 16,
            run_dir: run_dir.to_path_buf(),
            base_model: base_name.clone(),
            start_step,
            seed: recipe.run.seed,
        },
        embedding_sched: Mutex::new(emb_sched),
        generative_sched: Mutex::new(gen_sched),
        sampling: sampling.clone(),
        validation: data.validation,
        outcome: outcome.clone(),
        history: Mutex::new(history),
        save_optimizer,
    };

    let train_loader = Arc::new(TaskWeightedLoader::<B>::new(examples.clone(), sampling.clone(), t.steps - start_step));
    let valid_loader = Arc::new(TaskWeightedLoader::<B::InnerBackend>::new(examples, sampling, 0));
    let warmup_steps = (t.warmup_ratio * t.steps as f64).ceil() as usize;
    let lr = WarmupDecay { lr: t.lr, min_lr: t.min_lr, warmup_steps, total_steps: t.steps, decay: t.decay, step: start_step };
    let learner = Learner::new(model, optim, lr);
    let start = Instant::now();
    let result = SupervisedTraining::new(run_dir, train_loader, valid_loader)
        .with_training_strategy(TrainingStrategy::Custom(Arc::new(strategy)))
        .with_application_logger(None)
        .renderer(QuietRenderer)
        .launch(learner);
    let trained: RecFoundModel<B::InnerBackend> = result.model;
    let outcome = outcome.lock().expect("outcome lock").clone();
    if let Some(error) = outcome.error {
        return Err(invalid(error));
    }
    save_adapter(&trained.adapter, &run_dir.join("adapter"), Some(&base_name))?;
    let report = TrainReport {
        steps: outcome.steps_done,
        embedding_tasks: data.embedding_tasks.iter().map(|t| t.name().to_string()).collect(),
        generative_tasks: data.generative_tasks.iter().map(|t| t.name().to_string()).collect(),
        first_loss: outcome.first_loss,
        last_loss: outcome.last_loss,
        trainable_parameters: trainable,
        skipped_rows: data.skipped,
        seconds: start.elapsed().as_secs_f64(),
    };
    let summary = serde_json::to_string_pretty(&report).map_err(|e| PipelineError::Serialize { what: "the summary", message: e.to_string() })?;
    write_output(run_dir.join("summary.json"), summary.as_bytes())?;
    Ok(report)
}
