//! Beam search as transformers' `_beam_search` does it (transformers >= 4.50): keep the
//! `max(2, 1 + n_eos) * num_beams` best continuations per prompt, continue the best `num_beams`
//! unfinished ones, collect finished hypotheses scored `sum logprob / new_len^length_penalty`,
//! and stop when no running beam can beat the worst kept hypothesis. Several prompts run in one
//! batch (`prompts x num_beams` rows); an optional [`TokenConstraint`] masks the logits.

use burn::tensor::{activation::log_softmax, backend::Backend};

use super::constraint::TokenConstraint;
use super::lm::Lm;
use super::generate::{GenerateError, StopConfig, check_prompts, left_pad, step_ids};
use super::mask::TokenMask;

/// HF marks impossible beams with this score rather than -inf, so arithmetic stays finite.
const DEAD: f32 = -1.0e9;

/// Beam-search settings (HF names).
#[derive(Debug, Clone, PartialEq)]
pub struct BeamConfig {
    pub num_beams: usize,
    /// Exponent on the new length in a finished hypothesis' score; > 0 favours longer outputs.
    pub length_penalty: f32,
    /// How many hypotheses to return per prompt (at most `num_beams`).
    pub num_return_sequences: usize,
}

/// One finished beam: its new tokens (EOS included when it ended so) and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamHypothesis {
    pub ids: Vec<u32>,
    pub score: f32,
}

/// Per-prompt bookkeeping: running beams and the best finished hypotheses (best first).
struct PromptBeams {
    running: Vec<(Vec<u32>, f32)>,
    finished: Vec<BeamHypothesis>,
}

/// Each item of `per_prompt` repeated `num_beams` times: the row layout of [`beam_search`], for
/// binding per-prompt adapter state (a task per prompt) to its rows.
pub fn beam_rows<T: Clone>(per_prompt: &[T], num_beams: usize) -> Vec<T> {
    per_prompt.iter().flat_map(|x| std::iter::repeat_n(x.clone(), num_beams)).collect()
}

/// Runs beam search for every prompt. Returns, per prompt, up to `num_return_sequences`
/// hypotheses, best first. Rows are prompt-major (`prompt * num_beams + beam`) and keep their
/// prompt throughout, so an adapter in `lm` must be bound to `prompts x num_beams` rows in that
/// order (see [`beam_rows`]).
pub fn beam_search<'a, B: Backend>(
    lm: impl Into<Lm<'a, B>>,
    prompts: &[Vec<u32>],
    beam: &BeamConfig,
    stop: &StopConfig,
    constraint: Option<&dyn TokenConstraint>,
    device: &B::Device,
) -> Result<Vec<Vec<BeamHypothesis>>, GenerateError> {
    let _span = tracing::debug_span!("beam_search", prompts = prompts.len(), num_beams = beam.num_beams).entered();
    let nb = beam.num_beams;
    if nb == 0 {
        return Err(GenerateError::NoBeams);
    }
    let lm = lm.into();
    let vocab_size = lm.vocab_size();
    check_prompts(prompts, vocab_size)?;
    if prompts.is_empty() || stop.max_new_tokens == 0 {
        return Ok(vec![Vec::new(); prompts.len()]);
    }
    let rows: Vec<Vec<u32>> = prompts.iter().flat_map(|p| std::iter::repeat_n(p.clone(), nb)).collect();
    let mut state: Vec<PromptBeams> = prompts
        .iter()
        .map(|_| PromptBeams {
            // Only the first copy is live at the start, so the first step does not pick duplicates.
            running: (0..nb).map(|j| (Vec::new(), if j == 0 { 0.0 } else { DEAD })).collect(),
            finished: Vec::new(),
        })
        .collect();
    let keep = 2.max(1 + stop.eos_token_ids.len()) * nb;

    let mut cache = lm.new_cache();
    let (ids, mask) = left_pad::<B>(&rows, stop.pad_token_id, device);
    let mut logits = lm.forward_last(ids, &mask, Some(&mut cache)); // [P*nb, V]
    let step_mask = TokenMask::all(rows.len(), 1);
    for step in 0..stop.max_new_tokens {
        let new_len = (step + 1) as f32;
        let at_max = step + 1 == stop.max_new_tokens;
        let logp: Vec<f32> = log_softmax(logits, 1).into_data().iter::<f32>().collect();
        let mut source_rows = Vec::with_capacity(rows.len());
        let mut fed = Vec::with_capacity(rows.len());
        let mut any_improvable = false;
        for (p, s) in state.iter_mut().enumerate() {
            let candidates = top_candidates(s, &logp[p * nb * vocab_size..(p + 1) * nb * vocab_size], vocab_size, keep, constraint);
            let completed: Vec<bool> = candidates
                .iter()
                .map(|c| at_max || stop.eos_token_ids.contains(&c.token))
                .collect();

            // Finished hypotheses: completed candidates among the first num_beams, merged with
            // the kept ones, best num_beams kept.
            for (c, _) in candidates.iter().zip(&completed).take(nb).filter(|(_, done)| **done) {
                if c.score <= DEAD / 2.0 {
                    continue;
                }
                let mut ids = s.running[c.beam].0.clone();
                ids.push(c.token);
                s.finished.push(BeamHypothesis { ids, score: c.score / new_len.powf(beam.length_penalty) });
            }
            s.finished.sort_by(|a, b| b.score.total_cmp(&a.score));
            s.finished.truncate(nb);

            // Next running beams: the best num_beams candidates that did not complete.
            let mut next: Vec<(usize, u32, f32)> = candidates
                .iter()
                .zip(&completed)
                .filter(|(_, done)| !**done)
                .map(|(c, _)| (c.beam, c.token, c.score))
                .take(nb)
                .collect();
            while next.len() < nb {
                next.push((0, stop.pad_token_id, DEAD));
            }
            let old = std::mem::take(&mut s.running);
            s.running = next
                .iter()
                .map(|&(beam, token, score)| {
                    let mut ids = old[beam].0.clone();
                    ids.push(token);
                    (ids, score)
                })
                .collect();
            source_rows.extend(next.iter().map(|&(beam, _, _)| p * nb + beam));
            fed.extend(next.iter().map(|&(_, token, _)| token));

            // HF's stopping heuristic: can the best running beam, scored at the current length,
            // still beat the worst kept hypothesis?
            let best_running = s.running[0].1 / new_len.powf(beam.length_penalty);
            let worst_kept = if s.finished.len() == nb { s.finished[nb - 1].score } else { DEAD };
            let can_continue = completed.iter().any(|c| !c);
            any_improvable |= best_running > worst_kept && can_continue;
        }
        if at_max || !any_improvable {
            break;
        }
        cache.select_rows(&source_rows);
        logits = lm.forward_last(step_ids::<B>(&fed, device), &step_mask, Some(&mut cache));
    }
    let n = beam.num_return_sequences.clamp(1, nb);
    Ok(state.into_iter().map(|s| s.finished.into_iter().take(n).collect()).collect())
}

struct Candidate {
    beam: usize,
    token: u32,
    score: f32,
}

/// The `keep` best (beam, token) continuations of one prompt, best first.
fn top_candidates(
    s: &PromptBeams,
    logp: &[f32],
    vocab: usize,
    keep: usize,
    constraint: Option<&dyn TokenConstraint>,
) -> Vec<Candidate> {
    let mut all = Vec::new();
    for (j, (ids, score)) in s.running.iter().enumerate() {
        let row = &logp[j * vocab..(j + 1) * vocab];
        match constraint {
            Some(c) => all.extend(
                c.allowed(ids)
                    .into_iter()
                    .filter(|&t| (t as usize) < vocab)
                    .map(|t| Candidate { beam: j, token: t, score: score + row[t as usize] }),
            ),
            None => all.extend(row.iter().enumerate().map(|(t, lp)| Candidate { beam: j, token: t as u32, score: score + lp })),
        }
    }
    // Flat index order breaks ties, as torch.topk on the flattened [beams * vocab] scores.
    let by_score = |a: &Candidate, b: &Candidate| b.score.total_cmp(&a.score).then((a.beam, a.token).cmp(&(b.beam, b.token)));
    if all.len() > keep {
        all.select_nth_unstable_by(keep - 1, by_score);
        all.truncate(keep);
    }
    all.sort_by(by_score);
    all
}
