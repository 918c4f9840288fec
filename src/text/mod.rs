//! Text in and out of the model: the HF `tokenizers` wrapper, prompt templates (Mistral `[INST]`,
//! ChatML, GritLM `<|user|>`/`<|embed|>`, RecFound Appendix B) and template-aware encoding that
//! marks where pooling and the loss begin.

mod encode;
mod recfound_prompt;
mod template;
mod tokenizer;

pub use encode::{
    EmbedEncoding, GenerationEncoding, encode_for_embedding, encode_for_training, encode_prompt,
    shared_prefix_len,
};
pub use recfound_prompt::{RecFoundPrompt, SYSTEM_PROMPT, SYSTEM_PROMPT_WITH_INPUT};
pub use template::{EndOfTurn, PromptAnswer, PromptTemplate, UnknownTemplate};
pub use tokenizer::{
    SpecialTokens, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, TextTokenizer, TokenizerError,
};
