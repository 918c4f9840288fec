//! `recfound s2sched replay (--run RUN_DIR | --val-losses FILE) [--tau T] [--window L]
//! [--warmup-steps W] --out ratios.jsonl [--plot ratios.png]` (contract): replays logged
//! per-task validation losses through S2Sched with other hyperparameters. Defaults: the run's
//! own recipe with `--run`, else the paper's (L 64, tau 10) and no warmup.

use std::path::PathBuf;

use anyhow::{Context, bail};
use recfound::config::Recipe;
use recfound::train::plots::RunHistory;
use recfound::train::replay::{ReplayInput, replay};
use recfound::train::s2sched::warmup_steps;
use recfound::train::{S2SchedConfig, ScheduleMode};

use super::inputs::{read_jsonl, write_atomic};

#[derive(clap::Args, Debug)]
pub struct S2schedArgs {
    #[command(subcommand)]
    pub command: S2schedCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum S2schedCommand {
    /// Replay logged validation losses with other S2Sched hyperparameters.
    Replay(ReplayArgs),
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// A training run directory (reads schedule.jsonl and the run's recipe for defaults).
    #[arg(long, conflicts_with = "val_losses", required_unless_present = "val_losses")]
    pub run: Option<PathBuf>,
    /// JSONL lines {"step": t, "val_loss": {"<task>": loss, ...}}.
    #[arg(long)]
    pub val_losses: Option<PathBuf>,
    #[arg(long)]
    pub tau: Option<f64>,
    #[arg(long)]
    pub window: Option<usize>,
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    #[arg(long)]
    pub out: PathBuf,
    /// Also draw the ratios as a PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

pub fn run(args: S2schedArgs) -> anyhow::Result<()> {
    let S2schedCommand::Replay(args) = args.command;
    let (input, mut config) = match (&args.run, &args.val_losses) {
        (Some(run), _) => {
            let recipe_path = run.join("recipe.toml");
            let text = std::fs::read_to_string(&recipe_path).with_context(|| format!("reading {}", recipe_path.display()))?;
            let recipe: Recipe = toml::from_str(&text).with_context(|| recipe_path.display().to_string())?;
            let s = recipe.s2sched.unwrap_or_default();
            let steps = recipe.train.map(|t| t.steps).unwrap_or(0);
            let warmup = warmup_steps(s.warmup_ratio, steps)?;
            (run.join("schedule.jsonl"), S2SchedConfig { mode: ScheduleMode::S2Sched, warmup_steps: warmup, window: s.window, tau: s.tau })
        }
        (None, Some(file)) => (file.clone(), S2SchedConfig { mode: ScheduleMode::S2Sched, warmup_steps: 0, window: 64, tau: 10.0 }),
        (None, None) => bail!("give --run RUN_DIR or --val-losses FILE"),
    };
    config.tau = args.tau.unwrap_or(config.tau);
    config.window = args.window.unwrap_or(config.window);
    config.warmup_steps = args.warmup_steps.unwrap_or(config.warmup_steps);
    config.validate().context("S2Sched settings")?;
    let lines: Vec<ReplayInput> = read_jsonl(&input)?;
    let out = replay(&lines, &config).with_context(|| input.display().to_string())?;
    let text: String = out.iter().map(|o| format!("{}\n", serde_json::to_string(o).expect("JSON"))).collect();
    write_atomic(&args.out, text.as_bytes())?;
    if let Some(plot) = &args.plot {
        let mut history = RunHistory::default();
        for o in &out {
            for (task, &w) in &o.omega {
                history.ratios.entry(task.clone()).or_default().push((o.step as f64, w));
            }
        }
        let dir = tempfile_dir(plot)?;
        history.write_pngs(&dir)?;
        std::fs::rename(dir.join("ratios.png"), plot).with_context(|| plot.display().to_string())?;
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!("s2sched replay: {}", serde_json::json!({"updates": out.len(), "tau": config.tau, "window": config.window, "warmup_steps": config.warmup_steps}));
    Ok(())
}

/// A scratch directory beside `path` (RunHistory names its files itself).
fn tempfile_dir(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new(".")).join(format!(".replay-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
