//! Attribute value extraction (AVE): triples of attribute, value and source, parsed from JSON
//! (`[{"attribute": .., "value": .., "source": ..}]`, the released data) or from the paper's
//! text form (`Attribute: material; Value: nylon; Source: product feature`, one per line), and
//! scored with the fuzzy rule of the authors' script (DESIGN.md §7) as micro P/R/F1 over a split.

use serde_json::Value;

use super::{MetricError, Score, check_lengths};

/// One extracted attribute value. A field the output left out (or JSON `null`) is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triple {
    pub attribute: Option<String>,
    pub value: Option<String>,
    pub source: Option<String>,
}

impl Triple {
    /// A triple with all three fields, for tests and callers building labels.
    pub fn new(attribute: &str, value: &str, source: &str) -> Self {
        Self { attribute: Some(attribute.into()), value: Some(value.into()), source: Some(source.into()) }
    }

    /// All three fields present and equal.
    fn exact(&self, label: &Triple) -> bool {
        self.attribute.is_some() && self.value.is_some() && self.source.is_some() && self == label
    }

    /// The script's fuzzy hit: the same attribute, and value and source each contained in the
    /// other's (either way). Unlike the script, an empty predicted value or source never hits,
    /// since "" is contained in everything.
    fn fuzzy(&self, label: &Triple) -> bool {
        let contains = |p: &Option<String>, l: &Option<String>| match (p, l) {
            (Some(p), Some(l)) if !p.is_empty() => p.contains(l.as_str()) || l.contains(p.as_str()),
            _ => false,
        };
        self.attribute.is_some()
            && self.attribute == label.attribute
            && contains(&self.value, &label.value)
            && contains(&self.source, &label.source)
    }
}

/// AVE result: micro precision and recall over all triples of the split, and their F1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AveScore {
    /// F1 (`value`), rows, and outputs that parsed to no triple list.
    pub f1: Score,
    /// Hits / predicted triples.
    pub precision: f64,
    /// Hits / label triples.
    pub recall: f64,
}

/// The triples of `text`: a JSON list (each element one predicted triple; an element that is
/// not an object has no fields and never hits), else every line of the text form; `None` when
/// neither reads.
pub fn parse_triples(text: &str) -> Option<Vec<Triple>> {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Array(items)) => Some(items.iter().map(json_triple).collect()),
        Ok(_) => None,
        Err(_) => {
            let triples: Vec<Triple> = text.lines().filter_map(text_triple).collect();
            (!triples.is_empty()).then_some(triples)
        }
    }
}

/// One JSON element; non-string scalars keep their JSON text (`5`, `true`).
fn json_triple(item: &Value) -> Triple {
    let field = |key: &str| match item.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.trim().to_string()),
        other => Some(other.to_string()),
    };
    Triple { attribute: field("attribute"), value: field("value"), source: field("source") }
}

/// One line `Attribute: a; Value: v; Source: s` (keys case-insensitive, any order); a line
/// without an attribute is not a triple.
fn text_triple(line: &str) -> Option<Triple> {
    let mut triple = Triple { attribute: None, value: None, source: None };
    for part in line.split(';') {
        let Some((key, value)) = part.split_once(':') else { continue };
        let value = Some(value.trim().to_string());
        match key.trim().to_lowercase().as_str() {
            "attribute" => triple.attribute = value,
            "value" => triple.value = value,
            "source" => triple.source = value,
            _ => {}
        }
    }
    triple.attribute.is_some().then_some(triple)
}

/// Hits in one row, each prediction and each label used at most once (the script counts every
/// matching (label, prediction) pair, so one prediction can hit twice): exact matches first,
/// then fuzzy ones, in order.
fn row_hits(predictions: &[Triple], labels: &[Triple]) -> usize {
    let mut label_used = vec![false; labels.len()];
    let mut pred_used = vec![false; predictions.len()];
    let mut hits = 0;
    for matches in [Triple::exact as fn(&Triple, &Triple) -> bool, Triple::fuzzy] {
        for (p, pred) in predictions.iter().enumerate().filter(|(p, _)| !pred_used[*p]).collect::<Vec<_>>() {
            if let Some(l) = (0..labels.len()).find(|&l| !label_used[l] && matches(pred, &labels[l])) {
                label_used[l] = true;
                pred_used[p] = true;
                hits += 1;
            }
        }
    }
    hits
}

/// Micro P/R/F1 of predicted against label triples over a split. An output that does not parse
/// predicts no triple (its labels still count against recall); a label that does not parse is
/// an error naming its row. Zero denominators give 0.
pub fn ave_f1<P: AsRef<str>, L: AsRef<str>>(predictions: &[P], labels: &[L]) -> Result<AveScore, MetricError> {
    check_lengths("ave_f1", predictions.len(), labels.len())?;
    let (mut hits, mut predicted, mut expected, mut invalid) = (0, 0, 0, 0);
    for (row, (pred, label)) in predictions.iter().zip(labels).enumerate() {
        let label = parse_triples(label.as_ref()).ok_or_else(|| MetricError::BadLabel {
            metric: "ave_f1",
            row,
            reason: "neither a JSON list nor `Attribute: ..; Value: ..; Source: ..` lines".into(),
        })?;
        let pred = parse_triples(pred.as_ref()).unwrap_or_else(|| {
            invalid += 1;
            Vec::new()
        });
        hits += row_hits(&pred, &label);
        predicted += pred.len();
        expected += label.len();
    }
    let share = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let (precision, recall) = (share(hits, predicted), share(hits, expected));
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    Ok(AveScore { f1: Score { value: f1, count: labels.len(), invalid }, precision, recall })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::close;

    #[test]
    fn parses_json_and_the_text_form() {
        let json = r#"[{"attribute": "material", "value": "nylon", "source": "product description"},
                       {"attribute": "size", "value": 5, "source": null}, "junk"]"#;
        let t = parse_triples(json).unwrap();
        assert_eq!(t[0], Triple::new("material", "nylon", "product description"));
        assert_eq!((t[1].value.as_deref(), t[1].source.as_deref()), (Some("5"), None));
        assert_eq!(t[2], Triple { attribute: None, value: None, source: None });
        let text = "Attribute: material; Value: nylon; Source: product description\n\
                    \n\
                    Attribute: material; Value: nylon; Source: product feature.";
        let t = parse_triples(text).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1], Triple::new("material", "nylon", "product feature."));
        assert_eq!(parse_triples("I could not find it."), None);
        assert_eq!(parse_triples(r#"{"attribute": "x"}"#), None); // JSON, but not a list
        assert_eq!(parse_triples("[]"), Some(vec![]));
    }

    #[test]
    fn exact_and_fuzzy_hits() {
        let label = Triple::new("material", "nylon", "product feature");
        assert!(Triple::new("material", "nylon", "product feature").exact(&label));
        // Value and source contained either way.
        assert!(Triple::new("material", "durable nylon", "feature").fuzzy(&label));
        assert!(Triple::new("material", "nylon", "product feature.").fuzzy(&label));
        // Another attribute, a non-overlapping value, or an empty value never hit.
        assert!(!Triple::new("color", "nylon", "product feature").fuzzy(&label));
        assert!(!Triple::new("material", "cotton", "product feature").fuzzy(&label));
        assert!(!Triple::new("material", "", "product feature").fuzzy(&label));
        // Case matters, as in the script.
        assert!(!Triple::new("Material", "nylon", "product feature").fuzzy(&label));
    }

    #[test]
    fn micro_f1_by_hand() {
        // Row 0: labels {material/nylon/description, color/black/title}; predictions
        // {material/nylon/description (exact), color/red/title (miss)} -> 1 hit, 2 pred, 2 label.
        // Row 1: label {brand/bencore/brand}; prediction "Attribute: brand; Value: Bencore Inc;
        // Source: brand" -> value "Bencore Inc" vs "bencore": case differs -> miss; 1 pred, 1 label.
        // Row 2: unparseable output, label {size/large/title} -> 0 pred, 1 label, invalid 1.
        // P = 1/3, R = 1/4 -> F1 = 2 (1/12) / (7/12) = 2/7.
        let labels = [
            r#"[{"attribute":"material","value":"nylon","source":"product description"},
                {"attribute":"color","value":"black","source":"product title"}]"#,
            r#"[{"attribute":"brand","value":"bencore","source":"product brand"}]"#,
            "Attribute: size; Value: large; Source: product title",
        ];
        let preds = [
            r#"[{"attribute":"material","value":"nylon","source":"product description"},
                {"attribute":"color","value":"red","source":"product title"}]"#,
            "Attribute: brand; Value: Bencore Inc; Source: product brand",
            "sorry",
        ];
        let s = ave_f1(&preds, &labels).unwrap();
        assert!(close(s.precision, 1.0 / 3.0) && close(s.recall, 0.25));
        assert!(close(s.f1.value, 2.0 / 7.0));
        assert_eq!((s.f1.count, s.f1.invalid), (3, 1));
    }

    #[test]
    fn one_prediction_hits_one_label() {
        // Two identical label triples, one prediction: 1 hit (the script would count 2).
        let label = r#"[{"attribute":"a","value":"v","source":"s"},{"attribute":"a","value":"v","source":"s"}]"#;
        let s = ave_f1(&[r#"[{"attribute":"a","value":"v","source":"s"}]"#], &[label]).unwrap();
        assert!(close(s.precision, 1.0) && close(s.recall, 0.5));
    }

    #[test]
    fn nothing_to_score_and_bad_labels() {
        // No triples anywhere: 0, not NaN.
        assert_eq!(ave_f1(&["[]"], &["[]"]).unwrap().f1.value, 0.0);
        assert!(matches!(ave_f1(&["[]", "[]"], &["[]", "n/a"]), Err(MetricError::BadLabel { row: 1, .. })));
        assert!(matches!(ave_f1::<&str, &str>(&[], &[]), Err(MetricError::Empty { .. })));
    }
}
