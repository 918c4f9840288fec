//! What each task is scored by and how long its answers may be (RecFound §5.1, Tables 2-3;
//! DESIGN.md §7): the metric, the generation budget, and the option count read from a prompt.

use serde::{Deserialize, Serialize};

use crate::recfound::TaskId;

/// The metric of a task's column in Table 2 or 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskMetric {
    /// SR: the stripped output must be exactly the option letter.
    RecallAt1,
    /// SA, PRP: first character against the label's letter.
    MacroF1,
    /// AP, PM: "yes"/"no" exactly; F1 of "yes".
    YesF1,
    /// AVE: attribute/value/source triples.
    AveF1,
    /// QR, AG, UP, IP: SQuAD token F1 (the paper reports BERTScore-F1).
    TokenF1,
    /// U2I, Q2I: 1 positive among the candidates.
    MrrAt20,
    /// I2I: all positives among the candidates.
    NdcgAt20,
}

/// k of MRR@k and NDCG@k (RecFound §5.1).
pub const RANK_K: usize = 20;

impl TaskMetric {
    pub fn of(task: TaskId) -> Option<Self> {
        Some(match task {
            TaskId::SequentialRecommendation => Self::RecallAt1,
            TaskId::SentimentAnalysis | TaskId::ProductRelationPrediction => Self::MacroF1,
            TaskId::AnswerabilityPrediction | TaskId::ProductMatching => Self::YesF1,
            TaskId::AttributeValueExtraction => Self::AveF1,
            TaskId::QueryRewriting | TaskId::AnswerGeneration | TaskId::UserProfile | TaskId::ItemProfile => Self::TokenF1,
            TaskId::EmbUser | TaskId::EmbQuery => Self::MrrAt20,
            TaskId::EmbItem => Self::NdcgAt20,
            TaskId::None => return None,
        })
    }

    /// The column header: `R@1`, `F1`, `MRR@20`, ...
    pub fn label(self) -> &'static str {
        match self {
            Self::RecallAt1 => "R@1",
            Self::MacroF1 => "macro-F1",
            Self::YesF1 => "F1(yes)",
            Self::AveF1 => "F1(triples)",
            Self::TokenF1 => "token F1",
            Self::MrrAt20 => "MRR@20",
            Self::NdcgAt20 => "NDCG@20",
        }
    }
}

/// New tokens a task's answer may take (EOS stops earlier). DESIGN.md §7 gives 1 for option
/// tasks, which cuts "A: very positive" to "A" and hides an SR output such as "A: item title"
/// that the exact-letter rule counts as wrong; so option tasks get room for a short answer and
/// the parse rule decides:
/// - SR 8: a bare letter and EOS; room to see a chatty answer fail the exact rule.
/// - SA, PRP 16: "A: very positive" / "B: somewhat relevant" and EOS (first character scored).
/// - AP, PM 4: "yes"/"no" and EOS; anything longer fails the exact rule anyway.
/// - QR, AVE 256 (DESIGN.md §7); AG 128 (answers of one or two sentences); UP, IP 256
///   (paragraph-long profiles).
pub fn default_max_new_tokens(task: TaskId) -> usize {
    match task {
        TaskId::SequentialRecommendation => 8,
        TaskId::SentimentAnalysis | TaskId::ProductRelationPrediction => 16,
        TaskId::AnswerabilityPrediction | TaskId::ProductMatching => 4,
        TaskId::QueryRewriting | TaskId::AttributeValueExtraction | TaskId::UserProfile | TaskId::ItemProfile => 256,
        TaskId::AnswerGeneration => 128,
        TaskId::EmbUser | TaskId::EmbQuery | TaskId::EmbItem | TaskId::None => 0,
    }
}

/// Options listed in a prompt's `### Options:` block: the lines that start with a letter label
/// (`A: ...`, `B: ...`), counted up to the first gap. `None` when the prompt has no such block.
pub fn count_options(prompt: &str) -> Option<usize> {
    let block = prompt.split("### Options:").nth(1)?;
    let block = block.split("###").next().unwrap_or(block);
    let mut n = 0;
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let expected = (b'A' + n as u8) as char;
        if n < 26 && line.starts_with(expected) && line[1..].starts_with(':') {
            n += 1;
        }
    }
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_counted_from_the_block() {
        let prompt = "Intro\n\n### Instruction:\nPick one.\n\n### Options:\nA: very positive\nB: positive\nC: neutral\nD: negative\nE: very negative\n\n### Response:\n";
        assert_eq!(count_options(prompt), Some(5));
        // A wrapped option text (a line without a label) does not count or stop the count.
        assert_eq!(count_options("### Options:\nA: one\ncontinued\nB: two\n### Response:\n"), Some(2));
        assert_eq!(count_options("### Instruction:\nSay yes or no.\n### Response:\n"), None);
    }

    #[test]
    fn every_task_has_a_metric_and_generative_tasks_a_budget() {
        for task in TaskId::ALL.into_iter().filter(|t| *t != TaskId::None) {
            assert!(TaskMetric::of(task).is_some(), "{task}");
            let generative = task.kind() == Some(crate::recfound::TaskKind::Generative);
            assert_eq!(default_max_new_tokens(task) > 0, generative, "{task}");
        }
        assert_eq!(TaskMetric::of(TaskId::EmbItem), Some(TaskMetric::NdcgAt20));
    }
}
