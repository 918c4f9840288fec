//! Reading prompts and texts from the command line and from JSONL files, with errors that name
//! the file and line.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// One line of a `--input-file` for `generate`: a text prompt or token ids.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PromptLine {
    pub prompt: Option<String>,
    pub input_ids: Option<Vec<u32>>,
    /// The RecFound task of this prompt (routes a TMoLE adapter).
    pub task: Option<String>,
}

/// One line of `embed --input-file`: a text (with an optional instruction left out of pooling),
/// or token ids with an optional `pool_start`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TextLine {
    pub text: Option<String>,
    pub instruction: Option<String>,
    pub input_ids: Option<Vec<u32>>,
    pub pool_start: Option<usize>,
    /// The RecFound task of this input (routes a TMoLE adapter).
    pub task: Option<String>,
}

/// Parses every non-blank line of a JSONL file as `T`.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(line).with_context(|| format!("{}: line {}", path.display(), i + 1))?;
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{}: no input lines", path.display());
    }
    Ok(rows)
}

/// Checks that each prompt line has exactly one of `prompt` / `input_ids`.
pub fn check_prompt_lines(path: &Path, lines: &[PromptLine]) -> anyhow::Result<()> {
    for (i, line) in lines.iter().enumerate() {
        if line.prompt.is_some() == line.input_ids.is_some() {
            bail!("{}: line {}: give exactly one of `prompt` or `input_ids`", path.display(), i + 1);
        }
    }
    Ok(())
}

/// Parses `1,2,3` into token ids.
pub fn parse_ids(s: &str) -> anyhow::Result<Vec<u32>> {
    s.split(',')
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<u32>().with_context(|| format!("--input-ids: `{t}` is not a token id")))
        .collect()
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename, so readers
/// never see a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    recfound::io::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// A progress bar over `len` batches on stderr; hidden for a single batch and when stderr is not
/// a terminal (indicatif's default), so logs and JSON output stay clean.
pub fn batch_progress(len: usize, what: &str) -> indicatif::ProgressBar {
    if len <= 1 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} batches, eta {eta}")
        .expect("static template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}
