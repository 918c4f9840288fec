//! Product Matching (PM) from the Amazon-Google entity-matching benchmark: two product records
//! in the B.3 "Product Matching" input layout, answer `yes` / `no` (lower case, as the example's
//! answer and the B.2 instructions write it).

use std::path::Path;

use super::build::{BuildConfig, BuiltRow, Split, TaskSplits, generative, split_by_group};
use super::instructions::choose_instruction;
use super::task::TaskId;
use crate::data::DataError;
use crate::data::amazon_google::{AmazonGoogle, LabelledPair, Product};
use crate::text::RecFoundPrompt;

/// One product as the B.3 example prints it: `{"title": "...", "manufacturer": "...", "price":
/// "..."}` with a missing field as the string "nan" (the example's pandas rendering). The
/// example also has a "description"; this release of Amazon-Google has none, so it is left out
/// rather than written as an empty value.
pub fn product_record(p: &Product) -> String {
    let quoted = |s: &str| serde_json::to_string(s).expect("a string always serialises");
    let manufacturer = p.manufacturer.as_deref().unwrap_or("nan");
    let price = p.price.map_or_else(|| "nan".to_string(), |x| x.to_string());
    format!(
        "{{\"title\": {}, \"manufacturer\": {}, \"price\": {}}}",
        quoted(&p.title),
        quoted(manufacturer),
        quoted(&price)
    )
}

/// The product with `id`; `AmazonGoogle::read` checked that every pair names existing ids.
fn find(table: &[Product], id: u32) -> &Product {
    let at = table.binary_search_by_key(&id, |p| p.id).expect("AmazonGoogle::read checks every pair's ids");
    &table[at]
}

/// Builds PM from the benchmark folder (`tableA.csv`, `tableB.csv`, `train/valid/test.csv`).
/// The benchmark's own split is kept (its pairs are the unit; there are no users): each split
/// is shuffled with the seed and cut to its size.
pub fn build_product_matching(dir: &Path, config: &BuildConfig) -> Result<TaskSplits, DataError> {
    let task = TaskId::ProductMatching;
    let data = AmazonGoogle::read(dir)?;
    let mut index = 0u64;
    let mut make = |pairs: &[LabelledPair]| -> Vec<BuiltRow> {
        pairs
            .iter()
            .map(|pair| {
                let a = find(&data.table_a, pair.ltable_id);
                let b = find(&data.table_b, pair.rtable_id);
                let input = format!("\"product 1\": {},\n\"product 2\": {}", product_record(a), product_record(b));
                let prompt = RecFoundPrompt::new(choose_instruction(task, config.seed, index)).with_input(input).render();
                index += 1;
                let answer = if pair.is_match { "yes" } else { "no" };
                BuiltRow {
                    group: format!("{}-{}", pair.ltable_id, pair.rtable_id),
                    row: generative(task, prompt, answer.to_string()),
                }
            })
            .collect()
    };
    let (train, validation, test) = (make(&data.train), make(&data.valid), make(&data.test));
    // Each benchmark split through the shared splitter with only its own size set.
    let only = |split: Split, rows: Vec<BuiltRow>| {
        let mut sizes = config.sizes;
        sizes.train = if split == Split::Train { sizes.train } else { 0 };
        sizes.validation = if split == Split::Validation { sizes.validation } else { 0 };
        sizes.test = if split == Split::Test { sizes.test } else { 0 };
        split_by_group(task, rows, sizes, config.seed)
    };
    Ok(TaskSplits {
        task,
        train: only(Split::Train, train)?.train,
        validation: only(Split::Validation, validation)?.validation,
        test: only(Split::Test, test)?.test,
    })
}
