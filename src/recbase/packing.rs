//! RecBase's pretraining data as plain numbers (RecBase §3.3, Appendix B.2; issue 9 item 2): user
//! histories -> chronological concept-token streams (length-filtered), packed into fixed-length
//! rows with a segment id per token (the document mask of `TokenMask::packed`), next-token
//! targets on item tokens only, and a seeded mixture of domains. No backend, no I/O.
//!
//! A row holds whole segments, each `BOS item_1 ... item_k` (every item `levels` tokens), padded
//! with PAD (segment 0) at the end. A user longer than a row is split at item boundaries into
//! several segments; every segment starts with its own BOS (see [`pack_rows`] for why).

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::{BOS, NUM_SPECIALS, PAD, RecBaseError};
use crate::train::losses::IGNORE;

/// Appendix B.2's length filter, plus the fine-tuning hold-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Users with fewer items (after the hold-out) are dropped (paper: 15).
    pub min_items: usize,
    /// Longer histories keep only their most recent `max_items` items (paper: 2500); 0 = no cap.
    pub max_items: usize,
    /// Leaves out each user's last item, the held-back next item that evaluation asks for, so
    /// fine-tuned and zero-shot scores on it are comparable.
    pub hold_out_last: bool,
}

/// What the filter did, for the run's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FilterStats {
    pub users_in: usize,
    pub users_kept: usize,
    pub dropped_short: usize,
    pub truncated: usize,
    pub items_kept: usize,
}

/// Per-user token streams (items only, no BOS), chronological, for the users the filter keeps.
/// `tokens[item_id]` is an item's concept tokens (`levels` each); an item the table lacks is
/// [`RecBaseError::Unencodable`] naming it.
pub fn user_streams<S: AsRef<str>>(
    histories: &[Vec<S>],
    tokens: &HashMap<String, Vec<u32>>,
    filter: HistoryFilter,
) -> Result<(Vec<Vec<u32>>, FilterStats), RecBaseError> {
    let mut stats = FilterStats { users_in: histories.len(), ..Default::default() };
    let mut streams = Vec::new();
    for history in histories {
        let kept = if filter.hold_out_last { &history[..history.len().saturating_sub(1)] } else { &history[..] };
        if kept.len() < filter.min_items.max(1) {
            stats.dropped_short += 1;
            continue;
        }
        // The most recent items are the ones kept (they matter most for the next item).
        let kept = if filter.max_items > 0 && kept.len() > filter.max_items {
            stats.truncated += 1;
            &kept[kept.len() - filter.max_items..]
        } else {
            kept
        };
        let mut stream = Vec::new();
        for item in kept {
            let item = item.as_ref();
            let t = tokens.get(item).ok_or_else(|| RecBaseError::Unencodable {
                item_id: item.to_string(),
                message: "no concept id (missing from the domain's encoded items)".into(),
            })?;
            stream.extend_from_slice(t);
        }
        stats.items_kept += kept.len();
        streams.push(stream);
    }
    stats.users_kept = streams.len();
    Ok((streams, stats))
}

/// One packed training row: token ids and the segment of each (0 = padding).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedRow {
    pub ids: Vec<u32>,
    pub segments: Vec<u32>,
}

impl PackedRow {
    /// Next-token targets: position t predicts `ids[t + 1]` when that token is an item token of
    /// the same segment; every other position (the last of a segment, padding) is [`IGNORE`].
    /// BOS is never a target, and nothing is predicted across a segment boundary.
    pub fn targets(&self) -> Vec<i64> {
        (0..self.ids.len())
            .map(|t| match (self.ids.get(t + 1), self.segments.get(t + 1)) {
                (Some(&next), Some(&seg)) if seg != 0 && seg == self.segments[t] && next >= NUM_SPECIALS => next as i64,
                _ => IGNORE,
            })
            .collect()
    }

    /// Real (non-padding) tokens.
    pub fn real_tokens(&self) -> usize {
        self.segments.iter().filter(|&&s| s != 0).count()
    }
}

/// Packs `streams` (per-user item tokens, `levels` per item) into rows of `seq_len` tokens,
/// next-fit in the given order: a segment goes into the current row when it fits, else the row is
/// padded and a new one opened. A user with more than `(seq_len - 1) / levels` items is cut, at
/// item boundaries from the oldest, into several segments of at most that many items.
///
/// Every segment starts with BOS, continuations too: positions restart and attention stops at a
/// segment boundary anyway, so a continuation is, to the model, a history that begins there; BOS
/// then marks "start of what you know about this user" exactly as it does at inference, where
/// long histories are also cut to their recent part, and the first item gets a context to be
/// predicted from (BOS alone: the popularity prior) instead of being lost as an input-only token.
/// No EOS is written: it would be neither a target (targets are item tokens) nor an input that
/// predicts anything (it is last), only a wasted slot.
pub fn pack_rows(streams: &[Vec<u32>], levels: usize, seq_len: usize) -> Result<Vec<PackedRow>, RecBaseError> {
    if levels == 0 {
        return Err(RecBaseError::config("levels", "must be at least 1"));
    }
    let max_items = seq_len.saturating_sub(1) / levels;
    if max_items == 0 {
        return Err(RecBaseError::config("seq_len", format!("{seq_len} tokens cannot hold BOS and one item of {levels} tokens")));
    }
    let mut rows = Vec::new();
    let mut row = PackedRow { ids: Vec::with_capacity(seq_len), segments: Vec::with_capacity(seq_len) };
    for (user, stream) in streams.iter().enumerate() {
        if stream.len() % levels != 0 {
            let message = format!("user {user}: {} tokens is not a whole number of {levels}-token items", stream.len());
            return Err(RecBaseError::config("levels", message));
        }
        for chunk in stream.chunks(max_items * levels) {
            if row.ids.len() + 1 + chunk.len() > seq_len {
                rows.push(pad(std::mem::take(&mut row), seq_len));
            }
            let segment = row.segments.last().copied().unwrap_or(0) + 1;
            row.ids.push(BOS);
            row.ids.extend_from_slice(chunk);
            row.segments.resize(row.ids.len(), segment);
        }
    }
    if !row.ids.is_empty() {
        rows.push(pad(row, seq_len));
    }
    Ok(rows)
}

fn pad(mut row: PackedRow, seq_len: usize) -> PackedRow {
    row.ids.resize(seq_len, PAD);
    row.segments.resize(seq_len, 0);
    row
}

/// The rows a run trains on, in order: `count` picks `(domain, row)`, each domain drawn with
/// probability `weights[d] / sum(weights)` and its rows taken through a seeded shuffle, reshuffled
/// when used up. A pure function of its arguments, so a resumed run recomputes the same order and
/// needs only its step count as data cursor. Domains with no rows or weight 0 are never drawn.
pub fn mix_domains(rows_per_domain: &[usize], weights: &[f64], count: usize, seed: u64) -> Result<Vec<(usize, usize)>, RecBaseError> {
    if rows_per_domain.len() != weights.len() {
        let message = format!("{} weights for {} domains", weights.len(), rows_per_domain.len());
        return Err(RecBaseError::config("domain_weights", message));
    }
    if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(RecBaseError::config("domain_weights", format!("{w} is not a finite, non-negative weight")));
    }
    let live: Vec<f64> = weights.iter().zip(rows_per_domain).map(|(&w, &n)| if n > 0 { w } else { 0.0 }).collect();
    let total: f64 = live.iter().sum();
    if total <= 0.0 {
        return Err(RecBaseError::Empty { what: "no training rows: every domain with rows has weight 0 (or none has rows)".into() });
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut orders: Vec<Vec<usize>> = vec![Vec::new(); rows_per_domain.len()];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut x = rng.random::<f64>() * total;
        let mut domain = live.iter().rposition(|&w| w > 0.0).expect("some weight is positive");
        for (d, &w) in live.iter().enumerate() {
            if x < w {
                domain = d;
                break;
            }
            x -= w;
        }
        if orders[domain].is_empty() {
            // The order is consumed from the back; a fresh shuffle once it runs out.
            let mut order: Vec<usize> = (0..rows_per_domain[domain]).collect();
            order.shuffle(&mut rng);
            orders[domain] = order;
        }
        out.push((domain, orders[domain].pop().expect("refilled above")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(levels: usize, n: u32) -> HashMap<String, Vec<u32>> {
        // Item k -> tokens [10k + 3, 10k + 4, ...] (distinct, past the specials).
        (0..n).map(|k| (format!("i{k}"), (0..levels as u32).map(|l| 10 * k + 3 + l).collect())).collect()
    }

    fn hist(items: &[u32]) -> Vec<String> {
        items.iter().map(|k| format!("i{k}")).collect()
    }

    #[test]
    fn filter_drops_short_users_truncates_long_ones_and_holds_out_the_last_item() {
        let t = table(2, 10);
        let histories = vec![hist(&[1, 2]), hist(&[1, 2, 3, 4, 5]), hist(&[7])];
        let f = HistoryFilter { min_items: 2, max_items: 3, hold_out_last: false };
        let (streams, stats) = user_streams(&histories, &t, f).unwrap();
        // User 0 kept whole; user 1 keeps its 3 most recent items (3, 4, 5); user 2 is too short.
        assert_eq!(streams, vec![vec![13, 14, 23, 24], vec![33, 34, 43, 44, 53, 54]]);
        assert_eq!((stats.users_kept, stats.dropped_short, stats.truncated, stats.items_kept), (2, 1, 1, 5));
        // Holding out the last item leaves user 0 with one item: now too short.
        let (streams, _) = user_streams(&histories, &t, HistoryFilter { hold_out_last: true, ..f }).unwrap();
        assert_eq!(streams, vec![vec![23, 24, 33, 34, 43, 44]]);
        let err = user_streams(&[hist(&[1, 99])], &t, f).unwrap_err().to_string();
        assert!(err.contains("i99"), "{err}");
    }

    #[test]
    fn packing_fills_rows_with_whole_segments_and_splits_long_users() {
        // levels 2, seq_len 7 -> at most 3 items per segment.
        // user a: 1 item (3 tokens with BOS), user b: 4 items (split 3 + 1), user c: 1 item.
        let a = vec![10, 11];
        let b = vec![20, 21, 22, 23, 24, 25, 26, 27];
        let c = vec![30, 31];
        let rows = pack_rows(&[a, b, c], 2, 7).unwrap();
        // Row 0: a (3) — b's first segment (7) does not fit in the 4 left -> pad.
        // Row 1: b[0..3] (7). Row 2: b[3] (3) + c (3) + 1 pad.
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].ids, vec![BOS, 10, 11, PAD, PAD, PAD, PAD]);
        assert_eq!(rows[0].segments, vec![1, 1, 1, 0, 0, 0, 0]);
        assert_eq!(rows[1].ids, vec![BOS, 20, 21, 22, 23, 24, 25]);
        assert_eq!(rows[2].ids, vec![BOS, 26, 27, BOS, 30, 31, PAD]);
        assert_eq!(rows[2].segments, vec![1, 1, 1, 2, 2, 2, 0]);
        assert_eq!(rows.iter().map(PackedRow::real_tokens).sum::<usize>(), 3 + 7 + 6);
        assert!(pack_rows(&[vec![1, 2, 3]], 2, 7).is_err(), "a half item is refused");
        assert!(pack_rows(&[vec![1, 2]], 2, 2).unwrap_err().to_string().contains("seq_len"));
    }

    #[test]
    fn targets_are_next_item_tokens_inside_a_segment_only() {
        let row = PackedRow { ids: vec![BOS, 26, 27, BOS, 30, 31, PAD], segments: vec![1, 1, 1, 2, 2, 2, 0] };
        let x = IGNORE;
        // BOS predicts 26, 26 predicts 27; 27 would predict the next segment's BOS: ignored;
        // the second BOS predicts 30, 30 -> 31; 31 -> pad and the pad itself: ignored.
        assert_eq!(row.targets(), vec![26, 27, x, 30, 31, x, x]);
    }

    #[test]
    fn mixing_follows_the_weights_and_is_reproducible() {
        let picks = mix_domains(&[5, 3, 4], &[3.0, 1.0, 0.0], 4000, 9).unwrap();
        assert_eq!(picks, mix_domains(&[5, 3, 4], &[3.0, 1.0, 0.0], 4000, 9).unwrap());
        let share = picks.iter().filter(|p| p.0 == 0).count() as f64 / 4000.0;
        assert!((share - 0.75).abs() < 0.03, "domain 0 share {share}");
        assert!(picks.iter().all(|p| p.0 != 2), "weight 0 is never drawn");
        // Each pass over a domain's rows uses every row once.
        let first_five: Vec<usize> = picks.iter().filter(|p| p.0 == 0).take(5).map(|p| p.1).collect();
        let mut sorted = first_five.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        // A domain without rows is skipped even with weight.
        assert!(mix_domains(&[0, 2], &[1.0, 1.0], 10, 0).unwrap().iter().all(|p| p.0 == 1));
        assert!(mix_domains(&[1], &[1.0, 2.0], 1, 0).is_err());
        assert!(mix_domains(&[0], &[1.0], 1, 0).is_err());
    }
}
