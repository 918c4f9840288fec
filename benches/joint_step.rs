//! One RecFound joint training step (InfoNCE over bidirectional mean-pooled embeddings with
//! in-batch + hard negatives, plus response-only cross-entropy, through one frozen base and one
//! LoRA adapter; AdamW on the adapter) on the small Qwen2 shape. Run by `bench/joint_step.py`
//! against PyTorch + PEFT on the same batch; alone:
//!
//!   cargo bench --bench joint_step -- --backend flex --steps 5
//!
//! Prints `joint_step: {json}` on stderr.

use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::Module;
use burn::optim::{GradientsParams, Optimizer};
use recfound::optim::AdamWSettings;
use burn::tensor::ElementConversion;
use burn::tensor::backend::AutodiffBackend;
use recfound::adapters::{Adapter, AdapterConfig};
use recfound::backbone::{DecoderConfig, Family};
use recfound::recfound::TaskId;
use recfound::text::{EmbedEncoding, GenerationEncoding};
use recfound::train::{EmbeddingExample, GenerativeExample, JointBatch, RecFoundModel};

mod common;

fn ids(seed: usize, len: usize) -> Vec<u32> {
    (0..len).map(|i| ((seed * 7919 + i * 104_729) % 4000 + 10) as u32).collect()
}

fn run<B: AutodiffBackend>(backend: &str, steps: usize, warmup: usize, queries: usize, emb_len: usize, gen_batch: usize, gen_len: usize) {
    let device = B::Device::default();
    B::seed(&device, 0);
    let config = DecoderConfig::new(Family::Qwen2, 4096, 256, 688, 4, 4, 2, 64).with_qkv_bias(true);
    let decoder = config.init::<B>(&device).no_grad();
    let adapter = Adapter::new(AdapterConfig { lora_dropout: 0.0, ..AdapterConfig::lora(16, 32.0) }, &decoder, true, &device).expect("adapter");
    let mut model = RecFoundModel { decoder, adapter, temperature: 0.02, micro_batch: 0, seed: 0 };
    let mut optim = AdamWSettings::default().init::<B, RecFoundModel<B>>();
    // Instruction tokens (the first 8) are left out of the pooled span, as RecFound pools.
    let enc = |s: usize| EmbedEncoding { ids: ids(s, emb_len), pool_start: 8 };
    let batch = JointBatch {
        embedding: (0..queries).map(|q| EmbeddingExample { task: TaskId::EmbUser, query: enc(3 * q), docs: vec![enc(3 * q + 1), enc(3 * q + 2)] }).collect(),
        generative: (0..gen_batch)
            .map(|g| GenerativeExample { task: TaskId::SentimentAnalysis, encoding: GenerationEncoding { ids: ids(1000 + g, gen_len), prompt_len: gen_len / 2 } })
            .collect(),
    };
    let tokens = queries * 3 * emb_len + gen_batch * gen_len;
    let mut times = Vec::new();
    let mut last = 0.0;
    for step in 0..warmup + steps {
        let start = Instant::now();
        let out = model.joint_loss(&batch);
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(1e-4, model, grads);
        last = out.loss.into_scalar().elem::<f64>();
        if step >= warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let report = serde_json::json!({
        "backend": backend, "queries": queries, "emb_len": emb_len, "gen_batch": gen_batch, "gen_len": gen_len,
        "tokens": tokens, "median_step_s": median, "tokens_per_s": tokens as f64 / median, "loss": last,
        "trainable_params": model.adapter.num_params(), "peak_rss_mib": common::peak_rss_mib(),
    });
    eprintln!("joint_step: {report}");
}

fn main() {
    let f = common::flag_values();
    common::tune_allocator(&f);
    let backend: String = common::flag(&f, "backend", "flex".to_string());
    let (steps, warmup) = (common::flag(&f, "steps", 5), common::flag(&f, "warmup", 1));
    let (queries, emb_len) = (common::flag(&f, "queries", 8), common::flag(&f, "emb-len", 64));
    let (gen_batch, gen_len) = (common::flag(&f, "gen-batch", 8), common::flag(&f, "gen-len", 128));
    match backend.as_str() {
        #[cfg(feature = "flex")]
        "flex" => run::<Autodiff<recfound::backend::FlexBackend>>(&backend, steps, warmup, queries, emb_len, gen_batch, gen_len),
        #[cfg(feature = "ndarray")]
        "ndarray" => run::<Autodiff<recfound::backend::NdArrayBackend>>(&backend, steps, warmup, queries, emb_len, gen_batch, gen_len),
        other => panic!("backend `{other}` is not compiled in (flex, ndarray)"),
    }
}
