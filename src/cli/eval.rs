//! `recfound eval`: the RecFound test splits through a model (+ adapter), predictions saved per
//! row, metrics from the saved predictions; or, with `--predictions`, the metrics alone again.
//! Contract: `--model DIR [--adapter DIR] --data DIR --out DIR [--split test] [--limit N]
//! [--batch-size N] [--max-new-tokens N] [--template NAME] [--backend NAME]`, and
//! `--predictions DIR [--out DIR]`; either with `--bertscore-model DIR [--bertscore-layer N]
//! [--bertscore-idf]` adds BERTScore-F1 to the free-text tasks.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::backend::Backend;
use recfound::adapters::load_adapter;
use recfound::backbone::{generation_eos_ids, load_decoder};
use recfound::backend::BackendKind;
use recfound::eval::{BertScoreConfig, BertScorer, EvalConfig, EvalEvent, EvalModel, EvalReport, add_bertscore, rescore, run_eval};
use recfound::text::{PromptTemplate, TextTokenizer};
use recfound::with_backend;

use super::inputs::batch_progress;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// HF checkpoint directory (config.json + weights; tokenizer.json unless --tokenizer).
    #[arg(long, required_unless_present = "predictions")]
    pub model: Option<PathBuf>,
    /// A LoRA (PEFT) or TMoLE adapter directory; each row is routed by its own task.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Task folders `<task>/<split>.jsonl` (the `recfound data build-recfound` output).
    #[arg(long, required_unless_present = "predictions")]
    pub data: Option<PathBuf>,
    /// Output directory: predictions/<task>.jsonl, metrics.json, metrics.md, eval.json.
    /// Re-running into the same directory resumes (rows already predicted are skipped).
    #[arg(long, required_unless_present = "predictions")]
    pub out: Option<PathBuf>,
    /// Recompute the metrics of an earlier run from its saved predictions only (no model);
    /// writes metrics.json and metrics.md into that directory, or into --out.
    #[arg(long, conflicts_with_all = ["model", "adapter", "data"])]
    pub predictions: Option<PathBuf>,
    #[arg(long, default_value = "test")]
    pub split: String,
    /// At most this many rows per task (the first ones).
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// One generation budget for every task instead of the per-task defaults (see the book).
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// Prompt wrapper: gritlm (RecFound's training format), raw, mistral, chatml, recfound.
    #[arg(long, default_value = "gritlm")]
    pub template: String,
    /// Candidates per embedding query: 1 positive + (n - 1) negatives.
    #[arg(long, default_value_t = 20)]
    pub num_candidates: usize,
    /// Seed of the filler negatives drawn for embedding queries.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// tokenizer.json to use when the model directory has none.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Backend: ndarray, flex, wgpu or cuda (default: a GPU when compiled in, else flex).
    #[arg(long, value_parser = super::parse_backend)]
    pub backend: Option<BackendKind>,
    /// A checkpoint (with tokenizer.json) whose hidden states score the free-text tasks (QR,
    /// AG, UP, IP) with BERTScore beside token F1. The paper used an encoder (roberta/longformer);
    /// a decoder here, so compare runs with each other, not with the paper.
    #[arg(long)]
    pub bertscore_model: Option<PathBuf>,
    /// The hidden layer BERTScore reads (default: 17/24 of the depth, as roberta-large's 17).
    #[arg(long, requires = "bertscore_model")]
    pub bertscore_layer: Option<usize>,
    /// Weigh tokens by idf over the references (bert_score's idf=True; off by default).
    #[arg(long, requires = "bertscore_model")]
    pub bertscore_idf: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.predictions {
        let out = args.out.as_ref().unwrap_or(dir);
        let mut report = rescore(dir, out).with_context(|| format!("rescoring {}", dir.display()))?;
        if args.bertscore_model.is_some() {
            let backend = args.backend.unwrap_or_else(BackendKind::default_compiled);
            report = with_backend!(backend, |B, device| with_bertscore::<B>(&args, dir, out, report, &device))?;
        }
        print_report(&report);
        eprintln!("eval: metrics from saved predictions written to {}", out.join("metrics.json").display());
        return Ok(());
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.num_candidates < 2 {
        bail!("--num-candidates must be at least 2 (a positive and a negative)");
    }
    if args.max_new_tokens == Some(0) {
        bail!("--max-new-tokens must be at least 1");
    }
    let template: PromptTemplate = args.template.parse().context("--template")?;
    let backend = args.backend.unwrap_or_else(BackendKind::default_compiled);
    with_backend!(backend, |B, device| run_on::<B>(&args, template, &device))
}

fn run_on<B: Backend>(args: &EvalArgs, template: PromptTemplate, device: &B::Device) -> anyhow::Result<()> {
    let (Some(model_dir), Some(data), Some(out)) = (&args.model, &args.data, &args.out) else {
        bail!("--model, --data and --out are required (or --predictions DIR to rescore)");
    };
    let tokenizer = match &args.tokenizer {
        Some(file) => TextTokenizer::from_file(file).with_context(|| format!("loading {}", file.display()))?,
        None => TextTokenizer::from_dir(model_dir)
            .with_context(|| format!("loading the tokenizer of {} (or pass --tokenizer FILE)", model_dir.display()))?,
    };
    let loaded = load_decoder::<B>(model_dir, device).with_context(|| format!("loading {}", model_dir.display()))?;
    let adapter = args
        .adapter
        .as_ref()
        .map(|dir| load_adapter(dir, &loaded.decoder, device).with_context(|| format!("loading the adapter {}", dir.display())))
        .transpose()?;
    let config = &loaded.config;
    let mut eos: Vec<u32> = config.eos_token_ids.clone();
    eos.extend(generation_eos_ids(model_dir)?);
    eos.extend(tokenizer.stop_token_ids());
    eos.sort_unstable();
    eos.dedup();
    let pad = config.pad_token_id.or(config.eos_token_ids.first().copied()).unwrap_or(0);
    let model = EvalModel { decoder: &loaded.decoder, adapter: adapter.as_ref(), tokenizer: &tokenizer, eos_token_ids: eos, pad_token_id: pad };
    let eval = EvalConfig {
        data: data.clone(),
        split: args.split.clone(),
        limit: args.limit,
        batch_size: args.batch_size,
        template,
        max_new_tokens: args.max_new_tokens,
        num_candidates: args.num_candidates,
        seed: args.seed,
    };
    let origin = (Some(model_dir.display().to_string()), args.adapter.as_ref().map(|a| a.display().to_string()));
    let start = Instant::now();
    let mut bar = indicatif::ProgressBar::hidden();
    let mut planned = (0, 0);
    let report = run_eval(&model, &eval, origin, out, device, &mut |event| match event {
        EvalEvent::Planned { batches, rows, resumed } => {
            bar = batch_progress(batches, "eval");
            planned = (rows, resumed);
        }
        EvalEvent::Batch => bar.inc(1),
    })
    .with_context(|| format!("evaluating {} on {}", model_dir.display(), data.display()))?;
    bar.finish_and_clear();
    let report = if args.bertscore_model.is_some() { with_bertscore::<B>(args, out, out, report, device)? } else { report };
    print_report(&report);
    eprintln!(
        "eval: {}",
        serde_json::json!({
            "rows_predicted": planned.0,
            "rows_resumed": planned.1,
            "seconds": start.elapsed().as_secs_f64(),
            "backend": args.backend.unwrap_or_else(BackendKind::default_compiled).name(),
            "out": out.display().to_string(),
        })
    );
    Ok(())
}

/// Adds BERTScore of the predictions in `dir` with `--bertscore-model` and rewrites the metrics
/// into `out`.
fn with_bertscore<B: Backend>(args: &EvalArgs, dir: &std::path::Path, out: &std::path::Path, mut report: EvalReport, device: &B::Device) -> anyhow::Result<EvalReport> {
    let Some(model_dir) = &args.bertscore_model else { return Ok(report) };
    let tokenizer = TextTokenizer::from_dir(model_dir).with_context(|| format!("loading the tokenizer of {}", model_dir.display()))?;
    let loaded = load_decoder::<B>(model_dir, device).with_context(|| format!("loading {}", model_dir.display()))?;
    let config = BertScoreConfig { layer: args.bertscore_layer, idf: args.bertscore_idf, batch_size: args.batch_size, ..Default::default() };
    let scorer = BertScorer::new(&loaded.decoder, &tokenizer, loaded.config.bos_token_id, config).context("--bertscore-layer")?;
    let start = Instant::now();
    add_bertscore(&mut report, dir, &scorer, device).with_context(|| format!("BERTScore of {}", dir.display()))?;
    report.write(out).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("eval: BERTScore with {} layer {} in {:.1} s", model_dir.display(), scorer.layer, start.elapsed().as_secs_f64());
    Ok(report)
}

fn print_report(report: &EvalReport) {
    print!("{}", report.to_markdown());
}
