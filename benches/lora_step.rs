//! One adapter training step (forward, backward, AdamW on the adapter parameters only) on the
//! small Qwen2 shape of the side-by-side harness (hidden 256, intermediate 688, 4 layers,
//! 4 heads / 2 kv heads, vocab 4096), frozen base, next-token cross-entropy. Run by
//! `bench/lora_step.py` against PyTorch + PEFT; alone:
//!
//!   cargo bench --bench lora_step -- --backend flex --kind lora --steps 10
//!
//! Prints `lora_step: {json}` on stderr: train tokens/s (median step), peak RSS.

use std::time::Instant;

use burn::backend::Autodiff;
use burn::optim::{GradientsParams, Optimizer};
use recfound::optim::AdamWSettings;
use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use recfound::train::losses::response_ce_sum;
use recfound::adapters::{Adapter, AdapterConfig};
use recfound::backbone::{AttnMode, DecoderConfig, Family, Lm, ProjectionDelta, TokenMask};
use recfound::recfound::TaskId;

mod common;

struct Args {
    backend: String,
    kind: String,
    steps: usize,
    warmup: usize,
    batch: usize,
    seq: usize,
    r: usize,
}

fn parse_args() -> Args {
    let f = common::flag_values();
    Args {
        backend: common::flag(&f, "backend", "flex".to_string()),
        kind: common::flag(&f, "kind", "lora".to_string()),
        steps: common::flag(&f, "steps", 10),
        warmup: common::flag(&f, "warmup", 2),
        batch: common::flag(&f, "batch", 8),
        seq: common::flag(&f, "seq", 128),
        r: common::flag(&f, "r", 16),
    }
}

fn run<B: AutodiffBackend>(args: &Args) {
    let device = B::Device::default();
    B::seed(&device, 0);
    let config = DecoderConfig::new(Family::Qwen2, 4096, 256, 688, 4, 4, 2, 64).with_qkv_bias(true);
    let decoder = config.init::<B>(&device).no_grad();
    let adapter_config = match args.kind.as_str() {
        "lora" => AdapterConfig { lora_dropout: 0.0, ..AdapterConfig::lora(args.r, 2.0 * args.r as f64) },
        "tmole" => AdapterConfig { lora_dropout: 0.0, ..AdapterConfig { r: args.r, ..AdapterConfig::recfound_tmole() } },
        other => panic!("--kind lora|tmole, got {other}"),
    };
    let mut adapter = Adapter::<B>::new(adapter_config, &decoder, true, &device).expect("valid adapter");
    let mut optim = AdamWSettings::default().init::<B, Adapter<B>>();
    let (b, t) = (args.batch, args.seq);
    let data: Vec<i64> = (0..b * (t + 1)).map(|i| (i * 7919 % 4000) as i64 + 10).collect();
    let all = Tensor::<B, 2, Int>::from_data(TensorData::new(data, [b, t + 1]), &device);
    let inputs = all.clone().slice([0..b, 0..t]); // [B, T]
    // Next-token targets on the host, as training builds them (`train::losses`).
    let targets: Vec<i64> = all.clone().slice([0..b, 1..t + 1]).into_data().iter::<i64>().collect(); // B*T
    let tasks = vec![TaskId::SequentialRecommendation; b];
    let mask = TokenMask::all(b, t);

    let mut times = Vec::new();
    let mut last_loss = 0.0;
    for step in 0..args.warmup + args.steps {
        let start = Instant::now();
        let bound = adapter.bind(&tasks).expect("tasks fit the table");
        let logits = Lm::new(&decoder, Some(&bound as &dyn ProjectionDelta<B>)).forward(inputs.clone(), &mask, AttnMode::Causal, None); // [B, T, V]
        // The training loss (mean token cross-entropy), as `train::model` computes it.
        let (sum, count) = response_ce_sum(logits, &targets);
        let loss = sum / count as f32;
        let grads = GradientsParams::from_grads(loss.backward(), &adapter);
        drop(bound);
        adapter = optim.step(1e-4, adapter, grads);
        // Wait for the step's work (lazy backends) by reading the loss back.
        last_loss = loss.into_scalar().elem::<f64>();
        if step >= args.warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let trainable = adapter.num_params();
    let report = serde_json::json!({
        "backend": args.backend, "kind": args.kind, "batch": b, "seq": t, "r": args.r,
        "steps": args.steps, "median_step_s": median, "tokens_per_s": (b * t) as f64 / median,
        "min_step_s": times[0], "trainable_params": trainable, "loss": last_loss, "peak_rss_mib": common::peak_rss_mib(),
    });
    eprintln!("lora_step: {report}");
}


fn main() {
    let args = parse_args();
    common::tune_allocator(&common::flag_values());
    match args.backend.as_str() {
        #[cfg(feature = "flex")]
        "flex" => run::<Autodiff<recfound::backend::FlexBackend>>(&args),
        #[cfg(feature = "ndarray")]
        "ndarray" => run::<Autodiff<recfound::backend::NdArrayBackend>>(&args),
        other => panic!("backend `{other}` is not compiled in (flex, ndarray)"),
    }
}
