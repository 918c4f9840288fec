//! Criterion benches of the decoder's hot paths on the small Qwen2 shape of the side-by-side
//! harness (hidden 256, intermediate 688, 4 layers, 4 heads / 2 kv heads, vocab 4096):
//! a prefill forward pass of 32 tokens, and greedy generation of 32 tokens with the KV cache,
//! at batch 1 and 8, on every CPU backend compiled in.
//!
//!   cargo bench --bench decoder

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use recfound::backbone::{Decoder, DecoderConfig, Family, Sampler, StopConfig, TokenMask, generate};

fn small_qwen2() -> DecoderConfig {
    DecoderConfig::new(Family::Qwen2, 4096, 256, 688, 4, 4, 2, 64).with_qkv_bias(true)
}

fn ids<B: Backend>(batch: usize, len: usize, device: &B::Device) -> Tensor<B, 2, Int> {
    let data: Vec<i64> = (0..batch * len).map(|i| (i * 7919 % 4000) as i64 + 10).collect();
    Tensor::from_data(TensorData::new(data, [batch, len]), device)
}

fn bench_backend<B: Backend>(c: &mut Criterion, name: &str) {
    let device = B::Device::default();
    let decoder: Decoder<B> = small_qwen2().init(&device);
    let mut group = c.benchmark_group(format!("decoder/{name}"));
    group.sample_size(20);
    for batch in [1usize, 8] {
        group.bench_with_input(BenchmarkId::new("prefill_32", batch), &batch, |b, &batch| {
            b.iter(|| {
                let logits = decoder.forward_last(ids::<B>(batch, 32, &device), &TokenMask::all(batch, 32), None);
                logits.into_data()
            })
        });
        // Steady-state decoding: 32 new tokens after a 32-token prompt, through the same
        // `generate` the CLI uses (prefill included; divide by 32 for a per-token figure).
        group.bench_with_input(BenchmarkId::new("generate_32_new", batch), &batch, |b, &batch| {
            let prompts: Vec<Vec<u32>> = (0..batch).map(|r| (0..32).map(|i| ((r * 131 + i * 7919) % 4000 + 10) as u32).collect()).collect();
            let stop = StopConfig { max_new_tokens: 32, eos_token_ids: vec![], pad_token_id: 0 };
            b.iter(|| generate(&decoder, &prompts, &mut Sampler::Greedy, &stop, &device).expect("valid prompts"))
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    #[cfg(feature = "ndarray")]
    bench_backend::<recfound::backend::NdArrayBackend>(c, "ndarray");
    #[cfg(feature = "flex")]
    bench_backend::<recfound::backend::FlexBackend>(c, "flex");
}

criterion_group!(decoder, benches);
criterion_main!(decoder);
