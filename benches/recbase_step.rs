//! RecBase speed (issue 9 item 9) on the small Qwen2 shape (hidden 256, intermediate 688, 4
//! layers, 4 / 2 heads) over a recbase-small vocabulary (5 levels x 256 codes: 4 CL-VAE levels
//! plus the disambiguation level, + 3 specials = 1283 tokens):
//!
//! - `--what pretrain`: one full-parameter pretraining step (packed rows' next-token loss through
//!   `recbase::pretrain::rows_loss_sum`, backward, AdamW on every parameter), batch 8 x 256;
//!   prints `recbase_pretrain: {json}` with tokens/s.
//! - `--what zero-shot`: `recbase::score::score_queries` (shared-history KV cache) over 16 users
//!   x 50 history items x 20 candidates; prints `recbase_zero_shot: {json}` with candidates/s.
//!
//! Run by `bench/recbase_step.py` (or `bench/side_by_side.py recbase`) against PyTorch +
//! transformers on the same shapes; alone:
//!
//!   cargo bench --bench recbase_step -- --backend flex --what pretrain --steps 5

use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::Module;
use burn::optim::{GradientsParams, Optimizer};
use recfound::optim::AdamWSettings;
use burn::tensor::ElementConversion;
use burn::tensor::backend::{AutodiffBackend, Backend};
use recfound::backbone::{Decoder, DecoderConfig, Family};
use recfound::recbase::packing::PackedRow;
use recfound::recbase::pretrain::rows_loss_sum;
use recfound::recbase::score::{ScoreQuery, ScoreSettings, score_queries};
use recfound::recbase::{BOS, ConceptVocab};

mod common;

/// Codes per level and levels per item of the bench vocabulary.
const CODES: u32 = 256;
const LEVELS: usize = 5;

/// The same pseudo-random code tokens as bench/recbase_step.py.
fn code_token(vocab: &ConceptVocab, seed: usize, level: usize) -> u32 {
    vocab.token(level, ((seed * 7919 + level * 104_729) % CODES as usize) as u32).expect("code < CODES")
}

fn small_decoder<B: Backend>(vocab: &ConceptVocab, device: &B::Device) -> Decoder<B> {
    DecoderConfig::new(Family::Qwen2, vocab.len(), 256, 688, 4, 4, 2, 64).with_qkv_bias(true).init::<B>(device)
}

/// Median of `times`, sorted in place.
fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn pretrain<B: AutodiffBackend>(backend: &str, steps: usize, warmup: usize, batch: usize, seq: usize) {
    let device = B::Device::default();
    B::seed(&device, 0);
    let vocab = ConceptVocab::new(vec![CODES; LEVELS]).expect("valid levels");
    let mut decoder = small_decoder::<B>(&vocab, &device);
    let mut optim = AdamWSettings::default().init::<B, Decoder<B>>();
    // One user per row filling it (BOS, then items' tokens level after level): no padding, so
    // both sides run plain causal attention and predict the same 255 targets per row.
    let rows: Vec<PackedRow> = (0..batch)
        .map(|r| PackedRow {
            ids: (0..seq).map(|t| if t == 0 { BOS } else { code_token(&vocab, r * seq + t, (t - 1) % LEVELS) }).collect(),
            segments: vec![1; seq],
        })
        .collect();
    let refs: Vec<&PackedRow> = rows.iter().collect();
    let mut times = Vec::new();
    let mut last = 0.0;
    for step in 0..warmup + steps {
        let start = Instant::now();
        let (sum, count) = rows_loss_sum(&decoder, &refs, &device);
        let loss = sum / count as f32;
        let grads = GradientsParams::from_grads(loss.backward(), &decoder);
        decoder = optim.step(1e-4, decoder, grads);
        last = loss.into_scalar().elem::<f64>();
        if step >= warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let median = median(&mut times);
    let tokens = batch * seq;
    let report = serde_json::json!({
        "backend": backend, "batch": batch, "seq": seq, "vocab": vocab.len(), "tokens": tokens,
        "median_step_s": median, "tokens_per_s": tokens as f64 / median, "loss": last,
        "params": decoder.num_params(), "peak_rss_mib": common::peak_rss_mib(),
    });
    eprintln!("recbase_pretrain: {report}");
}

fn zero_shot<B: Backend>(backend: &str, steps: usize, warmup: usize, users: usize, history: usize, candidates: usize) {
    let device = B::Device::default();
    B::seed(&device, 0);
    let vocab = ConceptVocab::new(vec![CODES; LEVELS]).expect("valid levels");
    let decoder = small_decoder::<B>(&vocab, &device);
    let item = |seed: usize| -> Vec<u32> { (0..LEVELS).map(|l| code_token(&vocab, seed, l)).collect() };
    let queries: Vec<ScoreQuery> = (0..users)
        .map(|u| {
            let mut h = vec![BOS];
            h.extend((0..history).flat_map(|i| item(u * 1000 + i)));
            ScoreQuery { history: h, candidates: (0..candidates).map(|c| item(500_000 + u * 100 + c)).collect() }
        })
        .collect();
    // One batch: every user's cache repeated for its candidates at once.
    let settings = ScoreSettings { max_rows: users * candidates, ..ScoreSettings::default() };
    let mut times = Vec::new();
    let mut checksum = 0.0;
    for step in 0..warmup + steps {
        let start = Instant::now();
        let scores = score_queries(&decoder, &vocab, &queries, &settings, &device, &mut |_| {}).expect("valid queries");
        if step >= warmup {
            times.push(start.elapsed().as_secs_f64());
        }
        checksum = scores.iter().flatten().map(|&x| f64::from(x)).sum::<f64>() / (users * candidates) as f64;
    }
    let median = median(&mut times);
    let n = users * candidates;
    let report = serde_json::json!({
        "backend": backend, "users": users, "history_items": history, "history_tokens": 1 + history * LEVELS,
        "candidates_per_user": candidates, "levels": LEVELS, "vocab": vocab.len(), "candidates": n,
        "median_s": median, "candidates_per_s": n as f64 / median, "mean_score": checksum,
        "peak_rss_mib": common::peak_rss_mib(),
    });
    eprintln!("recbase_zero_shot: {report}");
}

fn main() {
    let f = common::flag_values();
    common::tune_allocator(&f);
    let backend: String = common::flag(&f, "backend", "flex".to_string());
    let what: String = common::flag(&f, "what", "pretrain".to_string());
    let (steps, warmup) = (common::flag(&f, "steps", 5), common::flag(&f, "warmup", 1));
    let (batch, seq) = (common::flag(&f, "batch", 8), common::flag(&f, "seq", 256));
    let (users, history, candidates) = (common::flag(&f, "users", 16), common::flag(&f, "history", 50), common::flag(&f, "candidates", 20));
    macro_rules! go {
        ($B:ty) => {
            match what.as_str() {
                "pretrain" => pretrain::<Autodiff<$B>>(&backend, steps, warmup, batch, seq),
                "zero-shot" => zero_shot::<$B>(&backend, steps, warmup, users, history, candidates),
                other => panic!("--what `{other}`: pretrain or zero-shot"),
            }
        };
    }
    match backend.as_str() {
        #[cfg(feature = "flex")]
        "flex" => go!(recfound::backend::FlexBackend),
        #[cfg(feature = "ndarray")]
        "ndarray" => go!(recfound::backend::NdArrayBackend),
        other => panic!("backend `{other}` is not compiled in (flex, ndarray)"),
    }
}
