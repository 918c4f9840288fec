//! The unified, formatted item description of RecBase §3.2 (and Appendix B/C): title,
//! categories, brand and description in one fixed layout, so items of every domain reach the text
//! encoder in the same shape. `TextLayout::Plain` is the paper's "w/o format" ablation (Table 4).
//! The paper's own examples (Appendix C) are lost from our copy, so the layout below is ours.

use super::ItemTokError;

/// One line of a domain folder's `items.jsonl`:
/// `{"item_id", "title", "description"?, "categories"?, "brand"?}` (DESIGN.md §8).
pub use crate::data::domain::DomainItem as ItemRecord;

/// How an item's fields become one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextLayout {
    /// One `Field: value` line per present field, always in the order title, categories,
    /// brand, description (RecBase §3.2 "unified format"):
    /// ```text
    /// Title: Ergonomic Office Chair
    /// Categories: Office Products > Furniture
    /// Brand: Acme
    /// Description: Mesh back, adjustable arms.
    /// ```
    #[default]
    Unified,
    /// "w/o format": the present values joined by one space, same order, no field names.
    Plain,
}

/// The text of `item` in `layout`. Runs of whitespace inside a value become one space; absent
/// or blank optional fields are left out (no `Brand:` line without a brand).
///
/// Errors with [`ItemTokError::EmptyItem`] naming the item when its title is blank.
pub fn item_text(item: &ItemRecord, layout: TextLayout) -> Result<String, ItemTokError> {
    let title = normalize_whitespace(&item.title);
    if title.is_empty() {
        return Err(ItemTokError::EmptyItem { item_id: item.item_id.clone() });
    }
    let optional = |field: &Option<String>| field.as_deref().map(normalize_whitespace).filter(|v| !v.is_empty());
    let fields = [
        ("Title", Some(title)),
        ("Categories", optional(&item.categories)),
        ("Brand", optional(&item.brand)),
        ("Description", optional(&item.description)),
    ];
    let present = fields.into_iter().filter_map(|(name, value)| value.map(|v| (name, v)));
    let text = match layout {
        TextLayout::Unified => present.map(|(name, v)| format!("{name}: {v}")).collect::<Vec<_>>().join("\n"),
        TextLayout::Plain => present.map(|(_, v)| v).collect::<Vec<_>>().join(" "),
    };
    Ok(text)
}

/// Trims and collapses every run of Unicode whitespace (newlines, tabs) to one space.
fn normalize_whitespace(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chair() -> ItemRecord {
        ItemRecord {
            item_id: "B01".into(),
            title: "  Office   Chair ".into(),
            description: Some("Mesh back,\n adjustable arms.".into()),
            categories: Some("Office > Furniture".into()),
            brand: Some("Acme".into()),
        }
    }

    #[test]
    fn unified_layout_is_fixed_order_one_field_per_line() {
        let text = item_text(&chair(), TextLayout::Unified).unwrap();
        assert_eq!(
            text,
            "Title: Office Chair\nCategories: Office > Furniture\nBrand: Acme\nDescription: Mesh back, adjustable arms."
        );
    }

    #[test]
    fn plain_layout_concatenates_values() {
        let text = item_text(&chair(), TextLayout::Plain).unwrap();
        assert_eq!(text, "Office Chair Office > Furniture Acme Mesh back, adjustable arms.");
    }

    #[test]
    fn absent_and_blank_fields_are_left_out() {
        let mut item = chair();
        item.categories = None;
        item.brand = Some("  ".into());
        item.description = None;
        assert_eq!(item_text(&item, TextLayout::Unified).unwrap(), "Title: Office Chair");
        assert_eq!(item_text(&item, TextLayout::Plain).unwrap(), "Office Chair");
    }

    #[test]
    fn blank_title_names_the_item() {
        let item = ItemRecord::new("X9", " \t");
        let err = item_text(&item, TextLayout::Unified).unwrap_err();
        assert!(matches!(&err, ItemTokError::EmptyItem { item_id } if item_id == "X9"), "{err}");
    }

    #[test]
    fn deserialises_an_items_jsonl_line() {
        let item: ItemRecord = serde_json::from_str(r#"{"item_id": "7", "title": "Pen", "brand": "Bic"}"#).unwrap();
        assert_eq!(item_text(&item, TextLayout::Unified).unwrap(), "Title: Pen\nBrand: Bic");
    }
}
