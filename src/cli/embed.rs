//! `recfound embed`: mean-pooled embeddings of texts, written to a safetensors file.
//! Contract: `--model DIR --input-file texts.jsonl --out emb.safetensors [--bidirectional]
//! [--normalize] [--adapter DIR [--task NAME]]`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::backend::Backend;
use recfound::backbone::embed::{EmbedInput, embed};
use recfound::backbone::{AttnMode, Lm, ProjectionDelta, load_decoder};
use recfound::text::{PromptTemplate, TextTokenizer, encode_for_embedding};
use recfound::with_backend;

use super::ModelArgs;
use super::adapter_args::{AdapterArgs, line_tasks};
use super::inputs::{TextLine, batch_progress, read_jsonl, write_atomic};

#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub adapter: AdapterArgs,
    /// JSONL, one input per line: {"text": "...", "instruction"?: "..."} or
    /// {"input_ids": [..], "pool_start"?: n}; either may add "task": NAME.
    #[arg(long)]
    pub input_file: PathBuf,
    /// Output safetensors file with one tensor `embeddings` of shape [N, D] (f32).
    #[arg(long)]
    pub out: PathBuf,
    /// Every token attends to every token (GritLM's embedding mode); default causal.
    #[arg(long)]
    pub bidirectional: bool,
    /// L2-normalise each embedding.
    #[arg(long)]
    pub normalize: bool,
    /// Template that places the instruction before the text: gritlm (default), raw, mistral,
    /// chatml, recfound. Instruction tokens are left out of the pooled span.
    #[arg(long, default_value = "gritlm")]
    pub template: String,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let template: PromptTemplate = args.template.parse().context("--template")?;
    with_backend!(args.model.backend(), |B, device| run_on::<B>(&args, template, &device))
}

fn run_on<B: Backend>(args: &EmbedArgs, template: PromptTemplate, device: &B::Device) -> anyhow::Result<()> {
    let dir = &args.model.model;
    let lines: Vec<TextLine> = read_jsonl(&args.input_file)?;
    let line_task: Vec<Option<String>> = lines.iter().map(|l| l.task.clone()).collect();
    let tasks = line_tasks(&line_task, args.adapter.task()?).with_context(|| args.input_file.display().to_string())?;
    let tokenizer = TextTokenizer::try_from_dir(dir).with_context(|| format!("loading the tokenizer of {}", dir.display()))?;
    let inputs = lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| to_input(line, tokenizer.as_ref(), template).with_context(|| format!("{}: line {}", args.input_file.display(), i + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let loaded = load_decoder::<B>(dir, device).with_context(|| format!("loading {}", dir.display()))?;
    let adapter = args.adapter.load(&loaded.decoder, device)?;
    let vocab = loaded.config.vocab_size;
    if let Some((i, id)) = inputs.iter().enumerate().find_map(|(i, x)| x.ids.iter().find(|&&id| id as usize >= vocab).map(|&id| (i, id))) {
        bail!("{}: line {}: token id {id} is outside the vocabulary (size {vocab})", args.input_file.display(), i + 1);
    }
    let mode = if args.bidirectional { AttnMode::Bidirectional } else { AttnMode::Causal };

    let start = Instant::now();
    let mut values: Vec<f32> = Vec::new();
    let mut dim = 0;
    let progress = batch_progress(inputs.len().div_ceil(args.batch_size), "embed");
    for (chunk, chunk_tasks) in inputs.chunks(args.batch_size).zip(tasks.chunks(args.batch_size)) {
        let bound = adapter.as_ref().map(|a| a.bind(chunk_tasks)).transpose()?;
        let lm = Lm::new(&loaded.decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
        let emb = embed(lm, chunk, mode, args.normalize, device)?; // [n, D]
        dim = emb.dims()[1];
        values.extend(emb.into_data().iter::<f32>());
        progress.inc(1);
    }
    progress.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();

    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![inputs.len(), dim], &bytes)?;
    let file = safetensors::serialize([("embeddings", view)], None)?;
    write_atomic(&args.out, &file)?;
    eprintln!(
        "embed: {}",
        serde_json::json!({"inputs": inputs.len(), "dim": dim, "seconds": seconds, "out": args.out.display().to_string()})
    );
    Ok(())
}

fn to_input(line: TextLine, tok: Option<&TextTokenizer>, template: PromptTemplate) -> anyhow::Result<EmbedInput> {
    match (line.text, line.input_ids) {
        (Some(text), None) => {
            if line.pool_start.is_some() {
                bail!("`pool_start` goes with `input_ids`; with `text` use `instruction`");
            }
            let tok = tok.context("a text input needs tokenizer.json in the model directory; use input_ids instead")?;
            let enc = encode_for_embedding(tok, template, line.instruction.as_deref().unwrap_or(""), &text)?;
            Ok(EmbedInput { ids: enc.ids, pool_start: enc.pool_start })
        }
        (None, Some(ids)) => {
            if line.instruction.is_some() {
                bail!("`instruction` goes with `text`; with `input_ids` use `pool_start`");
            }
            let pool_start = line.pool_start.unwrap_or(0);
            if pool_start >= ids.len() {
                bail!("`pool_start` {pool_start} leaves nothing to pool in {} ids", ids.len());
            }
            Ok(EmbedInput { ids, pool_start })
        }
        _ => bail!("give exactly one of `text` or `input_ids`"),
    }
}
