//! Subcommand dispatch. Each subcommand parses its arguments, calls library code and prints a
//! summary; `anyhow` carries context up to `main`, which exits non-zero on error.

mod adapter;
mod adapter_args;
mod data;
mod embed;
mod eval;
mod generate;
mod info;
mod inputs;
mod itemtok;
mod merge;
mod recbase;
mod recipe;
mod report;
mod s2sched;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use recfound::backend::BackendKind;

#[derive(Parser, Debug)]
#[command(name = "recfound", version, about = "Recommendation foundation models (RecFound, RecBase) on Burn")]
pub struct Cli {
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Generate continuations of prompts (greedy, sampling or beam search).
    Generate(generate::GenerateArgs),
    /// Embed texts (mean pooling of final hidden states) into a safetensors file.
    Embed(embed::EmbedArgs),
    /// Show a checkpoint's family, parameter count, dtype and tensors.
    Info(info::InfoArgs),
    /// Run a recipe (TOML).
    Recipe(recipe::RecipeArgs),
    /// Datasets: export RecBase domain folders, make evaluation candidates.
    Data(data::DataArgs),
    /// RecBase item tokenizer: train RQ-VAE / CL-VAE on domain folders, encode items to ids.
    Itemtok(itemtok::ItemtokArgs),
    /// LoRA / TMoLE adapters: init, merge-into-base, routing.
    Adapter(adapter::AdapterCmd),
    /// S2Sched tools: replay logged validation losses with other hyperparameters.
    S2sched(s2sched::S2schedArgs),
    /// Evaluate on the RecFound test splits (predictions per row, metrics; resumable), or
    /// rescore saved predictions.
    Eval(eval::EvalArgs),
    /// Merge adapter checkpoints (TIES, averaging, or TIES on ΔW with SVD back to factors).
    Merge(merge::MergeArgs),
    /// RecBase inference: zero-shot scoring with baselines, top-k recommendation, Table 3 compare.
    Recbase(recbase::RecbaseArgs),
    /// Paper-style report of runs: Tables 2-3 with average rank, routing heatmap, ratio plot.
    Report(report::ReportArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Embed(args) => embed::run(args),
        Command::Info(args) => info::run(args),
        Command::Recipe(args) => recipe::run(args),
        Command::Data(args) => data::run(args),
        Command::Itemtok(args) => itemtok::run(args),
        Command::Adapter(cmd) => adapter::run(cmd),
        Command::S2sched(args) => s2sched::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Recbase(args) => recbase::run(args),
        Command::Report(args) => report::run(args),
    }
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,recfound=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Arguments shared by the subcommands that load a model.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// HF checkpoint directory: config.json + model.safetensors (or a sharded index), and
    /// optionally tokenizer.json.
    #[arg(long)]
    pub model: PathBuf,
    /// Backend: ndarray, flex, wgpu or cuda (default: a GPU when compiled in, else flex).
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
}

impl ModelArgs {
    pub fn backend(&self) -> BackendKind {
        self.backend.unwrap_or_else(BackendKind::default_compiled)
    }
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    s.parse().map_err(|e: recfound::backend::BackendError| e.to_string())
}
