//! An evaluation run (RecFound §5.1): every task with a test split under the data directory
//! (`<task>/<split>.jsonl`, the `recfound data build-recfound` layout), generative rows of all
//! tasks decoded together, embedding rows ranked per task; predictions appended per batch to
//! `predictions/<task>.jsonl`, rows already there skipped (resume), and the metrics computed
//! from the saved predictions into `metrics.json` and `metrics.md`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use super::embedding::{EmbeddingCache, EmbeddingQuery, InstructedText, build_candidates, candidate_pool, cosine_unit, embed_batch};
use super::error::EvalError;
use super::generative::{EvalModel, GenerativeItem, batch_order, generate_batch};
use super::predictions::{EmbeddingPrediction, Prediction, PredictionWriter, predictions_path, prompt_id, read_predictions};
use super::protocol::{TaskMetric, count_options, default_max_new_tokens};
use super::score::{EvalReport, rescore};
use crate::backbone::Lm;
use crate::recfound::{RecFoundRow, TaskId, TaskKind, read_rows};
use crate::text::{PromptTemplate, encode_prompt};

/// The settings file of an eval directory.
pub const SETTINGS_FILE: &str = "eval.json";

/// What to evaluate and how.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// A directory of `<task>/<split>.jsonl` files.
    pub data: PathBuf,
    pub split: String,
    /// At most this many rows per task (the first ones).
    pub limit: Option<usize>,
    pub batch_size: usize,
    /// How prompts and embedding inputs are wrapped (RecFound trains in GritLM's format).
    pub template: PromptTemplate,
    /// One budget for every generative task instead of the per-task defaults.
    pub max_new_tokens: Option<usize>,
    /// Candidates per embedding query (1 positive + 19 negatives).
    pub num_candidates: usize,
    /// Seeds the filler negatives of embedding queries.
    pub seed: u64,
}

impl EvalConfig {
    pub fn new(data: impl Into<PathBuf>) -> Self {
        Self {
            data: data.into(),
            split: "test".into(),
            limit: None,
            batch_size: 8,
            template: PromptTemplate::GritLm,
            max_new_tokens: None,
            num_candidates: 20,
            seed: 0,
        }
    }

    pub fn max_new_tokens(&self, task: TaskId) -> usize {
        self.max_new_tokens.unwrap_or_else(|| default_max_new_tokens(task))
    }
}

/// The settings that decide a prediction, saved as `eval.json`; a resumed run must match them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSettings {
    pub split: String,
    pub template: PromptTemplate,
    pub max_new_tokens: BTreeMap<String, usize>,
    pub num_candidates: usize,
    pub seed: u64,
    /// Where the model and adapter came from (informational, not compared).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub adapter: Option<String>,
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalEvent {
    /// Work found: batches to run, rows to predict, rows already predicted.
    Planned { batches: usize, rows: usize, resumed: usize },
    /// One batch done.
    Batch,
}

/// Tasks with a `<split>.jsonl` under `data`, in task-id order.
pub fn find_tasks(data: &Path, split: &str) -> Vec<TaskId> {
    TaskId::ALL.into_iter().filter(|t| t.kind().is_some() && split_path(data, *t, split).is_file()).collect()
}

fn split_path(data: &Path, task: TaskId, split: &str) -> PathBuf {
    data.join(task.name()).join(format!("{split}.jsonl"))
}

/// One task's test rows with their line numbers, and which rows are already predicted.
struct TaskRows {
    task: TaskId,
    path: PathBuf,
    rows: Vec<(usize, RecFoundRow)>,
    /// Row index -> (line in the predictions file, prompt id).
    done: HashMap<usize, (usize, String)>,
}

/// Runs the evaluation described by `config` into `out`; see the module docs.
pub fn run_eval<B: Backend>(
    model: &EvalModel<'_, B>,
    config: &EvalConfig,
    origin: (Option<String>, Option<String>),
    out: &Path,
    device: &B::Device,
    progress: &mut dyn FnMut(EvalEvent),
) -> Result<EvalReport, EvalError> {
    let _span = tracing::info_span!("eval", data = %config.data.display(), split = %config.split).entered();
    if config.batch_size == 0 {
        return Err(EvalError::Task { task: "eval".into(), message: "batch size must be at least 1".into() });
    }
    let tasks = find_tasks(&config.data, &config.split);
    if tasks.is_empty() {
        return Err(EvalError::NoTasks { dir: config.data.clone(), split: config.split.clone() });
    }
    let settings = EvalSettings {
        split: config.split.clone(),
        template: config.template,
        max_new_tokens: tasks.iter().filter(|t| t.kind() == Some(TaskKind::Generative)).map(|t| (t.name().to_string(), config.max_new_tokens(*t))).collect(),
        num_candidates: config.num_candidates,
        seed: config.seed,
        model: origin.0,
        adapter: origin.1,
    };
    check_settings(out, &settings)?;

    let mut loaded = Vec::new();
    for &task in &tasks {
        let path = split_path(&config.data, task, &config.split);
        let rows = read_rows(&path)?;
        let lines = row_lines(&path)?;
        let mut rows: Vec<(usize, RecFoundRow)> = lines.into_iter().zip(rows).collect();
        rows.truncate(config.limit.unwrap_or(usize::MAX));
        let saved = predictions_path(out, task);
        let done = if saved.is_file() {
            read_predictions(&saved, task, true)?.lines.into_iter().map(|(line, p)| (p.row(), (line, p.prompt_id().to_string()))).collect()
        } else {
            HashMap::new()
        };
        loaded.push(TaskRows { task, path, rows, done });
    }

    // Generative rows of every task, encoded; embedding queries per task.
    let vocab_size = Lm::new(model.decoder, None).vocab_size();
    let mut items = Vec::new();
    let mut queries: Vec<(TaskId, Vec<EmbeddingQuery>)> = Vec::new();
    let mut resumed = 0;
    for t in &loaded {
        let pool = embedding_pool(t);
        let mut task_queries = Vec::new();
        for (index, (line, row)) in t.rows.iter().enumerate() {
            let id = match row {
                RecFoundRow::Generative(g) => {
                    let reference = g.text.get(1).filter(|r| !r.trim().is_empty());
                    let reference = reference.ok_or_else(|| EvalError::MissingReference { path: t.path.clone(), line: *line, task: t.task.name().into() })?;
                    if g.text.len() > 2 {
                        tracing::warn!(path = %t.path.display(), line, "multi-turn row: the first prompt/answer pair is evaluated");
                    }
                    let id = prompt_id(&g.text[0]);
                    let pending = (!t.done.contains_key(&index)).then(|| -> Result<GenerativeItem, EvalError> {
                        let ids = encode_prompt(model.tokenizer, config.template, &g.text[0])?;
                        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= vocab_size) {
                            return Err(EvalError::Task { task: t.task.name().into(), message: format!("{}:{line}: token id {bad} is outside the model's vocabulary ({vocab_size})", t.path.display()) });
                        }
                        Ok(GenerativeItem {
                            task: t.task,
                            row: index,
                            prompt_id: id.clone(),
                            ids,
                            reference: reference.clone(),
                            options: count_options(&g.text[0]),
                            max_new_tokens: config.max_new_tokens(t.task),
                        })
                    });
                    if let Some(item) = pending {
                        items.push(item?);
                    }
                    id
                }
                RecFoundRow::Embedding(e) => {
                    let id = prompt_id(&format!("{}\n{}", e.query.0, e.query.1));
                    if !t.done.contains_key(&index) {
                        let metric = TaskMetric::of(t.task).expect("embedding tasks are scored");
                        let (candidates, relevant) = build_candidates(index, e, &pool, metric, config.num_candidates, config.seed);
                        task_queries.push(EmbeddingQuery { task: t.task, row: index, prompt_id: id.clone(), query: e.query.clone(), candidates, relevant });
                    }
                    id
                }
            };
            if let Some((saved_line, saved)) = t.done.get(&index) {
                if *saved != id {
                    return Err(EvalError::Prediction {
                        path: predictions_path(out, t.task),
                        line: *saved_line,
                        message: format!("row {index} was predicted for another prompt than {}:{line}; the data changed, use a fresh --out", t.path.display()),
                    });
                }
                resumed += 1;
            }
        }
        if !task_queries.is_empty() {
            queries.push((t.task, task_queries));
        }
    }

    let bs = config.batch_size;
    let rows = items.len() + queries.iter().map(|(_, q)| q.len()).sum::<usize>();
    let batches = items.len().div_ceil(bs) + queries.iter().map(|(_, q)| q.len().div_ceil(bs)).sum::<usize>();
    tracing::info!(tasks = tasks.len(), rows, resumed, batches, "eval planned");
    progress(EvalEvent::Planned { batches, rows, resumed });

    let mut writers: HashMap<TaskId, PredictionWriter> = HashMap::new();
    for &task in &tasks {
        writers.insert(task, PredictionWriter::open(&predictions_path(out, task))?);
    }

    let order = batch_order(&items);
    for chunk in order.chunks(bs) {
        let batch: Vec<&GenerativeItem> = chunk.iter().map(|&i| &items[i]).collect();
        let predictions = generate_batch(model, &batch, device)?;
        let mut by_task: BTreeMap<TaskId, Vec<Prediction>> = BTreeMap::new();
        for p in predictions {
            by_task.entry(p.task).or_default().push(Prediction::Generative(p));
        }
        for (task, lines) in by_task {
            writers.get_mut(&task).expect("a writer per task").append(&lines)?;
        }
        progress(EvalEvent::Batch);
    }

    for (task, task_queries) in &queries {
        let mut cache = EmbeddingCache::default();
        for chunk in task_queries.chunks(bs) {
            let candidates: Vec<&InstructedText> = chunk.iter().flat_map(|q| &q.candidates).collect();
            cache.fill(model, *task, &candidates, config.template, bs, device)?;
            let query_texts: Vec<&InstructedText> = chunk.iter().map(|q| &q.query).collect();
            let query_vectors = embed_batch(model, *task, &query_texts, config.template, device)?;
            let lines: Vec<Prediction> = chunk
                .iter()
                .zip(query_vectors)
                .map(|(q, v)| {
                    Prediction::Embedding(EmbeddingPrediction {
                        row: q.row,
                        prompt_id: q.prompt_id.clone(),
                        task: q.task,
                        candidates: q.candidates.iter().map(|c| c.1.clone()).collect(),
                        relevant: q.relevant.clone(),
                        scores: q.candidates.iter().map(|c| cosine_unit(&v, cache.get(c))).collect(),
                    })
                })
                .collect();
            writers.get_mut(task).expect("a writer per task").append(&lines)?;
            progress(EvalEvent::Batch);
        }
    }
    rescore(out, out)
}

/// The pool filler negatives come from: the whole split of an embedding task (not only the
/// rows within `--limit`), so a row's candidates never depend on the limit.
fn embedding_pool(t: &TaskRows) -> Vec<InstructedText> {
    if t.task.kind() != Some(TaskKind::Embedding) {
        return Vec::new();
    }
    let all = match read_rows(&t.path) {
        Ok(rows) => rows,
        Err(_) => return Vec::new(), // read once already; cannot fail differently now
    };
    let rows: Vec<_> = all.into_iter().filter_map(|r| if let RecFoundRow::Embedding(e) = r { Some(e) } else { None }).collect();
    candidate_pool(&rows)
}

/// 1-based line numbers of the non-blank lines of a JSONL file (one per row, as `read_rows`
/// reads them).
fn row_lines(path: &Path) -> Result<Vec<usize>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    Ok(text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, _)| i + 1).collect())
}

/// Writes `eval.json`, or checks that the saved one matches (resume).
fn check_settings(out: &Path, settings: &EvalSettings) -> Result<(), EvalError> {
    let path = out.join(SETTINGS_FILE);
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
        let saved: EvalSettings = serde_json::from_str(&text).map_err(|e| EvalError::io(&path, e))?;
        let mismatch = |field: &str, saved: String, current: String| {
            (saved != current).then(|| EvalError::Settings { path: path.clone(), field: field.into(), saved, current })
        };
        let mut checks = vec![
            mismatch("split", saved.split.clone(), settings.split.clone()),
            mismatch("template", saved.template.name().into(), settings.template.name().into()),
            mismatch("num_candidates", saved.num_candidates.to_string(), settings.num_candidates.to_string()),
            mismatch("seed", saved.seed.to_string(), settings.seed.to_string()),
        ];
        for (task, n) in &settings.max_new_tokens {
            if let Some(old) = saved.max_new_tokens.get(task) {
                checks.push(mismatch(&format!("max_new_tokens of {task}"), old.to_string(), n.to_string()));
            }
        }
        if let Some(e) = checks.into_iter().flatten().next() {
            return Err(e);
        }
        let mut merged = saved;
        merged.max_new_tokens.extend(settings.max_new_tokens.clone());
        return write_settings(&path, &merged);
    }
    write_settings(&path, settings)
}

fn write_settings(path: &Path, settings: &EvalSettings) -> Result<(), EvalError> {
    let text = serde_json::to_string_pretty(settings).expect("settings serialise");
    crate::io::write_atomic(path, text.as_bytes()).map_err(|e| EvalError::io(path, e))
}
