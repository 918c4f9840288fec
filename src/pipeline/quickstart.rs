//! The quickstart pipeline: a decoder (a checkpoint, or a tiny random one from a `config.json`
//! in `models/`), greedy and beam generation, and embeddings of a few inputs. It needs no
//! download and no data, and shows every stage of the backbone in a few seconds.

use std::path::Path;
use std::time::Instant;

use burn::tensor::backend::Backend;
use serde::Serialize;

use super::{PipelineError, write_output};
use crate::backbone::embed::{EmbedInput, embed};
use crate::adapters::{Adapter, load_adapter, save_adapter};
use crate::backbone::{
    AttnMode, BeamConfig, Decoder, DecoderConfig, Lm, ProjectionDelta, Sampler, StopConfig, beam_rows, beam_search, generate,
    load_decoder,
};
use crate::recfound::TaskId;
use crate::config::Recipe;

/// What the quickstart did, for the CLI's summary (also written as `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct QuickstartReport {
    pub family: String,
    pub parameters: usize,
    pub source: String,
    pub greedy: Vec<Vec<u32>>,
    pub beam: Vec<Vec<u32>>,
    pub greedy_tokens_per_s: f64,
    pub embedding_dim: usize,
    /// Cosine similarity between every pair of embedded inputs.
    pub embedding_cosine: Vec<Vec<f32>>,
    /// `lora` or `tmole` when the recipe attaches an adapter.
    pub adapter: Option<String>,
    /// The training stage's report, when the recipe has `[train]`.
    pub train: Option<super::recfound::TrainReport>,
}

/// Runs the quickstart recipe, writing `recipe.toml`, `generations.jsonl`,
/// `embeddings.safetensors` and `summary.json` into `run_dir`.
pub fn run<B: Backend>(recipe: &Recipe, run_dir: &Path, device: &B::Device) -> Result<QuickstartReport, PipelineError> {
    B::seed(device, recipe.run.seed);
    let resolved = toml::to_string_pretty(recipe)
        .map_err(|e| PipelineError::Serialize { what: "the resolved recipe", message: e.to_string() })?;
    write_output(run_dir.join("recipe.toml"), resolved.as_bytes())?;

    let (decoder, config, source): (Decoder<B>, DecoderConfig, String) = match (&recipe.model.path, &recipe.model.config) {
        (Some(dir), _) => {
            let loaded = load_decoder::<B>(dir, device)?;
            (loaded.decoder, loaded.config, dir.display().to_string())
        }
        (None, Some(file)) => {
            let config = DecoderConfig::from_hf_file(file)?;
            (config.init::<B>(device), config, format!("random init from {}", file.display()))
        }
        (None, None) => unreachable!("Recipe::check requires a model"),
    };
    tracing::info!(family = config.family.name(), parameters = config.num_parameters(), %source, "model ready");

    let mut report = QuickstartReport {
        family: config.family.name().to_string(),
        parameters: config.num_parameters(),
        source,
        greedy: Vec::new(),
        beam: Vec::new(),
        greedy_tokens_per_s: 0.0,
        embedding_dim: 0,
        embedding_cosine: Vec::new(),
        adapter: None,
        train: None,
    };

    // An adapter, when the recipe asks for one: saved beside the outputs (a fresh one has B = 0,
    // so it leaves the outputs unchanged until trained), with TMoLE's routing of every task.
    let adapter: Option<Adapter<B>> = match &recipe.adapter {
        None => None,
        Some(a) => {
            let adapter = match &a.path {
                Some(dir) => load_adapter(dir, &decoder, device)?,
                None => Adapter::new(a.to_config(), &decoder, false, device)?,
            };
            save_adapter(&adapter, &run_dir.join("adapter"), Some(&report.source))?;
            if adapter.is_tmole() {
                let mut routing = Vec::new();
                for task in TaskId::ALL {
                    let sites: Vec<_> = adapter.routing(task)?.into_iter().map(|s| serde_json::json!({"module": s.proj.module_path(s.layer), "weights": s.weights})).collect();
                    routing.push(serde_json::json!({"task": task.name(), "sites": sites}));
                }
                write_output(run_dir.join("routing.json"), serde_json::to_string_pretty(&routing).expect("JSON").as_bytes())?;
            } else {
                // A LoRA run in a directory a TMoLE run used must not leave its routing behind.
                let _ = std::fs::remove_file(run_dir.join("routing.json"));
            }
            report.adapter = Some(if adapter.is_tmole() { "tmole" } else { "lora" }.to_string());
            Some(adapter)
        }
    };
    let task = recipe.adapter.as_ref().and_then(|a| a.task.as_deref()).map(|t| t.parse::<TaskId>().expect("checked by Recipe::check")).unwrap_or(TaskId::None);
    let bind = |rows: usize| adapter.as_ref().map(|a| a.bind(&vec![task; rows])).transpose();

    if let Some(g) = &recipe.generate {
        let stop = StopConfig {
            max_new_tokens: g.max_new_tokens,
            eos_token_ids: config.eos_token_ids.clone(),
            pad_token_id: config.pad_token_id.unwrap_or(0),
        };
        let start = Instant::now();
        let bound = bind(g.prompts.len())?;
        let lm = Lm::new(&decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
        report.greedy = generate(lm, &g.prompts, &mut Sampler::Greedy, &stop, device)?;
        let new_tokens: usize = report.greedy.iter().map(Vec::len).sum();
        report.greedy_tokens_per_s = new_tokens as f64 / start.elapsed().as_secs_f64().max(1e-9);
        if g.num_beams > 1 {
            let beam = BeamConfig { num_beams: g.num_beams, length_penalty: g.length_penalty, num_return_sequences: 1 };
            let bound = adapter.as_ref().map(|a| a.bind(&beam_rows(&vec![task; g.prompts.len()], g.num_beams))).transpose()?;
            let lm = Lm::new(&decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
            report.beam = beam_search(lm, &g.prompts, &beam, &stop, None, device)?
                .into_iter()
                .map(|h| h.into_iter().next().map(|h| h.ids).unwrap_or_default())
                .collect();
        }
        let mut lines = String::new();
        for (i, prompt) in g.prompts.iter().enumerate() {
            let line = serde_json::json!({
                "prompt": prompt,
                "greedy": report.greedy[i],
                "beam": report.beam.get(i),
            });
            lines.push_str(&format!("{line}\n"));
        }
        write_output(run_dir.join("generations.jsonl"), lines.as_bytes())?;
    }

    if let Some(e) = &recipe.embed {
        let inputs: Vec<EmbedInput> = e.inputs.iter().map(|ids| EmbedInput { ids: ids.clone(), pool_start: e.pool_start }).collect();
        let mode = if e.bidirectional { AttnMode::Bidirectional } else { AttnMode::Causal };
        let bound = bind(inputs.len())?;
        let lm = Lm::new(&decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
        let emb = embed(lm, &inputs, mode, e.normalize, device)?; // [N, D]
        let [n, d] = emb.dims();
        let values: Vec<f32> = emb.into_data().iter::<f32>().collect();
        report.embedding_dim = d;
        report.embedding_cosine = cosine_matrix(&values, n, d);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let serialize_err = |e: safetensors::SafeTensorError| PipelineError::Serialize { what: "embeddings", message: e.to_string() };
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![n, d], &bytes).map_err(serialize_err)?;
        let file = safetensors::serialize([("embeddings", view)], None).map_err(serialize_err)?;
        write_output(run_dir.join("embeddings.safetensors"), &file)?;
    }

    // RecFound training in small: the same model and adapter settings, trained jointly with
    // S2Sched on the recipe's task sample (`train/` in the run directory).
    if recipe.train.is_some() {
        report.train = Some(super::recfound::run::<burn::backend::Autodiff<B>>(recipe, &run_dir.join("train"), device, false)?);
    }

    let summary = serde_json::to_string_pretty(&report)
        .map_err(|e| PipelineError::Serialize { what: "the summary", message: e.to_string() })?;
    write_output(run_dir.join("summary.json"), summary.as_bytes())?;
    Ok(report)
}

/// Cosine similarity of every pair of rows of a row-major `[n, d]` matrix.
fn cosine_matrix(values: &[f32], n: usize, d: usize) -> Vec<Vec<f32>> {
    let row = |i: usize| &values[i * d..(i + 1) * d];
    let norm = |r: &[f32]| r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| row(i).iter().zip(row(j)).map(|(a, b)| a * b).sum::<f32>() / (norm(row(i)) * norm(row(j))))
                .collect()
        })
        .collect()
}
