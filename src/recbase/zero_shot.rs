//! `recbase zero-shot` (issue 9 item 4) as a library function: encode a domain's items with the
//! run's saved item tokenizer (no refit), build or read the evaluation rows, score every
//! candidate with the decoder (`score.rs`), score the same rows with the three baselines
//! (`baselines.rs`), and report AUC, GAUC, NDCG@10 and MRR for each (`zero_shot_metrics.rs`).
//!
//! ```text
//! OUT/scores.jsonl   {"user_id": "...", "scores": [..]} per scored row, candidates in row order
//!                    (rows read from a file also carry their "line")
//! OUT/report.json    ZeroShotReport
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::Backend;

use crate::data::domain::{DomainFolder, UnknownItems};
use crate::itemtok::encode_items;

use super::baselines::{popularity_counts, popularity_scores, random_scores, text_similarity_scores};
use super::candidates::{CandidateSource, EvalRow, Skip, generate_candidates, history_tokens, item_tokens, read_candidates};
use super::score::{Normalisation, ScoreQuery, ScoreSettings, score_queries};
use super::zero_shot_metrics::{RankingMetrics, ScoredRow, ranking_metrics};
use super::{RecBaseError, RecBaseRun};

pub const SCORES_FILE: &str = "scores.jsonl";
pub const REPORT_FILE: &str = "report.json";

/// What `zero_shot` evaluates and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroShotSettings {
    /// A candidates file; `None` builds RecBench-style rows from the domain's sequences.
    pub candidates: Option<PathBuf>,
    /// Sampled negatives per generated row.
    pub negatives: usize,
    /// Seeds the negatives of generated rows and the random baseline.
    pub seed: u64,
    /// Only the most recent items of a longer history are read (0 = all of them).
    pub max_history_items: usize,
    pub score: ScoreSettings,
}

impl Default for ZeroShotSettings {
    fn default() -> Self {
        Self { candidates: None, negatives: 19, seed: 0, max_history_items: 50, score: ScoreSettings::default() }
    }
}

/// Progress of [`zero_shot`], for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroShotEvent {
    /// The rows are ready: this many, with this many candidates in all.
    Rows { rows: usize, candidates: usize },
    /// This many rows are scored.
    Scored { rows: usize },
}

/// The four scoring methods on the same rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MethodMetrics {
    pub recbase: RankingMetrics,
    pub random: RankingMetrics,
    pub popularity: RankingMetrics,
    pub text_similarity: RankingMetrics,
}

/// `report.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZeroShotReport {
    pub run: PathBuf,
    pub domain: PathBuf,
    pub candidates: CandidateSource,
    pub normalisation: Normalisation,
    pub max_history_items: usize,
    /// Rows scored (skipped ones excluded), distinct users among them, candidates and
    /// positives in all.
    pub rows: usize,
    pub users: usize,
    pub candidates_scored: usize,
    pub positives: usize,
    pub skipped: Vec<Skip>,
    pub metrics: MethodMetrics,
    /// Seconds spent in the decoder (histories and candidates) and the resulting throughput.
    pub score_seconds: f64,
    pub candidates_per_s: f64,
}

/// The rows, RecBase's scores (`scores[r][c]`) and the report.
#[derive(Debug, Clone)]
pub struct ZeroShotOutcome {
    pub rows: Vec<EvalRow>,
    pub scores: Vec<Vec<f32>>,
    pub report: ZeroShotReport,
}

/// Scores `domain` zero-shot with `run` and its baselines. The domain's item ids are the run's
/// item tokenizer's (an item the vocabulary cannot write is an error naming it).
pub fn zero_shot<B: Backend>(
    run: &RecBaseRun<B>,
    domain: &Path,
    settings: &ZeroShotSettings,
    device: &B::Device,
    observer: &mut dyn FnMut(ZeroShotEvent),
) -> Result<ZeroShotOutcome, RecBaseError> {
    let _span = tracing::info_span!("zero_shot", domain = %domain.display()).entered();
    let (folder, _) = DomainFolder::read(domain, UnknownItems::Reject)?;
    let tokens = run.encode_domain(domain, device)?;
    let tokenizer = run.item_tokenizer(device)?;
    let vectors = encode_items(&tokenizer.encoder, &folder.items, tokenizer.manifest.layout)?;
    let embeddings: HashMap<String, Vec<f32>> = folder.items.iter().map(|i| i.item_id.clone()).zip(vectors).collect();

    let (rows, skipped, source) = match &settings.candidates {
        Some(path) => {
            let (rows, skipped) = read_candidates(path, |id| tokens.contains_key(id))?;
            (rows, skipped, CandidateSource::File { path: path.clone() })
        }
        None => {
            let rows = generate_candidates(&folder, settings.negatives, settings.seed)?;
            (rows, Vec::new(), CandidateSource::Generated { negatives: settings.negatives, seed: settings.seed })
        }
    };
    let candidates: usize = rows.iter().map(|r| r.candidates.len()).sum();
    observer(ZeroShotEvent::Rows { rows: rows.len(), candidates });

    let queries = rows.iter().map(|row| query(row, &tokens, settings.max_history_items)).collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let scores = score_queries(&run.decoder, &run.vocab, &queries, &settings.score, device, &mut |done| {
        observer(ZeroShotEvent::Scored { rows: done })
    })?;
    let score_seconds = start.elapsed().as_secs_f64();

    let as_f64 = |s: &Vec<f32>| s.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let recbase: Vec<Vec<f64>> = scores.iter().map(as_f64).collect();
    let counts = popularity_counts(&folder.sequences, &rows);
    let metrics = MethodMetrics {
        recbase: metrics_of(&rows, &recbase)?,
        random: metrics_of(&rows, &random_scores(&rows, settings.seed))?,
        popularity: metrics_of(&rows, &popularity_scores(&counts, &rows))?,
        text_similarity: metrics_of(&rows, &text_similarity_scores(&embeddings, &rows))?,
    };
    let report = ZeroShotReport {
        run: run.dir.clone(),
        domain: domain.to_path_buf(),
        candidates: source,
        normalisation: settings.score.normalisation,
        max_history_items: settings.max_history_items,
        rows: rows.len(),
        users: rows.iter().map(|r| r.user_id.as_str()).collect::<HashSet<_>>().len(),
        candidates_scored: candidates,
        positives: rows.iter().map(|r| r.labels.iter().filter(|&&l| l == 1).count()).sum(),
        skipped,
        metrics,
        score_seconds,
        candidates_per_s: candidates as f64 / score_seconds.max(f64::MIN_POSITIVE),
    };
    Ok(ZeroShotOutcome { rows, scores, report })
}

/// Writes `scores.jsonl` and `report.json` into `out` (created if missing), each atomically.
pub fn write_outputs(out: &Path, outcome: &ZeroShotOutcome) -> Result<(), RecBaseError> {
    std::fs::create_dir_all(out).map_err(|e| RecBaseError::io(out, e))?;
    #[derive(serde::Serialize)]
    struct Line<'a> {
        user_id: &'a str,
        scores: &'a [f32],
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    }
    let mut text = Vec::new();
    for (row, scores) in outcome.rows.iter().zip(&outcome.scores) {
        let line = Line { user_id: &row.user_id, scores, line: row.line };
        serde_json::to_writer(&mut text, &line).expect("strings and floats serialise");
        text.push(b'\n');
    }
    let path = out.join(SCORES_FILE);
    crate::io::write_atomic(&path, &text).map_err(|e| RecBaseError::io(&path, e))?;
    let path = out.join(REPORT_FILE);
    let json = serde_json::to_vec_pretty(&outcome.report).expect("plain data serialises");
    crate::io::write_atomic(&path, &json).map_err(|e| RecBaseError::io(&path, e))
}

/// A row as decoder tokens: its history (the last `max_items` items) and each candidate.
fn query(row: &EvalRow, tokens: &HashMap<String, Vec<u32>>, max_items: usize) -> Result<ScoreQuery, RecBaseError> {
    let history = history_tokens(&row.history, tokens, max_items)?;
    let candidates = row.candidates.iter().map(|id| item_tokens(id, tokens).map(<[u32]>::to_vec)).collect::<Result<_, _>>()?;
    Ok(ScoreQuery { history, candidates })
}

fn metrics_of(rows: &[EvalRow], scores: &[Vec<f64>]) -> Result<RankingMetrics, RecBaseError> {
    let scored: Vec<ScoredRow> = rows
        .iter()
        .zip(scores)
        .map(|(row, s)| ScoredRow { user_id: &row.user_id, scores: s, labels: &row.labels })
        .collect();
    ranking_metrics(&scored).map_err(|e| RecBaseError::config("scores", e.to_string()))
}
