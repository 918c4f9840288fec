//! One RQ-VAE training step (forward through encoder, 4 x 256 residual quantisation, decoder;
//! reconstruction + codebook + commitment + soft usage-entropy losses; backward; AdamW) on the
//! issue-8 benchmark shape: input 768, encoder 768-512-256 to latent 64, batch 1024. Run by
//! `python bench/side_by_side.py rqvae` against the same network in PyTorch; alone:
//!
//!   cargo bench --bench rqvae_step -- --backend flex --steps 10 [--system-malloc true]
//!
//! Prints `rqvae_step: {json}` on stderr: training samples/s (median step), peak RSS.

use std::time::Instant;

use burn::backend::Autodiff;
use burn::optim::{GradientsParams, Optimizer};
use recfound::optim::AdamWSettings;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, ElementConversion, Tensor};
use recfound::itemtok::losses::{LossWeights, rqvae_losses};
use recfound::itemtok::rqvae::{RqVae, RqVaeConfig};

mod common;

struct Args {
    backend: String,
    steps: usize,
    warmup: usize,
    batch: usize,
    system_malloc: bool,
}

fn parse_args() -> Args {
    let flags = common::flag_values();
    Args {
        backend: common::flag(&flags, "backend", "flex".to_string()),
        steps: common::flag(&flags, "steps", 10),
        warmup: common::flag(&flags, "warmup", 2),
        batch: common::flag(&flags, "batch", 1024),
        system_malloc: common::flag(&flags, "system-malloc", false),
    }
}

fn run<B: AutodiffBackend>(args: &Args) {
    let device = B::Device::default();
    B::seed(&device, 0);
    let config = RqVaeConfig::bench_768();
    let mut model: RqVae<B> = config.init(&device);
    let mut optim = AdamWSettings::default().init::<B, RqVae<B>>();
    let weights = LossWeights::default();
    let x = Tensor::<B, 2>::random([args.batch, config.input_dim], Distribution::Normal(0.0, 1.0), &device);
    let mut times = Vec::new();
    let mut last_loss = 0.0;
    for step in 0..args.warmup + args.steps {
        let start = Instant::now();
        let out = model.forward(x.clone(), config.levels);
        let loss = rqvae_losses(&out, x.clone(), &weights).total;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        // Wait for the step's work (lazy backends) by reading the loss back.
        last_loss = loss.into_scalar().elem::<f64>();
        if step >= args.warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let report = serde_json::json!({
        "backend": args.backend, "batch": args.batch, "steps": args.steps, "median_step_s": median,
        "samples_per_s": args.batch as f64 / median, "min_step_s": times[0], "loss": last_loss,
        "peak_rss_mib": common::peak_rss_mib(), "system_malloc": args.system_malloc,
    });
    eprintln!("rqvae_step: {report}");
}

fn main() {
    let args = parse_args();
    // As the `recfound` binary does; `--system-malloc true` measures glibc's defaults.
    if !args.system_malloc {
        recfound::allocator::retain_freed_memory();
    }
    match args.backend.as_str() {
        #[cfg(feature = "flex")]
        "flex" => run::<Autodiff<recfound::backend::FlexBackend>>(&args),
        #[cfg(feature = "ndarray")]
        "ndarray" => run::<Autodiff<recfound::backend::NdArrayBackend>>(&args),
        other => panic!("backend `{other}` is not compiled in (flex, ndarray)"),
    }
}
