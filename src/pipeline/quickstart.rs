//! The quickstart pipeline: a decoder (a checkpoint, or a tiny random one from a `config.json`
//! in `models/`), greedy and beam generation, and embeddings of a few inputs; with `[train]`,
//! RecFound training in small, then the rest of the paper's loop (RecFound §4.4, §5): the
//! trained adapter evaluated on the data's test split, a TIES merge of the last two checkpoints
//! evaluated too, and a report (Tables 2-3, routing heatmap, sample-ratio plot). It needs no
//! download and runs in seconds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::Backend;
use serde::Serialize;

use super::{PipelineError, write_output};
use crate::backbone::embed::{EmbedInput, embed};
use crate::adapters::{Adapter, load_adapter, save_adapter};
use crate::backbone::{
    AttnMode, BeamConfig, Decoder, DecoderConfig, Lm, ProjectionDelta, Sampler, StopConfig, beam_rows, beam_search, generate,
    load_decoder, save_hf_checkpoint,
};
use crate::config::Recipe;
use crate::eval::{EvalConfig, EvalModel, EvalReport, run_eval};
use crate::merge::{AdapterMergeConfig, MergeMethod, TiesConfig, TrimScope, merge_adapter_dirs};
use crate::recfound::TaskId;
use crate::report::{ReportOptions, RunInput, routing_json, write_report};
use crate::text::{PromptTemplate, TextTokenizer};
use crate::train::checkpoint::{STATE_FILE, latest_checkpoint};

/// Test rows per task the quickstart evaluates at most (the shipped split has 6).
const EVAL_ROWS: usize = 64;

/// What the quickstart did, for the CLI's summary (also written as `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct QuickstartReport {
    pub family: String,
    pub parameters: usize,
    pub source: String,
    pub greedy: Vec<Vec<u32>>,
    pub beam: Vec<Vec<u32>>,
    pub greedy_tokens_per_s: f64,
    pub embedding_dim: usize,
    /// Cosine similarity between every pair of embedded inputs.
    pub embedding_cosine: Vec<Vec<f32>>,
    /// `lora` or `tmole` when the recipe attaches an adapter.
    pub adapter: Option<String>,
    /// The training stage's report, when the recipe has `[train]`.
    pub train: Option<super::recfound::TrainReport>,
    /// The trained adapter on the test split (`train/eval/`).
    pub eval: Option<EvalReport>,
    /// The TIES merge of the last two checkpoints on the test split (`merged/eval/`).
    pub merged_eval: Option<EvalReport>,
    /// Where the report went (`report/`).
    pub report: Option<PathBuf>,
    /// RecBase in small (`recbase/`), when the recipe has `[recbase_quickstart]`.
    pub recbase: Option<super::quickstart_recbase::RecBaseQuickstartReport>,
}

/// Runs the quickstart recipe, writing `recipe.toml`, `generations.jsonl`,
/// `embeddings.safetensors` and `summary.json` into `run_dir`.
pub fn run<B: Backend>(recipe: &Recipe, run_dir: &Path, device: &B::Device) -> Result<QuickstartReport, PipelineError> {
    B::seed(device, recipe.run.seed);
    let resolved = toml::to_string_pretty(recipe)
        .map_err(|e| PipelineError::Serialize { what: "the resolved recipe", message: e.to_string() })?;
    write_output(run_dir.join("recipe.toml"), resolved.as_bytes())?;

    let (decoder, config, source): (Decoder<B>, DecoderConfig, String) = match (&recipe.model.path, &recipe.model.config) {
        (Some(dir), _) => {
            let loaded = load_decoder::<B>(dir, device)?;
            (loaded.decoder, loaded.config, dir.display().to_string())
        }
        (None, Some(file)) => {
            let config = DecoderConfig::from_hf_file(file)?;
            (config.init::<B>(device), config, format!("random init from {}", file.display()))
        }
        (None, None) => unreachable!("Recipe::check requires a model"),
    };
    tracing::info!(family = config.family.name(), parameters = config.num_parameters(), %source, "model ready");

    let mut report = QuickstartReport {
        family: config.family.name().to_string(),
        parameters: config.num_parameters(),
        source,
        greedy: Vec::new(),
        beam: Vec::new(),
        greedy_tokens_per_s: 0.0,
        embedding_dim: 0,
        embedding_cosine: Vec::new(),
        adapter: None,
        train: None,
        eval: None,
        merged_eval: None,
        report: None,
        recbase: None,
    };

    // An adapter, when the recipe asks for one: saved beside the outputs (a fresh one has B = 0,
    // so it leaves the outputs unchanged until trained), with TMoLE's routing of every task.
    let adapter: Option<Adapter<B>> = match &recipe.adapter {
        None => None,
        Some(a) => {
            let adapter = match &a.path {
                Some(dir) => load_adapter(dir, &decoder, device)?,
                None => Adapter::new(a.to_config(), &decoder, false, device)?,
            };
            save_adapter(&adapter, &run_dir.join("adapter"), Some(&report.source))?;
            if adapter.is_tmole() {
                write_routing(&adapter, run_dir)?;
            } else {
                // A LoRA run in a directory a TMoLE run used must not leave its routing behind.
                let _ = std::fs::remove_file(run_dir.join("routing.json"));
            }
            report.adapter = Some(if adapter.is_tmole() { "tmole" } else { "lora" }.to_string());
            Some(adapter)
        }
    };
    let task = recipe.adapter.as_ref().and_then(|a| a.task.as_deref()).map(|t| t.parse::<TaskId>().expect("checked by Recipe::check")).unwrap_or(TaskId::None);
    let bind = |rows: usize| adapter.as_ref().map(|a| a.bind(&vec![task; rows])).transpose();

    if let Some(g) = &recipe.generate {
        let stop = StopConfig {
            max_new_tokens: g.max_new_tokens,
            eos_token_ids: config.eos_token_ids.clone(),
            pad_token_id: config.pad_token_id.unwrap_or(0),
        };
        let start = Instant::now();
        let bound = bind(g.prompts.len())?;
        let lm = Lm::new(&decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
        report.greedy = generate(lm, &g.prompts, &mut Sampler::Greedy, &stop, device)?;
        let new_tokens: usize = report.greedy.iter().map(Vec::len).sum();
        report.greedy_tokens_per_s = new_tokens as f64 / start.elapsed().as_secs_f64().max(1e-9);
        if g.num_beams > 1 {
            let beam = BeamConfig { num_beams: g.num_beams, length_penalty: g.length_penalty, num_return_sequences: 1 };
            let bound = adapter.as_ref().map(|a| a.bind(&beam_rows(&vec![task; g.prompts.len()], g.num_beams))).transpose()?;
            let lm = Lm::new(&decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
            report.beam = beam_search(lm, &g.prompts, &beam, &stop, None, device)?
                .into_iter()
                .map(|h| h.into_iter().next().map(|h| h.ids).unwrap_or_default())
                .collect();
        }
        let mut lines = String::new();
        for (i, prompt) in g.prompts.iter().enumerate() {
            let line = serde_json::json!({
                "prompt": prompt,
                "greedy": report.greedy[i],
                "beam": report.beam.get(i),
            });
            lines.push_str(&format!("{line}\n"));
        }
        write_output(run_dir.join("generations.jsonl"), lines.as_bytes())?;
    }

    if let Some(e) = &recipe.embed {
        let inputs: Vec<EmbedInput> = e.inputs.iter().map(|ids| EmbedInput { ids: ids.clone(), pool_start: e.pool_start }).collect();
        let mode = if e.bidirectional { AttnMode::Bidirectional } else { AttnMode::Causal };
        let bound = bind(inputs.len())?;
        let lm = Lm::new(&decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
        let emb = embed(lm, &inputs, mode, e.normalize, device)?; // [N, D]
        let [n, d] = emb.dims();
        let values: Vec<f32> = emb.into_data().iter::<f32>().collect();
        report.embedding_dim = d;
        report.embedding_cosine = cosine_matrix(&values, n, d);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let serialize_err = |e: safetensors::SafeTensorError| PipelineError::Serialize { what: "embeddings", message: e.to_string() };
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![n, d], &bytes).map_err(serialize_err)?;
        let file = safetensors::serialize([("embeddings", view)], None).map_err(serialize_err)?;
        write_output(run_dir.join("embeddings.safetensors"), &file)?;
    }

    // RecFound training in small: the same model and adapter settings, trained jointly with
    // S2Sched on the recipe's task sample (`train/` in the run directory); then evaluation, a
    // TIES merge and the report.
    if let Some(t) = &recipe.train {
        // A random base lives only in memory: saved, so that training, evaluation and a later
        // `recfound eval --model run/base-model` all see the very same weights.
        let (train_recipe, base_dir) = match &recipe.model.path {
            Some(dir) => (recipe.clone(), dir.clone()),
            None => {
                let base_dir = run_dir.join("base-model");
                save_hf_checkpoint(&decoder, &config, &base_dir)?;
                let from = recipe.model.config.as_ref().and_then(|c| c.parent()).unwrap_or(Path::new("."));
                for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
                    if from.join(name).is_file() {
                        let bytes = std::fs::read(from.join(name)).map_err(|source| PipelineError::Write { path: from.join(name), source })?;
                        write_output(base_dir.join(name), &bytes)?;
                    }
                }
                let mut r = recipe.clone();
                (r.model.path, r.model.config) = (Some(base_dir.clone()), None);
                (r, base_dir)
            }
        };
        let train_dir = run_dir.join("train");
        report.train = Some(super::recfound::run::<burn::backend::Autodiff<B>>(&train_recipe, &train_dir, device, false)?);
        let template: PromptTemplate = t.template.parse().map_err(|e| PipelineError::Train(format!("train.template: {e}")))?;
        let ctx = EvalContext { decoder: &decoder, config: &config, base_dir: &base_dir, data: &t.data, template };
        let (eval, merged) = evaluate_merge_report(&ctx, &train_dir, run_dir, device)?;
        report.eval = Some(eval);
        report.merged_eval = merged;
        report.report = Some(run_dir.join("report"));
    }

    // RecBase in small: item tokenizer, pretraining on two domains, zero-shot on a third.
    if let Some(section) = &recipe.recbase_quickstart {
        report.recbase = Some(super::quickstart_recbase::run::<burn::backend::Autodiff<B>>(section, run_dir, device)?);
    }

    let summary = serde_json::to_string_pretty(&report)
        .map_err(|e| PipelineError::Serialize { what: "the summary", message: e.to_string() })?;
    write_output(run_dir.join("summary.json"), summary.as_bytes())?;
    Ok(report)
}

/// `routing.json` beside an adapter's run: every task's routing on every projection (the layout
/// of `recfound adapter routing`; `recfound report` reads it for the Figure-2 heatmap).
fn write_routing<B: Backend>(adapter: &Adapter<B>, dir: &Path) -> Result<(), PipelineError> {
    let json = routing_json(adapter)?;
    write_output(dir.join("routing.json"), serde_json::to_string_pretty(&json).expect("JSON").as_bytes())
}

/// What evaluating an adapter of the quickstart needs.
struct EvalContext<'a, B: Backend> {
    decoder: &'a Decoder<B>,
    config: &'a DecoderConfig,
    /// The base checkpoint (tokenizer beside it).
    base_dir: &'a Path,
    /// The task folders trained on; their `test.jsonl` is evaluated.
    data: &'a Path,
    template: PromptTemplate,
}

fn stage_err(stage: &str, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Train(format!("quickstart {stage}: {e}"))
}

/// Evaluates `adapter_dir` into `out` from scratch (an earlier quickstart's predictions belong
/// to another adapter, so they are not resumed), and writes its routing beside `out`.
fn evaluate<B: Backend>(ctx: &EvalContext<'_, B>, adapter_dir: &Path, out: &Path, device: &B::Device) -> Result<EvalReport, PipelineError> {
    let tokenizer = TextTokenizer::from_dir(ctx.base_dir).map_err(|e| stage_err("evaluation", e))?;
    let adapter = load_adapter(adapter_dir, ctx.decoder, device)?;
    let mut eos: Vec<u32> = ctx.config.eos_token_ids.iter().chain(tokenizer.stop_token_ids()).copied().collect();
    eos.sort_unstable();
    eos.dedup();
    let pad = ctx.config.pad_token_id.or(eos.first().copied()).unwrap_or(0);
    let model = EvalModel { decoder: ctx.decoder, adapter: Some(&adapter), tokenizer: &tokenizer, eos_token_ids: eos, pad_token_id: pad };
    let settings = EvalConfig { limit: Some(EVAL_ROWS), template: ctx.template, ..EvalConfig::new(ctx.data) };
    let _ = std::fs::remove_dir_all(out);
    let origin = (Some(ctx.base_dir.display().to_string()), Some(adapter_dir.display().to_string()));
    let report = run_eval(&model, &settings, origin, out, device, &mut |_| {}).map_err(|e| stage_err("evaluation", e))?;
    if let Some(dir) = out.parent().filter(|_| adapter.is_tmole()) {
        write_routing(&adapter, dir)?;
    }
    Ok(report)
}

/// The complete checkpoints of a training run, oldest first.
fn checkpoints(train_dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(train_dir.join("checkpoints"))
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(STATE_FILE).is_file()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The trained adapter evaluated (`train/eval/`); the last two checkpoints TIES-merged
/// (RecFound §4.4, density 0.8, λ 1 as the authors) into `merged/adapter/` and evaluated
/// (`merged/eval/`); and the report of both (`report/`).
fn evaluate_merge_report<B: Backend>(
    ctx: &EvalContext<'_, B>,
    train_dir: &Path,
    run_dir: &Path,
    device: &B::Device,
) -> Result<(EvalReport, Option<EvalReport>), PipelineError> {
    let start = Instant::now();
    let eval = evaluate(ctx, &train_dir.join("adapter"), &train_dir.join("eval"), device)?;
    let mut runs = vec![RunInput { label: "trained".into(), dir: train_dir.to_path_buf(), routing: None }];
    let merged_dir = run_dir.join("merged");
    let _ = std::fs::remove_dir_all(&merged_dir);
    let ckpts = checkpoints(train_dir);
    let merged = if ckpts.len() >= 2 {
        let last_two = ckpts[ckpts.len() - 2..].to_vec();
        let ties = TiesConfig { density: 0.8, lambda: 1.0, trim_scope: TrimScope::PerTensor };
        let config = AdapterMergeConfig { method: MergeMethod::Ties, ties };
        merge_adapter_dirs(Some(&train_dir.join("adapter-init")), &last_two, &config, &merged_dir.join("adapter")).map_err(|e| stage_err("merge", e))?;
        tracing::info!(checkpoints = ?last_two, out = %merged_dir.display(), "TIES merge");
        let merged = evaluate(ctx, &merged_dir.join("adapter"), &merged_dir.join("eval"), device)?;
        runs.push(RunInput { label: "ties-merged".into(), dir: merged_dir, routing: None });
        Some(merged)
    } else {
        tracing::warn!(found = ckpts.len(), latest = ?latest_checkpoint(train_dir), "fewer than two checkpoints: no merge (lower train.save_every)");
        None
    };
    let out = run_dir.join("report");
    let summary = write_report(&runs, &ReportOptions::default(), &out).map_err(|e| stage_err("report", e))?;
    tracing::info!(seconds = start.elapsed().as_secs_f64(), report = %out.join("report.md").display(), "evaluated, merged, reported");
    for table in [&summary.generative, &summary.embedding].into_iter().filter(|t| !t.is_empty()) {
        tracing::info!("\n{}", table.to_markdown());
    }
    Ok((eval, merged))
}

/// Cosine similarity of every pair of rows of a row-major `[n, d]` matrix.
fn cosine_matrix(values: &[f32], n: usize, d: usize) -> Vec<Vec<f32>> {
    let row = |i: usize| &values[i * d..(i + 1) * d];
    let norm = |r: &[f32]| r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| row(i).iter().zip(row(j)).map(|(a, b)| a * b).sum::<f32>() / (norm(row(i)) * norm(row(j))))
                .collect()
        })
        .collect()
}
