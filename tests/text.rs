//! `recfound::text` on the real Qwen2.5 and Mistral v0.1 tokenizers from `../shared/data`.
//! Each test prints `SKIP` and passes when its tokenizer file is absent.

use std::path::PathBuf;
use std::sync::OnceLock;

use recfound::text::{
    EndOfTurn, PromptTemplate, RecFoundPrompt, TextTokenizer, TokenizerError, encode_for_embedding,
    encode_for_training, encode_prompt,
};

fn tokenizer_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/tokenizers")
        .join(name)
        .join("tokenizer.json")
}

fn load(name: &str) -> Option<TextTokenizer> {
    let path = tokenizer_path(name);
    if !path.is_file() {
        eprintln!("SKIP: {} not found", path.display());
        return None;
    }
    Some(TextTokenizer::from_file(&path).expect("shared tokenizer loads"))
}

// Loaded once per test binary: parsing the 7 MB Qwen file dominates the run time otherwise.
fn qwen() -> Option<&'static TextTokenizer> {
    static TOK: OnceLock<Option<TextTokenizer>> = OnceLock::new();
    TOK.get_or_init(|| load("qwen2.5")).as_ref()
}

fn mistral() -> Option<&'static TextTokenizer> {
    static TOK: OnceLock<Option<TextTokenizer>> = OnceLock::new();
    TOK.get_or_init(|| load("mistral_v1")).as_ref()
}

#[test]
fn qwen_known_ids_and_round_trip() {
    let Some(tok) = qwen() else { return };
    // Qwen2.5 adds no BOS: the same ids with and without special tokens.
    assert_eq!(tok.encode("Hello world", false).unwrap(), vec![9707, 1879]);
    assert_eq!(tok.encode("Hello world", true).unwrap(), vec![9707, 1879]);
    assert!(!tok.adds_bos());
    assert_eq!(tok.bos_token_id(), None);

    let text = "Vintage Floral Paper Napkins (6.5 x 6.5 In, 100 Pack) — é ü 中文\n\tend";
    let ids = tok.encode(text, true).unwrap();
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
}

#[test]
fn qwen_special_tokens() {
    let Some(tok) = qwen() else { return };
    let im_start = tok.token_id("<|im_start|>").expect("<|im_start|> in vocab");
    let im_end = tok.token_id("<|im_end|>").expect("<|im_end|> in vocab");
    assert_eq!((im_start, im_end), (151644, 151645));
    // A special token in running text is one id, not pieces of "<", "|", "im", ...
    assert_eq!(tok.encode("<|im_start|>", false).unwrap(), vec![im_start]);
    assert_eq!(tok.encode("a<|im_end|>b", false).unwrap()[1], im_end);

    assert_eq!(tok.eos_token_id(), Some(151643)); // <|endoftext|>
    assert_eq!(tok.pad_token_id(), Some(151643)); // no pad token and no BOS: EOS
    assert!(tok.stop_token_ids().contains(&im_end));
    assert_eq!(tok.vocab_size(), 151_665); // 151,643 BPE + 22 added
    // skip_special_tokens drops them on decode.
    let ids = tok.encode("<|im_start|>user\nHi<|im_end|>", false).unwrap();
    assert_eq!(tok.decode(&ids, true).unwrap(), "user\nHi");
}

#[test]
fn mistral_known_ids_and_round_trip() {
    let Some(tok) = mistral() else { return };
    assert_eq!(
        tok.encode("Hello world", true).unwrap(),
        vec![1, 22557, 1526]
    );
    assert_eq!(tok.encode("Hello world", false).unwrap(), vec![22557, 1526]);
    assert!(tok.adds_bos());
    assert_eq!(tok.bos_token_id(), Some(1));
    assert_eq!(tok.eos_token_id(), Some(2));
    assert_eq!(tok.pad_token_id(), Some(1)); // no pad token: BOS, as GritLM/RecFound set it
    assert_eq!(tok.vocab_size(), 32_000);

    let text = "Sony LCS-SC5 Alpha System Carrying Case. 中文 ü\nnext line";
    let ids = tok.encode(text, true).unwrap();
    assert_eq!(tok.decode(&ids, true).unwrap(), text);
}

// The template design leaves `<s>` out of the text and lets the post-processor add it. For
// Mistral that must equal the official form: `<s>` written as text, no special tokens added.
#[test]
fn mistral_bos_by_tokenizer_equals_bos_as_text() {
    let Some(tok) = mistral() else { return };
    for t in PromptTemplate::ALL {
        let text = t.render_generation("What is your favourite condiment?");
        let ours = tok.encode(&text, true).unwrap();
        let official = tok.encode(&format!("<s>{text}"), false).unwrap();
        assert_eq!(ours, official, "{t}");
        assert_eq!(
            ours.iter().filter(|&&id| id == 1).count(),
            1,
            "{t}: one BOS"
        );
    }
}

#[test]
fn mistral_inst_ids() {
    let Some(tok) = mistral() else { return };
    // <s> ▁[ INST ] ▁Hello ▁[ / INST ]: the pattern mistral-common's v1 tokenizer produces.
    let ids = encode_prompt(tok, PromptTemplate::MistralInst, "Hello").unwrap();
    assert_eq!(
        ids,
        vec![1, 733, 16289, 28793, 22557, 733, 28748, 16289, 28793]
    );
}

#[test]
fn recfound_prompt_inside_gritlm() {
    let prompt = RecFoundPrompt::new("Given the title of two products, predict if the two products are similar. Answer only from the options.")
        .with_input("Product 1:: Gamo Whisper,\nProduct 2:: RWS Model 34")
        .with_lettered_options([
            "Users who buy product 1 may also buy product 2.",
            "Users who view product 1 may also view product 2.",
            "The product 1 is similar with the product 2.",
        ]);
    let expected = "<|user|>\n\
Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n\
### Instruction:\nGiven the title of two products, predict if the two products are similar. Answer only from the options.\n\n\
### Input:\nProduct 1:: Gamo Whisper,\nProduct 2:: RWS Model 34\n\n\
### Options:\nA: Users who buy product 1 may also buy product 2.\nB: Users who view product 1 may also view product 2.\nC: The product 1 is similar with the product 2.\n\n\
### Response:\n\n<|assistant|>\n";
    assert_eq!(
        PromptTemplate::GritLm.render_generation(&prompt.render()),
        expected
    );
}

fn check_embedding(tok: &TextTokenizer, instruction: &str, text: &str, expected_prefix: &str) {
    let enc = encode_for_embedding(tok, PromptTemplate::GritLm, instruction, text).unwrap();
    assert_eq!(
        tok.decode(&enc.ids[enc.pool_start..], false).unwrap(),
        text,
        "pooled tokens are exactly the text"
    );
    assert_eq!(
        tok.decode(&enc.ids[..enc.pool_start], true).unwrap(),
        expected_prefix,
        "tokens before pool_start are the instruction prefix"
    );
    // The prefix ids end exactly where the text begins: no token straddles the boundary.
    let prefix_ids = tok
        .encode(&PromptTemplate::GritLm.embedding_prefix(instruction), true)
        .unwrap();
    assert_eq!(prefix_ids, enc.ids[..enc.pool_start]);
}

#[test]
fn gritlm_embedding_pool_start() {
    let instruction = "Create an embedding of this user query to retrieve a relevant item:";
    let stripped = "Create an embedding of this user query to retrieve a relevant item";
    let texts = [
        "floral napkins baby shower",
        "(2019) Vintage Floral Paper Napkins, 100 Pack",
        "title: Terra Men’s Pilot, categories: Fashion",
        "中文 product",
    ];
    for (name, tok) in [("qwen2.5", qwen()), ("mistral_v1", mistral())] {
        let Some(tok) = tok else { continue };
        for text in texts {
            eprintln!("{name}: {text}");
            check_embedding(
                tok,
                instruction,
                text,
                &format!("<|user|>\n{stripped}\n<|embed|>\n"),
            );
            check_embedding(tok, "", text, "<|embed|>\n");
        }
        let enc = encode_for_embedding(tok, PromptTemplate::GritLm, instruction, "x").unwrap();
        assert_eq!(
            enc.ids.first() == Some(&1),
            tok.adds_bos(),
            "{name}: BOS only for Mistral"
        );
    }
}

#[test]
fn plain_embedding_pool_start() {
    for tok in [qwen(), mistral()].into_iter().flatten() {
        for t in [PromptTemplate::Raw, PromptTemplate::ChatMl] {
            let enc =
                encode_for_embedding(tok, t, "Represent this product", "Gamma Guard.").unwrap();
            assert_eq!(
                tok.decode(&enc.ids[enc.pool_start..], true).unwrap(),
                "Gamma Guard."
            );
            let enc = encode_for_embedding(tok, t, "", "Gamma Guard.").unwrap();
            // No instruction: only the BOS (if any) is excluded.
            assert_eq!(enc.pool_start, usize::from(tok.adds_bos()));
        }
    }
}

#[test]
fn empty_embedding_text_is_an_error() {
    let Some(tok) = qwen() else { return };
    let err = encode_for_embedding(tok, PromptTemplate::GritLm, "Represent it", "").unwrap_err();
    assert!(matches!(err, TokenizerError::NothingToPool { .. }), "{err}");
}

#[test]
fn training_pairs_mask_the_prompt() {
    let prompt = "Given the user's review, identify the user's sentiment.";
    let answer = "A: very positive";
    for (name, tok) in [("qwen2.5", qwen()), ("mistral_v1", mistral())] {
        let Some(tok) = tok else { continue };
        // Raw concatenates verbatim, so its boundary is the caller's business (see below).
        for t in PromptTemplate::ALL
            .into_iter()
            .filter(|&t| t != PromptTemplate::Raw)
        {
            let enc = encode_for_training(tok, t, prompt, answer).unwrap();
            let prompt_ids = encode_prompt(tok, t, prompt).unwrap();
            assert_eq!(
                enc.prompt_len,
                prompt_ids.len(),
                "{name}/{t}: prompt ids are a prefix"
            );
            assert_eq!(&enc.ids[..enc.prompt_len], &prompt_ids[..]);

            let answer_text = tok.decode(enc.answer_ids(), true).unwrap();
            assert!(
                answer_text.trim_start().starts_with(answer),
                "{name}/{t}: {answer_text:?}"
            );
            // Every answer ends with an id generation stops on.
            let last = *enc.ids.last().unwrap();
            assert!(
                tok.stop_token_ids().contains(&last),
                "{name}/{t}: ends with {last}"
            );
            match t.end_of_turn() {
                // Qwen: `<|im_end|>` is one special token and ends the answer by itself.
                EndOfTurn::Text(end) if tok.token_id(end).is_some() => {
                    assert_eq!(Some(last), tok.token_id(end), "{name}/{t}");
                }
                _ => assert_eq!(Some(last), tok.eos_token_id(), "{name}/{t}"),
            }
        }
    }
}

#[test]
fn unknown_template_name_errors() {
    let err = "alpaca".parse::<PromptTemplate>().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("alpaca") && msg.contains("gritlm") && msg.contains("chatml"),
        "{msg}"
    );
    assert_eq!(
        "gritlm".parse::<PromptTemplate>(),
        Ok(PromptTemplate::GritLm)
    );
}

#[test]
fn missing_tokenizer_names_the_path() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("no-such-model/tokenizer.json");
    let err = TextTokenizer::from_file(&path).unwrap_err();
    assert!(matches!(err, TokenizerError::NotFound { .. }));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("no-such-model");
    assert!(TextTokenizer::try_from_dir(&dir).unwrap().is_none());
    assert!(
        TextTokenizer::from_dir(&dir)
            .unwrap_err()
            .to_string()
            .contains("no-such-model")
    );
}

#[test]
fn broken_tokenizer_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, "{ not json").unwrap();
    let err = TextTokenizer::from_file(&path).unwrap_err();
    assert!(matches!(err, TokenizerError::Load { .. }));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn tokenizer_config_overrides_special_tokens() {
    let Some(_) = qwen() else { return };
    // A Qwen2.5-Instruct-style model dir: tokenizer_config.json names <|im_end|> as EOS.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(tokenizer_path("qwen2.5"), dir.path().join("tokenizer.json")).unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"bos_token": null, "eos_token": "<|im_end|>", "pad_token": {"content": "<|endoftext|>"}}"#,
    )
    .unwrap();
    let tok = TextTokenizer::try_from_dir(dir.path())
        .unwrap()
        .expect("tokenizer.json present");
    assert_eq!(tok.eos_token_id(), Some(151645));
    assert_eq!(tok.pad_token_id(), Some(151643));
    assert_eq!(tok.bos_token_id(), None);
    assert_eq!(tok.stop_token_ids()[0], 151645);
}

// Raw glues prompt and answer together, so BPE may merge across them: Qwen's pre-tokenizer
// makes ".A" one piece. The boundary then falls back to the longest common prefix and the
// merged token is trained on, rather than the answer's first token being masked.
#[test]
fn raw_boundary_falls_back_to_common_prefix() {
    let Some(tok) = qwen() else { return };
    let prompt_ids = encode_prompt(tok, PromptTemplate::Raw, "Sentiment.").unwrap();
    let enc = encode_for_training(tok, PromptTemplate::Raw, "Sentiment.", "A").unwrap();
    assert_eq!(enc.prompt_len, prompt_ids.len() - 1);
    assert_eq!(tok.decode(enc.answer_ids(), true).unwrap(), ".A");
    // With the separator in the answer, the prompt ids are a true prefix again.
    let enc = encode_for_training(tok, PromptTemplate::Raw, "Sentiment.", " A").unwrap();
    assert_eq!(enc.prompt_len, prompt_ids.len());
}

#[test]
fn malformed_tokenizer_config_names_the_path() {
    let Some(_) = mistral() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        tokenizer_path("mistral_v1"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    let config = dir.path().join("tokenizer_config.json");
    std::fs::write(&config, "{\"eos_token\": ").unwrap();
    let err = TextTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, TokenizerError::Config { .. }), "{err}");
    assert!(
        err.to_string().contains(&config.display().to_string()),
        "{err}"
    );
}
