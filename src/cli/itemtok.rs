//! `recfound itemtok ...`: the RecBase item tokenizer (issue 8 item 7). Contracts:
//! `recfound itemtok train --domain DIR [--domain DIR ...] --recipe FILE --out RUN` and
//! `recfound itemtok encode --run RUN --domain DIR --out ids.jsonl`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use burn::backend::Autodiff;
use clap::Subcommand;
use recfound::backend::BackendKind;
use recfound::itemtok::recipe::ItemTokRecipe;
use recfound::itemtok::run::{Tokenizer, train_run};
use recfound::itemtok::run_encoder::RunEncoder;
use recfound::itemtok::train::TrainEvent;
use recfound::itemtok::write_id_table;
use recfound::with_backend;

#[derive(clap::Args, Debug)]
pub struct ItemtokArgs {
    #[command(subcommand)]
    pub command: ItemtokCommand,
}

#[derive(Subcommand, Debug)]
pub enum ItemtokCommand {
    /// Train an RQ-VAE / CL-VAE tokenizer on domain folders and write ids, report and plots.
    Train {
        /// A RecBase domain folder (items.jsonl); repeat for several domains.
        #[arg(long = "domain", required = true)]
        domains: Vec<PathBuf>,
        /// Tokenizer recipe (TOML), e.g. recipes/itemtok-clvae.toml.
        #[arg(long)]
        recipe: PathBuf,
        /// Run directory; a run stopped early resumes from its checkpoint.
        #[arg(long)]
        out: PathBuf,
        /// Override a recipe key, e.g. --set train.epochs=5 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Backend: ndarray, flex, wgpu or cuda (default: a GPU when compiled in, else flex).
        #[arg(long, value_parser = super::parse_backend)]
        backend: Option<BackendKind>,
    },
    /// Encode a domain folder's items to ids with a trained run (no retraining).
    Encode {
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        domain: PathBuf,
        /// Output JSONL: {"item_id": "...", "ids": [c1, ...]} per item.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_parser = super::parse_backend)]
        backend: Option<BackendKind>,
    },
}

pub fn run(args: ItemtokArgs) -> anyhow::Result<()> {
    match args.command {
        ItemtokCommand::Train { domains, recipe, out, sets, backend } => {
            let recipe_path = recipe;
            let recipe = ItemTokRecipe::load(&recipe_path, &sets)?;
            let backend = backend.unwrap_or_else(BackendKind::default_compiled);
            eprintln!("itemtok train: {} domain(s), recipe {}, on {backend}", domains.len(), recipe_path.display());
            let start = Instant::now();
            let bar = super::inputs::batch_progress(2, "training");
            let mut observer = |event: &TrainEvent| on_event(&bar, event);
            let summary = with_backend!(backend, |B, device| train_run::<Autodiff<B>>(
                &domains,
                &recipe,
                &out,
                &device,
                &mut observer
            ))
            .with_context(|| format!("training the tokenizer into {}", out.display()))?;
            bar.finish_and_clear();
            let ids = &summary.report.ids;
            println!("items        {}", ids.items);
            println!("level  codes used  entropy  perplexity  top share  mean |residual| in");
            for level in &ids.levels {
                println!(
                    "{:>5}  {:>5} / {:<4}  {:>7.3}  {:>10.1}  {:>8.2}%  {:>10.3}",
                    level.level,
                    level.codes_used,
                    summary.report.codebook_size,
                    level.entropy,
                    level.perplexity,
                    100.0 * level.top_share,
                    summary.report.mean_residual_norm.get(level.level).copied().unwrap_or(f64::NAN)
                );
            }
            println!(
                "collisions   {:.2}% of items before the fix ({} groups), {:.2}% after ({:?})",
                100.0 * ids.collision_rate_before,
                ids.collision_groups_before,
                100.0 * ids.collision_rate_after,
                ids.strategy
            );
            if let Some(epoch) = summary.resumed_from {
                println!("resumed      after epoch {epoch}");
            }
            println!(
                "done in {:.1}s; run in {} ({} plots)",
                start.elapsed().as_secs_f64(),
                out.display(),
                summary.plots.len()
            );
            Ok(())
        }
        ItemtokCommand::Encode { run, domain, out, backend } => {
            let backend = backend.unwrap_or_else(BackendKind::default_compiled);
            let start = Instant::now();
            let (table, encoder) = with_backend!(backend, |B, device| {
                let tokenizer =
                    Tokenizer::<B>::load(&run, &device).with_context(|| format!("loading {}", run.display()))?;
                let table = tokenizer
                    .encode_domain(&domain, &device)
                    .with_context(|| format!("encoding {}", domain.display()))?;
                let encoder = match &tokenizer.encoder {
                    RunEncoder::Tfidf(_) => "TF-IDF + SVD".to_string(),
                    RunEncoder::Checkpoint(e) => format!(
                        "checkpoint {}, {} forward batch(es), cache {}",
                        e.config().path.display(),
                        e.batches_run(),
                        e.cache_dir().display()
                    ),
                };
                anyhow::Ok((table, encoder))
            })?;
            write_id_table(&out, &table)?;
            println!("{} items encoded in {:.1}s -> {}", table.len(), start.elapsed().as_secs_f64(), out.display());
            println!("text encoder: {encoder}");
            Ok(())
        }
    }
}

/// Drives the progress bar: one bar per epoch over its batches, a line per finished epoch (on
/// stderr directly when the bar is hidden, e.g. not a terminal).
fn on_event(bar: &indicatif::ProgressBar, event: &TrainEvent) {
    let line = match event {
        TrainEvent::EpochStart { epoch, epochs, steps } => {
            bar.set_length(*steps as u64);
            bar.set_position(0);
            bar.set_message(format!("epoch {epoch}/{epochs}"));
            return;
        }
        TrainEvent::Step => {
            bar.inc(1);
            return;
        }
        TrainEvent::Epoch(m) => format!(
            "epoch {:>3}  levels {}  loss {:.4}  recon {:.4}  entropy gap {:.3}  level-0 used {:.0}%{}  {:.0} items/s",
            m.epoch,
            m.active_levels,
            m.loss,
            m.recon,
            m.entropy,
            100.0 * m.used_share.first().copied().unwrap_or(0.0),
            if m.reinit { "  (level 0 re-initialised)" } else { "" },
            m.samples_per_s
        ),
        TrainEvent::KMeans { level, reinit } => {
            format!("k-means {} level {level}", if *reinit { "re-initialised" } else { "initialised" })
        }
        TrainEvent::Resumed { epoch } => format!("resuming after epoch {epoch}"),
    };
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}
