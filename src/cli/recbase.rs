//! `recfound recbase ...`: RecBase inference on a domain folder (issue 9 items 4-6). Contracts:
//! `recfound recbase zero-shot --run RUN --domain DIR [--candidates FILE] --out DIR`,
//! `recfound recbase recommend --run RUN --domain DIR --top-k K [--beams N] [--eval] [--out FILE]`,
//! `recfound recbase finetune --run RUN --domain DIR --out RUN2 [--steps N] [--lr X] ...` and
//! `recfound recbase compare --zero-shot DIR/report.json --fine-tuned DIR/report.json`
//! (the paper's Table 3 shape from two zero-shot reports).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::backend::Autodiff;
use clap::Subcommand;
use recfound::backend::BackendKind;
use recfound::data::domain::CANDIDATES_FILE;
use recfound::recbase::RecBaseRun;
use recfound::recbase::finetune::{FinetuneSettings, finetune};
use recfound::recbase::recommend::{DomainRecommendSettings, RecommendSettings, recommend_domain, write_recommendations};
use recfound::recbase::score::{Normalisation, ScoreSettings};
use recfound::recbase::zero_shot::{REPORT_FILE, SCORES_FILE, ZeroShotEvent, ZeroShotSettings, write_outputs, zero_shot};
use recfound::recbase::zero_shot_metrics::RankingMetrics;
use recfound::with_backend;
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct RecbaseArgs {
    #[command(subcommand)]
    pub command: RecbaseCommand,
}

#[derive(Subcommand, Debug)]
pub enum RecbaseCommand {
    /// Score a domain's candidates zero-shot (Σ_l log P(code_l | history, earlier codes)) and
    /// report AUC, GAUC, NDCG@10 and MRR beside random, popularity and text-similarity baselines.
    ZeroShot(ZeroShotArgs),
    /// Top-k items per user by beam search constrained to the domain's item ids.
    Recommend(RecommendArgs),
    /// Continue training a run on one domain's histories (each user's last item held back) into
    /// a new complete run.
    Finetune(FinetuneArgs),
    /// Zero-shot vs fine-tuned AUC side by side (RecBase Table 3) from two zero-shot reports.
    Compare(CompareArgs),
}

#[derive(clap::Args, Debug)]
pub struct ZeroShotArgs {
    /// RecBase run directory (decoder, vocab.json, itemtok/).
    #[arg(long)]
    pub run: PathBuf,
    /// Domain folder (items.jsonl, sequences.jsonl); its items are encoded with the run's item
    /// tokenizer, no refit.
    #[arg(long)]
    pub domain: PathBuf,
    /// Candidates file (candidates.jsonl format). Without it, RecBench-style rows are built:
    /// each user's last item plus --negatives items the user never touched.
    #[arg(long)]
    pub candidates: Option<PathBuf>,
    /// Output directory: scores.jsonl and report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Sampled negatives per built row.
    #[arg(long, default_value_t = 19)]
    pub negatives: usize,
    /// Seeds the sampled negatives and the random baseline.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Most recent history items read per row (0 = all).
    #[arg(long, default_value_t = 50)]
    pub max_history: usize,
    /// Candidate rows per decoder pass.
    #[arg(long, default_value_t = 256)]
    pub batch_rows: usize,
    /// Normalise each level's probability over that level's tokens only, instead of the full
    /// vocabulary (the default, as the model was trained).
    #[arg(long)]
    pub level_softmax: bool,
    /// Backend: ndarray, flex, wgpu or cuda (default: a GPU when compiled in, else flex).
    #[arg(long, value_parser = super::parse_backend)]
    pub backend: Option<BackendKind>,
}

#[derive(clap::Args, Debug)]
pub struct RecommendArgs {
    #[arg(long)]
    pub run: PathBuf,
    #[arg(long)]
    pub domain: PathBuf,
    /// Items per user.
    #[arg(long)]
    pub top_k: usize,
    /// Beams per user (at least --top-k; default --top-k).
    #[arg(long)]
    pub beams: Option<usize>,
    /// Hold back each user's last item; report Recall@K and NDCG@K against popularity (written
    /// beside --out as <stem>.eval.json).
    #[arg(long)]
    pub eval: bool,
    /// Output JSONL: {"user_id", "items": [{"item_id", "tokens", "score"}], "held_out"?} per user
    /// (default: RUN/recommend/<domain folder name>.jsonl, so the contract form
    /// `recommend --run RUN --domain DIR --top-k K` needs no --out).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Most recent history items read per user (0 = all).
    #[arg(long, default_value_t = 50)]
    pub max_history: usize,
    /// Users per beam-search batch.
    #[arg(long, default_value_t = 16)]
    pub batch_users: usize,
    #[arg(long, value_parser = super::parse_backend)]
    pub backend: Option<BackendKind>,
}

#[derive(clap::Args, Debug)]
pub struct FinetuneArgs {
    /// The pretrained RecBase run to start from.
    #[arg(long)]
    pub run: PathBuf,
    /// The domain folder to adapt to (its items get ids from the run's saved item tokenizer).
    #[arg(long)]
    pub domain: PathBuf,
    /// The new run directory (decoder, vocab.json, itemtok/, metrics.jsonl, summary.json).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = FinetuneSettings::default().steps)]
    pub steps: usize,
    /// Peak learning rate (warmup then cosine decay).
    #[arg(long, default_value_t = FinetuneSettings::default().lr)]
    pub lr: f64,
    /// Packed rows per step.
    #[arg(long, default_value_t = FinetuneSettings::default().batch_rows)]
    pub batch_rows: usize,
    /// Rows per forward pass (0 = the whole step at once).
    #[arg(long, default_value_t = FinetuneSettings::default().micro_batch)]
    pub micro_batch: usize,
    /// Tokens per packed row.
    #[arg(long, default_value_t = FinetuneSettings::default().seq_len)]
    pub seq_len: usize,
    #[arg(long, default_value_t = FinetuneSettings::default().seed)]
    pub seed: u64,
    #[arg(long, value_parser = super::parse_backend)]
    pub backend: Option<BackendKind>,
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// report.json of `recbase zero-shot` with the pretrained run (repeat once per domain).
    #[arg(long = "zero-shot", required = true)]
    pub zero_shot: Vec<PathBuf>,
    /// report.json of `recbase zero-shot` with the fine-tuned run, same domains and order.
    #[arg(long = "fine-tuned", required = true)]
    pub fine_tuned: Vec<PathBuf>,
}

pub fn run(args: RecbaseArgs) -> anyhow::Result<()> {
    match args.command {
        RecbaseCommand::ZeroShot(args) => run_zero_shot(args),
        RecbaseCommand::Recommend(args) => run_recommend(args),
        RecbaseCommand::Finetune(args) => run_finetune(args),
        RecbaseCommand::Compare(args) => run_compare(args),
    }
}

fn run_zero_shot(args: ZeroShotArgs) -> anyhow::Result<()> {
    let backend = args.backend.unwrap_or_else(BackendKind::default_compiled);
    match &args.candidates {
        Some(path) => eprintln!("candidates: {}", path.display()),
        None => {
            eprintln!(
                "candidates: none given; building RecBench-style rows (each user's last item + {} sampled negatives the user never touched, seed {})",
                args.negatives, args.seed
            );
            let own = args.domain.join(CANDIDATES_FILE);
            if own.is_file() {
                eprintln!("note: {} exists but is not used; pass --candidates {0} to score it", own.display());
            }
        }
    }
    let normalisation = if args.level_softmax { Normalisation::LevelTokens } else { Normalisation::FullVocab };
    let settings = ZeroShotSettings {
        candidates: args.candidates.clone(),
        negatives: args.negatives,
        seed: args.seed,
        max_history_items: args.max_history,
        score: ScoreSettings { normalisation, max_rows: args.batch_rows },
    };
    let start = Instant::now();
    let bar = progress_bar("zero-shot [{bar:30}] {pos}/{len} rows, eta {eta}");
    let mut observer = |event: ZeroShotEvent| match event {
        ZeroShotEvent::Rows { rows, candidates } => {
            eprintln!("scoring {rows} rows ({candidates} candidates) on {backend}");
            bar.set_length(rows as u64);
        }
        ZeroShotEvent::Scored { rows } => bar.set_position(rows as u64),
    };
    let outcome = with_backend!(backend, |B, device| {
        let run = RecBaseRun::<B>::load(&args.run, &device).with_context(|| format!("loading {}", args.run.display()))?;
        zero_shot(&run, &args.domain, &settings, &device, &mut observer)
            .with_context(|| format!("zero-shot on {}", args.domain.display()))
    })?;
    bar.finish_and_clear();
    write_outputs(&args.out, &outcome)?;
    let r = &outcome.report;
    for skip in &r.skipped {
        eprintln!("skipped line {} (user `{}`): {}", skip.line, skip.user_id, skip.reason);
    }
    println!("rows {}  users {}  candidates {}  skipped {}", r.rows, r.users, r.candidates_scored, r.skipped.len());
    println!("{:<16} {:>7} {:>7} {:>8} {:>7}", "method", "AUC", "GAUC", "NDCG@10", "MRR");
    let m = &r.metrics;
    for (name, metrics) in [("recbase", &m.recbase), ("random", &m.random), ("popularity", &m.popularity), ("text similarity", &m.text_similarity)] {
        println!("{}", metric_line(name, metrics));
    }
    println!(
        "scored {:.0} candidates/s; done in {:.1}s -> {}, {}",
        r.candidates_per_s,
        start.elapsed().as_secs_f64(),
        args.out.join(SCORES_FILE).display(),
        args.out.join(REPORT_FILE).display()
    );
    Ok(())
}

fn metric_line(name: &str, m: &RankingMetrics) -> String {
    let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    format!("{name:<16} {:>7} {:>7} {:>8.4} {:>7.4}", opt(m.auc), opt(m.gauc), m.ndcg_at_10, m.mrr)
}

fn run_recommend(args: RecommendArgs) -> anyhow::Result<()> {
    let backend = args.backend.unwrap_or_else(BackendKind::default_compiled);
    if args.top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let settings = DomainRecommendSettings {
        search: RecommendSettings { top_k: args.top_k, num_beams: args.beams.unwrap_or(args.top_k), batch_users: args.batch_users },
        max_history_items: args.max_history,
        eval: args.eval,
    };
    let start = Instant::now();
    let bar = progress_bar("recommend [{bar:30}] {pos}/{len} users, eta {eta}");
    let mut progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let result = with_backend!(backend, |B, device| {
        let run = RecBaseRun::<B>::load(&args.run, &device).with_context(|| format!("loading {}", args.run.display()))?;
        recommend_domain(&run, &args.domain, &settings, &device, &mut progress)
            .with_context(|| format!("recommending for {}", args.domain.display()))
    })?;
    bar.finish_and_clear();
    let out = args.out.clone().unwrap_or_else(|| default_recommend_out(&args.run, &args.domain));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_recommendations(&out, &result.users)?;
    println!("{} users, top {} each -> {}", result.users.len(), args.top_k, out.display());
    if let Some(eval) = &result.eval {
        if result.skipped_users > 0 {
            eprintln!("skipped {} users with a single item (no history once it is held back)", result.skipped_users);
        }
        let path = eval_path(&out);
        let json = serde_json::json!({ "eval": eval, "skipped_users": result.skipped_users, "run": args.run, "domain": args.domain });
        recfound::io::write_atomic(&path, serde_json::to_string_pretty(&json)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        let k = eval.k;
        println!("{:<12} {:>9} {:>9}", "method", format!("Recall@{k}"), format!("NDCG@{k}"));
        println!("{:<12} {:>9.4} {:>9.4}", "recbase", eval.recbase.recall, eval.recbase.ndcg);
        println!("{:<12} {:>9.4} {:>9.4}", "popularity", eval.popularity.recall, eval.popularity.ndcg);
        println!("evaluation -> {}", path.display());
    }
    println!("done in {:.1}s", start.elapsed().as_secs_f64());
    Ok(())
}

/// A bar of unknown length yet (set once the work is known), on stderr when it is a terminal.
fn progress_bar(template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("static template is valid").progress_chars("=> "));
    bar
}

/// `RUN/recommend/<domain folder name>.jsonl`.
fn default_recommend_out(run: &Path, domain: &Path) -> PathBuf {
    let name = domain.file_name().map_or_else(|| "domain".into(), |s| s.to_string_lossy().into_owned());
    run.join("recommend").join(format!("{name}.jsonl"))
}

/// `recs.jsonl` -> `recs.eval.json`.
fn eval_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "recommend".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.eval.json"))
}

fn run_finetune(args: FinetuneArgs) -> anyhow::Result<()> {
    let backend = args.backend.unwrap_or_else(BackendKind::default_compiled);
    let settings = FinetuneSettings {
        steps: args.steps,
        lr: args.lr,
        batch_rows: args.batch_rows,
        micro_batch: args.micro_batch,
        seq_len: args.seq_len,
        seed: args.seed,
        ..FinetuneSettings::default()
    };
    eprintln!("fine-tuning {} on {} for {} steps on {backend}", args.run.display(), args.domain.display(), args.steps);
    let report = with_backend!(backend, |B, device| finetune::<Autodiff<B>>(&args.run, &args.domain, &args.out, &settings, &device))
        .with_context(|| format!("fine-tuning {} on {}", args.run.display(), args.domain.display()))?;
    let loss = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    println!(
        "{} steps, loss {} -> {}, {:.0} tokens/s, {:.1}s; {} users' last item held back",
        report.steps,
        loss(report.first_loss),
        loss(report.last_loss),
        report.tokens_per_s,
        report.seconds,
        report.held_out_users
    );
    println!("fine-tuned run -> {}", args.out.display());
    println!("side by side (Table 3): recbase zero-shot with --run {} and with --run {} on the same --domain and --seed, then recbase compare", args.run.display(), args.out.display());
    Ok(())
}

fn run_compare(args: CompareArgs) -> anyhow::Result<()> {
    if args.zero_shot.len() != args.fine_tuned.len() {
        bail!("{} --zero-shot reports but {} --fine-tuned ones (one pair per domain)", args.zero_shot.len(), args.fine_tuned.len());
    }
    let mut columns = Vec::new();
    for (zs, ft) in args.zero_shot.iter().zip(&args.fine_tuned) {
        let (a, b) = (read_report(zs)?, read_report(ft)?);
        // Both must score the same rows, or the comparison says nothing.
        for key in ["domain", "candidates", "rows", "candidates_scored", "max_history_items", "normalisation"] {
            if a[key] != b[key] {
                bail!("{} and {} differ in `{key}` ({} vs {}): not the same rows", zs.display(), ft.display(), a[key], b[key]);
            }
        }
        let name = a["domain"].as_str().map(|d| Path::new(d).file_name().map_or(d.to_string(), |n| n.to_string_lossy().into_owned()));
        let auc = |r: &Value| r["metrics"]["recbase"]["auc"].as_f64();
        columns.push((name.unwrap_or_default(), auc(&a), auc(&b)));
    }
    let opt = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
    println!("| AUC | {} |", columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(columns.len()));
    println!("| Zero-shot | {} |", columns.iter().map(|c| opt(c.1)).collect::<Vec<_>>().join(" | "));
    println!("| Fine-tuned | {} |", columns.iter().map(|c| opt(c.2)).collect::<Vec<_>>().join(" | "));
    let improve = |c: &(String, Option<f64>, Option<f64>)| match (c.1, c.2) {
        (Some(z), Some(f)) if z > 0.0 => format!("{:.2}%", 100.0 * (f - z) / z),
        _ => "-".into(),
    };
    println!("| Improve. (%) | {} |", columns.iter().map(improve).collect::<Vec<_>>().join(" | "));
    Ok(())
}

fn read_report(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    if value["metrics"]["recbase"].is_null() {
        bail!("{}: not a `recbase zero-shot` report.json (no metrics.recbase)", path.display());
    }
    Ok(value)
}
