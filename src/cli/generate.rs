//! `recfound generate`: continue prompts with greedy decoding, sampling or beam search.
//! Contract: `--model DIR (--prompt TEXT | --input-ids 1,2,3 | --input-file F.jsonl)
//! [--max-new-tokens N] [--greedy | --temperature T --top-p P --top-k K --seed S]
//! [--num-beams K] [--template NAME] [--json] [--adapter DIR [--task NAME]]`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::backend::Backend;
use recfound::backbone::generate::check_prompts;
use recfound::backbone::{
    BeamConfig, Lm, ProjectionDelta, Sampler, SamplingConfig, StopConfig, beam_rows, beam_search, generate, generation_eos_ids,
    load_decoder,
};
use recfound::text::{PromptTemplate, TextTokenizer, encode_prompt};
use recfound::with_backend;

use super::ModelArgs;
use super::adapter_args::{AdapterArgs, line_tasks};
use super::inputs::{PromptLine, batch_progress, check_prompt_lines, parse_ids, read_jsonl};

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub adapter: AdapterArgs,
    /// A text prompt (needs tokenizer.json in the model directory).
    #[arg(long, group = "input")]
    pub prompt: Option<String>,
    /// Prompt token ids, comma-separated.
    #[arg(long, group = "input")]
    pub input_ids: Option<String>,
    /// JSONL, one prompt per line: {"prompt": "..."} or {"input_ids": [..]}, optionally with
    /// "task": NAME (TMoLE routing per prompt).
    #[arg(long, group = "input")]
    pub input_file: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Greedy decoding (the default when no sampling option is given).
    #[arg(long, conflicts_with_all = ["temperature", "top_p", "top_k"])]
    pub greedy: bool,
    /// Sample with this temperature.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Sample among the k most likely tokens only.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Seed of the sampler's RNG.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Beam search with this many beams (1 = no beam search).
    #[arg(long, default_value_t = 1)]
    pub num_beams: usize,
    /// Beam search length penalty (HF semantics: score / new_len^penalty).
    #[arg(long, default_value_t = 1.0)]
    pub length_penalty: f32,
    /// Prompt template applied to text prompts: raw, mistral, chatml, gritlm, recfound.
    #[arg(long)]
    pub template: Option<String>,
    /// Print one JSON line per prompt: {"ids": [...], "text": "..."}.
    #[arg(long)]
    pub json: bool,
    /// Prompts per batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Never stop at EOS (benchmarks: always generate max_new_tokens).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Untimed runs of the first batch before the timed ones (benchmarks: GPU backends compile
    /// their kernels on first use).
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    if args.num_beams == 0 {
        bail!("--num-beams must be at least 1");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.num_beams > 1 && (args.temperature.is_some() || args.top_p.is_some() || args.top_k.is_some()) {
        bail!("--num-beams > 1 runs beam search: it cannot be combined with sampling options");
    }
    if let Some(t) = args.temperature.filter(|t| !(*t > 0.0)) {
        bail!("--temperature must be positive, got {t}");
    }
    if let Some(p) = args.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
        bail!("--top-p must be in (0, 1], got {p}");
    }
    let template = args
        .template
        .as_deref()
        .map(|name| name.parse::<PromptTemplate>())
        .transpose()
        .context("--template")?;
    with_backend!(args.model.backend(), |B, device| run_on::<B>(&args, template, &device))
}

fn run_on<B: Backend>(args: &GenerateArgs, template: Option<PromptTemplate>, device: &B::Device) -> anyhow::Result<()> {
    let dir = &args.model.model;
    let tokenizer = TextTokenizer::try_from_dir(dir).with_context(|| format!("loading the tokenizer of {}", dir.display()))?;
    let (prompts, line_task) = read_prompts(args, tokenizer.as_ref(), template)?;
    let tasks = line_tasks(&line_task, args.adapter.task()?)?;
    let loaded = load_decoder::<B>(dir, device).with_context(|| format!("loading {}", dir.display()))?;
    let adapter = args.adapter.load(&loaded.decoder, device)?;
    let config = &loaded.config;
    // Checked here, on all prompts, so an error names the prompt's index in the input.
    check_prompts(&prompts, config.vocab_size)?;

    // Stop on every EOS the checkpoint declares: config.json, generation_config.json (where chat
    // models list their end-of-turn token) and the tokenizer's stop tokens.
    let mut eos = Vec::new();
    if !args.ignore_eos {
        eos.extend(&config.eos_token_ids);
        eos.extend(generation_eos_ids(dir)?);
        eos.extend(tokenizer.as_ref().map(|t| t.stop_token_ids().to_vec()).unwrap_or_default());
        eos.sort_unstable();
        eos.dedup();
    }
    let pad = config.pad_token_id.or(config.eos_token_ids.first().copied()).unwrap_or(0);
    let stop = StopConfig { max_new_tokens: args.max_new_tokens, eos_token_ids: eos, pad_token_id: pad };
    let sampling = args.temperature.is_some() || args.top_p.is_some() || args.top_k.is_some();
    let mut sampler = if sampling {
        Sampler::sample(SamplingConfig {
            temperature: args.temperature.unwrap_or(1.0),
            top_k: args.top_k.unwrap_or(0),
            top_p: args.top_p.unwrap_or(1.0),
            seed: args.seed,
        })
    } else {
        Sampler::Greedy
    };

    // Beam search runs `num_beams` rows per prompt, so an adapter is bound to that many.
    let rows_per_prompt = args.num_beams;
    let bind = |tasks: &[recfound::recfound::TaskId]| adapter.as_ref().map(|a| a.bind(&beam_rows(tasks, rows_per_prompt))).transpose();
    if let Some(first) = prompts.chunks(args.batch_size).next() {
        for _ in 0..args.warmup {
            let bound = bind(&tasks[..first.len()])?;
            let lm = Lm::new(&loaded.decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
            if args.num_beams > 1 {
                let beam = BeamConfig { num_beams: args.num_beams, length_penalty: args.length_penalty, num_return_sequences: 1 };
                beam_search(lm, first, &beam, &stop, None, device)?;
            } else {
                generate(lm, first, &mut Sampler::Greedy, &stop, device)?;
            }
        }
    }
    let start = Instant::now();
    let mut outputs = Vec::with_capacity(prompts.len());
    let progress = batch_progress(prompts.len().div_ceil(args.batch_size), "generate");
    for (chunk, chunk_tasks) in prompts.chunks(args.batch_size).zip(tasks.chunks(args.batch_size)) {
        let bound = bind(chunk_tasks)?;
        let lm = Lm::new(&loaded.decoder, bound.as_ref().map(|b| b as &dyn ProjectionDelta<B>));
        if args.num_beams > 1 {
            let beam = BeamConfig { num_beams: args.num_beams, length_penalty: args.length_penalty, num_return_sequences: 1 };
            let hyps = beam_search(lm, chunk, &beam, &stop, None, device)?;
            outputs.extend(hyps.into_iter().map(|h| h.into_iter().next().map(|h| h.ids).unwrap_or_default()));
        } else {
            outputs.extend(generate(lm, chunk, &mut sampler, &stop, device)?);
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();

    for ids in &outputs {
        let text = tokenizer.as_ref().map(|t| t.decode(ids, true)).transpose()?;
        if args.json {
            let mut line = serde_json::json!({ "ids": ids });
            if let Some(text) = text {
                line["text"] = text.into();
            }
            println!("{line}");
        } else {
            match text {
                Some(text) => println!("{text}"),
                None => println!("{}", ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")),
            }
        }
    }
    let new_tokens: usize = outputs.iter().map(Vec::len).sum();
    let summary = serde_json::json!({
        "new_tokens": new_tokens,
        "seconds": seconds,
        "tokens_per_s": new_tokens as f64 / seconds.max(1e-9),
        "prompts": prompts.len(),
        "backend": args.model.backend().name(),
    });
    eprintln!("generate: {summary}");
    Ok(())
}

/// Token ids of every prompt, from whichever input option was given, and each input line's task.
#[allow(clippy::type_complexity)]
fn read_prompts(
    args: &GenerateArgs,
    tok: Option<&TextTokenizer>,
    template: Option<PromptTemplate>,
) -> anyhow::Result<(Vec<Vec<u32>>, Vec<Option<String>>)> {
    let encode = |text: &str| -> anyhow::Result<Vec<u32>> {
        let tok = tok.with_context(|| {
            format!("a text prompt needs tokenizer.json in {}; pass --input-ids instead", args.model.model.display())
        })?;
        Ok(encode_prompt(tok, template.unwrap_or(PromptTemplate::Raw), text)?)
    };
    let ids_only = |ids: Vec<u32>| -> anyhow::Result<Vec<u32>> {
        if template.is_some() {
            bail!("--template applies to text prompts, not to token ids");
        }
        Ok(ids)
    };
    if let Some(text) = &args.prompt {
        return Ok((vec![encode(text)?], vec![None]));
    }
    if let Some(ids) = &args.input_ids {
        return Ok((vec![ids_only(parse_ids(ids)?)?], vec![None]));
    }
    let Some(path) = &args.input_file else {
        bail!("give one of --prompt, --input-ids or --input-file");
    };
    let lines: Vec<PromptLine> = read_jsonl(path)?;
    check_prompt_lines(path, &lines)?;
    let tasks = lines.iter().map(|l| l.task.clone()).collect();
    let prompts = lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            match (line.prompt, line.input_ids) {
                (Some(text), _) => encode(&text),
                (_, Some(ids)) => ids_only(ids),
                _ => unreachable!("checked by check_prompt_lines"),
            }
            .with_context(|| format!("{}: line {}", path.display(), i + 1))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((prompts, tasks))
}
