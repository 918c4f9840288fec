//! The embedded default item-text encoder, which needs no weights (issue 8 item 2, DESIGN.md §8):
//! TF-IDF over word n-grams (unigrams + bigrams) and character n-grams (3-5, inside word
//! boundaries, as sklearn's `char_wb`), then a seeded randomised truncated SVD ([`super::svd`]).
//! Fitted once over the training domains and saved; new domains are projected with the frozen
//! vocabulary, idf and components (RecBase §3.2's shared encoder, in place of NV-Embed §4.2).

use std::collections::HashMap;

use super::ItemTokError;
use super::svd::{SparseRow, SvdConfig, randomized_svd};

/// Settings of [`TfidfSvd::fit`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TfidfConfig {
    /// Word n-gram lengths `[min, max]` (default `[1, 2]`); `None` leaves words out.
    #[serde(default = "TfidfConfig::default_word_ngrams")]
    pub word_ngrams: Option<[usize; 2]>,
    /// Character n-gram lengths `[min, max]` inside padded words (default `[3, 5]`); `None`
    /// leaves them out.
    #[serde(default = "TfidfConfig::default_char_ngrams")]
    pub char_ngrams: Option<[usize; 2]>,
    /// A feature enters the vocabulary when at least this many texts contain it (default 2).
    #[serde(default = "TfidfConfig::default_min_df")]
    pub min_df: usize,
    /// A feature contained in more than this share of the texts is left out (default 1.0: none
    /// is). Below 1 it drops the unified layout's field names (`Title:` is in every text).
    #[serde(default = "TfidfConfig::default_max_df_share")]
    pub max_df_share: f64,
    /// At most this many features: the highest document frequencies, ties broken by the
    /// feature's text (default 50 000).
    #[serde(default = "TfidfConfig::default_max_features")]
    pub max_features: usize,
    /// The SVD: `svd.dim` is the embedding dimension.
    pub svd: SvdConfig,
}

impl TfidfConfig {
    /// Defaults with `dim` output components and `seed` for the SVD sketch.
    pub fn new(dim: usize, seed: u64) -> Self {
        Self {
            word_ngrams: Self::default_word_ngrams(),
            char_ngrams: Self::default_char_ngrams(),
            min_df: Self::default_min_df(),
            max_df_share: Self::default_max_df_share(),
            max_features: Self::default_max_features(),
            svd: SvdConfig::new(dim, seed),
        }
    }

    fn default_word_ngrams() -> Option<[usize; 2]> {
        Some([1, 2])
    }

    fn default_char_ngrams() -> Option<[usize; 2]> {
        Some([3, 5])
    }

    fn default_min_df() -> usize {
        2
    }

    fn default_max_df_share() -> f64 {
        1.0
    }

    fn default_max_features() -> usize {
        50_000
    }

    /// Rejects settings that cannot produce a feature, naming the field.
    pub fn validate(&self) -> Result<(), ItemTokError> {
        for (field, range) in [("word_ngrams", self.word_ngrams), ("char_ngrams", self.char_ngrams)] {
            if let Some([min, max]) = range
                && (min == 0 || min > max)
            {
                return Err(ItemTokError::config(field, format!("[{min}, {max}] must satisfy 1 <= min <= max")));
            }
        }
        if self.word_ngrams.is_none() && self.char_ngrams.is_none() {
            return Err(ItemTokError::config("word_ngrams", "word and char n-grams are both off"));
        }
        if self.min_df == 0 {
            return Err(ItemTokError::config("min_df", "must be at least 1"));
        }
        if !(self.max_df_share > 0.0 && self.max_df_share <= 1.0) {
            return Err(ItemTokError::config("max_df_share", format!("{} is not in (0, 1]", self.max_df_share)));
        }
        if self.max_features == 0 {
            return Err(ItemTokError::config("max_features", "must be at least 1"));
        }
        Ok(())
    }
}

/// A fitted TF-IDF + SVD encoder. Feature `f` of a text `t` among `n` training texts:
///
/// - `tf(f, t) = 1 + ln count(f, t)` (sublinear; 0 when absent),
/// - `idf(f) = ln((1 + n) / (1 + df(f))) + 1` (smoothed; `df` = training texts containing `f`),
/// - `x(t) = tf * idf`, L2-normalised (a text without known features stays all zero),
/// - embedding `y(t) = Vᵀ x(t)`: the projection on the top `dim` right singular vectors of the
///   training matrix (sklearn's `TruncatedSVD.transform`: no centring, no rescaling).
#[derive(Debug, Clone, PartialEq)]
pub struct TfidfSvd {
    pub(super) config: TfidfConfig,
    /// Feature texts in column order (sorted): `w:` + words joined by one space, `c:` + chars.
    pub(super) vocabulary: Vec<String>,
    pub(super) index: HashMap<String, u32>,
    pub(super) idf: Vec<f64>,
    pub(super) singular_values: Vec<f64>,
    /// `Vᵀ`, `[dim][vocabulary]`.
    pub(super) components: Vec<Vec<f32>>,
}

impl TfidfSvd {
    /// Fits the vocabulary, idf and SVD on `texts`.
    ///
    /// Errors on invalid settings, no texts, no feature reaching `min_df`, or `svd.dim` above
    /// `min(texts, features)`.
    pub fn fit<S: AsRef<str>>(texts: &[S], config: &TfidfConfig) -> Result<Self, ItemTokError> {
        config.validate()?;
        if texts.is_empty() {
            return Err(ItemTokError::Empty { what: "no texts to fit the TF-IDF vocabulary on".into() });
        }
        let mut df: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for term in term_counts(config, text.as_ref()).into_keys() {
                *df.entry(term).or_default() += 1;
            }
        }
        let max_df = config.max_df_share * texts.len() as f64;
        let mut kept: Vec<(String, usize)> =
            df.into_iter().filter(|&(_, d)| d >= config.min_df && d as f64 <= max_df).collect();
        if kept.is_empty() {
            let message = format!(
                "no feature occurs in at least {} and at most {max_df} of the {} texts",
                config.min_df,
                texts.len()
            );
            return Err(ItemTokError::config("min_df", message));
        }
        kept.sort_by(|(ta, da), (tb, db)| db.cmp(da).then_with(|| ta.cmp(tb)));
        kept.truncate(config.max_features);
        kept.sort_by(|(ta, _), (tb, _)| ta.cmp(tb));
        let n = texts.len() as f64;
        let idf = kept.iter().map(|&(_, d)| ((1.0 + n) / (1.0 + d as f64)).ln() + 1.0).collect();
        let vocabulary: Vec<String> = kept.into_iter().map(|(term, _)| term).collect();
        let mut encoder = Self::from_parts(*config, vocabulary, idf, Vec::new(), Vec::new());
        let rows: Vec<SparseRow> = texts.iter().map(|t| encoder.tfidf_row(t.as_ref())).collect();
        let svd = randomized_svd(&rows, encoder.vocabulary.len(), &config.svd)?;
        encoder.singular_values = svd.singular_values;
        encoder.components =
            svd.components.into_iter().map(|row| row.into_iter().map(|v| v as f32).collect()).collect();
        Ok(encoder)
    }

    /// Assembles an encoder (used by fitting and loading); builds the feature index.
    pub(super) fn from_parts(
        config: TfidfConfig,
        vocabulary: Vec<String>,
        idf: Vec<f64>,
        singular_values: Vec<f64>,
        components: Vec<Vec<f32>>,
    ) -> Self {
        let index = vocabulary.iter().enumerate().map(|(i, term)| (term.clone(), i as u32)).collect();
        Self { config, vocabulary, index, idf, singular_values, components }
    }

    /// The L2-normalised TF-IDF row of `text` over the frozen vocabulary, columns ascending.
    /// Features outside the vocabulary are ignored.
    pub fn tfidf_row(&self, text: &str) -> SparseRow {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for_each_term(&self.config, text, |term| {
            if let Some(&column) = self.index.get(term) {
                *counts.entry(column).or_default() += 1;
            }
        });
        let mut row: SparseRow = counts
            .into_iter()
            .map(|(column, count)| {
                let tf = 1.0 + f64::from(count).ln();
                (column, tf * self.idf[column as usize])
            })
            .collect();
        row.sort_unstable_by_key(|&(column, _)| column);
        let norm = row.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|(_, v)| *v /= norm);
        }
        row
    }

    /// The `dim`-dimensional embedding of each text.
    pub fn transform<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Vec<f32>> {
        texts.iter().map(|t| self.transform_one(t.as_ref())).collect()
    }

    /// The embedding of one text: `Vᵀ x(text)`.
    pub fn transform_one(&self, text: &str) -> Vec<f32> {
        let row = self.tfidf_row(text);
        self.components
            .iter()
            .map(|component| row.iter().map(|&(c, v)| v * f64::from(component[c as usize])).sum::<f64>() as f32)
            .collect()
    }

    pub fn dim(&self) -> usize {
        self.components.len()
    }

    pub fn config(&self) -> &TfidfConfig {
        &self.config
    }

    /// Feature texts in column order.
    pub fn vocabulary(&self) -> &[String] {
        &self.vocabulary
    }

    pub fn idf(&self) -> &[f64] {
        &self.idf
    }

    /// Singular values of the training TF-IDF matrix, descending.
    pub fn singular_values(&self) -> &[f64] {
        &self.singular_values
    }
}

/// Counts of every feature of `text` (see [`for_each_term`]).
pub fn term_counts(config: &TfidfConfig, text: &str) -> HashMap<String, u32> {
    let mut counts: HashMap<String, u32> = HashMap::new();
    for_each_term(config, text, |term| match counts.get_mut(term) {
        Some(count) => *count += 1,
        None => {
            counts.insert(term.to_string(), 1);
        }
    });
    counts
}

/// Calls `visit` on every feature occurrence of `text`. Text is lower-cased and split into words
/// at every character that is not alphanumeric. Word n-grams join `n` consecutive words with one
/// space (`w:` prefix). Character n-grams follow sklearn's `char_wb`: each word padded with a
/// space on both sides, every window of `n` chars taken, and a padded word no longer than `n`
/// counted once as a whole (then no longer `n` is tried for it) (`c:` prefix).
pub fn for_each_term(config: &TfidfConfig, text: &str, mut visit: impl FnMut(&str)) {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let mut key = String::new();
    if let Some([min, max]) = config.word_ngrams {
        for n in min..=max {
            for gram in words.windows(n) {
                key.clear();
                key.push_str("w:");
                for (i, word) in gram.iter().enumerate() {
                    if i > 0 {
                        key.push(' ');
                    }
                    key.push_str(word);
                }
                visit(&key);
            }
        }
    }
    if let Some([min, max]) = config.char_ngrams {
        let mut padded: Vec<char> = Vec::new();
        for word in &words {
            padded.clear();
            padded.push(' ');
            padded.extend(word.chars());
            padded.push(' ');
            for n in min..=max {
                // A padded word no longer than `n` gives one window, itself, and ends the word.
                for gram in padded.windows(n.min(padded.len())) {
                    key.clear();
                    key.push_str("c:");
                    key.extend(gram);
                    visit(&key);
                }
                if padded.len() <= n {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_only(min_df: usize, dim: usize) -> TfidfConfig {
        TfidfConfig { word_ngrams: Some([1, 1]), char_ngrams: None, min_df, ..TfidfConfig::new(dim, 3) }
    }

    const TOY: [&str; 3] = ["apple banana", "Apple, apple!", "cherry"];

    #[test]
    fn char_wb_and_word_ngrams() {
        let config = TfidfConfig { word_ngrams: Some([1, 2]), char_ngrams: Some([3, 4]), ..TfidfConfig::new(1, 0) };
        let counts = term_counts(&config, "Ab a-ab");
        // Words ab, a, ab. Word grams: ab x2, a, "ab a", "a ab".
        // " ab " (4 chars): n = 3 -> " ab", "ab "; n = 4 -> " ab " (whole, once). Twice over.
        // " a " (3 chars): n = 3 -> whole word once, then stop.
        let mut got: Vec<(String, u32)> = counts.into_iter().collect();
        got.sort();
        let want: Vec<(String, u32)> = [
            ("c: a ", 1),
            ("c: ab", 2),
            ("c: ab ", 2),
            ("c:ab ", 2),
            ("w:a", 1),
            ("w:a ab", 1),
            ("w:ab", 2),
            ("w:ab a", 1),
        ]
        .into_iter()
        .map(|(t, c)| (t.to_string(), c))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn tfidf_by_hand_on_a_toy_corpus() {
        // n = 3; df: apple 2, banana 1, cherry 1.
        // idf(apple) = ln(4/3) + 1 = 1.287682, idf(banana) = idf(cherry) = ln(4/2) + 1 = 1.693147.
        // Text 0: tf 1 each -> (1.287682, 1.693147), norm 2.127175 -> (0.605349, 0.795961).
        // Text 1: apple twice -> tf = 1 + ln 2, alone -> 1 after L2. Text 2: cherry -> 1.
        let encoder = TfidfSvd::fit(&TOY, &words_only(1, 2)).unwrap();
        assert_eq!(encoder.vocabulary(), ["w:apple", "w:banana", "w:cherry"]);
        let idf = encoder.idf();
        assert!((idf[0] - 1.287682).abs() < 1e-6 && (idf[1] - 1.693147).abs() < 1e-6 && idf[1] == idf[2]);
        let row = encoder.tfidf_row(TOY[0]);
        assert_eq!(row.iter().map(|&(c, _)| c).collect::<Vec<_>>(), [0, 1]);
        assert!((row[0].1 - 0.605349).abs() < 1e-6 && (row[1].1 - 0.795961).abs() < 1e-6, "{row:?}");
        assert_eq!(encoder.tfidf_row(TOY[1]), vec![(0, 1.0)]);
        assert_eq!(encoder.tfidf_row(TOY[2]), vec![(2, 1.0)]);
    }

    #[test]
    fn min_df_and_max_features_shape_the_vocabulary() {
        // min_df 2 keeps apple only (df 2); it cannot carry dim 2 (min(3 texts, 1 feature) = 1).
        let encoder = TfidfSvd::fit(&TOY, &words_only(2, 1)).unwrap();
        assert_eq!(encoder.vocabulary(), ["w:apple"]);
        assert!(matches!(TfidfSvd::fit(&TOY, &words_only(2, 2)), Err(ItemTokError::InvalidConfig { .. })));
        // max_df_share 0.5 of 3 texts: apple (df 2 > 1.5) is left out.
        let config = TfidfConfig { max_df_share: 0.5, ..words_only(1, 1) };
        assert_eq!(TfidfSvd::fit(&TOY, &config).unwrap().vocabulary(), ["w:banana", "w:cherry"]);
        // max_features 2: apple (df 2), then banana over cherry (df 1 tie, alphabetical).
        let config = TfidfConfig { max_features: 2, ..words_only(1, 2) };
        assert_eq!(TfidfSvd::fit(&TOY, &config).unwrap().vocabulary(), ["w:apple", "w:banana"]);
        assert!(matches!(TfidfSvd::fit(&TOY, &words_only(4, 1)), Err(ItemTokError::InvalidConfig { .. })));
        assert!(matches!(TfidfSvd::fit::<&str>(&[], &words_only(1, 1)), Err(ItemTokError::Empty { .. })));
    }

    fn corpus() -> Vec<String> {
        let words = ["office", "chair", "mesh", "desk", "lamp", "pen", "paper", "ink", "stapler", "folder"];
        (0..24).map(|i| format!("{} {} {}", words[i % 10], words[(i * 3 + 1) % 10], words[(i * 7 + 2) % 10])).collect()
    }

    #[test]
    fn training_projection_is_u_times_s() {
        // Exact SVD (sketch covers the rank): column c of Y = X V has squared norm s_c².
        let texts = corpus();
        let encoder = TfidfSvd::fit(&texts, &TfidfConfig { min_df: 1, ..TfidfConfig::new(4, 9) }).unwrap();
        let embedded = encoder.transform(&texts);
        for (c, s) in encoder.singular_values().iter().enumerate() {
            let norm2: f64 = embedded.iter().map(|y| f64::from(y[c]).powi(2)).sum();
            assert!((norm2 - s * s).abs() < 1e-4 * s * s, "component {c}: {norm2} vs {}", s * s);
        }
        assert_eq!(encoder.transform_one(&texts[5]), embedded[5]);
    }

    #[test]
    fn new_text_does_not_leak_into_the_fitted_space() {
        // "qzxv" shares no word and no char 3-5-gram with the corpus.
        let texts = corpus();
        let encoder = TfidfSvd::fit(&texts, &TfidfConfig::new(3, 1)).unwrap();
        let before = encoder.clone();
        let with_new = encoder.transform_one("desk lamp qzxv");
        assert_eq!(with_new, encoder.transform_one("desk lamp"));
        assert_eq!(encoder, before);
        assert_eq!(encoder.transform_one("qzxv"), vec![0.0; 3]);
    }

    #[test]
    fn same_seed_same_encoder() {
        let texts = corpus();
        let config = TfidfConfig::new(3, 42);
        let a = TfidfSvd::fit(&texts, &config).unwrap();
        let b = TfidfSvd::fit(&texts, &config).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.transform(&texts), b.transform(&texts));
        assert_eq!(a.dim(), 3);
    }

    #[test]
    fn invalid_settings_name_the_field() {
        let bad = TfidfConfig { char_ngrams: Some([4, 3]), ..TfidfConfig::new(1, 0) };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("char_ngrams"), "{err}");
        let bad = TfidfConfig { max_df_share: 0.0, ..TfidfConfig::new(1, 0) };
        assert!(bad.validate().unwrap_err().to_string().contains("max_df_share"));
        let none = TfidfConfig { word_ngrams: None, char_ngrams: None, ..TfidfConfig::new(1, 0) };
        assert!(none.validate().is_err());
    }
}
