//! `recfound report`: the paper's Tables 2-3 (average rank included), the Figure-2 routing
//! heatmap and the Figure-3 sample-ratio plot over run directories.
//! Contract: `recfound report RUN_DIR... --out DIR [--label NAME]... [--free-text
//! token-f1|bertscore] [--model PATH] [--backend NAME]`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::backend::Backend;
use recfound::adapters::{load_adapter, read_adapter_config};
use recfound::backbone::DecoderConfig;
use recfound::backend::BackendKind;
use recfound::report::{FreeTextMetric, ReportOptions, RoutingVectors, RunInput, routing_vectors, run_labels, write_report};
use recfound::with_backend;

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum FreeTextArg {
    /// SQuAD token F1 (always in the eval results).
    TokenF1,
    /// BERTScore-F1 (needs `recfound eval --bertscore-model`).
    Bertscore,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run directories: a `recfound eval --out` directory, or a run with its eval in `eval/`;
    /// `schedule.jsonl` (training) and `routing.json` or a TMoLE `adapter/` are used if present.
    #[arg(required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Report directory: generative.md/.json, embedding.md/.json, report.md/.json, PNGs.
    #[arg(long)]
    pub out: PathBuf,
    /// Row names, one per run in order (default: the directory names).
    #[arg(long)]
    pub label: Vec<String>,
    /// The number shown for the free-text tasks QR, AG, UP, IP.
    #[arg(long, value_enum, default_value = "token-f1")]
    pub free_text: FreeTextArg,
    /// The base model of the runs' adapters (checkpoint directory or config.json), to compute the
    /// routing of a run that has an `adapter/` but no routing.json; default: the model named in
    /// the run's recipe.toml. Only its shapes matter.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Backend for computing routing: ndarray, flex, wgpu or cuda.
    #[arg(long, value_parser = super::parse_backend)]
    pub backend: Option<BackendKind>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    if !args.label.is_empty() && args.label.len() != args.runs.len() {
        bail!("--label given {} times for {} runs; give one per run or none", args.label.len(), args.runs.len());
    }
    for dir in &args.runs {
        if !dir.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
    }
    let labels = if args.label.is_empty() { run_labels(&args.runs) } else { args.label.clone() };
    let backend = args.backend.unwrap_or_else(BackendKind::default_compiled);
    let mut runs = Vec::new();
    for (dir, label) in args.runs.iter().zip(labels) {
        let routing = with_backend!(backend, |B, device| adapter_routing::<B>(dir, args.model.as_deref(), &device))?;
        runs.push(RunInput { label, dir: dir.clone(), routing });
    }
    let options = ReportOptions {
        free_text: match args.free_text {
            FreeTextArg::TokenF1 => FreeTextMetric::TokenF1,
            FreeTextArg::Bertscore => FreeTextMetric::BertScore,
        },
    };
    let summary = write_report(&runs, &options, &args.out).with_context(|| format!("writing the report into {}", args.out.display()))?;
    for table in [&summary.generative, &summary.embedding].into_iter().filter(|t| !t.is_empty()) {
        println!("{}", table.to_markdown());
    }
    let pngs: Vec<&String> = summary.runs.iter().flat_map(|r| r.ratios_png.iter().chain(&r.routing_png)).collect();
    eprintln!("report: {}", serde_json::json!({"runs": summary.runs.len(), "pngs": pngs, "out": args.out.display().to_string()}));
    Ok(())
}

/// The routing of `dir/adapter` when the run has no routing.json and the adapter is TMoLE;
/// `None` when there is nothing to compute or no model to shape it with (said in a warning).
fn adapter_routing<B: Backend>(dir: &Path, model: Option<&Path>, device: &B::Device) -> anyhow::Result<Option<RoutingVectors>> {
    let adapter_dir = dir.join("adapter");
    if dir.join("routing.json").is_file() || !adapter_dir.join("adapter_config.json").is_file() {
        return Ok(None);
    }
    let config = read_adapter_config(&adapter_dir).with_context(|| format!("reading {}", adapter_dir.display()))?;
    if config.tmole.is_none() {
        return Ok(None);
    }
    let Some(model_config) = model.map(config_json).or_else(|| recipe_model(dir)) else {
        tracing::warn!(run = %dir.display(), "no routing heatmap: the base model is unknown (pass --model, or write routing.json with `recfound adapter routing`)");
        return Ok(None);
    };
    // Only the shapes of the base matter to the routing, so a random init of its config does.
    let decoder = DecoderConfig::from_hf_file(&model_config).with_context(|| format!("reading {}", model_config.display()))?.init::<B>(device);
    let adapter = load_adapter(&adapter_dir, &decoder, device).with_context(|| format!("loading {}", adapter_dir.display()))?;
    Ok(routing_vectors(&adapter)?)
}

/// A checkpoint directory's config.json, or the file itself.
fn config_json(path: &Path) -> PathBuf {
    if path.is_dir() { path.join("config.json") } else { path.to_path_buf() }
}

/// The model config named by the run's recipe.toml (`[model] path` or `config`), if it exists.
fn recipe_model(dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dir.join("recipe.toml")).ok()?;
    let recipe: toml::Table = text.parse().ok()?;
    let model = recipe.get("model")?.as_table()?;
    let path = match (model.get("path").and_then(|v| v.as_str()), model.get("config").and_then(|v| v.as_str())) {
        (Some(p), _) => Path::new(p).join("config.json"),
        (None, Some(c)) => PathBuf::from(c),
        (None, None) => return None,
    };
    path.is_file().then_some(path)
}
