//! Prompt templates: how a user prompt (plus an answer, for training) or an embedding
//! instruction plus text becomes one string (RecFound §4.1, Appendix B; GritLM's format).
//!
//! BOS is never part of the rendered text. Encode every rendered string with
//! `add_special_tokens = true`: the tokenizer's post-processor then adds the BOS its model was
//! trained with (Mistral: `<s>`; Qwen2.5: none, its chat template has no BOS). The official
//! formats write `<s>` as text and tokenize with `add_special_tokens=False`; for Mistral both
//! give the same ids (tested), and for Qwen2.5 a literal `<s>` would be five ordinary tokens,
//! not a BOS. This way BOS can neither be doubled nor forced onto a model without one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::recfound_prompt::{SYSTEM_PROMPT, render_sections};

/// Which wrapper turns a prompt into model input. Names (`FromStr`, serde): `raw`, `mistral`,
/// `chatml`, `gritlm`, `recfound`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PromptTemplate {
    /// The prompt verbatim; the answer is appended verbatim.
    #[serde(rename = "raw")]
    Raw,
    /// Mistral-Instruct `[INST] {prompt} [/INST]`, answer ` {answer}` then EOS.
    ///
    /// The token pattern every Mistral version uses (mistral-common) is BOS, `▁[INST]`,
    /// `▁{prompt}`, `▁[/INST]`, `▁{answer}`, EOS. The v0.1/v0.2 HF chat template writes that as
    /// `<s>[INST] {prompt} [/INST]`; the 2024 templates write `<s> [INST] {prompt} [/INST]`
    /// (their tokenizer.json stopped prepending `▁` after `<s>`) and v0.3's
    /// `<s>[INST] {prompt}[/INST]` (there `[INST]`/`[/INST]` are control tokens 3/4). We render
    /// the v0.1/v0.2 text, which gives that pattern with the legacy SentencePiece
    /// `tokenizer.json` (Prepend-`▁` normaliser); a v0.3 tokenizer.json would see one extra `▁`
    /// before `[/INST]`.
    #[serde(rename = "mistral")]
    MistralInst,
    /// ChatML (Qwen2.5-Instruct): `<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n`,
    /// answer then `<|im_end|>` as text. Qwen2.5's HF template inserts a default system turn
    /// ("You are Qwen, created by Alibaba Cloud. ...") when none is given; this one does not,
    /// pass it to [`PromptTemplate::render_generation_with_system`] to match.
    #[serde(rename = "chatml")]
    ChatMl,
    /// GritLM / official RecFound training format: generative `<|user|>\n{prompt}\n<|assistant|>\n`
    /// (`<s>` before it is the BOS; `</s>` after the answer is the EOS token), embedding
    /// `<|user|>\n{instruction}\n<|embed|>\n{text}`.
    #[serde(rename = "gritlm")]
    GritLm,
    /// The Appendix-B layout with the prompt as its instruction and no input/options (see
    /// [`super::RecFoundPrompt`] for the full layout). Bare text, no chat wrapper: B.1 wraps it
    /// in `[INST]` or ChatML to evaluate other LLMs, and RecFound itself trains it inside the
    /// GritLM format, so build it with `RecFoundPrompt` and pass the result to those templates.
    #[serde(rename = "recfound")]
    RecFound,
}

/// How a training answer is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndOfTurn {
    /// By the tokenizer's EOS id, appended after encoding (`</s>` for Mistral/GritLM).
    EosToken,
    /// By this text, which the tokenizer maps to a special token (ChatML's `<|im_end|>`).
    Text(&'static str),
}

/// A training pair as text. `full` starts with `prompt`, so `prompt.len()` is the byte offset of
/// the answer; the loss covers what follows it (and the EOS token under [`EndOfTurn::EosToken`],
/// which is not in `full`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptAnswer {
    pub prompt: String,
    pub full: String,
}

impl PromptAnswer {
    /// Byte offset in `full` where the answer begins.
    pub fn answer_start(&self) -> usize {
        self.prompt.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown prompt template `{name}`; valid names: raw, mistral, chatml, gritlm, recfound")]
pub struct UnknownTemplate {
    pub name: String,
}

// GritLM/RecFound strip "\t\n :" from embedding instructions ("Strip including `:` which is
// added in MEDI but no longer needed due to the format with special tokens", training/data.py).
const INSTRUCTION_TRIM: &[char] = &['\t', '\n', ' ', ':'];

impl PromptTemplate {
    pub const ALL: [PromptTemplate; 5] = [
        PromptTemplate::Raw,
        PromptTemplate::MistralInst,
        PromptTemplate::ChatMl,
        PromptTemplate::GritLm,
        PromptTemplate::RecFound,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PromptTemplate::Raw => "raw",
            PromptTemplate::MistralInst => "mistral",
            PromptTemplate::ChatMl => "chatml",
            PromptTemplate::GritLm => "gritlm",
            PromptTemplate::RecFound => "recfound",
        }
    }

    /// The text a model continues to answer `prompt` (inference, and the masked part of a
    /// training pair). Encode with `add_special_tokens = true`.
    pub fn render_generation(self, prompt: &str) -> String {
        self.render_generation_with_system(None, prompt)
    }

    /// As [`Self::render_generation`], with a system message: ChatML gives it its own turn,
    /// RecFound replaces the Alpaca preamble with it, and the others put `{system}\n\n` before
    /// the prompt inside the user turn, as Mistral's HF chat template does.
    pub fn render_generation_with_system(self, system: Option<&str>, prompt: &str) -> String {
        let user = |prompt: &str| match system {
            Some(system) => format!("{system}\n\n{prompt}"),
            None => prompt.to_owned(),
        };
        match self {
            PromptTemplate::Raw => user(prompt),
            PromptTemplate::MistralInst => format!("[INST] {} [/INST]", user(prompt)),
            PromptTemplate::ChatMl => {
                let system = system
                    .map(|s| format!("<|im_start|>system\n{s}<|im_end|>\n"))
                    .unwrap_or_default();
                format!("{system}<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n")
            }
            PromptTemplate::GritLm => format!("<|user|>\n{}\n<|assistant|>\n", user(prompt)),
            PromptTemplate::RecFound => {
                render_sections(system.unwrap_or(SYSTEM_PROMPT), prompt, None, None)
            }
        }
    }

    pub fn end_of_turn(self) -> EndOfTurn {
        match self {
            PromptTemplate::ChatMl => EndOfTurn::Text("<|im_end|>"),
            _ => EndOfTurn::EosToken,
        }
    }

    /// Prompt and prompt + answer for training with the prompt masked out.
    pub fn render_generation_with_answer(self, prompt: &str, answer: &str) -> PromptAnswer {
        self.complete(self.render_generation(prompt), answer)
    }

    /// Appends `answer` (and a textual end of turn) to an already rendered prompt.
    ///
    /// Except under `Raw`, the answer is trimmed, as GritLM (`f[i+1].strip()`) and Mistral v0.3
    /// (`message["content"]|trim`) do: surrounding whitespace is noise that would also move the
    /// prompt/answer token boundary.
    pub fn complete(self, rendered_prompt: String, answer: &str) -> PromptAnswer {
        let body = match self {
            PromptTemplate::Raw => answer.to_owned(),
            // mistral-common encodes the answer as its own SentencePiece string: `▁{answer}`.
            PromptTemplate::MistralInst => format!(" {}", answer.trim()),
            _ => answer.trim().to_owned(),
        };
        let end = match self.end_of_turn() {
            EndOfTurn::Text(end) => end,
            EndOfTurn::EosToken => "",
        };
        let full = format!("{rendered_prompt}{body}{end}");
        PromptAnswer {
            prompt: rendered_prompt,
            full,
        }
    }

    /// The part of an embedding input that precedes the text; its tokens are excluded from mean
    /// pooling. The instruction is stripped of "\t\n :" first; an empty one gives GritLM's
    /// instruction-free form `<|embed|>\n`.
    ///
    /// Only GritLM has embedding markers. The others have none to offer (chat turns ask for an
    /// answer; B.1: "There is also no need to design a prompt template for embedding tasks"),
    /// so they use the plain E5/SFR-style layout: the instruction on its own line, then the text.
    pub fn embedding_prefix(self, instruction: &str) -> String {
        let instruction = instruction.trim_matches(INSTRUCTION_TRIM);
        match (self, instruction.is_empty()) {
            (PromptTemplate::GritLm, false) => format!("<|user|>\n{instruction}\n<|embed|>\n"),
            (PromptTemplate::GritLm, true) => "<|embed|>\n".to_owned(),
            (_, false) => format!("{instruction}\n"),
            (_, true) => String::new(),
        }
    }

    /// The whole embedding input: [`Self::embedding_prefix`] followed by `text` verbatim.
    pub fn render_embedding(self, instruction: &str, text: &str) -> String {
        self.embedding_prefix(instruction) + text
    }
}

impl fmt::Display for PromptTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PromptTemplate {
    type Err = UnknownTemplate;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let wanted = name.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|t| t.name() == wanted)
            .ok_or_else(|| UnknownTemplate {
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in PromptTemplate::ALL {
            assert_eq!(t.name().parse::<PromptTemplate>(), Ok(t));
            // serde and FromStr must agree on every name.
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.name()));
            assert_eq!(serde_json::from_str::<PromptTemplate>(&json).unwrap(), t);
        }
        assert_eq!(" ChatML ".parse(), Ok(PromptTemplate::ChatMl));
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "llama3".parse::<PromptTemplate>().unwrap_err();
        assert_eq!(err.name, "llama3");
        let msg = err.to_string();
        for t in PromptTemplate::ALL {
            assert!(msg.contains(t.name()), "{msg}");
        }
    }

    #[test]
    fn generation_prompts() {
        use PromptTemplate::*;
        assert_eq!(Raw.render_generation("Hi"), "Hi");
        assert_eq!(MistralInst.render_generation("Hi"), "[INST] Hi [/INST]");
        assert_eq!(
            ChatMl.render_generation("Hi"),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            GritLm.render_generation("Hi"),
            "<|user|>\nHi\n<|assistant|>\n"
        );
        assert_eq!(
            RecFound.render_generation("Hi"),
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nHi\n\n### Response:\n"
        );
    }

    #[test]
    fn system_messages() {
        use PromptTemplate::*;
        let sys = Some("Be brief.");
        assert_eq!(
            ChatMl.render_generation_with_system(sys, "Hi"),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            MistralInst.render_generation_with_system(sys, "Hi"),
            "[INST] Be brief.\n\nHi [/INST]"
        );
        assert_eq!(
            GritLm.render_generation_with_system(sys, "Hi"),
            "<|user|>\nBe brief.\n\nHi\n<|assistant|>\n"
        );
        assert_eq!(
            Raw.render_generation_with_system(sys, "Hi"),
            "Be brief.\n\nHi"
        );
        assert_eq!(
            RecFound.render_generation_with_system(sys, "Hi"),
            "Be brief.\n\n### Instruction:\nHi\n\n### Response:\n"
        );
    }

    #[test]
    fn training_pairs() {
        use PromptTemplate::*;
        let pa = GritLm.render_generation_with_answer("Q?", " A. \n");
        assert_eq!(pa.prompt, "<|user|>\nQ?\n<|assistant|>\n");
        assert_eq!(pa.full, "<|user|>\nQ?\n<|assistant|>\nA.");
        assert_eq!(&pa.full[pa.answer_start()..], "A.");

        let pa = MistralInst.render_generation_with_answer("Q?", "A.");
        assert_eq!(pa.full, "[INST] Q? [/INST] A.");

        let pa = ChatMl.render_generation_with_answer("Q?", "A.");
        assert_eq!(
            pa.full,
            "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\nA.<|im_end|>"
        );
        assert_eq!(ChatMl.end_of_turn(), EndOfTurn::Text("<|im_end|>"));

        let pa = Raw.render_generation_with_answer("2+2=", " 4");
        assert_eq!(pa.full, "2+2= 4");

        for t in PromptTemplate::ALL {
            let pa = t.render_generation_with_answer("Q?", "A.");
            assert!(pa.full.starts_with(&pa.prompt), "{t}");
        }
    }

    #[test]
    fn embedding_inputs() {
        use PromptTemplate::*;
        assert_eq!(
            GritLm.render_embedding("Represent the user query: ", "floral napkins"),
            "<|user|>\nRepresent the user query\n<|embed|>\nfloral napkins"
        );
        assert_eq!(
            GritLm.render_embedding("", "floral napkins"),
            "<|embed|>\nfloral napkins"
        );
        assert_eq!(GritLm.render_embedding(" :\n", "x"), "<|embed|>\nx");
        for t in [Raw, MistralInst, ChatMl, RecFound] {
            assert_eq!(t.render_embedding("Represent it:", "x"), "Represent it\nx");
            assert_eq!(t.render_embedding("", "x"), "x");
        }
        for t in PromptTemplate::ALL {
            let full = t.render_embedding("Find items", "text");
            assert_eq!(full, t.embedding_prefix("Find items") + "text");
        }
    }
}
