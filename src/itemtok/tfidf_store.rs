//! Saving and loading a fitted [`TfidfSvd`] (issue 8 item 2: "fitted once ... and saved, so that
//! items of a new domain are projected into the same space"), as one JSON document or as
//! safetensors (`idf` f64, `singular_values` f64, `components` f32 `[dim, features]`, with the
//! config and vocabulary as JSON metadata). Writes are atomic; loads validate every shape.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::ItemTokError;
use super::tfidf::{TfidfConfig, TfidfSvd};

const FORMAT: &str = "recfound-tfidf-svd";
const VERSION: u32 = 1;

/// How a saved encoder is laid out on disk; picked from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TfidfFormat {
    Json,
    Safetensors,
}

impl TfidfFormat {
    /// `.safetensors` is [`TfidfFormat::Safetensors`], anything else JSON.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => Self::Safetensors,
            _ => Self::Json,
        }
    }
}

/// The JSON document (and, minus the arrays, the safetensors metadata).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TfidfFile {
    format: String,
    version: u32,
    config: TfidfConfig,
    vocabulary: Vec<String>,
    idf: Vec<f64>,
    singular_values: Vec<f64>,
    components: Vec<Vec<f32>>,
}

impl TfidfSvd {
    /// Writes the encoder to `path` atomically, in the format its extension names.
    pub fn save(&self, path: &Path) -> Result<(), ItemTokError> {
        let bytes = match TfidfFormat::from_path(path) {
            TfidfFormat::Json => {
                let file = TfidfFile {
                    format: FORMAT.into(),
                    version: VERSION,
                    config: self.config,
                    vocabulary: self.vocabulary.clone(),
                    idf: self.idf.clone(),
                    singular_values: self.singular_values.clone(),
                    components: self.components.clone(),
                };
                serde_json::to_vec(&file).map_err(|e| format_error(path, e))?
            }
            TfidfFormat::Safetensors => self.to_safetensors().map_err(|e| format_error(path, e))?,
        };
        crate::io::write_atomic(path, &bytes).map_err(|source| ItemTokError::Io { path: path.to_path_buf(), source })
    }

    /// Reads an encoder saved by [`TfidfSvd::save`]. A truncated or inconsistent file is an
    /// error naming the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, ItemTokError> {
        let bytes = std::fs::read(path).map_err(|source| ItemTokError::Io { path: path.to_path_buf(), source })?;
        let file = match TfidfFormat::from_path(path) {
            TfidfFormat::Json => serde_json::from_slice(&bytes).map_err(|e| format_error(path, e))?,
            TfidfFormat::Safetensors => from_safetensors(&bytes).map_err(|e| format_error(path, e))?,
        };
        check(&file).map_err(|message| ItemTokError::Format { path: path.to_path_buf(), message })?;
        Ok(TfidfSvd::from_parts(file.config, file.vocabulary, file.idf, file.singular_values, file.components))
    }

    fn to_safetensors(&self) -> Result<Vec<u8>, String> {
        let features = self.vocabulary.len();
        let idf: Vec<u8> = self.idf.iter().flat_map(|v| v.to_le_bytes()).collect();
        let singular: Vec<u8> = self.singular_values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let components: Vec<u8> = self.components.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        let view = |dtype, shape, data| TensorView::new(dtype, shape, data).map_err(|e| e.to_string());
        let tensors = [
            ("components", view(Dtype::F32, vec![self.components.len(), features], &components)?),
            ("idf", view(Dtype::F64, vec![features], &idf)?),
            ("singular_values", view(Dtype::F64, vec![self.singular_values.len()], &singular)?),
        ];
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("version".to_string(), VERSION.to_string()),
            ("config".to_string(), to_json(&self.config)?),
            ("vocabulary".to_string(), to_json(&self.vocabulary)?),
        ]);
        safetensors::serialize(tensors, Some(metadata)).map_err(|e| e.to_string())
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

fn from_safetensors(bytes: &[u8]) -> Result<TfidfFile, String> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let meta = header.metadata().as_ref().ok_or("no metadata")?;
    let field = |key: &str| meta.get(key).ok_or_else(|| format!("metadata `{key}` missing"));
    let version = field("version")?.parse::<u32>().map_err(|e| format!("metadata `version`: {e}"))?;
    let config = serde_json::from_str(field("config")?).map_err(|e| format!("metadata `config`: {e}"))?;
    let vocabulary = serde_json::from_str(field("vocabulary")?).map_err(|e| format!("metadata `vocabulary`: {e}"))?;
    let idf = read_f64(&tensors, "idf")?;
    let singular_values = read_f64(&tensors, "singular_values")?;
    let view = tensors.tensor("components").map_err(|e| format!("tensor `components`: {e}"))?;
    let [rows, cols] = view.shape() else {
        return Err(format!("tensor `components`: expected 2 dimensions, found shape {:?}", view.shape()));
    };
    if view.dtype() != Dtype::F32 {
        return Err(format!("tensor `components`: expected F32, found {:?}", view.dtype()));
    }
    let values: Vec<f32> =
        view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("chunks of 4"))).collect();
    let components =
        if *cols == 0 { vec![Vec::new(); *rows] } else { values.chunks(*cols).map(<[f32]>::to_vec).collect() };
    Ok(TfidfFile { format: field("format")?.clone(), version, config, vocabulary, idf, singular_values, components })
}

fn read_f64(tensors: &SafeTensors, name: &str) -> Result<Vec<f64>, String> {
    let view = tensors.tensor(name).map_err(|e| format!("tensor `{name}`: {e}"))?;
    if view.dtype() != Dtype::F64 || view.shape().len() != 1 {
        return Err(format!("tensor `{name}`: expected 1-D F64, found {:?} {:?}", view.dtype(), view.shape()));
    }
    Ok(view.data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("chunks of 8"))).collect())
}

/// Consistency of a loaded file: format and version, one idf per feature, `svd.dim` components
/// of one value per feature, unique features.
fn check(file: &TfidfFile) -> Result<(), String> {
    if file.format != FORMAT || file.version != VERSION {
        return Err(format!("expected {FORMAT} version {VERSION}, found {} version {}", file.format, file.version));
    }
    file.config.validate().map_err(|e| e.to_string())?;
    let features = file.vocabulary.len();
    if file.idf.len() != features {
        return Err(format!("{} idf values for {features} features", file.idf.len()));
    }
    let dim = file.config.svd.dim;
    if file.components.len() != dim || file.singular_values.len() != dim {
        let (c, s) = (file.components.len(), file.singular_values.len());
        return Err(format!("svd.dim is {dim} but there are {c} components and {s} singular values"));
    }
    if let Some(row) = file.components.iter().position(|c| c.len() != features) {
        return Err(format!("component {row} has {} values for {features} features", file.components[row].len()));
    }
    let mut seen = HashSet::new();
    if let Some(term) = file.vocabulary.iter().find(|t| !seen.insert(t.as_str())) {
        return Err(format!("feature `{term}` appears twice in the vocabulary"));
    }
    Ok(())
}

fn format_error(path: &Path, error: impl std::fmt::Display) -> ItemTokError {
    ItemTokError::Format { path: path.to_path_buf(), message: error.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted() -> (TfidfSvd, Vec<&'static str>) {
        let texts = vec!["mesh office chair", "office desk lamp", "desk lamp led", "ink pen blue", "blue ink refill"];
        let config = TfidfConfig { min_df: 1, ..TfidfConfig::new(3, 4) };
        (TfidfSvd::fit(&texts, &config).unwrap(), texts)
    }

    #[test]
    fn round_trips_in_both_formats() {
        let (encoder, texts) = fitted();
        let dir = tempfile::tempdir().unwrap();
        for name in ["enc.json", "enc.safetensors"] {
            let path = dir.path().join(name);
            encoder.save(&path).unwrap();
            let loaded = TfidfSvd::load(&path).unwrap();
            assert_eq!(loaded, encoder, "{name}");
            assert_eq!(loaded.transform(&texts), encoder.transform(&texts), "{name}");
            assert_eq!(loaded.transform_one("office chair qzxv"), encoder.transform_one("office chair"), "{name}");
        }
    }

    #[test]
    fn truncated_or_inconsistent_files_name_the_file() {
        let (encoder, _) = fitted();
        let dir = tempfile::tempdir().unwrap();
        for name in ["enc.json", "enc.safetensors"] {
            let path = dir.path().join(name);
            encoder.save(&path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
            let err = TfidfSvd::load(&path).unwrap_err();
            assert!(matches!(err, ItemTokError::Format { .. }) && err.to_string().contains(name), "{err}");
        }
        let path = dir.path().join("bad.json");
        encoder.save(&path).unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        value["idf"].as_array_mut().unwrap().pop();
        std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
        let err = TfidfSvd::load(&path).unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("idf values"), "{err}");
        assert!(matches!(TfidfSvd::load(&dir.path().join("none.json")), Err(ItemTokError::Io { .. })));
    }
}
