//! Amazon-Google Products entity matching (Köpcke et al. 2010, Magellan/DeepMatcher layout):
//! `tableA.csv` (Amazon) and `tableB.csv` (Google) with `id,title,manufacturer,price`, and
//! `train.csv` / `valid.csv` / `test.csv` with `ltable_id,rtable_id,label` (1 = same product).

use std::path::Path;

use super::{CsvFile, DataError};

/// One product of `tableA.csv` or `tableB.csv`; empty fields are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: u32,
    pub title: String,
    pub manufacturer: Option<String>,
    pub price: Option<f64>,
}

/// One labelled pair: `ltable_id` indexes table A, `rtable_id` table B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelledPair {
    pub ltable_id: u32,
    pub rtable_id: u32,
    pub is_match: bool,
}

/// The whole benchmark folder.
#[derive(Debug, Clone)]
pub struct AmazonGoogle {
    pub table_a: Vec<Product>,
    pub table_b: Vec<Product>,
    pub train: Vec<LabelledPair>,
    pub valid: Vec<LabelledPair>,
    pub test: Vec<LabelledPair>,
}

impl AmazonGoogle {
    /// Reads the five CSVs of `dir` and checks that every pair names existing products.
    pub fn read(dir: &Path) -> Result<Self, DataError> {
        let table_a = read_products(&dir.join("tableA.csv"))?;
        let table_b = read_products(&dir.join("tableB.csv"))?;
        // Ids are row ids of the tables: check every pair before anyone indexes with them.
        let known = |table: &[Product], id: u32| table.binary_search_by_key(&id, |p| p.id).is_ok();
        let check = |p: &LabelledPair| known(&table_a, p.ltable_id) && known(&table_b, p.rtable_id);
        let train = read_checked_pairs(&dir.join("train.csv"), check)?;
        let valid = read_checked_pairs(&dir.join("valid.csv"), check)?;
        let test = read_checked_pairs(&dir.join("test.csv"), check)?;
        Ok(Self { table_a, table_b, train, valid, test })
    }

    /// Every labelled pair: train, then valid, then test.
    pub fn all_pairs(&self) -> impl Iterator<Item = &LabelledPair> {
        self.train.iter().chain(&self.valid).chain(&self.test)
    }
}

/// Reads `tableA.csv` or `tableB.csv`, sorted by id.
pub fn read_products(path: &Path) -> Result<Vec<Product>, DataError> {
    let mut csv = CsvFile::open(path)?;
    let (id, title) = (csv.column("id")?, csv.column("title")?);
    let (manufacturer, price) = (csv.column("manufacturer")?, csv.column("price")?);
    let mut out = Vec::new();
    csv.for_each(|row| {
        let text = row.get(manufacturer)?.trim();
        out.push(Product {
            id: row.parse(id, "id")?,
            title: row.get(title)?.trim().to_string(),
            manufacturer: (!text.is_empty()).then(|| text.to_string()),
            price: row.parse_optional(price, "price")?,
        });
        Ok(())
    })?;
    out.sort_by_key(|p| p.id);
    Ok(out)
}

/// Reads `train.csv`, `valid.csv` or `test.csv`.
pub fn read_pairs(path: &Path) -> Result<Vec<LabelledPair>, DataError> {
    read_checked_pairs(path, |_| true)
}

/// Reads a pairs file; a pair that `check` refuses is an error naming its line.
fn read_checked_pairs(path: &Path, check: impl Fn(&LabelledPair) -> bool) -> Result<Vec<LabelledPair>, DataError> {
    let mut csv = CsvFile::open(path)?;
    let (l, r, label) = (csv.column("ltable_id")?, csv.column("rtable_id")?, csv.column("label")?);
    let mut out = Vec::new();
    csv.for_each(|row| {
        let is_match = match row.get(label)?.trim() {
            "1" => true,
            "0" => false,
            other => return Err(row.error(format!("field `label` = {other:?}: expected 0 or 1"))),
        };
        let pair =
            LabelledPair { ltable_id: row.parse(l, "ltable_id")?, rtable_id: row.parse(r, "rtable_id")?, is_match };
        if !check(&pair) {
            return Err(row.error(format!("pair ({}, {}) names a missing product", pair.ltable_id, pair.rtable_id)));
        }
        out.push(pair);
        Ok(())
    })?;
    Ok(out)
}
