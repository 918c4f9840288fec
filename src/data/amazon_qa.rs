//! Amazon question answering data (McAuley & Yang 2016), e.g. `qa_Appliances.json.gz`: gzipped
//! lines of Python dict literals (single quotes, not JSON) with `questionType` (`yes/no` or
//! `open-ended`), `asin`, `question`, `answer`, `answerType` (`Y`/`N`/`?`, yes/no questions only),
//! `answerTime`, `unixTime` (absent on some lines). Parsed with [`super::pylit`].

use std::path::Path;

use super::pylit::{self, PyValue};
use super::{DataError, Encoding, for_each_line, open_gz};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestionType {
    YesNo,
    OpenEnded,
}

/// `answerType`: the annotated yes/no answer, `Unknown` for `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerType {
    Yes,
    No,
    Unknown,
}

/// One question with its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QaPair {
    pub question_type: QuestionType,
    pub asin: String,
    pub question: String,
    pub answer: String,
    pub answer_type: Option<AnswerType>,
    pub unix_time: Option<i64>,
}

/// Calls `f` on every pair of a gzipped QA file.
pub fn for_each_pair(path: &Path, mut f: impl FnMut(QaPair)) -> Result<(), DataError> {
    for_each_line(path, open_gz(path)?, Encoding::Utf8, |line, text| {
        if text.trim().is_empty() {
            return Ok(());
        }
        f(parse_pair(text).map_err(|message| DataError::parse(path, line, message))?);
        Ok(())
    })
}

/// Reads every pair of a gzipped QA file.
pub fn read_pairs(path: &Path) -> Result<Vec<QaPair>, DataError> {
    let mut out = Vec::new();
    for_each_pair(path, |p| out.push(p))?;
    Ok(out)
}

/// Parses one line; the error is the message (the caller adds file and line).
fn parse_pair(text: &str) -> Result<QaPair, String> {
    let dict = pylit::parse(text).map_err(|e| e.to_string())?;
    if !matches!(dict, PyValue::Dict(_)) {
        return Err("expected a dict literal".into());
    }
    let string = |key: &str| -> Result<String, String> {
        match dict.get(key) {
            Some(PyValue::Str(s)) => Ok(s.clone()),
            Some(other) => Err(format!("`{key}`: expected a string, found {other:?}")),
            None => Err(format!("missing key `{key}`")),
        }
    };
    let question_type = match string("questionType")?.as_str() {
        "yes/no" => QuestionType::YesNo,
        "open-ended" => QuestionType::OpenEnded,
        other => return Err(format!("`questionType`: unknown value {other:?}")),
    };
    let answer_type = match dict.get("answerType") {
        None => None,
        Some(v) => Some(match v.as_str() {
            Some("Y") => AnswerType::Yes,
            Some("N") => AnswerType::No,
            Some("?") => AnswerType::Unknown,
            _ => return Err(format!("`answerType`: unknown value {v:?}")),
        }),
    };
    let unix_time = match dict.get("unixTime") {
        None | Some(PyValue::None) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| format!("`unixTime`: expected an int, found {v:?}"))?),
    };
    Ok(QaPair {
        question_type,
        asin: string("asin")?,
        question: string("question")?,
        answer: string("answer")?,
        answer_type,
        unix_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_line_and_rejects_json_nulls() {
        let p = parse_pair("{'questionType': 'yes/no', 'asin': 'B1', 'question': 'Fits a 'Badger'?', 'answer': 'y'}");
        assert!(p.is_err(), "unescaped quote inside a string must not parse");
        let p = parse_pair(r#"{'questionType': 'yes/no', 'asin': 'B1', 'question': "Fits a 'Badger'?", 'answerType': 'Y', 'answer': 'It\'s fine', 'unixTime': 5}"#).unwrap();
        assert_eq!(p.question, "Fits a 'Badger'?");
        assert_eq!(p.answer, "It's fine");
        assert_eq!(
            (p.question_type, p.answer_type, p.unix_time),
            (QuestionType::YesNo, Some(AnswerType::Yes), Some(5))
        );
        assert!(
            parse_pair("{'questionType': 'maybe', 'asin': 'B1', 'question': 'q', 'answer': 'a'}")
                .unwrap_err()
                .contains("questionType")
        );
        assert!(
            parse_pair("{'questionType': 'open-ended', 'asin': 'B1', 'question': 'q'}")
                .unwrap_err()
                .contains("`answer`")
        );
    }
}
