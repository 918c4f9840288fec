//! Sequential Recommendation (SR) from LC-Rec-layout Amazon sequences (e.g. `Scientific`): the
//! user's recent history as "1st: ...", "2nd: ..." lines, `sr_num_options` lettered options (20
//! = A-T, one correct: the user's last item), the answer a bare letter, as in the RecFound B.3
//! "Sequential Recommendation" example. Negatives are drawn with the seed from items the user
//! never touched.

use std::collections::HashMap;
use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::build::{BuildConfig, BuiltRow, LeaveOneOut, TaskSplits, leave_one_out, generative, split_by_group, truncate_chars};
use super::instructions::{choose_instruction, mix64};
use super::task::TaskId;
use crate::data::DataError;
use crate::data::amazon_lcrec::{LcRecItem, read_items, read_sequences};
use crate::text::RecFoundPrompt;

/// An item as the B.3 example writes it: title, categories, brand, each ending in "." ("Wilson
/// Pro feel Tennis Vibration Dampener. Sports & Outdoors. Sports & Fitness. Wilson."), cut to
/// `max_chars` characters with "...".
pub fn item_text(item: &LcRecItem, max_chars: usize) -> String {
    let parts: Vec<&str> = std::iter::once(item.title.as_str())
        .chain(item.categories.iter().map(String::as_str))
        .chain(item.brand.as_deref())
        .map(|p| p.trim().trim_end_matches('.').trim_end())
        .filter(|p| !p.is_empty())
        .collect();
    truncate_chars(&format!("{}.", parts.join(". ")), max_chars)
}

/// English ordinals: 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st.
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Builds SR from `{name}.item.json` and `{name}.inter.json`: one row per user (leave-one-out:
/// the last item is the answer, up to `sr_history_len` items before it the history), so splits
/// are user-disjoint. Users with fewer than 2 items, or whose sequence names an item without a
/// title, are skipped and counted in a warning; so is a build whose catalogue is too small for
/// the options.
pub fn build_sequential_recommendation(items: &Path, inter: &Path, config: &BuildConfig) -> Result<TaskSplits, DataError> {
    let task = TaskId::SequentialRecommendation;
    let items = read_items(items)?;
    let sequences = read_sequences(inter)?;
    let texts: HashMap<&str, String> = items
        .iter()
        .filter(|i| !i.title.trim().is_empty())
        .map(|i| (i.item_id.as_str(), item_text(i, config.item_text_max_chars)))
        .collect();
    let catalogue: Vec<&str> = items.iter().map(|i| i.item_id.as_str()).filter(|id| texts.contains_key(id)).collect();
    let negatives_wanted = config.sr_num_options.saturating_sub(1);

    let (mut rows, mut skipped) = (Vec::new(), 0usize);
    for (index, seq) in sequences.iter().enumerate() {
        let Some(LeaveOneOut { target, history, touched }) =
            leave_one_out(&seq.item_ids, config.sr_history_len, |id| texts.contains_key(id))
        else {
            skipped += 1;
            continue;
        };

        // Negatives: a seeded draw from the untouched items, then the target at a seeded slot.
        let mut rng = StdRng::seed_from_u64(mix64(config.seed ^ mix64(index as u64)));
        let untouched: Vec<&str> = catalogue.iter().copied().filter(|id| !touched.contains(id)).collect();
        if untouched.len() < negatives_wanted {
            skipped += 1;
            continue;
        }
        let mut options: Vec<&str> = untouched.sample(&mut rng, negatives_wanted).copied().collect();
        let slot = (mix64(config.seed ^ index as u64) % config.sr_num_options as u64) as usize;
        options.insert(slot, target);

        let input = history
            .iter()
            .enumerate()
            .map(|(k, id)| format!("{}: {}", ordinal(k + 1), texts[id.as_str()]))
            .collect::<Vec<_>>()
            .join("\n");
        let prompt = RecFoundPrompt::new(choose_instruction(task, config.seed, index as u64))
            .with_input(input)
            .with_lettered_options(options.iter().map(|id| texts[id].as_str()))
            .render();
        let answer = ((b'A' + slot as u8) as char).to_string();
        rows.push(BuiltRow { group: seq.user_id.clone(), row: generative(task, prompt, answer) });
    }
    if skipped > 0 {
        tracing::warn!(skipped, users = sequences.len(), "sequential recommendation: users skipped (too short, unknown item, or too few negatives)");
    }
    split_by_group(task, rows, config.sizes, config.seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals() {
        let got: Vec<_> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].into_iter().map(ordinal).collect();
        assert_eq!(got, ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]);
    }

    #[test]
    fn item_text_follows_the_b3_layout() {
        let item = LcRecItem {
            item_id: "0".into(),
            title: "Wilson Pro feel Tennis Vibration Dampener.".into(),
            description: None,
            brand: Some("Wilson".into()),
            categories: vec!["Sports & Outdoors".into(), "Sports & Fitness".into()],
        };
        assert_eq!(item_text(&item, 150), "Wilson Pro feel Tennis Vibration Dampener. Sports & Outdoors. Sports & Fitness. Wilson.");
        assert_eq!(item_text(&item, 6), "Wilson...");
    }
}
