//! The text-encoder seam of issue 8 item 2: every encoder (the embedded TF-IDF + SVD default,
//! or a backbone checkpoint with mean pooling, `checkpoint_encoder.rs`) turns item texts into
//! one vector each, so the
//! RQ-VAE/CL-VAE never knows which one produced its inputs (RecBase §3.2: one shared encoder;
//! §4.2 uses NV-Embed-v2).

use super::item_text::{ItemRecord, TextLayout, item_text};
use super::{ItemTokError, TfidfSvd};

/// Turns texts into fixed-size vectors.
pub trait TextEncoder {
    /// Length of every vector.
    fn dim(&self) -> usize;

    /// One vector of length [`TextEncoder::dim`] per text, in order.
    fn encode(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ItemTokError>;
}

impl TextEncoder for TfidfSvd {
    fn dim(&self) -> usize {
        TfidfSvd::dim(self)
    }

    fn encode(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ItemTokError> {
        Ok(self.transform(texts))
    }
}

/// Formats `items` in `layout` and encodes them. Errors on an item without text (naming it), no
/// items at all, or an encoder that returns the wrong count or length of vectors.
pub fn encode_items(
    encoder: &dyn TextEncoder,
    items: &[ItemRecord],
    layout: TextLayout,
) -> Result<Vec<Vec<f32>>, ItemTokError> {
    if items.is_empty() {
        return Err(ItemTokError::Empty { what: "no items to encode".into() });
    }
    let texts = items.iter().map(|item| item_text(item, layout)).collect::<Result<Vec<_>, _>>()?;
    let vectors = encoder.encode(&texts)?;
    if vectors.len() != items.len() {
        let message = format!("returned {} vectors for {} items", vectors.len(), items.len());
        return Err(ItemTokError::config("encoder", message));
    }
    let dim = encoder.dim();
    if let Some(row) = vectors.iter().position(|v| v.len() != dim) {
        return Err(ItemTokError::DimensionMismatch { row, expected: dim, found: vectors[row].len() });
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itemtok::TfidfConfig;

    /// Returns `found`-long vectors while claiming `claimed`.
    struct Lying {
        claimed: usize,
        found: usize,
    }

    impl TextEncoder for Lying {
        fn dim(&self) -> usize {
            self.claimed
        }

        fn encode(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ItemTokError> {
            Ok(texts.iter().map(|t| vec![t.len() as f32; self.found]).collect())
        }
    }

    fn items() -> Vec<ItemRecord> {
        let mut pen = ItemRecord::new("1", "Blue ink pen");
        pen.brand = Some("Bic".into());
        vec![pen, ItemRecord::new("2", "Office chair"), ItemRecord::new("3", "Desk lamp")]
    }

    #[test]
    fn tfidf_encodes_formatted_items() {
        let texts: Vec<String> =
            items().iter().map(|item| item_text(item, TextLayout::Unified)).collect::<Result<_, _>>().unwrap();
        let encoder = TfidfSvd::fit(&texts, &TfidfConfig { min_df: 1, ..TfidfConfig::new(2, 0) }).unwrap();
        let vectors = encode_items(&encoder, &items(), TextLayout::Unified).unwrap();
        assert_eq!(vectors, encoder.transform(&texts));
        assert!(vectors.iter().all(|v| v.len() == 2));
    }

    #[test]
    fn bad_items_and_encoders_are_named() {
        let ok = Lying { claimed: 3, found: 3 };
        // "Title: Desk lamp" has 16 characters.
        assert_eq!(encode_items(&ok, &items(), TextLayout::Unified).unwrap()[2], [16.0; 3]);
        let mut untitled = items();
        untitled[1].title = String::new();
        let err = encode_items(&ok, &untitled, TextLayout::Plain).unwrap_err();
        assert!(matches!(&err, ItemTokError::EmptyItem { item_id } if item_id == "2"), "{err}");
        assert!(matches!(encode_items(&ok, &[], TextLayout::Plain), Err(ItemTokError::Empty { .. })));
        let liar = Lying { claimed: 4, found: 3 };
        let err = encode_items(&liar, &items(), TextLayout::Unified).unwrap_err();
        assert!(matches!(err, ItemTokError::DimensionMismatch { row: 0, expected: 4, found: 3 }), "{err}");
    }
}
