//! Sentiment Analysis (SA) from Amazon 2014 review files (e.g. Musical Instruments 5-core):
//! the review text as input, five lettered sentiment options, the lettered option as answer,
//! as in the RecFound B.3 "Sentiment Analysis" example.

use std::path::Path;

use super::build::{BuildConfig, BuiltRow, TaskSplits, generative, split_by_group};
use super::instructions::choose_instruction;
use super::task::TaskId;
use crate::data::DataError;
use crate::data::amazon_reviews::for_each_review;
use crate::text::RecFoundPrompt;

/// The options in the B.3 example's order: "A: very positive" first, "E: very negative" last
/// (the fifth B.2 instruction spells out the same order).
pub const SENTIMENT_OPTIONS: [&str; 5] = ["very positive", "positive", "neutral", "negative", "very negative"];

/// The option index of a star rating: 5 -> A (very positive), 4 -> B (positive), 3 -> C
/// (neutral), 2 -> D (negative), 1 -> E (very negative). Ratings are whole stars in these files;
/// a fractional one rounds to the nearest star.
pub fn sentiment_option(overall: f32) -> usize {
    let stars = overall.round().clamp(1.0, 5.0) as usize;
    5 - stars
}

/// Builds SA from a gzipped review file. Reviews with a blank text are skipped (nothing to
/// judge). Splits are reviewer-disjoint.
pub fn build_sentiment_analysis(reviews: &Path, config: &BuildConfig) -> Result<TaskSplits, DataError> {
    let task = TaskId::SentimentAnalysis;
    let mut rows = Vec::new();
    let mut index = 0u64;
    for_each_review(reviews, |review| {
        let text = review.review_text.trim();
        if text.is_empty() {
            return;
        }
        let option = sentiment_option(review.overall);
        let prompt = RecFoundPrompt::new(choose_instruction(task, config.seed, index))
            .with_input(text)
            .with_lettered_options(SENTIMENT_OPTIONS)
            .render();
        let answer = format!("{}: {}", (b'A' + option as u8) as char, SENTIMENT_OPTIONS[option]);
        rows.push(BuiltRow { group: review.reviewer_id, row: generative(task, prompt, answer) });
        index += 1;
    })?;
    split_by_group(task, rows, config.sizes, config.seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_map_to_the_b3_order() {
        assert_eq!(sentiment_option(5.0), 0); // A: very positive
        assert_eq!(sentiment_option(3.0), 2); // C: neutral
        assert_eq!(sentiment_option(1.0), 4); // E: very negative
    }
}
