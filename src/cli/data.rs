//! `recfound data ...`: turning public datasets into the folders recfound trains on.
//! Contract: `recfound data export-domain --source NAME [--data-root DIR] --out DIR`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use recfound::data::domain::{DomainFolder, UnknownItems};
use recfound::data::export::{DomainSource, export_source};

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
