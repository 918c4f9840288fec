//! The RecBase pretraining run (`[run] kind = "recbase"`, RecBase §3.3 and §4.2; issue 9 item 3):
//! the item tokenizer (an existing run copied in, or a recipe trained first), the vocabulary, the
//! packed and mixed corpus of every domain, a Qwen2 decoder initialised from `model.config` with
//! `vocab_size` replaced by the vocabulary's size, and the shared step loop. Writes the run
//! directory of `recbase::run` plus `summary.json`; `--resume` continues from the newest step
//! checkpoint exactly.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;

use super::PipelineError;
use crate::backbone::DecoderConfig;
use crate::config::{PretrainSection, Recipe};
use crate::itemtok::recipe::ItemTokRecipe;
use crate::itemtok::run::{REPORT_FILE, train_run};
use crate::recbase::corpus::{DomainSummary, domain_rows, encode_domains, item_tokens, visiting_order};
use crate::recbase::packing::HistoryFilter;
use crate::recbase::pretrain::{LoopOutcome, METRICS_FILE, Start, StepSettings, train_loop};
use crate::recbase::run::{ITEMTOK_DIR, copy_itemtok};
use crate::recbase::{BOS, ConceptVocab, EOS, PAD, RecBaseError, VOCAB_FILE, save_final};
use crate::train::checkpoint::{resume_point, start_fresh};

/// What the run did (also `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RecBaseReport {
    pub steps: usize,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub parameters: usize,
    pub vocab_size: usize,
    pub levels: usize,
    pub domains: Vec<DomainSummary>,
    pub tokens_seen: usize,
    pub tokens_per_s: f64,
    pub seconds: f64,
}

fn train_err(message: impl Into<String>) -> PipelineError {
    PipelineError::Train(message.into())
}

/// The loop settings of a `[pretrain]` section.
pub fn step_settings(p: &PretrainSection, seed: u64) -> StepSettings {
    StepSettings {
        steps: p.steps,
        batch_rows: p.batch_rows,
        micro_batch: p.micro_batch,
        lr: p.lr,
        min_lr: p.min_lr,
        warmup_steps: (p.warmup_ratio * p.steps as f64).ceil() as usize,
        decay: p.decay,
        weight_decay: p.weight_decay,
        beta_1: p.beta_1,
        beta_2: p.beta_2,
        grad_clip: p.grad_clip,
        save_every: p.save_every,
        seed,
    }
}

/// Pretrains per the recipe into `run_dir`; with `resume`, continues from the newest complete
/// step checkpoint (the recipe must be the one the run started with).
pub fn run<B: AutodiffBackend>(recipe: &Recipe, run_dir: &Path, device: &B::Device, resume: bool) -> Result<RecBaseReport, PipelineError> {
    let (Some(r), Some(p)) = (&recipe.recbase, &recipe.pretrain) else {
        return Err(train_err("a `recbase` run needs [recbase] and [pretrain]"));
    };
    let config_file = recipe.model.config.as_ref().ok_or_else(|| train_err("a `recbase` run needs model.config"))?;
    let seed = recipe.run.seed;
    let resolved = toml::to_string_pretty(recipe).map_err(|e| PipelineError::Serialize { what: "the resolved recipe", message: e.to_string() })?;
    let checkpoint = if resume {
        Some(resume_point(run_dir, &resolved).map_err(train_err)?)
    } else {
        start_fresh(run_dir, &resolved, &[METRICS_FILE]).map_err(train_err)?;
        None
    };

    // The item tokenizer, inside the run so that the run is self-contained.
    let itemtok_dir = run_dir.join(ITEMTOK_DIR);
    let complete = itemtok_dir.join(REPORT_FILE).is_file();
    match (&r.itemtok, &r.itemtok_recipe) {
        (Some(src), _) if !(resume && complete) => copy_itemtok(src, run_dir)?,
        (None, Some(file)) if !(resume && complete) => {
            let _span = tracing::info_span!("itemtok").entered();
            let tok_recipe = ItemTokRecipe::load(file, &[]).map_err(RecBaseError::from)?;
            if !resume {
                // A fresh run in a used directory trains its tokenizer anew.
                let _ = std::fs::remove_dir_all(&itemtok_dir);
            }
            train_run::<B>(&r.domains, &tok_recipe, &itemtok_dir, device, &mut |_| {}).map_err(RecBaseError::from)?;
        }
        _ => {}
    }

    // Vocabulary and corpus: recomputed on resume (deterministic), and checked against the
    // saved vocabulary so a changed tokenizer cannot slip in.
    let (vocab, tables) = encode_domains::<B::InnerBackend>(&itemtok_dir, &r.domains, device)?;
    let vocab_path = run_dir.join(VOCAB_FILE);
    if resume {
        let saved = ConceptVocab::load(&vocab_path)?;
        if saved != vocab {
            return Err(RecBaseError::format(&vocab_path, "differs from the vocabulary of the run's item tokenizer").into());
        }
    } else {
        vocab.save(&vocab_path)?;
    }
    let filter = HistoryFilter { min_items: r.min_items, max_items: r.max_items, hold_out_last: false };
    let mut domains = Vec::with_capacity(r.domains.len());
    for (dir, table) in r.domains.iter().zip(tables) {
        let tokens = item_tokens(&vocab, table)?;
        domains.push(domain_rows(dir, &tokens, vocab.levels(), filter, r.seq_len)?);
    }
    let summaries: Vec<DomainSummary> = domains.iter().map(|d| d.summary(r.seq_len)).collect();
    let settings = step_settings(p, seed);
    let (rows, order) = visiting_order(domains, &r.domain_weights, settings.steps * settings.batch_rows, seed)?;

    let config = recbase_config(config_file, &vocab)?;
    let start = match checkpoint {
        Some(dir) => Start::Resume(dir),
        None => {
            B::seed(device, seed);
            Start::Fresh(config.init::<B>(device))
        }
    };
    let (decoder, outcome) = train_loop(start, &config, &rows, &order, &settings, run_dir, device)?;
    save_final(run_dir, &decoder.valid(), &config, &vocab)?;
    let report = report(&outcome, &config, &vocab, summaries);
    let json = serde_json::to_string_pretty(&report).map_err(|e| PipelineError::Serialize { what: "the summary", message: e.to_string() })?;
    super::write_output(run_dir.join("summary.json"), json.as_bytes())?;
    Ok(report)
}

/// The decoder config of a run: `file`'s architecture with the vocabulary's size and special ids.
pub fn recbase_config(file: &Path, vocab: &ConceptVocab) -> Result<DecoderConfig, RecBaseError> {
    let mut config = DecoderConfig::from_hf_file(file)?;
    config.vocab_size = vocab.len();
    Ok(config.with_bos_token_id(Some(BOS)).with_eos_token_ids(vec![EOS]).with_pad_token_id(Some(PAD)))
}

fn report(outcome: &LoopOutcome, config: &DecoderConfig, vocab: &ConceptVocab, domains: Vec<DomainSummary>) -> RecBaseReport {
    RecBaseReport {
        steps: outcome.steps_done,
        first_loss: outcome.first_loss,
        last_loss: outcome.last_loss,
        parameters: config.num_parameters(),
        vocab_size: vocab.len(),
        levels: vocab.levels(),
        domains,
        tokens_seen: outcome.tokens_seen,
        tokens_per_s: outcome.tokens_per_s,
        seconds: outcome.seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(name).join("config.json")
    }

    #[test]
    fn paper_configs_have_the_hand_computed_parameter_counts() {
        // 0.3b: D 1024, I 2816, 16 heads = 16 kv heads of 64, 24 layers, V 20000, tied head.
        // Per layer: q, k, v, o 4 * 1024^2 = 4,194,304; q/k/v biases 3 * 1024 = 3,072;
        // MLP 3 * 1024 * 2816 = 8,650,752; 2 norms 2,048 -> 12,850,176; x 24 = 308,404,224.
        // + embedding 20000 * 1024 = 20,480,000 + final norm 1,024 = 328,885,248.
        let c = DecoderConfig::from_hf_file(&model("recbase-0.3b")).unwrap();
        assert_eq!((c.vocab_size, c.num_key_value_heads, c.head_dim, c.tie_word_embeddings), (20000, 16, 64, true));
        assert_eq!(c.num_parameters(), 328_885_248);
        // 1.5b: D 1536, I 8960, 12 heads of 128, 2 kv heads (256 wide), 28 layers.
        // Per layer: q, o 2 * 1536^2 = 4,718,592; k, v 2 * 1536 * 256 = 786,432; biases
        // 1536 + 512 = 2,048; MLP 3 * 1536 * 8960 = 41,287,680; norms 3,072 -> 46,797,824;
        // x 28 = 1,310,339,072. + embedding 30,720,000 + final norm 1,536 = 1,341,060,608.
        let c = DecoderConfig::from_hf_file(&model("recbase-1.5b")).unwrap();
        assert_eq!(c.num_parameters(), 1_341_060_608);
    }

    #[test]
    fn the_run_vocabulary_replaces_the_config_vocab_size() {
        let vocab = ConceptVocab::new(vec![256, 256, 256, 256, 40]).unwrap();
        let c = recbase_config(&model("recbase-tiny"), &vocab).unwrap();
        assert_eq!(c.vocab_size, 3 + 4 * 256 + 40);
        assert_eq!((c.bos_token_id, c.eos_token_ids.clone(), c.pad_token_id), (Some(BOS), vec![EOS], Some(PAD)));
        // The tiny model: 2 layers of D 64 -> a few hundred thousand parameters with this vocabulary.
        assert!(c.num_parameters() < 300_000, "{}", c.num_parameters());
    }
}
