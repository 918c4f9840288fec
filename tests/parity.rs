//! Parity with Hugging Face transformers on tiny random checkpoints of each family (fixtures
//! made by `scripts/make_fixtures.py`) and on the real stories260K checkpoint.
//! Tolerance: 1e-4 max-abs on f32 logits and hidden states; token ids must be identical.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use common::{TestBackend, assert_close, fixture_dir, read_f32, read_i64};
use recfound::backbone::embed::{EmbedInput, embed};
use recfound::backbone::{
    AttnMode, BeamConfig, Decoder, Sampler, StopConfig, TokenMask, beam_search, generate, load_decoder,
};
use serde_json::Value;

const TOL: f32 = 1e-4;
const FAMILIES: [&str; 3] = ["qwen2", "mistral", "llama"];

struct Fixture {
    dir: PathBuf,
    decoder: Decoder<TestBackend>,
    expected: Value,
}

fn fixture(family: &str) -> Fixture {
    let dir = fixture_dir().join(family);
    let loaded = load_decoder::<TestBackend>(&dir, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    assert_eq!(expected["fixture_version"], 1, "stale fixture: re-run scripts/make_fixtures.py");
    Fixture { dir, decoder: loaded.decoder, expected }
}

fn ids_tensor(values: &[i64], shape: [usize; 2]) -> Tensor<TestBackend, 2, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &Default::default())
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn stop(max_new_tokens: usize, eos: &Value) -> StopConfig {
    let eos_token_ids = eos.as_u64().map(|e| vec![e as u32]).unwrap_or_default();
    StopConfig { max_new_tokens, eos_token_ids, pad_token_id: 0 }
}

fn expected_tensor(dir: &Path, name: &str) -> (Vec<f32>, Vec<usize>) {
    read_f32(&dir.join("expected.safetensors"), name)
}

#[test]
fn logits_and_hidden_states_match_transformers() {
    for family in FAMILIES {
        let f = fixture(family);
        let (ids, shape) = read_i64(&f.dir.join("expected.safetensors"), "input_ids");
        let [b, t] = [shape[0], shape[1]];
        let mask = TokenMask::all(b, t);
        let hidden = f.decoder.forward_hidden(ids_tensor(&ids, [b, t]), &mask, AttnMode::Causal, None);
        let logits = f.decoder.lm_head(hidden.clone());
        assert_close(&format!("{family} logits"), &logits.into_data().to_vec::<f32>().unwrap(), &expected_tensor(&f.dir, "logits").0, TOL);
        assert_close(&format!("{family} hidden_states"), &hidden.into_data().to_vec::<f32>().unwrap(), &expected_tensor(&f.dir, "hidden_states").0, TOL);
        let bidir = f.decoder.forward_hidden(ids_tensor(&ids, [b, t]), &mask, AttnMode::Bidirectional, None);
        assert_close(
            &format!("{family} bidirectional_hidden_states"),
            &bidir.into_data().to_vec::<f32>().unwrap(),
            &expected_tensor(&f.dir, "bidirectional_hidden_states").0,
            TOL,
        );
    }
}

#[test]
fn left_padded_batch_matches_transformers_and_single_runs() {
    for family in FAMILIES {
        let f = fixture(family);
        let st = f.dir.join("expected.safetensors");
        let (ids, shape) = read_i64(&st, "padded_input_ids");
        let (mask_values, _) = read_i64(&st, "padded_attention_mask");
        let [b, t] = [shape[0], shape[1]];
        let rows: Vec<Vec<bool>> = mask_values.chunks(t).map(|r| r.iter().map(|m| *m == 1).collect()).collect();
        let mask = TokenMask::from_rows(&rows);
        let batched = f.decoder.forward_last(ids_tensor(&ids, [b, t]), &mask, None);
        let batched: Vec<f32> = batched.into_data().to_vec().unwrap();
        assert_close(&format!("{family} padded_last_logits"), &batched, &expected_tensor(&f.dir, "padded_last_logits").0, TOL);

        // Each row alone, without padding, gives the same last logits.
        let v = batched.len() / b;
        for (row, valid) in rows.iter().enumerate() {
            let real: Vec<i64> = ids[row * t..(row + 1) * t].iter().zip(valid).filter(|(_, m)| **m).map(|(i, _)| *i).collect();
            let n = real.len();
            let single = f.decoder.forward_last(ids_tensor(&real, [1, n]), &TokenMask::all(1, n), None);
            assert_close(&format!("{family} row {row} alone"), &single.into_data().to_vec::<f32>().unwrap(), &batched[row * v..(row + 1) * v], TOL);
        }
    }
}

#[test]
fn greedy_generation_matches_transformers() {
    for family in FAMILIES {
        let f = fixture(family);
        let g = &f.expected["greedy"];
        let out = generate(&f.decoder, &[u32s(&g["prompt"])], &mut Sampler::Greedy, &stop(g["max_new_tokens"].as_u64().unwrap() as usize, &g["eos_token_id"]), &Default::default()).unwrap();
        let expected = u32s(&g["new_ids"]);
        assert!(expected.len() >= 32);
        assert_eq!(out[0], expected, "{family}: greedy ids differ from transformers");

        let gb = &f.expected["greedy_batch"];
        let prompts: Vec<Vec<u32>> = gb["prompts"].as_array().unwrap().iter().map(u32s).collect();
        let out = generate(&f.decoder, &prompts, &mut Sampler::Greedy, &stop(gb["max_new_tokens"].as_u64().unwrap() as usize, &gb["eos_token_id"]), &Default::default()).unwrap();
        let expected: Vec<Vec<u32>> = gb["new_ids"].as_array().unwrap().iter().map(u32s).collect();
        assert_eq!(out, expected, "{family}: batched greedy ids differ from transformers");
    }
}

#[test]
fn beam_search_matches_transformers() {
    for family in FAMILIES {
        let f = fixture(family);
        for case in ["beam", "beam_eos"] {
            let c = &f.expected[case];
            let beam = BeamConfig {
                num_beams: c["num_beams"].as_u64().unwrap() as usize,
                length_penalty: c["length_penalty"].as_f64().unwrap() as f32,
                num_return_sequences: c["num_return_sequences"].as_u64().unwrap() as usize,
            };
            let st = stop(c["max_new_tokens"].as_u64().unwrap() as usize, &c["eos_token_id"]);
            let out = beam_search(&f.decoder, &[u32s(&c["prompt"])], &beam, &st, None, &Default::default()).unwrap();
            let ids: Vec<Vec<u32>> = out[0].iter().map(|h| h.ids.clone()).collect();
            let expected: Vec<Vec<u32>> = c["sequences"].as_array().unwrap().iter().map(u32s).collect();
            assert_eq!(ids, expected, "{family} {case}: beams differ from transformers");
            let scores: Vec<f32> = out[0].iter().map(|h| h.score).collect();
            let expected: Vec<f32> = c["sequences_scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap() as f32).collect();
            assert_close(&format!("{family} {case} scores"), &scores, &expected, TOL);
        }
    }
}

#[test]
fn kv_cache_decoding_equals_full_recomputation() {
    for family in FAMILIES {
        let f = fixture(family);
        let g = &f.expected["greedy"];
        let mut seq: Vec<i64> = u32s(&g["prompt"]).iter().map(|&x| x as i64).collect();
        seq.extend(u32s(&g["new_ids"]).iter().take(16).map(|&x| x as i64));
        let prompt_len = u32s(&g["prompt"]).len();
        let n = seq.len();
        let full = f.decoder.forward(ids_tensor(&seq, [1, n]), &TokenMask::all(1, n), AttnMode::Causal, None);
        let full: Vec<f32> = full.into_data().to_vec().unwrap();
        let v = full.len() / n;

        let mut cache = f.decoder.new_cache();
        let mut step = f.decoder.forward_last(ids_tensor(&seq[..prompt_len], [1, prompt_len]), &TokenMask::all(1, prompt_len), Some(&mut cache));
        for pos in prompt_len..n {
            let cached: Vec<f32> = step.into_data().to_vec().unwrap();
            assert_close(&format!("{family} cached logits at {}", pos - 1), &cached, &full[(pos - 1) * v..pos * v], TOL);
            step = f.decoder.forward_last(ids_tensor(&seq[pos..pos + 1], [1, 1]), &TokenMask::all(1, 1), Some(&mut cache));
        }
    }
}

#[test]
fn embedding_pools_bidirectional_hidden_states_over_the_span() {
    // Mean of transformers' bidirectional hidden states over tokens 3.. of row 0, L2-normalised.
    let f = fixture("qwen2");
    let st = f.dir.join("expected.safetensors");
    let (ids, shape) = read_i64(&st, "input_ids");
    let (hidden, _) = expected_tensor(&f.dir, "bidirectional_hidden_states");
    let (t, d) = (shape[1], hidden.len() / (shape[0] * shape[1]));
    let mut mean = vec![0f32; d];
    for pos in 3..t {
        for k in 0..d {
            mean[k] += hidden[pos * d + k] / (t - 3) as f32;
        }
    }
    let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
    let expected: Vec<f32> = mean.iter().map(|x| x / norm).collect();
    let input = EmbedInput { ids: ids[..t].iter().map(|&x| x as u32).collect(), pool_start: 3 };
    // Pad the batch with a shorter second input: right padding must not change row 0.
    let short = EmbedInput { ids: input.ids[..5].to_vec(), pool_start: 1 };
    let out = embed(&f.decoder, &[input, short], AttnMode::Bidirectional, true, &Default::default()).unwrap();
    let out: Vec<f32> = out.into_data().to_vec().unwrap();
    assert_close("pooled embedding", &out[..d], &expected, TOL);
}

#[test]
fn stories260k_greedy_matches_transformers() {
    let dir = common::shared_data().map(|d| d.join("weights/stories260K"));
    let Some(dir) = dir.filter(|d| d.is_dir()) else {
        eprintln!("SKIP stories260k: ../shared/data/weights/stories260K not found");
        return;
    };
    let loaded = load_decoder::<TestBackend>(&dir, &Default::default()).unwrap();
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("stories260k.json")).unwrap()).unwrap();
    for p in expected["prompts"].as_array().unwrap() {
        let prompt = u32s(&p["prompt"]);
        let n = prompt.len();
        let ids: Vec<i64> = prompt.iter().map(|&x| x as i64).collect();
        let last = loaded.decoder.forward_last(ids_tensor(&ids, [1, n]), &TokenMask::all(1, n), None);
        let want: Vec<f32> = p["logits_last"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_close("stories260k last logits", &last.into_data().to_vec::<f32>().unwrap(), &want, TOL);
        let st = stop(p["max_new_tokens"].as_u64().unwrap() as usize, &p["eos_token_id"]);
        let out = generate(&loaded.decoder, &[prompt], &mut Sampler::Greedy, &st, &Default::default()).unwrap();
        assert_eq!(out[0], u32s(&p["new_ids"]), "stories260k greedy continuation differs from transformers");
    }
}

/// The CLI's default CPU backend must compute what transformers computes too.
#[cfg(feature = "flex")]
#[test]
fn flex_backend_matches_transformers() {
    type Flex = recfound::backend::FlexBackend;
    for family in FAMILIES {
        let dir = fixture_dir().join(family);
        let decoder = load_decoder::<Flex>(&dir, &Default::default()).unwrap().decoder;
        let (ids, shape) = read_i64(&dir.join("expected.safetensors"), "input_ids");
        let ids = Tensor::<Flex, 2, Int>::from_data(TensorData::new(ids, [shape[0], shape[1]]), &Default::default());
        let logits = decoder.forward(ids, &TokenMask::all(shape[0], shape[1]), AttnMode::Causal, None);
        assert_close(&format!("flex {family} logits"), &logits.into_data().to_vec::<f32>().unwrap(), &expected_tensor(&dir, "logits").0, TOL);
        let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let g = &expected["greedy"];
        let out = generate(&decoder, &[u32s(&g["prompt"])], &mut Sampler::Greedy, &stop(40, &g["eos_token_id"]), &Default::default()).unwrap();
        assert_eq!(out[0], u32s(&g["new_ids"]), "flex {family}: greedy ids differ from transformers");
    }
}
