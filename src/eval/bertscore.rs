//! BERTScore of saved free-text predictions (QR, AG, UP, IP): contextual token embeddings from
//! one layer of any decoder checkpoint we load, matched greedily by
//! [`super::metrics::bertscore`]. The paper scored with an encoder (DESIGN.md §7:
//! longformer-large, layer 14; the `bert_score` default is roberta-large); ours is a decoder used
//! as the encoder, so the numbers compare runs with each other, not with the paper's.
//!
//! The layer-k hidden state is taken by running the first k decoder layers and a weightless
//! RMSNorm: that only rescales each token's vector by a positive number, which cosine
//! similarity ignores. The BOS token (the encoder's [CLS] analogue) is run for context but not
//! matched, as the package zeroes [CLS] and [SEP].

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::error::EvalError;
use super::metrics::bertscore::{BertScore, bertscore, idf_of, idf_weights};
use super::predictions::{Prediction, predictions_path, read_predictions};
use super::protocol::TaskMetric;
use super::score::EvalReport;
use crate::backbone::decoder::RmsNorm;
use crate::backbone::{AttnMode, Decoder, TokenMask};
use crate::text::TextTokenizer;

/// How BERTScore embeds.
#[derive(Debug, Clone, PartialEq)]
pub struct BertScoreConfig {
    /// Hidden state after this many decoder layers (0 = the token embeddings). `None`: 17/24 of
    /// the depth, the share of roberta-large's layer 17 that `bert_score` uses by default.
    pub layer: Option<usize>,
    /// Weigh tokens by idf over the references (the package's `idf=True`); off by default, as
    /// in the package.
    pub idf: bool,
    pub batch_size: usize,
    /// Tokens per text at most (longer texts are cut, as the package cuts at the model's limit).
    pub max_len: usize,
    /// Causal (how the decoder was trained) or bidirectional attention.
    pub mode: AttnMode,
}

impl Default for BertScoreConfig {
    fn default() -> Self {
        Self { layer: None, idf: false, batch_size: 8, max_len: 512, mode: AttnMode::Causal }
    }
}

/// The default layer for a decoder of `num_layers` layers: 17/24 of its depth, at least 1.
pub fn default_layer(num_layers: usize) -> usize {
    (num_layers * 17 / 24).max(1).min(num_layers)
}

/// A decoder cut to the scoring layer, with the tokenizer that feeds it.
pub struct BertScorer<'a, B: Backend> {
    encoder: Decoder<B>,
    tokenizer: &'a TextTokenizer,
    bos: Option<u32>,
    pub layer: usize,
    config: BertScoreConfig,
}

/// Per text: one vector per matched token; and those tokens' ids (for idf).
pub type TokenEmbeddings = (Vec<Vec<Vec<f32>>>, Vec<Vec<u32>>);

/// Keys the scores are stored under in a task's `extra`.
pub const BERTSCORE_KEYS: [&str; 3] = ["bertscore_f1", "bertscore_precision", "bertscore_recall"];

impl<'a, B: Backend> BertScorer<'a, B> {
    /// `bos`: the checkpoint's BOS id (config.json), prepended when the tokenizer does not add one.
    pub fn new(decoder: &Decoder<B>, tokenizer: &'a TextTokenizer, bos: Option<u32>, config: BertScoreConfig) -> Result<Self, EvalError> {
        let layers = decoder.num_layers();
        let layer = config.layer.unwrap_or_else(|| default_layer(layers));
        if layer > layers {
            return Err(EvalError::Task { task: "bertscore".into(), message: format!("layer {layer} asked of a decoder with {layers} layers") });
        }
        if config.batch_size == 0 || config.max_len == 0 {
            return Err(EvalError::Task { task: "bertscore".into(), message: "batch size and max_len must be at least 1".into() });
        }
        let mut encoder = decoder.clone();
        encoder.model.layers.truncate(layer);
        let d = decoder.model.norm.weight.val().dims()[0];
        encoder.model.norm = RmsNorm::new(d, decoder.model.norm.eps, &decoder.model.norm.weight.val().device());
        let bos = tokenizer.bos_token_id().or(bos);
        Ok(Self { encoder, tokenizer, bos, layer, config })
    }

    /// Token ids of `text` with BOS in front (when the model has one), and where matching starts.
    fn encode(&self, text: &str) -> Result<(Vec<u32>, usize), EvalError> {
        let mut ids: Vec<u32> = self.bos.into_iter().collect();
        let start = ids.len();
        ids.extend(self.tokenizer.encode(text, false)?);
        ids.truncate(self.config.max_len.max(start + 1));
        Ok((ids, start))
    }

    /// One vector per matched token of each text (`[]` for an empty text), with the tokens.
    pub fn token_embeddings(&self, texts: &[&str], device: &B::Device) -> Result<TokenEmbeddings, EvalError> {
        let mut vectors = Vec::with_capacity(texts.len());
        let mut tokens = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.config.batch_size) {
            let encoded = chunk.iter().map(|t| self.encode(t)).collect::<Result<Vec<_>, _>>()?;
            let len = encoded.iter().map(|(ids, _)| ids.len()).max().unwrap_or(0);
            if len == 0 {
                // No BOS and only empty texts: nothing to run.
                vectors.extend(encoded.iter().map(|_| Vec::new()));
                tokens.extend(encoded.iter().map(|_| Vec::new()));
                continue;
            }
            let n = encoded.len();
            let flat: Vec<i64> = encoded.iter().flat_map(|(ids, _)| (0..len).map(move |t| ids.get(t).map_or(0, |&id| i64::from(id)))).collect();
            let lengths: Vec<usize> = encoded.iter().map(|(ids, _)| ids.len()).collect();
            let mask = TokenMask::right_padded(&lengths, len);
            let ids = Tensor::<B, 2, burn::tensor::Int>::from_data(TensorData::new(flat, [n, len]), device);
            let hidden = self.encoder.forward_hidden(ids, &mask, self.config.mode, None); // [N, T, D]
            let d = hidden.dims()[2];
            // One read-back per batch.
            let values: Vec<f32> = hidden.into_data().convert::<f32>().to_vec().expect("f32 hidden states");
            for (row, (ids, start)) in encoded.iter().enumerate() {
                let at = |t: usize| values[(row * len + t) * d..(row * len + t + 1) * d].to_vec();
                vectors.push((*start..ids.len()).map(at).collect());
                tokens.push(ids[*start..].to_vec());
            }
        }
        Ok((vectors, tokens))
    }

    /// BERTScore of each candidate against its reference.
    pub fn score(&self, candidates: &[&str], references: &[&str], device: &B::Device) -> Result<Vec<BertScore>, EvalError> {
        let (cand, cand_ids) = self.token_embeddings(candidates, device)?;
        let (refs, ref_ids) = self.token_embeddings(references, device)?;
        let idf = self.config.idf.then(|| idf_weights(&ref_ids));
        Ok(cand
            .iter()
            .zip(&refs)
            .zip(cand_ids.iter().zip(&ref_ids))
            .map(|((c, r), (ci, ri))| match &idf {
                Some(idf) => {
                    let (wc, wr) = (idf_of(ci, idf, ref_ids.len()), idf_of(ri, idf, ref_ids.len()));
                    bertscore(c, r, Some((&wc, &wr)))
                }
                None => bertscore(c, r, None),
            })
            .collect())
    }
}

/// Adds the mean BERTScore (F1, precision, recall) of every free-text task of `report` from
/// the saved predictions in `dir`, into each task's `extra` (see [`BERTSCORE_KEYS`]).
pub fn add_bertscore<B: Backend>(report: &mut EvalReport, dir: &Path, scorer: &BertScorer<'_, B>, device: &B::Device) -> Result<(), EvalError> {
    for task in report.tasks.iter_mut().filter(|t| t.metric == TaskMetric::TokenF1) {
        let _span = tracing::info_span!("bertscore", task = task.task.name()).entered();
        let file = read_predictions(&predictions_path(dir, task.task), task.task, false)?;
        let (outputs, references): (Vec<&str>, Vec<&str>) = file
            .lines
            .iter()
            .filter_map(|(_, p)| if let Prediction::Generative(g) = p { Some((g.output.as_str(), g.reference.as_str())) } else { None })
            .unzip();
        if outputs.is_empty() {
            continue;
        }
        let scores = scorer.score(&outputs, &references, device)?;
        let mean = |f: fn(&BertScore) -> f64| scores.iter().map(f).sum::<f64>() / scores.len() as f64;
        let values: BTreeMap<String, f64> =
            BERTSCORE_KEYS.iter().map(|k| k.to_string()).zip([mean(|s| s.f1), mean(|s| s.precision), mean(|s| s.recall)]).collect();
        task.extra.extend(values);
        task.extra.insert("bertscore_layer".into(), scorer.layer as f64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layer_scales_roberta_large() {
        // roberta-large: 24 layers -> 17; a 2-layer decoder -> 1; 32 layers -> 22.
        assert_eq!((default_layer(24), default_layer(2), default_layer(32), default_layer(1)), (17, 1, 22, 1));
    }

    #[test]
    fn identical_texts_score_one_and_layers_are_checked() {
        type B = crate::backend::TestBackend;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-qwen2");
        let config = crate::backbone::DecoderConfig::from_hf_file(&dir.join("config.json")).unwrap();
        let decoder = config.init::<B>(&Default::default());
        let tok = TextTokenizer::from_dir(&dir).unwrap();
        let device = Default::default();
        let scorer = BertScorer::new(&decoder, &tok, config.bos_token_id, BertScoreConfig { batch_size: 2, ..Default::default() }).unwrap();
        assert_eq!(scorer.layer, 1);
        let s = scorer.score(&["a red cup", "blue pen", ""], &["a red cup", "a red cup", "x"], &device).unwrap();
        // The same tokens in the same context embed identically: P = R = F1 = 1.
        assert!((s[0].f1 - 1.0).abs() < 1e-5, "{:?}", s[0]);
        assert!(s[1].f1 < s[0].f1);
        assert_eq!(s[2].f1, 0.0); // empty candidate
        // Batching does not change a score (padding is masked).
        let alone = scorer.score(&["blue pen"], &["a red cup"], &device).unwrap();
        assert!((alone[0].f1 - s[1].f1).abs() < 1e-5);
        let idf = BertScorer::new(&decoder, &tok, None, BertScoreConfig { idf: true, ..Default::default() }).unwrap();
        // idf over two references: tokens in both weigh ln(3/3) = 0, the others ln(3/2).
        let pair = ["a red cup", "blue pen"];
        assert!(idf.score(&pair, &pair, &device).unwrap().iter().all(|s| (s.f1 - 1.0).abs() < 1e-5));
        let err = BertScorer::new(&decoder, &tok, None, BertScoreConfig { layer: Some(3), ..Default::default() }).err().unwrap();
        assert!(err.to_string().contains("layer 3"), "{err}");
    }
}
