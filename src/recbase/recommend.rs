//! Top-k recommendation (issue 9 item 5, DESIGN.md §8): beam search over the next item's concept
//! ids, constrained by the prefix trie of the domain's item token sequences so that every
//! hypothesis is a real item. An item is exactly L tokens, so the search runs L steps, keeps
//! `num_beams >= k` beams and returns the k best complete items per user, scored by the same
//! joint log-probability as zero-shot scoring (full-vocabulary softmax, length penalty 0).
//!
//! The evaluation of `--eval` (hold back each user's last item; Recall@K and NDCG@K of the
//! generated list against a popularity list) is [`evaluate_lists`], on plain data.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::backend::Backend;

use crate::backbone::{BeamConfig, Lm, PrefixTrie, StopConfig, beam_search};
use crate::data::domain::{DomainFolder, UnknownItems};
use crate::eval::metrics::topk::{list_ndcg_at_k, list_recall_at_k};

use super::baselines::popularity_counts;
use super::candidates::{EvalRow, history_tokens, item_tokens};
use super::{ConceptVocab, PAD, RecBaseError, RecBaseRun};

/// How [`recommend_items`] searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecommendSettings {
    /// Items per user.
    pub top_k: usize,
    /// Beams per user; raised to `top_k` when smaller (beam search returns at most its beams).
    pub num_beams: usize,
    /// Users per beam-search batch (`batch_users * num_beams` decoder rows).
    pub batch_users: usize,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    pub item_id: String,
    pub tokens: Vec<u32>,
    /// Σ_l log P(code_l | history, earlier codes).
    pub score: f32,
}

/// The `top_k` best items of `items` (`item_id -> tokens`, `vocab.levels()` tokens each) after
/// each history (`BOS item_1 ... item_n` as tokens), best first. Fewer come back only when the
/// domain has fewer than `top_k` items. Items sharing one token sequence are reported as the
/// first of them in `items`' order. `progress` gets the number of users done after each batch.
pub fn recommend_items<'a, B: Backend>(
    lm: impl Into<Lm<'a, B>>,
    vocab: &ConceptVocab,
    items: &[(String, Vec<u32>)],
    histories: &[Vec<u32>],
    settings: &RecommendSettings,
    device: &B::Device,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<Recommendation>>, RecBaseError> {
    let lm = lm.into();
    if settings.top_k == 0 {
        return Err(RecBaseError::config("top_k", "must be at least 1"));
    }
    if items.is_empty() {
        return Err(RecBaseError::Empty { what: "no items to recommend".into() });
    }
    let mut by_tokens: HashMap<&[u32], &str> = HashMap::with_capacity(items.len());
    for (item_id, tokens) in items {
        if vocab.item_codes(tokens).is_none() {
            let message = format!("tokens {tokens:?} are not one code per level ({} levels)", vocab.levels());
            return Err(RecBaseError::Unencodable { item_id: item_id.clone(), message });
        }
        by_tokens.entry(tokens.as_slice()).or_insert(item_id.as_str());
    }
    // No end token: every item is exactly L tokens, and the search stops after L steps.
    let trie = PrefixTrie::new(by_tokens.keys().copied(), Vec::new());
    let num_beams = settings.num_beams.max(settings.top_k);
    let beam = BeamConfig { num_beams, length_penalty: 0.0, num_return_sequences: settings.top_k };
    let stop = StopConfig { max_new_tokens: vocab.levels(), eos_token_ids: Vec::new(), pad_token_id: PAD };
    let _span = tracing::debug_span!("recommend", users = histories.len(), num_beams).entered();

    let mut out = Vec::with_capacity(histories.len());
    for chunk in histories.chunks(settings.batch_users.max(1)) {
        let hypotheses = beam_search(lm, chunk, &beam, &stop, Some(&trie), device)
            .map_err(|e| RecBaseError::config("history", e.to_string()))?;
        for list in hypotheses {
            let recs = list
                .into_iter()
                .filter_map(|h| {
                    // The trie admits only complete items; a beam cut short (a domain with fewer
                    // items than beams) never reaches the finished list, but check anyway.
                    let item_id = by_tokens.get(h.ids.as_slice())?;
                    Some(Recommendation { item_id: (*item_id).to_string(), tokens: h.ids, score: h.score })
                })
                .collect();
            out.push(recs);
        }
        progress(out.len());
    }
    Ok(out)
}

/// What `recommend_domain` does besides the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainRecommendSettings {
    pub search: RecommendSettings,
    /// Only the most recent items of a longer history are read (0 = all of them).
    pub max_history_items: usize,
    /// Hold back each user's last item and score the lists against it (and popularity).
    pub eval: bool,
}

/// One user's list; `held_out` is the held-back item under `eval`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserRecommendations {
    pub user_id: String,
    pub items: Vec<Recommendation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_out: Option<String>,
}

/// The lists of every user of a domain, and the evaluation under `eval`.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainRecommendations {
    pub users: Vec<UserRecommendations>,
    pub eval: Option<RecommendEval>,
    /// Users left out under `eval` for having a single item (nothing left as history).
    pub skipped_users: usize,
}

/// Recommends `settings.search.top_k` items of `domain` to each of its users (items encoded with
/// the run's item tokenizer, no refit). Under `eval` each user's last item is held back, and the
/// popularity list is counted over the sequences without the held-back items.
pub fn recommend_domain<B: Backend>(
    run: &RecBaseRun<B>,
    domain: &Path,
    settings: &DomainRecommendSettings,
    device: &B::Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DomainRecommendations, RecBaseError> {
    let _span = tracing::info_span!("recommend", domain = %domain.display()).entered();
    let (folder, _) = DomainFolder::read(domain, UnknownItems::Reject)?;
    let tokens = run.encode_domain(domain, device)?;
    let items = folder
        .items
        .iter()
        .map(|i| item_tokens(&i.item_id, &tokens).map(|t| (i.item_id.clone(), t.to_vec())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut users = Vec::new();
    let mut histories = Vec::new();
    let mut skipped_users = 0;
    for seq in &folder.sequences {
        let (history, held_out) = match (settings.eval, seq.item_ids.split_last()) {
            (true, Some((last, rest))) if !rest.is_empty() => (rest, Some(last.clone())),
            (true, _) => {
                skipped_users += 1;
                continue;
            }
            (false, _) => (seq.item_ids.as_slice(), None),
        };
        histories.push(history_tokens(history, &tokens, settings.max_history_items)?);
        users.push(UserRecommendations { user_id: seq.user_id.clone(), items: Vec::new(), held_out });
    }
    if users.is_empty() {
        return Err(RecBaseError::Empty { what: format!("{}: no user with a history", domain.display()) });
    }
    let total = users.len();
    let lists = recommend_items(&run.decoder, &run.vocab, &items, &histories, &settings.search, device, &mut |done| progress(done, total))?;
    for (user, list) in users.iter_mut().zip(lists) {
        user.items = list;
    }
    let eval = if settings.eval {
        // The held-back items as rows with one positive each: popularity_counts removes them.
        let rows: Vec<EvalRow> = users
            .iter()
            .map(|u| EvalRow {
                line: None,
                user_id: u.user_id.clone(),
                history: Vec::new(),
                candidates: u.held_out.iter().cloned().collect(),
                labels: vec![1],
            })
            .collect();
        let counts = popularity_counts(&folder.sequences, &rows);
        let ids: Vec<String> = items.iter().map(|(id, _)| id.clone()).collect();
        let popular = popular_items(&counts, &ids, settings.search.top_k);
        let lists: Vec<Vec<String>> = users.iter().map(|u| u.items.iter().map(|r| r.item_id.clone()).collect()).collect();
        let held_out: Vec<String> = users.iter().map(|u| u.held_out.clone().expect("set under eval")).collect();
        Some(evaluate_lists(&lists, &popular, &held_out, settings.search.top_k)?)
    } else {
        None
    };
    Ok(DomainRecommendations { users, eval, skipped_users })
}

/// Writes one JSON line per user (`{"user_id", "items": [{"item_id", "tokens", "score"}..],
/// "held_out"?}`) to `path`, atomically.
pub fn write_recommendations(path: &Path, users: &[UserRecommendations]) -> Result<(), RecBaseError> {
    let mut text = Vec::new();
    for user in users {
        serde_json::to_writer(&mut text, user).expect("strings and numbers serialise");
        text.push(b'\n');
    }
    crate::io::write_atomic(path, &text).map_err(|e| RecBaseError::io(path, e))
}

/// Popularity ranking: items by descending count, ties in `items` order; at most `k`.
pub fn popular_items(counts: &HashMap<String, f64>, items: &[String], k: usize) -> Vec<String> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    let count = |i: usize| counts.get(&items[i]).copied().unwrap_or(0.0);
    // Stable sort: equal counts keep the items' order.
    order.sort_by(|&a, &b| count(b).total_cmp(&count(a)));
    order.into_iter().take(k).map(|i| items[i].clone()).collect()
}

/// Recall@K and NDCG@K of one list method, averaged over users.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ListMetrics {
    pub recall: f64,
    pub ndcg: f64,
}

/// The `--eval` report: the model's lists and the popularity lists against each user's
/// held-back item.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecommendEval {
    pub k: usize,
    pub users: usize,
    pub recbase: ListMetrics,
    pub popularity: ListMetrics,
}

/// Scores each user's `lists[u]` and the shared `popular` list against `held_out[u]` (one
/// relevant item per user): Recall@K (hit rate, as one item is relevant) and NDCG@K, means over
/// users. Errors on `k == 0` or lengths that disagree.
pub fn evaluate_lists(lists: &[Vec<String>], popular: &[String], held_out: &[String], k: usize) -> Result<RecommendEval, RecBaseError> {
    if lists.len() != held_out.len() {
        return Err(RecBaseError::config("eval", format!("{} lists for {} held-out items", lists.len(), held_out.len())));
    }
    if lists.is_empty() {
        return Err(RecBaseError::Empty { what: "no user to evaluate".into() });
    }
    let metric = |e: crate::eval::metrics::MetricError| RecBaseError::config("eval", e.to_string());
    let mut sums = [0.0f64; 4];
    for (list, target) in lists.iter().zip(held_out) {
        let relevant = std::slice::from_ref(target);
        sums[0] += list_recall_at_k(list, relevant, k).map_err(metric)?;
        sums[1] += list_ndcg_at_k(list, relevant, k).map_err(metric)?;
        sums[2] += list_recall_at_k(popular, relevant, k).map_err(metric)?;
        sums[3] += list_ndcg_at_k(popular, relevant, k).map_err(metric)?;
    }
    let n = lists.len() as f64;
    Ok(RecommendEval {
        k,
        users: lists.len(),
        recbase: ListMetrics { recall: sums[0] / n, ndcg: sums[1] / n },
        popularity: ListMetrics { recall: sums[2] / n, ndcg: sums[3] / n },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn popularity_breaks_ties_by_item_order() {
        let counts: HashMap<String, f64> = [("b".to_string(), 2.0), ("c".to_string(), 2.0), ("d".to_string(), 5.0)].into();
        assert_eq!(popular_items(&counts, &strings(&["a", "b", "c", "d"]), 3), strings(&["d", "b", "c"]));
    }

    #[test]
    fn list_evaluation_by_hand() {
        // User 1: target at rank 2 -> recall 1, NDCG 1/log2 3; user 2: missing -> 0, 0.
        // Popularity [x, y]: user 1's target y at rank 2, user 2's target z missing.
        let lists = vec![strings(&["a", "y"]), strings(&["a", "b"])];
        let eval = evaluate_lists(&lists, &strings(&["x", "y"]), &strings(&["y", "z"]), 2).unwrap();
        let l3 = 1.0 / 3f64.log2();
        assert!((eval.recbase.recall - 0.5).abs() < 1e-12 && (eval.recbase.ndcg - l3 / 2.0).abs() < 1e-12);
        assert!((eval.popularity.recall - 0.5).abs() < 1e-12 && (eval.popularity.ndcg - l3 / 2.0).abs() < 1e-12);
        assert!(evaluate_lists(&lists, &[], &strings(&["y"]), 2).is_err());
    }
}
