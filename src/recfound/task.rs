//! The 13 RecFound tasks (plus "none") with the task ids of the authors' released code, so that
//! checkpoints trained there map onto ours: the id indexes TMoLE's task-embedding table.

use std::fmt;
use std::str::FromStr;

/// Which training branch a task belongs to (RecFound §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// InfoNCE over pooled embeddings (U2I, Q2I, I2I).
    Embedding,
    /// Response-only cross-entropy (the 10 generative tasks).
    Generative,
}

/// A RecFound task. Discriminants are the authors' task ids (Emb_user 0 ... Answer_Generation
/// 12, none 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskId {
    EmbUser = 0,
    EmbQuery = 1,
    EmbItem = 2,
    QueryRewriting = 3,
    SequentialRecommendation = 4,
    ProductRelationPrediction = 5,
    SentimentAnalysis = 6,
    AttributeValueExtraction = 7,
    ProductMatching = 8,
    UserProfile = 9,
    ItemProfile = 10,
    AnswerabilityPrediction = 11,
    AnswerGeneration = 12,
    /// The task-table row used when no task applies.
    None = 13,
}

/// A task name that is not one of the released names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task `{name}` (expected one of: {})", TaskId::ALL.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownTask {
    pub name: String,
}

impl TaskId {
    /// Every task in id order (`none` last).
    pub const ALL: [TaskId; 14] = [
        Self::EmbUser,
        Self::EmbQuery,
        Self::EmbItem,
        Self::QueryRewriting,
        Self::SequentialRecommendation,
        Self::ProductRelationPrediction,
        Self::SentimentAnalysis,
        Self::AttributeValueExtraction,
        Self::ProductMatching,
        Self::UserProfile,
        Self::ItemProfile,
        Self::AnswerabilityPrediction,
        Self::AnswerGeneration,
        Self::None,
    ];

    /// The id of the authors' code (the row of the task-embedding table).
    pub fn id(self) -> usize {
        self as usize
    }

    pub fn from_id(id: usize) -> Option<Self> {
        Self::ALL.get(id).copied()
    }

    /// The name in the released JSONL files (`"task": ...`).
    pub fn name(self) -> &'static str {
        match self {
            Self::EmbUser => "Emb_user",
            Self::EmbQuery => "Emb_query",
            Self::EmbItem => "Emb_item",
            Self::QueryRewriting => "Query_Rewriting",
            Self::SequentialRecommendation => "Sequential_Recommendation",
            Self::ProductRelationPrediction => "Product_Relation_Prediction",
            Self::SentimentAnalysis => "Sentiment_Analysis",
            Self::AttributeValueExtraction => "Attribute_Value_Extraction",
            Self::ProductMatching => "Product_Matching",
            Self::UserProfile => "user_profile",
            Self::ItemProfile => "item_profile",
            Self::AnswerabilityPrediction => "Answerability_Prediction",
            Self::AnswerGeneration => "Answer_Generation",
            Self::None => "none",
        }
    }

    /// The paper's abbreviation (Table 1): U2I, Q2I, I2I, QR, SR, PRP, SA, AVE, PM, UP, IP, AP, AG.
    pub fn abbreviation(self) -> &'static str {
        match self {
            Self::EmbUser => "U2I",
            Self::EmbQuery => "Q2I",
            Self::EmbItem => "I2I",
            Self::QueryRewriting => "QR",
            Self::SequentialRecommendation => "SR",
            Self::ProductRelationPrediction => "PRP",
            Self::SentimentAnalysis => "SA",
            Self::AttributeValueExtraction => "AVE",
            Self::ProductMatching => "PM",
            Self::UserProfile => "UP",
            Self::ItemProfile => "IP",
            Self::AnswerabilityPrediction => "AP",
            Self::AnswerGeneration => "AG",
            Self::None => "-",
        }
    }

    /// The branch the task trains; `None` for the "none" row.
    pub fn kind(self) -> Option<TaskKind> {
        match self {
            Self::EmbUser | Self::EmbQuery | Self::EmbItem => Some(TaskKind::Embedding),
            Self::None => Option::None,
            _ => Some(TaskKind::Generative),
        }
    }
}

impl FromStr for TaskId {
    type Err = UnknownTask;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| UnknownTask { name: name.to_string() })
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_authors_order() {
        assert_eq!(TaskId::EmbUser.id(), 0);
        assert_eq!(TaskId::SequentialRecommendation.id(), 4);
        assert_eq!(TaskId::AnswerGeneration.id(), 12);
        assert_eq!(TaskId::None.id(), 13);
        for (i, t) in TaskId::ALL.iter().enumerate() {
            assert_eq!(t.id(), i);
            assert_eq!(TaskId::from_id(i), Some(*t));
            assert_eq!(t.name().parse::<TaskId>().unwrap(), *t);
        }
    }

    #[test]
    fn kinds_split_three_embedding_and_ten_generative() {
        let count = |k| TaskId::ALL.iter().filter(|t| t.kind() == Some(k)).count();
        assert_eq!((count(TaskKind::Embedding), count(TaskKind::Generative)), (3, 10));
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "Sentiment".parse::<TaskId>().unwrap_err().to_string();
        assert!(err.contains("`Sentiment`") && err.contains("Sentiment_Analysis"), "{err}");
    }
}
