//! `recfound data ...`: turning public datasets into the folders recfound trains on.
//! Contracts: `recfound data export-domain --source NAME [--data-root DIR] --out DIR` and
//! `recfound data build-recfound [--recipe FILE] --out DIR` (`--data-root DIR`, default
//! `../shared/data`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use recfound::data::domain::{DomainFolder, UnknownItems};
use recfound::data::export::{DomainSource, export_source};
use recfound::recfound::{
    BuildConfig, Sources, Split, SplitSizes, build_all, build_prompt_tasks, write_card, write_prompt_splits, write_splits,
};
use serde::Deserialize;

#[derive(clap::Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Write a RecBase domain folder (items.jsonl, sequences.jsonl) from a public dataset.
    ExportDomain {
        /// movielens, amazon-scientific, amazon-office, steam or lastfm.
        #[arg(long)]
        source: String,
        /// Where the raw datasets live, laid out like ../shared/data.
        #[arg(long, default_value = "../shared/data")]
        data_root: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Also write candidates.jsonl with this many sampled negatives per user (0 = none).
        #[arg(long, default_value_t = 0)]
        candidates: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Build the RecFound tasks the raw datasets allow (released JSONL format, train /
    /// validation / test per task) with a dataset card (DATASET.md, stats.json).
    BuildRecfound {
        /// TOML with a `[build]` table: seed, train, validation, test, sr_history_len,
        /// sr_num_options, item_text_max_chars, ag_document_pairs, up_history_len (all optional).
        #[arg(long)]
        recipe: Option<PathBuf>,
        #[arg(long, default_value = "../shared/data")]
        data_root: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write candidates.jsonl into an existing domain folder: each user's last item plus
    /// sampled items the user never touched (RecBench style; seeded).
    MakeCandidates {
        #[arg(long)]
        domain: PathBuf,
        #[arg(long, default_value_t = 19)]
        num_negatives: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn run(args: DataArgs) -> anyhow::Result<()> {
    match args.command {
        DataCommand::ExportDomain { source, data_root, out, candidates, seed } => {
            let Some(kind) = DomainSource::from_name(&source) else {
                let names: Vec<&str> = DomainSource::ALL.iter().map(|s| s.name()).collect();
                bail!("--source: unknown source `{source}` (expected one of: {})", names.join(", "));
            };
            let (mut folder, report) = export_source(kind, &data_root)
                .with_context(|| format!("reading {} from {}", kind.name(), data_root.display()))?;
            if candidates > 0 {
                folder.candidates = folder.make_candidates(candidates, seed);
            }
            folder.write(&out).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: {} items, {} sequences, {} candidate rows -> {} (skipped: {} untitled items, {} unknown item ids, {} empty sequences)",
                kind.name(),
                folder.items.len(),
                folder.sequences.len(),
                folder.candidates.len(),
                out.display(),
                report.untitled_items,
                report.unknown_item_refs,
                report.empty_sequences
            );
        }
        DataCommand::BuildRecfound { recipe, data_root, out } => {
            let config = match &recipe {
                Some(path) => read_build_recipe(path)?,
                None => BuildConfig::default(),
            };
            if !data_root.is_dir() {
                bail!("--data-root {} is not a directory", data_root.display());
            }
            let start = std::time::Instant::now();
            let sources = Sources::under(&data_root);
            let tasks = build_all(&sources, &config)
                .with_context(|| format!("building RecFound tasks from {}", data_root.display()))?;
            let prompts = build_prompt_tasks(&sources, &config)
                .with_context(|| format!("building prompt-only RecFound tasks from {}", data_root.display()))?;
            if tasks.is_empty() && prompts.is_empty() {
                bail!("no RecFound task can be built from {}: none of its sources is there", data_root.display());
            }
            write_splits(&out, &tasks).with_context(|| format!("writing {}", out.display()))?;
            write_prompt_splits(&out, &prompts).with_context(|| format!("writing prompts into {}", out.display()))?;
            write_card(&out, &tasks, &prompts, &config)
                .with_context(|| format!("writing the dataset card into {}", out.display()))?;
            let line = |name: &str, [train, validation, test]: [usize; 3], note: &str| {
                println!("{name:<28} train {train:>6}  validation {validation:>5}  test {test:>5}{note}");
            };
            for t in &tasks {
                line(t.task.name(), Split::ALL.map(|split| t.split(split).len()), "");
            }
            for t in &prompts {
                line(t.task.name(), t.counts(), "  (prompts only)");
            }
            println!(
                "{} tasks + {} prompt-only -> {} (DATASET.md, stats.json) in {:.1}s",
                tasks.len(),
                prompts.len(),
                out.display(),
                start.elapsed().as_secs_f64()
            );
        }
        DataCommand::MakeCandidates { domain, num_negatives, seed } => {
            let (mut folder, _) = DomainFolder::read(&domain, UnknownItems::Reject)
                .with_context(|| format!("reading the domain folder {}", domain.display()))?;
            folder.candidates = folder.make_candidates(num_negatives, seed);
            folder.write_candidates(&domain).with_context(|| format!("writing candidates into {}", domain.display()))?;
            println!("{} candidate rows ({} negatives each) -> {}", folder.candidates.len(), num_negatives, domain.join("candidates.jsonl").display());
        }
    }
    Ok(())
}

/// The `[build]` table of a `build-recfound` recipe; every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildRecipe {
    #[serde(default)]
    build: BuildTable,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildTable {
    seed: Option<u64>,
    train: Option<usize>,
    validation: Option<usize>,
    test: Option<usize>,
    sr_history_len: Option<usize>,
    sr_num_options: Option<usize>,
    item_text_max_chars: Option<usize>,
    ag_document_pairs: Option<usize>,
    up_history_len: Option<usize>,
}

fn read_build_recipe(path: &std::path::Path) -> anyhow::Result<BuildConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let recipe: BuildRecipe = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let b = recipe.build;
    let d = BuildConfig::default();
    let config = BuildConfig {
        seed: b.seed.unwrap_or(d.seed),
        sizes: SplitSizes {
            train: b.train.unwrap_or(d.sizes.train),
            validation: b.validation.unwrap_or(d.sizes.validation),
            test: b.test.unwrap_or(d.sizes.test),
        },
        sr_history_len: b.sr_history_len.unwrap_or(d.sr_history_len),
        sr_num_options: b.sr_num_options.unwrap_or(d.sr_num_options),
        item_text_max_chars: b.item_text_max_chars.unwrap_or(d.item_text_max_chars),
        ag_document_pairs: b.ag_document_pairs.unwrap_or(d.ag_document_pairs),
        up_history_len: b.up_history_len.unwrap_or(d.up_history_len),
    };
    if !(2..=26).contains(&config.sr_num_options) {
        bail!("{}: key `build.sr_num_options`: {} is outside 2..=26 (lettered options A-Z)", path.display(), config.sr_num_options);
    }
    Ok(config)
}
