//! Building RecFound generative tasks (RecFound §3, Appendix B) from the public datasets under
//! `../shared/data`: the sizes and seed ([`BuildConfig`]), the seeded group-disjoint
//! train/validation/test split every builder shares, and the per-task builders
//! ([`super::build_reviews`], [`super::build_pm`], [`super::build_qa`], [`super::build_sr`],
//! [`super::build_u2i`], [`super::build_i2i`], [`super::build_profiles`];
//! [`super::build_all()`] runs them all).
//! Prompts use the B.2 instructions (a seeded choice per sample) and the B.1/B.3 layout.

use std::collections::{BTreeMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::format::{GenerativeRow, RecFoundRow};
use super::instructions::mix64;
use super::task::TaskId;
use crate::data::DataError;

/// Rows per split of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSizes {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

/// What a build makes. The defaults are scaled down from the paper's Table 1 (tens of
/// thousands of training rows per task there) to a few thousand, so a full build and its tests
/// stay fast on 2 cores.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildConfig {
    /// Seeds the split, the instruction choice and the sampled negatives.
    pub seed: u64,
    /// The upper bound per split; a task with fewer source rows yields fewer.
    pub sizes: SplitSizes,
    /// Sequential Recommendation: most recent history items shown (the paper's example shows
    /// the history oldest first as "1st: ...", "2nd: ...").
    pub sr_history_len: usize,
    /// Sequential Recommendation: options per prompt, one correct (20 = A-T, issue 5).
    pub sr_num_options: usize,
    /// Item texts longer than this many characters are cut and end in "..." (the B.3 SR example
    /// cuts its items at about 150 characters).
    pub item_text_max_chars: usize,
    /// Answer Generation: most other Q&A pairs of the same product put in the document.
    pub ag_document_pairs: usize,
    /// User Profile: most recent ratings listed (the B.3 example lists 10).
    pub up_history_len: usize,
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            sizes: SplitSizes { train: 2000, validation: 200, test: 200 },
            sr_history_len: 10,
            sr_num_options: 20,
            item_text_max_chars: 150,
            ag_document_pairs: 5,
            up_history_len: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// The file stem a build writes (`train.jsonl`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// One built row with the key that keeps splits disjoint: the user where the source has users,
/// else the product (QA) or the labelled pair (PM).
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltRow {
    pub group: String,
    pub row: RecFoundRow,
}

/// One task's three splits of rows `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits<T> {
    pub task: TaskId,
    pub train: Vec<T>,
    pub validation: Vec<T>,
    pub test: Vec<T>,
}

/// A task with reference answers: rows for training and evaluation.
pub type TaskSplits = Splits<BuiltRow>;

impl<T> Splits<T> {
    pub fn split(&self, split: Split) -> &[T] {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
            Split::Test => &self.test,
        }
    }

    /// `[train, validation, test]` row counts.
    pub fn counts(&self) -> [usize; 3] {
        [self.train.len(), self.validation.len(), self.test.len()]
    }
}

impl TaskSplits {
    /// The rows of one split, as `write_rows` takes them.
    pub fn rows(&self, split: Split) -> Vec<RecFoundRow> {
        self.split(split).iter().map(|b| b.row.clone()).collect()
    }
}

/// A generative row of one prompt and one answer.
pub(crate) fn generative(task: TaskId, prompt: String, answer: String) -> RecFoundRow {
    RecFoundRow::Generative(GenerativeRow { text: vec![prompt, answer], task })
}

/// Splits `rows` so that no group spans two splits: groups are shuffled with `seed`, then fill
/// test, validation and train in that order (the evaluation splits first, so a small source
/// still has a test set), each up to its size; a group that would overflow a split contributes
/// only as many of its rows (shuffled) as fit, and the rest are dropped.
///
/// An empty `rows` is [`DataError::EmptyTask`] naming the task: a build that silently wrote
/// empty files would only fail later, in training.
pub(crate) fn split_by_group(task: TaskId, rows: Vec<BuiltRow>, sizes: SplitSizes, seed: u64) -> Result<TaskSplits, DataError> {
    split_groups(task, rows, |r| r.group.as_str(), sizes, seed)
}

/// [`split_by_group`] for any row type (prompt-only rows use it too), each row's group given by
/// `group`.
pub(crate) fn split_groups<T>(
    task: TaskId,
    rows: Vec<T>,
    group: impl Fn(&T) -> &str,
    sizes: SplitSizes,
    seed: u64,
) -> Result<Splits<T>, DataError> {
    if rows.is_empty() {
        let reason = "the source is empty or every record was skipped (see the warnings)".to_string();
        return Err(DataError::EmptyTask { task: task.name(), reason });
    }
    let mut groups: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for r in rows {
        groups.entry(group(&r).to_string()).or_default().push(r);
    }
    let mut groups: Vec<Vec<T>> = groups.into_values().collect();
    let mut rng = StdRng::seed_from_u64(mix64(seed ^ task.id() as u64));
    groups.shuffle(&mut rng);

    let [mut train, mut validation, mut test] = [Vec::new(), Vec::new(), Vec::new()];
    let mut order = [(Split::Test, sizes.test), (Split::Validation, sizes.validation), (Split::Train, sizes.train)]
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .peekable();
    for mut group in groups {
        let Some(&(split, size)) = order.peek() else { break };
        group.shuffle(&mut rng);
        let target = match split {
            Split::Train => &mut train,
            Split::Validation => &mut validation,
            Split::Test => &mut test,
        };
        let take = group.len().min(size - target.len());
        target.extend(group.into_iter().take(take));
        if target.len() == size {
            order.next();
        }
    }
    Ok(Splits { task, train, validation, test })
}

/// One sequence seen leave-one-out, as SR and U2I use it.
pub(crate) struct LeaveOneOut<'a> {
    /// The last item: the answer.
    pub target: &'a str,
    /// Up to `history_len` items before it, oldest first.
    pub history: &'a [String],
    /// Every item of the sequence (negatives must avoid them).
    pub touched: HashSet<&'a str>,
}

/// The leave-one-out view of `ids`, or `None` when it has fewer than 2 items or names an item
/// that `known` rejects (the caller counts the skip).
pub(crate) fn leave_one_out<'a>(ids: &'a [String], history_len: usize, known: impl Fn(&str) -> bool) -> Option<LeaveOneOut<'a>> {
    if ids.len() < 2 || !ids.iter().all(|id| known(id)) {
        return None;
    }
    let (target, before) = ids.split_last()?;
    Some(LeaveOneOut {
        target,
        history: &before[before.len().saturating_sub(history_len)..],
        touched: ids.iter().map(String::as_str).collect(),
    })
}

/// Cuts `text` to at most `max_chars` characters (then appends "..."), on a char boundary.
pub(crate) fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(group: &str, i: usize) -> BuiltRow {
        BuiltRow { group: group.into(), row: generative(TaskId::SentimentAnalysis, format!("p{i}"), "a".into()) }
    }

    #[test]
    fn splits_are_group_disjoint_and_sized() {
        // 10 groups of 3 rows; test 4, validation 4, train 10.
        let rows: Vec<_> = (0..30).map(|i| row(&format!("u{}", i / 3), i)).collect();
        let s = split_by_group(TaskId::SentimentAnalysis, rows, SplitSizes { train: 10, validation: 4, test: 4 }, 1).unwrap();
        assert_eq!(s.counts(), [10, 4, 4]);
        let groups = |v: &[BuiltRow]| v.iter().map(|r| r.group.clone()).collect::<std::collections::HashSet<_>>();
        let (tr, va, te) = (groups(&s.train), groups(&s.validation), groups(&s.test));
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
    }

    #[test]
    fn an_empty_pool_names_the_task() {
        let sizes = SplitSizes { train: 1, validation: 1, test: 1 };
        let err = split_by_group(TaskId::ItemProfile, Vec::new(), sizes, 1).unwrap_err();
        assert!(matches!(err, DataError::EmptyTask { task: "item_profile", .. }), "{err}");
        assert!(err.to_string().contains("task `item_profile`: empty task pool"), "{err}");
    }

    #[test]
    fn truncation_counts_chars() {
        assert_eq!(truncate_chars("abcdef", 3), "abc...");
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("ééé", 2), "éé...");
    }
}
