//! The RecFound user prompt of Appendix B: system prompt, then `### Instruction:`, `### Input:`,
//! `### Options:` and `### Response:` sections.
//!
//! The layout is eCeLLM's Alpaca-style template (ninglab/eCeLLM `templates/alpaca.json`), which
//! RecFound's generative tasks inherit from ECInstruct. The paper's PDF text renders each `###`
//! heading as "–" (e.g. "–Instruction:", "–Response:" in B.3); the text in between is verbatim.

use std::fmt;

/// System prompt of a task with an input and/or options (paper B.3, every example with input:
/// "Below is an instruction that describes a task, paired with an input that provides further
/// context. Write a response that appropriately completes the request.").
pub const SYSTEM_PROMPT_WITH_INPUT: &str = "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.";

/// System prompt of an instruction-only task (paper B.1, and B.3 "User Profile", "Item Profile").
pub const SYSTEM_PROMPT: &str = "Below is an instruction that describes a task. Write a response that appropriately completes the request.";

/// One RecFound generative prompt, rendered by [`RecFoundPrompt::render`] as
///
/// ```text
/// {system}\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Options:\n{options}\n\n### Response:\n
/// ```
///
/// with the Input and Options sections left out when absent. The answer follows the final
/// newline directly. Which system prompt: B.1 prints the short one above both templates, but
/// every B.3 example that has an input or options (AVE, AG, SR, SA, AP, PRP, PM) opens with the
/// long "paired with an input" one, and the two instruction-only examples (User Profile, Item
/// Profile) with the short one; the examples are what the model saw, so we follow them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecFoundPrompt {
    pub instruction: String,
    /// Context for the instruction (a review, two product titles, a dialogue, ...).
    pub input: Option<String>,
    /// The candidate answers as one block, one per line (`A: very positive\nB: positive`).
    pub options: Option<String>,
}

impl RecFoundPrompt {
    pub fn new(instruction: impl Into<String>) -> Self {
        Self {
            instruction: instruction.into(),
            input: None,
            options: None,
        }
    }

    pub fn with_input(mut self, input: impl Into<String>) -> Self {
        self.input = Some(input.into());
        self
    }

    /// Options already formatted as the dataset gives them.
    pub fn with_options(mut self, options: impl Into<String>) -> Self {
        self.options = Some(options.into());
        self
    }

    /// Options labelled `A: `, `B: `, ... one per line, as in the B.3 Sentiment Analysis and
    /// Sequential Recommendation examples. Past `Z` labels go on as `AA`, `AB`, ...
    pub fn with_lettered_options<I, S>(self, options: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let block = options
            .into_iter()
            .enumerate()
            .map(|(i, option)| format!("{}: {}", option_label(i), option.as_ref()))
            .collect::<Vec<_>>()
            .join("\n");
        self.with_options(block)
    }

    /// A blank input or options block counts as absent (eCeLLM's `if options:` does the same),
    /// so a loader that reads a missing field as `""` renders no empty section.
    fn section(field: &Option<String>) -> Option<&str> {
        field.as_deref().filter(|s| !s.trim().is_empty())
    }

    pub fn system_prompt(&self) -> &'static str {
        if Self::section(&self.input).is_some() || Self::section(&self.options).is_some() {
            SYSTEM_PROMPT_WITH_INPUT
        } else {
            SYSTEM_PROMPT
        }
    }

    pub fn render(&self) -> String {
        render_sections(
            self.system_prompt(),
            &self.instruction,
            Self::section(&self.input),
            Self::section(&self.options),
        )
    }
}

impl fmt::Display for RecFoundPrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// The Appendix-B layout with an explicit system prompt; `PromptTemplate::RecFound` uses it to
/// let a caller replace the Alpaca preamble.
pub(crate) fn render_sections(
    system: &str,
    instruction: &str,
    input: Option<&str>,
    options: Option<&str>,
) -> String {
    let mut out = format!("{system}\n\n### Instruction:\n{instruction}\n\n");
    if let Some(input) = input {
        out.push_str(&format!("### Input:\n{input}\n\n"));
    }
    if let Some(options) = options {
        out.push_str(&format!("### Options:\n{options}\n\n"));
    }
    out.push_str("### Response:\n");
    out
}

/// Spreadsheet-style labels: 0 -> A, 25 -> Z, 26 -> AA.
fn option_label(mut index: usize) -> String {
    let mut label = Vec::new();
    loop {
        label.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    label.reverse();
    String::from_utf8(label).expect("labels are ASCII capitals")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_run_past_z() {
        assert_eq!(option_label(0), "A");
        assert_eq!(option_label(25), "Z");
        assert_eq!(option_label(26), "AA");
        assert_eq!(option_label(27), "AB");
        assert_eq!(option_label(26 + 26 * 26), "AAA");
    }

    // B.3 "Sentiment Analysis", shortened input.
    #[test]
    fn sentiment_example_layout() {
        let prompt = RecFoundPrompt::new(
            "Given the user's review, identify the user's sentiment from the listed options. Answer using one of the options.",
        )
        .with_input("This gives me control of the volume.")
        .with_lettered_options(["very positive", "positive", "neutral", "negative", "very negative"]);
        let expected = "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n\
### Instruction:\nGiven the user's review, identify the user's sentiment from the listed options. Answer using one of the options.\n\n\
### Input:\nThis gives me control of the volume.\n\n\
### Options:\nA: very positive\nB: positive\nC: neutral\nD: negative\nE: very negative\n\n\
### Response:\n";
        assert_eq!(prompt.render(), expected);
    }

    // B.3 "Item Profile": no input, no options -> short system prompt.
    #[test]
    fn instruction_only_uses_short_system_prompt() {
        let prompt = RecFoundPrompt::new("Introduce movie Raising Arizona (1987).");
        assert_eq!(
            prompt.to_string(),
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n\
### Instruction:\nIntroduce movie Raising Arizona (1987).\n\n### Response:\n"
        );
    }

    // B.3 "Sequential Recommendation": options without an input section still get the long
    // system prompt.
    #[test]
    fn options_without_input() {
        let prompt = RecFoundPrompt::new("Rank the items.").with_options("A: x\nB: y");
        assert_eq!(
            prompt.render(),
            format!(
                "{SYSTEM_PROMPT_WITH_INPUT}\n\n### Instruction:\nRank the items.\n\n### Options:\nA: x\nB: y\n\n### Response:\n"
            )
        );
    }

    #[test]
    fn blank_sections_are_absent() {
        let blank = RecFoundPrompt::new("Do it.")
            .with_input("  ")
            .with_options("");
        assert_eq!(blank.render(), RecFoundPrompt::new("Do it.").render());
        assert_eq!(blank.system_prompt(), SYSTEM_PROMPT);
    }
}
