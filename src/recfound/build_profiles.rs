//! User Profile (UP) and Item Profile (IP) prompts from MovieLens and goodbooks-10k, in the
//! RecFound B.2 templates and B.3 layout (instruction only, the short system prompt).
//!
//! These tasks have no reference answers in public data: the paper's answers are free-text
//! profiles written by an LLM. We do not invent them, so UP and IP are *prompt-only*: rows
//! `{"prompt", "task", "id"}` written to `{task}/{split}.prompts.jsonl`, beside (never inside)
//! the training files, for a teacher model to answer or for a trained model to be asked. The
//! splits are the same seeded group-disjoint ones as every other task.
//!
//! Fidelity to the B.2 templates:
//! - UP (MovieLens): the template starts "Given a [Male/Female] user who is aged 18-24 and in a
//!   [student/.../unknown occupation], ...": MovieLens-1M demographics. `ml-latest-small` has
//!   none, so that clause becomes "Given a user, this user's movie viewing history over time is
//!   listed below." (the only change). The history is the user's last `up_history_len` ratings,
//!   oldest first, each `Title (year), N stars; ` as in the B.3 example.
//! - UP (goodbooks): needs the users' ratings (`ratings.csv` of goodbooks-10k), which the data
//!   folder does not hold (books only), so no goodbooks UP prompts.
//! - IP: "Introduce movie [Movie name] ..." with the MovieLens title, and "Introduce book [Book
//!   name], which is from [Source] Page ..." with the goodbooks title and Source = Goodreads
//!   (where goodbooks-10k comes from).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::build::{BuildConfig, Split, Splits, split_groups};
use super::instructions::instructions;
use super::task::TaskId;
use crate::data::DataError;
use crate::data::domain::write_jsonl;
use crate::data::goodbooks::read_books;
use crate::data::movielens::{read_movies, read_ratings};
use crate::text::RecFoundPrompt;

/// A prompt without a reference answer. `id` names what it is about (`movielens-user-1`,
/// `movielens-movie-1`, `goodbooks-book-1`) and keeps splits disjoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptRow {
    pub prompt: String,
    pub task: TaskId,
    pub id: String,
}

/// One prompt-only task's three splits.
pub type PromptSplits = Splits<PromptRow>;

/// The file a prompt-only split is written to: `{split}.prompts.jsonl`, so that a loader of
/// `{split}.jsonl` training rows never picks it up.
pub fn prompts_file_name(split: Split) -> String {
    format!("{}.prompts.jsonl", split.name())
}

/// Writes `out/{task}/{split}.prompts.jsonl` for each task (each file atomically).
pub fn write_prompt_splits(out: &Path, tasks: &[PromptSplits]) -> Result<(), DataError> {
    for t in tasks {
        let dir = out.join(t.task.name());
        std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
        for split in Split::ALL {
            write_jsonl(&dir.join(prompts_file_name(split)), t.split(split))?;
        }
    }
    Ok(())
}

/// The B.2 MovieLens UP template with its demographic clause replaced (see the module docs) and
/// `history` (entries already ending in "; ") in place of "[History Sequence] ".
pub fn movielens_user_profile_instruction(history: &str) -> String {
    let template = instructions(TaskId::UserProfile)[0];
    let (_, rest) = template.split_once("[History Sequence] ").expect("the B.2 MovieLens UP template has the slot");
    format!("Given a user, this user's movie viewing history over time is listed below. {history}{rest}")
}

/// One rating as the B.3 example lists it: `Sabrina (1995), 4 stars; ` (half stars kept:
/// `3.5 stars`; a single star singular).
pub fn rating_entry(title: &str, rating: f32) -> String {
    let stars = if rating.fract() == 0.0 { format!("{}", rating as i32) } else { format!("{rating}") };
    let noun = if rating == 1.0 { "star" } else { "stars" };
    format!("{title}, {stars} {noun}; ")
}

/// UP prompts from a MovieLens folder: one per user, user-disjoint splits.
pub fn build_user_profile_prompts(movielens: &Path, config: &BuildConfig) -> Result<PromptSplits, DataError> {
    let task = TaskId::UserProfile;
    let movies = read_movies(&movielens.join("movies.csv"))?;
    let titles: BTreeMap<u32, &str> = movies.iter().map(|m| (m.movie_id, m.title.as_str())).collect();
    let mut by_user: BTreeMap<u32, Vec<(i64, u32, f32)>> = BTreeMap::new();
    for r in read_ratings(&movielens.join("ratings.csv"))? {
        by_user.entry(r.user_id).or_default().push((r.timestamp, r.movie_id, r.rating));
    }
    let mut rows = Vec::new();
    let mut unknown = 0usize;
    for (user, mut events) in by_user {
        let before = events.len();
        events.retain(|(_, m, _)| titles.contains_key(m));
        unknown += before - events.len();
        events.sort_by_key(|&(t, m, _)| (t, m)); // same-second ratings in movie-id order
        let recent = &events[events.len().saturating_sub(config.up_history_len)..];
        if recent.is_empty() {
            continue;
        }
        let history: String = recent.iter().map(|&(_, m, r)| rating_entry(titles[&m], r)).collect();
        let prompt = RecFoundPrompt::new(movielens_user_profile_instruction(&history)).render();
        rows.push(PromptRow { prompt, task, id: format!("movielens-user-{user}") });
    }
    if unknown > 0 {
        tracing::warn!(unknown, "user profile: ratings of movies absent from movies.csv skipped");
    }
    split_groups(task, rows, |r| r.id.as_str(), config.sizes, config.seed)
}

/// IP prompts from MovieLens movies and/or goodbooks books (either may be absent), one per
/// item, item-disjoint splits over the two pooled.
pub fn build_item_profile_prompts(
    movielens: Option<&Path>,
    goodbooks: Option<&Path>,
    config: &BuildConfig,
) -> Result<PromptSplits, DataError> {
    let task = TaskId::ItemProfile;
    let [movie_template, book_template] = [0, 1].map(|k| instructions(task)[k]);
    let mut rows = Vec::new();
    if let Some(dir) = movielens {
        for m in read_movies(&dir.join("movies.csv"))? {
            let instruction = movie_template.replace("[Movie name]", &m.title);
            rows.push(PromptRow { prompt: RecFoundPrompt::new(instruction).render(), task, id: format!("movielens-movie-{}", m.movie_id) });
        }
    }
    if let Some(books) = goodbooks {
        for b in read_books(books)? {
            let instruction = book_template.replace("[Book name]", &b.title).replace("[Source]", "Goodreads");
            rows.push(PromptRow { prompt: RecFoundPrompt::new(instruction).render(), task, id: format!("goodbooks-book-{}", b.book_id) });
        }
    }
    split_groups(task, rows, |r| r.id.as_str(), config.sizes, config.seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rating_entries_follow_the_b3_example() {
        assert_eq!(rating_entry("Sabrina (1995)", 4.0), "Sabrina (1995), 4 stars; ");
        assert_eq!(rating_entry("Heat (1995)", 3.5), "Heat (1995), 3.5 stars; ");
        assert_eq!(rating_entry("Jumanji (1995)", 1.0), "Jumanji (1995), 1 star; ");
    }

    #[test]
    fn user_profile_instruction_keeps_the_b2_tail() {
        let got = movielens_user_profile_instruction("Sabrina (1995), 4 stars; ");
        assert_eq!(
            got,
            "Given a user, this user's movie viewing history over time is listed below. Sabrina (1995), 4 stars; Analyze user's preferences on movies (consider factors like genre, director/actors, time period/country, character, plot/theme, mood/tone, critical acclaim/award, production quality, and soundtrack). Provide clear explanations based on relevant details from the user's movie viewing history and other pertinent factors."
        );
    }
}
