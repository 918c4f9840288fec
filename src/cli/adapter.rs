//! `recfound adapter ...`: make a fresh LoRA/TMoLE adapter, merge one into its base, read out
//! TMoLE's routing. Contract: `recfound adapter merge-into-base --model DIR --adapter DIR --out DIR`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use burn::tensor::backend::Backend;
use recfound::adapters::{Adapter, AdapterConfig, TargetModules, TmoleConfig, load_adapter, save_adapter};
use recfound::backbone::{load_decoder, save_hf_checkpoint};
use recfound::recfound::TaskId;
use recfound::with_backend;

use super::ModelArgs;
use super::inputs::write_atomic;

#[derive(clap::Args, Debug)]
pub struct AdapterCmd {
    #[command(subcommand)]
    pub command: AdapterCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AdapterCommand {
    /// Write a fresh adapter for a model (B = 0: the adapted model equals the base).
    Init(InitArgs),
    /// Add an adapter's weight update to its base and write a plain HF checkpoint.
    MergeIntoBase(MergeArgs),
    /// Write TMoLE's routing vector of every task on every projection (JSON).
    Routing(RoutingArgs),
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub out: PathBuf,
    /// lora, or tmole (RecFound's expert groups, task table and routers).
    #[arg(long, default_value = "lora")]
    pub kind: String,
    #[arg(long, default_value_t = 16)]
    pub r: usize,
    #[arg(long, default_value_t = 32.0)]
    pub lora_alpha: f64,
    #[arg(long, default_value_t = 0.0)]
    pub lora_dropout: f64,
    #[arg(long)]
    pub use_rslora: bool,
    /// Comma-separated module names (PEFT suffix match), or `all-linear`.
    #[arg(long, default_value = "q_proj,k_proj,v_proj,o_proj")]
    pub target_modules: String,
    /// `false` also draws B at random (PEFT's init_lora_weights=False: the adapter changes the
    /// model from the start; for tests).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub init_lora_weights: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub adapter: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    /// TMoLE only: the task whose routing is merged (released name).
    #[arg(long)]
    pub task: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct RoutingArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub adapter: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cmd: AdapterCmd) -> anyhow::Result<()> {
    match cmd.command {
        AdapterCommand::Init(args) => with_backend!(args.model.backend(), |B, device| init::<B>(&args, &device)),
        AdapterCommand::MergeIntoBase(args) => with_backend!(args.model.backend(), |B, device| merge::<B>(&args, &device)),
        AdapterCommand::Routing(args) => with_backend!(args.model.backend(), |B, device| routing::<B>(&args, &device)),
    }
}

fn init<B: Backend>(args: &InitArgs, device: &B::Device) -> anyhow::Result<()> {
    let targets = match args.target_modules.as_str() {
        "all-linear" => TargetModules::Pattern("all-linear".into()),
        list => TargetModules::Names(list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
    };
    let tmole = match args.kind.as_str() {
        "lora" => None,
        "tmole" => Some(TmoleConfig::default()),
        other => bail!("--kind must be lora or tmole, got `{other}`"),
    };
    let config = AdapterConfig {
        r: args.r,
        lora_alpha: args.lora_alpha,
        lora_dropout: args.lora_dropout,
        use_rslora: args.use_rslora,
        target_modules: targets,
        tmole,
    };
    let dir = &args.model.model;
    let loaded = load_decoder::<B>(dir, device).with_context(|| format!("loading {}", dir.display()))?;
    B::seed(device, args.seed);
    let adapter = Adapter::new(config, &loaded.decoder, !args.init_lora_weights, device)?;
    save_adapter(&adapter, &args.out, Some(&dir.display().to_string()))?;
    let sites = adapter.sites().count();
    eprintln!("adapter init: {}", serde_json::json!({"sites": sites, "out": args.out.display().to_string()}));
    Ok(())
}

fn merge<B: Backend>(args: &MergeArgs, device: &B::Device) -> anyhow::Result<()> {
    let dir = &args.model.model;
    let loaded = load_decoder::<B>(dir, device).with_context(|| format!("loading {}", dir.display()))?;
    let adapter = load_adapter(&args.adapter, &loaded.decoder, device).with_context(|| format!("loading the adapter {}", args.adapter.display()))?;
    let task = args.task.as_deref().map(str::parse::<TaskId>).transpose().context("--task")?;
    let merged = adapter.merge_into(loaded.decoder, task)?;
    save_hf_checkpoint(&merged, &loaded.config, &args.out)?;
    // The merged checkpoint is used like the base: take its tokenizer and generation settings.
    for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"] {
        let from = dir.join(name);
        if from.exists() {
            let bytes = std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
            write_atomic(&args.out.join(name), &bytes)?;
        }
    }
    eprintln!("adapter merge-into-base: {}", serde_json::json!({"out": args.out.display().to_string(), "task": args.task}));
    Ok(())
}

fn routing<B: Backend>(args: &RoutingArgs, device: &B::Device) -> anyhow::Result<()> {
    let dir = &args.model.model;
    let loaded = load_decoder::<B>(dir, device).with_context(|| format!("loading {}", dir.display()))?;
    let adapter = load_adapter(&args.adapter, &loaded.decoder, device).with_context(|| format!("loading the adapter {}", args.adapter.display()))?;
    if !adapter.is_tmole() {
        bail!("{} is a plain LoRA adapter: it has no routing", args.adapter.display());
    }
    let text = serde_json::to_string_pretty(&recfound::report::routing_json(&adapter)?)?;
    write_atomic(&args.out, text.as_bytes())?;
    Ok(())
}
