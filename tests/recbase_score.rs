//! RecBase zero-shot scoring (issue 9, "Done when"): the cached, batched candidate score equals
//! the sum of the per-level log-probabilities of a plain full forward of `history + candidate`,
//! one candidate at a time; constrained beam search never emits an id outside the trie.

use std::collections::HashSet;

use burn::backend::NdArray;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use recfound::backbone::{AttnMode, Decoder, DecoderConfig, Family, TokenMask};
use recfound::recbase::ConceptVocab;
use recfound::recbase::recommend::{RecommendSettings, recommend_items};
use recfound::recbase::score::{Normalisation, ScoreQuery, ScoreSettings, score_queries};

type TestBackend = NdArray<f32>;

fn tiny(vocab: &ConceptVocab, seed: u64) -> Decoder<TestBackend> {
    use burn::tensor::backend::Backend;
    let device = Default::default();
    TestBackend::seed(&device, seed);
    DecoderConfig::new(Family::Qwen2, vocab.len(), 32, 64, 2, 4, 2, 8).with_qkv_bias(true).init(&device)
}

/// Σ over the candidate's tokens of log P(token | everything before it), from one plain forward
/// of `history + candidate` (no cache, no padding).
fn plain_score(decoder: &Decoder<TestBackend>, vocab: &ConceptVocab, history: &[u32], candidate: &[u32], normalisation: Normalisation) -> f32 {
    let seq: Vec<u32> = history.iter().chain(candidate).copied().collect();
    let t = seq.len();
    let ids = Tensor::<TestBackend, 2, Int>::from_data(TensorData::new(seq.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(), [1, t]), &Default::default());
    let logits = decoder.forward(ids, &TokenMask::all(1, t), AttnMode::Causal, None); // [1, T, V]
    let v = logits.dims()[2];
    let logits: Vec<f32> = logits.into_data().iter::<f32>().collect();
    let mut total = 0.0;
    for (level, &token) in candidate.iter().enumerate() {
        let pos = history.len() - 1 + level; // predicts seq[pos + 1]
        let row = &logits[pos * v..(pos + 1) * v];
        let range = match normalisation {
            Normalisation::FullVocab => 0..v,
            Normalisation::LevelTokens => {
                let r = vocab.level_tokens(level);
                r.start as usize..r.end as usize
            }
        };
        let slice = Tensor::<TestBackend, 1>::from_data(TensorData::new(row[range.clone()].to_vec(), [range.len()]), &Default::default());
        let logp: Vec<f32> = log_softmax(slice, 0).into_data().iter::<f32>().collect();
        total += logp[token as usize - range.start];
    }
    total
}

fn item(vocab: &ConceptVocab, seed: u32) -> Vec<u32> {
    (0..vocab.levels()).map(|l| vocab.token(l, (seed * 7 + l as u32 * 3) % vocab.level_sizes[l]).unwrap()).collect()
}

#[test]
fn cached_scores_equal_plain_forward() {
    let vocab = ConceptVocab::new(vec![5, 4, 6]).unwrap();
    let decoder = tiny(&vocab, 7);
    // Unequal history lengths (1, 3 and 6 items, and a bare BOS) and candidate counts in one batch.
    let queries: Vec<ScoreQuery> = [(1usize, 3usize), (3, 5), (6, 2), (0, 4)]
        .iter()
        .enumerate()
        .map(|(u, &(items, cands))| {
            let mut history = vec![recfound::recbase::BOS];
            history.extend((0..items as u32).flat_map(|i| item(&vocab, i + 10 * u as u32)));
            ScoreQuery { history, candidates: (0..cands as u32).map(|c| item(&vocab, 100 + c + u as u32)).collect() }
        })
        .collect();
    for normalisation in [Normalisation::FullVocab, Normalisation::LevelTokens] {
        // max_rows 8 splits the 14 rows into batches; 100 keeps them in one.
        for max_rows in [8, 100] {
            let settings = ScoreSettings { normalisation, max_rows };
            let mut done = Vec::new();
            let cached = score_queries(&decoder, &vocab, &queries, &settings, &Default::default(), &mut |n| done.push(n)).unwrap();
            assert_eq!(done.last(), Some(&queries.len()));
            for (q, query) in queries.iter().enumerate() {
                assert_eq!(cached[q].len(), query.candidates.len());
                for (c, cand) in query.candidates.iter().enumerate() {
                    let plain = plain_score(&decoder, &vocab, &query.history, cand, normalisation);
                    let diff = (cached[q][c] - plain).abs();
                    assert!(diff < 1e-4, "{normalisation:?} max_rows {max_rows}: query {q} candidate {c}: cached {} plain {plain}", cached[q][c]);
                }
            }
        }
    }
}

#[test]
fn constrained_beam_emits_only_trie_items() {
    let vocab = ConceptVocab::new(vec![6, 6, 6]).unwrap();
    let decoder = tiny(&vocab, 3);
    // 20 real items out of 216 possible tuples.
    let items: Vec<(String, Vec<u32>)> = (0..20u32).map(|i| (format!("i{i}"), item(&vocab, i * 5 + 1))).collect();
    let real: HashSet<Vec<u32>> = items.iter().map(|(_, t)| t.clone()).collect();
    let histories: Vec<Vec<u32>> = (0..25u32)
        .map(|u| {
            let mut h = vec![recfound::recbase::BOS];
            h.extend((0..(u % 5)).flat_map(|i| item(&vocab, u * 11 + i)));
            h
        })
        .collect();
    let settings = RecommendSettings { top_k: 5, num_beams: 8, batch_users: 7 };
    let recs = recommend_items(&decoder, &vocab, &items, &histories, &settings, &Default::default(), &mut |_| {}).unwrap();
    assert_eq!(recs.len(), histories.len());
    for (u, list) in recs.iter().enumerate() {
        assert_eq!(list.len(), 5, "user {u}");
        let ids: HashSet<&str> = list.iter().map(|r| r.item_id.as_str()).collect();
        assert_eq!(ids.len(), 5, "user {u}: repeated items {list:?}");
        for rec in list {
            assert!(real.contains(&rec.tokens), "user {u}: {:?} is not an item", rec.tokens);
            assert!(rec.score.is_finite() && rec.score <= 0.0);
        }
        assert!(list.windows(2).all(|w| w[0].score >= w[1].score), "user {u}: not best first");
    }
}
