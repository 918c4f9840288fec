//! `recfound recipe FILE.toml [--out RUN_DIR | --resume RUN_DIR] [--set key=value ...] [--no-tui]`: runs a recipe. The run
//! directory defaults to `runs/<recipe file stem>/`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::backend::Backend;
use recfound::config::{Recipe, RunKind, load_recipe};
use recfound::backend::BackendKind;
use recfound::pipeline::{quickstart, recbase as recbase_run, recfound as recfound_run};
use recfound::with_backend;

#[derive(clap::Args, Debug)]
pub struct RecipeArgs {
    /// The recipe (TOML).
    pub file: PathBuf,
    /// Run directory (default: runs/<recipe file stem>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a recipe key, e.g. --set generate.max_new_tokens=32 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Backend: ndarray, flex, wgpu or cuda (default: a GPU when compiled in, else flex).
    #[arg(long, value_parser = super::parse_backend)]
    pub backend: Option<BackendKind>,
    /// Continue a training run from its newest complete checkpoint (the run directory).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Log one line per training step instead of drawing a progress bar (CI logs, files).
    #[arg(long)]
    pub no_tui: bool,
}

pub fn run(args: RecipeArgs) -> anyhow::Result<()> {
    let recipe = load_recipe(&args.file, &args.sets)?;
    recfound::train::progress::set_log_lines(args.no_tui);
    let stem = args.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
    let run_dir = args.resume.clone().or_else(|| args.out.clone()).unwrap_or_else(|| PathBuf::from("runs").join(stem));
    let resume = args.resume.is_some();
    if resume && recipe.run.kind == RunKind::Quickstart {
        anyhow::bail!("--resume applies to training recipes (kind = \"recfound\" or \"recbase\")");
    }
    let backend = args.backend.unwrap_or_else(BackendKind::default_compiled);
    eprintln!("recipe {} ({:?}) on {backend}, run directory {}", args.file.display(), recipe.run.kind, run_dir.display());
    with_backend!(backend, |B, device| run_on::<B>(&recipe, &run_dir, &device, resume))
}

fn run_on<B: Backend>(recipe: &Recipe, run_dir: &std::path::Path, device: &B::Device, resume: bool) -> anyhow::Result<()> {
    let start = Instant::now();
    match recipe.run.kind {
        RunKind::Quickstart => {
            let r = quickstart::run::<B>(recipe, run_dir, device).context("quickstart")?;
            println!("model       {} ({} parameters), {}", r.family, r.parameters, r.source);
            for (i, ids) in r.greedy.iter().enumerate() {
                println!("greedy[{i}]   {ids:?}");
            }
            for (i, ids) in r.beam.iter().enumerate() {
                println!("beam[{i}]     {ids:?}");
            }
            if !r.greedy.is_empty() {
                println!("speed       {:.0} new tokens/s (greedy, batched)", r.greedy_tokens_per_s);
            }
            if r.embedding_dim > 0 {
                println!("embeddings  {} x {} (cosine similarities below)", r.embedding_cosine.len(), r.embedding_dim);
                for row in &r.embedding_cosine {
                    println!("            {}", row.iter().map(|c| format!("{c:+.3}")).collect::<Vec<_>>().join(" "));
                }
            }
            if let Some(t) = &r.train {
                print_training(t);
            }
            if let Some(rb) = &r.recbase {
                println!("recbase     pretrained on the recipe's domains, then zero-shot on {}", rb.zero_shot_domain);
                print_pretraining(&rb.pretrain);
                print_zero_shot(rb);
            }
        }
        RunKind::Recfound => {
            let r = recfound_run::run::<burn::backend::Autodiff<B>>(recipe, run_dir, device, resume).context("recfound training")?;
            print_training(&r);
        }
        RunKind::Recbase => {
            let r = recbase_run::run::<burn::backend::Autodiff<B>>(recipe, run_dir, device, resume).context("recbase pretraining")?;
            print_pretraining(&r);
        }
    }
    println!("done in {:.1}s; outputs in {}", start.elapsed().as_secs_f64(), run_dir.display());
    Ok(())
}

fn print_pretraining(r: &recbase_run::RecBaseReport) {
    for d in &r.domains {
        println!("domain      {}: {} users kept ({} too short, {} truncated), {} rows, {:.0}% filled", d.name, d.filter.users_kept, d.filter.dropped_short, d.filter.truncated, d.rows, 100.0 * d.fill);
    }
    println!("model       {} parameters, vocabulary {} ({} levels)", r.parameters, r.vocab_size, r.levels);
    println!("trained     {} steps, {} tokens, {:.0} tokens/s, {:.1}s", r.steps, r.tokens_seen, r.tokens_per_s, r.seconds);
    if let (Some(first), Some(last)) = (r.first_loss, r.last_loss) {
        println!("loss        {first:.4} (first step) -> {last:.4} (last step)");
    }
}

fn print_zero_shot(r: &recfound::pipeline::quickstart_recbase::RecBaseQuickstartReport) {
    println!("zero-shot   {} rows, {} candidates (RecBench-style: next item + 19 sampled negatives)", r.rows, r.candidates);
    let m = &r.metrics;
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.4}"));
    println!("            {:<16} {:>7} {:>7} {:>8} {:>7}", "method", "AUC", "GAUC", "NDCG@10", "MRR");
    for (name, x) in [("recbase", &m.recbase), ("random", &m.random), ("popularity", &m.popularity), ("text similarity", &m.text_similarity)] {
        println!("            {:<16} {:>7} {:>7} {:>8} {:>7}", name, fmt(x.auc), fmt(x.gauc), format!("{:.4}", x.ndcg_at_10), format!("{:.4}", x.mrr));
    }
}

fn print_training(r: &recfound_run::TrainReport) {
    println!("tasks       embedding {:?}, generative {:?}", r.embedding_tasks, r.generative_tasks);
    println!("trained     {} steps, {} adapter parameters, {:.1}s", r.steps, r.trainable_parameters, r.seconds);
    if let (Some(first), Some(last)) = (r.first_loss, r.last_loss) {
        println!("loss        {first:.4} (first step) -> {last:.4} (last step)");
    }
}
