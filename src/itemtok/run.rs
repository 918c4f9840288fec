//! A tokenizer run directory (issue 8 items 5-7): `train_run` reads the domain folders, fits and
//! saves the text encoder (TF-IDF + SVD, or a checkpoint's path and settings), trains the RQ-VAE / CL-VAE, assigns collision-free ids,
//! and writes the id tables, the trie, the report and the plots; `encode_domain` turns any
//! domain folder, seen or not, into ids with the saved encoder and codebooks, no retraining.
//!
//! ```text
//! RUN/recipe.toml  manifest.json  text_encoder.safetensors | text_encoder.json  text_cache/
//!     rqvae.json  rqvae.safetensors  metrics.jsonl  checkpoint/  ids/<domain>.jsonl  trie.json  report.json  *.png
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::data::DataError;
use crate::data::domain::{DomainItem, ITEMS_FILE, read_jsonl};

use super::ItemTokError;
use super::assign::{Assigned, assign_codes};
use super::checkpoint::{load_config, load_rqvae, save_config, save_rqvae};
use super::id_table::{ItemIds, read_id_table, write_id_table};
use super::item_text::TextLayout;
use super::recipe::ItemTokRecipe;
use super::report::{TokenizerReport, domain_usage, write_plots};
use super::run_encoder::RunEncoder;
use super::semantic_ids::{CollisionStrategy, id_report, reassign_last_level, resolve_collisions};
use super::text_encoder::{TextEncoder, encode_items};
use super::train::{TrainEvent, train};

pub const RECIPE_FILE: &str = "recipe.toml";
pub const MANIFEST_FILE: &str = "manifest.json";
/// The fitted TF-IDF + SVD encoder; a checkpoint encoder is `run_encoder::CHECKPOINT_FILE`.
pub const TEXT_ENCODER_FILE: &str = super::run_encoder::TFIDF_FILE;
pub const CONFIG_FILE: &str = "rqvae.json";
pub const MODEL_FILE: &str = "rqvae.safetensors";
pub const IDS_DIR: &str = "ids";
pub const TRIE_FILE: &str = "trie.json";
pub const REPORT_FILE: &str = "report.json";
/// Items per forward pass when assigning ids.
const ASSIGN_BATCH: usize = 4096;

/// One training domain as the run remembers it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ManifestDomain {
    /// Unique within the run: the folder name (suffixed `-2`, `-3` on a clash); names
    /// `ids/<name>.jsonl`.
    pub name: String,
    /// The folder as given, made absolute.
    pub path: PathBuf,
    pub items: usize,
}

/// `manifest.json`: what encode needs besides the weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub layout: TextLayout,
    /// Every embedding value is multiplied by this before the RQ-VAE sees it: one over the
    /// root-mean-square value of the training embeddings, so the losses are on a unit scale
    /// whatever the text encoder's output scale is.
    pub input_scale: f32,
    pub collision: CollisionStrategy,
    pub domains: Vec<ManifestDomain>,
}

/// Reads a domain folder's `items.jsonl`. No items, a blank title or a repeated id is an error
/// naming the file (and line).
pub fn read_items(dir: &Path) -> Result<Vec<DomainItem>, ItemTokError> {
    let path = dir.join(ITEMS_FILE);
    let rows: Vec<(usize, DomainItem)> = read_jsonl(&path)?;
    if rows.is_empty() {
        return Err(ItemTokError::Empty { what: format!("{}: no items", path.display()) });
    }
    let mut seen = HashMap::with_capacity(rows.len());
    for (line, item) in &rows {
        if item.title.trim().is_empty() {
            let message = format!("item `{}` has no text (empty title)", item.item_id);
            return Err(DataError::parse(&path, *line, message).into());
        }
        if seen.insert(item.item_id.as_str(), *line).is_some() {
            return Err(DataError::parse(&path, *line, format!("duplicate item id `{}`", item.item_id)).into());
        }
    }
    Ok(rows.into_iter().map(|(_, item)| item).collect())
}

/// What `train_run` did.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub report: TokenizerReport,
    pub resumed_from: Option<usize>,
    pub plots: Vec<PathBuf>,
}

/// Trains a tokenizer on `domains` as `recipe` says and writes everything into `out`; resumes
/// from `out/checkpoint/` when a previous run with the same recipe stopped early.
pub fn train_run<B: AutodiffBackend>(
    domains: &[PathBuf],
    recipe: &ItemTokRecipe,
    out: &Path,
    device: &B::Device,
    observer: &mut dyn FnMut(&TrainEvent),
) -> Result<TrainSummary, ItemTokError> {
    if domains.is_empty() {
        return Err(ItemTokError::Empty { what: "no --domain given".into() });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ItemTokError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let recipe_path = out.join(RECIPE_FILE);
    let recipe_text = toml::to_string(recipe).map_err(|e| ItemTokError::config("recipe", e.to_string()))?;
    if recipe_path.is_file() {
        let previous = std::fs::read_to_string(&recipe_path).map_err(io(&recipe_path))?;
        if previous != recipe_text {
            let message = "holds a run of a different recipe; choose a new --out".to_string();
            return Err(ItemTokError::Format { path: recipe_path, message });
        }
    }
    crate::io::write_atomic(&recipe_path, recipe_text.as_bytes()).map_err(io(&recipe_path))?;

    // Items of every domain, in domain order.
    let mut items = Vec::new();
    let mut domain_of = Vec::new();
    let mut manifest =
        Manifest { layout: recipe.text.layout, input_scale: 1.0, collision: recipe.ids.collision, domains: Vec::new() };
    for (d, dir) in domains.iter().enumerate() {
        let mine = read_items(dir)?;
        let name = unique_name(dir, &manifest.domains);
        let path = std::path::absolute(dir).map_err(io(dir))?;
        manifest.domains.push(ManifestDomain { name, path, items: mine.len() });
        domain_of.extend(std::iter::repeat_n(d, mine.len()));
        items.extend(mine);
    }

    // The text encoder, fitted once (a resumed run reuses the saved one); a checkpoint encoder
    // runs without autodiff.
    let encoder = RunEncoder::<B::InnerBackend>::prepare(&recipe.text, &items, out, device)?;
    let mut rows = encode_items(&encoder, &items, recipe.text.layout)?;
    manifest.input_scale = unit_rms_scale(&rows);
    scale_rows(&mut rows, manifest.input_scale);
    let config = recipe.resolve(encoder.dim())?;
    save_config(&config, &out.join(CONFIG_FILE))?;
    let manifest_path = out.join(MANIFEST_FILE);
    if manifest_path.is_file() && out.join(super::train::CHECKPOINT_DIR).is_dir() {
        // Resuming: the checkpoint was trained on these exact items.
        let bytes = std::fs::read(&manifest_path).map_err(io(&manifest_path))?;
        let previous: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ItemTokError::Format { path: manifest_path.clone(), message: e.to_string() })?;
        if previous != manifest {
            let message = "holds a run on other domains; choose a new --out".to_string();
            return Err(ItemTokError::Format { path: manifest_path, message });
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).expect("plain data serialises");
    crate::io::write_atomic(&manifest_path, &json).map_err(io(&manifest_path))?;

    let start = Instant::now();
    let outcome = train::<B>(recipe, &config, &rows, out, device, observer)?;
    let train_seconds = start.elapsed().as_secs_f64();
    let model = outcome.model;
    save_rqvae(&model, &out.join(MODEL_FILE))?;

    let assigned = assign_codes(&model, &rows, ASSIGN_BATCH, device)?;
    let fixed = resolve_collisions(&assigned.codes, recipe.ids.collision, Some(&assigned.last_distances))?;
    let mut offset = 0;
    let mut tables = Vec::new();
    for domain in &manifest.domains {
        let table: Vec<ItemIds> = (offset..offset + domain.items)
            .map(|i| ItemIds { item_id: items[i].item_id.clone(), ids: fixed[i].clone() })
            .collect();
        write_id_table(&out.join(IDS_DIR).join(format!("{}.jsonl", domain.name)), &table)?;
        offset += domain.items;
        tables.push(table);
    }
    write_trie(&out.join(TRIE_FILE), tables.iter().flatten())?;

    let names: Vec<String> = manifest.domains.iter().map(|d| d.name.clone()).collect();
    let report = TokenizerReport {
        codebook_size: config.codebook_size,
        ids: id_report(&assigned.codes, &fixed, recipe.ids.collision),
        domains: domain_usage(&assigned.codes, &domain_of, &names),
        mean_residual_norm: assigned.residual_norms.clone(),
        last_epoch: outcome.metrics.last().cloned(),
        train_seconds,
    };
    let report_path = out.join(REPORT_FILE);
    let json = serde_json::to_vec_pretty(&report).expect("plain data serialises");
    crate::io::write_atomic(&report_path, &json).map_err(io(&report_path))?;
    let Assigned { codes, latents, .. } = assigned;
    let plots = write_plots(out, &codes, config.codebook_size, &latents, &domain_of, &names, &outcome.metrics)?;
    Ok(TrainSummary { report, resumed_from: outcome.resumed_from, plots })
}

/// One over the root-mean-square of all values (1 when they are all zero).
pub fn unit_rms_scale(rows: &[Vec<f32>]) -> f32 {
    let (sum, n) = rows.iter().flatten().fold((0.0f64, 0usize), |(s, n), &v| (s + f64::from(v).powi(2), n + 1));
    let rms = (sum / n.max(1) as f64).sqrt();
    if rms > 0.0 { (1.0 / rms) as f32 } else { 1.0 }
}

fn scale_rows(rows: &mut [Vec<f32>], scale: f32) {
    rows.iter_mut().flatten().for_each(|v| *v *= scale);
}

/// The folder's name, suffixed until no earlier domain has it.
fn unique_name(dir: &Path, taken: &[ManifestDomain]) -> String {
    let base = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "domain".into());
    let base = if base.is_empty() || base == "." || base == ".." { "domain".to_string() } else { base };
    let mut name = base.clone();
    let mut n = 1;
    while taken.iter().any(|d| d.name == name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

/// The prefix trie of every id as nested JSON objects (`{"12": {"7": {...}}}`, a complete id
/// ends in `{}`); `id_table::build_trie` rebuilds the decoder's token trie from the id tables.
fn write_trie<'a>(path: &Path, entries: impl Iterator<Item = &'a ItemIds>) -> Result<(), ItemTokError> {
    #[derive(Default, serde::Serialize)]
    struct Node(BTreeMap<u32, Node>);
    let mut root = Node::default();
    for entry in entries {
        let mut node = &mut root;
        for &code in &entry.ids {
            node = node.0.entry(code).or_default();
        }
    }
    let json = serde_json::to_vec(&root).expect("maps of integers serialise");
    crate::io::write_atomic(path, &json).map_err(|source| ItemTokError::Io { path: path.to_path_buf(), source })
}

/// A trained tokenizer loaded from its run directory.
#[derive(Debug)]
pub struct Tokenizer<B: Backend> {
    pub manifest: Manifest,
    pub encoder: RunEncoder<B>,
    pub model: super::rqvae::RqVae<B>,
    run: PathBuf,
}

impl<B: Backend> Tokenizer<B> {
    /// Loads the text encoder, the network and the manifest of `run`. A dimension mismatch
    /// between the text encoder and the network's input, or a damaged file, names the file.
    pub fn load(run: &Path, device: &B::Device) -> Result<Self, ItemTokError> {
        let manifest_path = run.join(MANIFEST_FILE);
        let bytes =
            std::fs::read(&manifest_path).map_err(|source| ItemTokError::Io { path: manifest_path.clone(), source })?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| ItemTokError::Format { path: manifest_path.clone(), message: e.to_string() })?;
        let encoder = RunEncoder::load(run, device)?;
        let config_path = run.join(CONFIG_FILE);
        let config = load_config(&config_path)?;
        if config.input_dim != encoder.dim() {
            let message =
                format!("input_dim {} but the text encoder gives {} values per item", config.input_dim, encoder.dim());
            return Err(ItemTokError::Format { path: config_path, message });
        }
        let model = load_rqvae::<B>(&config, &run.join(MODEL_FILE), device)?;
        Ok(Self { manifest, encoder, model, run: run.to_path_buf() })
    }

    /// Collision-free ids for the items of `domain`. Items the run already holds (same domain
    /// folder, same item id) keep their saved ids; other items get new ids made distinct from
    /// every saved id and from each other with the run's collision strategy.
    pub fn encode_domain(&self, domain: &Path, device: &B::Device) -> Result<Vec<ItemIds>, ItemTokError> {
        let items = read_items(domain)?;
        let mut rows = encode_items(&self.encoder, &items, self.manifest.layout)?;
        scale_rows(&mut rows, self.manifest.input_scale);
        let assigned = assign_codes(&self.model, &rows, ASSIGN_BATCH, device)?;
        let saved = self.saved_tables()?;
        let here =
            std::path::absolute(domain).map_err(|source| ItemTokError::Io { path: domain.to_path_buf(), source })?;
        let known: HashMap<&str, &[u32]> = self
            .manifest
            .domains
            .iter()
            .zip(&saved)
            .filter(|(d, _)| d.path == here)
            .flat_map(|(_, table)| table.iter().map(|e| (e.item_id.as_str(), e.ids.as_slice())))
            .collect();
        let existing: Vec<Vec<u32>> = saved.iter().flatten().map(|e| e.ids.clone()).collect();
        let new: Vec<usize> = (0..items.len()).filter(|&i| !known.contains_key(items[i].item_id.as_str())).collect();
        let new_codes: Vec<Vec<u32>> = new.iter().map(|&i| assigned.codes[i].clone()).collect();
        let new_distances: Vec<Vec<f32>> = new.iter().map(|&i| assigned.last_distances[i].clone()).collect();
        let fresh = extend_ids(&existing, &new_codes, &new_distances, self.manifest.collision)?;
        let mut fresh = fresh.into_iter();
        Ok(items
            .iter()
            .map(|item| {
                let ids = match known.get(item.item_id.as_str()) {
                    Some(ids) => ids.to_vec(),
                    None => fresh.next().expect("one fresh id per new item"),
                };
                ItemIds { item_id: item.item_id.clone(), ids }
            })
            .collect())
    }

    fn saved_tables(&self) -> Result<Vec<Vec<ItemIds>>, ItemTokError> {
        self.manifest
            .domains
            .iter()
            .map(|d| read_id_table(&self.run.join(IDS_DIR).join(format!("{}.jsonl", d.name))))
            .collect()
    }
}

/// Ids for `new` items (raw codes and last-level distances) that collide neither with
/// `existing` (collision-free already, never changed) nor with each other.
pub fn extend_ids(
    existing: &[Vec<u32>],
    new: &[Vec<u32>],
    new_distances: &[Vec<f32>],
    strategy: CollisionStrategy,
) -> Result<Vec<Vec<u32>>, ItemTokError> {
    if new.is_empty() {
        // Every item known (a training domain encoded again): nothing to place, and no distance
        // row to take the codebook size from.
        return Ok(Vec::new());
    }
    match strategy {
        CollisionStrategy::ReassignLastLevel => {
            // Existing ids come first, so in every collision group they keep their tuple.
            let k = new_distances.first().map_or(0, Vec::len);
            let mut all: Vec<Vec<u32>> = existing.to_vec();
            all.extend_from_slice(new);
            let mut distances = vec![vec![f32::INFINITY; k]; existing.len()];
            distances.extend_from_slice(new_distances);
            // An existing id never moves; its distances only need the right length.
            for (row, ids) in distances.iter_mut().zip(existing) {
                if let Some(&code) = ids.last().filter(|&&c| (c as usize) < k) {
                    row[code as usize] = 0.0;
                }
            }
            Ok(reassign_last_level(&all, &distances)?.split_off(existing.len()))
        }
        CollisionStrategy::AppendLevel => {
            // Existing ids carry the extra level already: continue numbering after them.
            let mut next: HashMap<&[u32], u32> = HashMap::new();
            for ids in existing.iter().filter(|ids| !ids.is_empty()) {
                let (prefix, last) = ids.split_at(ids.len() - 1);
                let slot = next.entry(prefix).or_insert(0);
                *slot = (*slot).max(last[0] + 1);
            }
            Ok(new
                .iter()
                .map(|codes| {
                    let slot = next.entry(codes.as_slice()).or_insert(0);
                    let mut ids = codes.clone();
                    ids.push(*slot);
                    *slot += 1;
                    ids
                })
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itemtok::find_collisions;

    #[test]
    fn extending_keeps_existing_ids_and_avoids_them() {
        // K = 3. Existing (0, 1) and (0, 2); new (0, 1) twice and (1, 0): the first new (0, 1)
        // collides with an existing id and moves to its nearest free code 0, the second finds
        // no free code under prefix (0) -> error; with one new (0, 1) it works.
        let existing = vec![vec![0, 1], vec![0, 2]];
        let new = vec![vec![0, 1], vec![1, 0]];
        let distances = vec![vec![0.5, 0.0, 0.1], vec![0.0, 1.0, 1.0]];
        let ids = extend_ids(&existing, &new, &distances, CollisionStrategy::ReassignLastLevel).unwrap();
        assert_eq!(ids, vec![vec![0, 0], vec![1, 0]]);
        let both: Vec<Vec<u32>> = existing.iter().chain(&ids).cloned().collect();
        assert!(find_collisions(&both).groups.is_empty());
        let crowded = vec![vec![0, 1], vec![0, 1]];
        assert!(
            extend_ids(
                &existing,
                &crowded,
                &[distances[0].clone(), distances[0].clone()],
                CollisionStrategy::ReassignLastLevel
            )
            .is_err()
        );
        // Append: existing (0, 1, 0), (0, 1, 1) -> a new (0, 1) gets rank 2, a new (5, 5) rank 0.
        let existing = vec![vec![0, 1, 0], vec![0, 1, 1]];
        let ids = extend_ids(&existing, &[vec![0, 1], vec![5, 5]], &[], CollisionStrategy::AppendLevel).unwrap();
        assert_eq!(ids, vec![vec![0, 1, 2], vec![5, 5, 0]]);
        // No new items (a training domain encoded again): nothing to do, for either strategy.
        for strategy in [CollisionStrategy::ReassignLastLevel, CollisionStrategy::AppendLevel] {
            assert_eq!(extend_ids(&existing, &[], &[], strategy).unwrap(), Vec::<Vec<u32>>::new());
        }
    }

    #[test]
    fn unit_rms_by_hand() {
        // Values 3 and 4 (and two zeros): mean square (9 + 16) / 4 = 6.25, rms 2.5 -> scale 0.4.
        assert!((unit_rms_scale(&[vec![3.0, 0.0], vec![0.0, 4.0]]) - 0.4).abs() < 1e-7);
        assert_eq!(unit_rms_scale(&[vec![0.0]]), 1.0);
    }

    #[test]
    fn items_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_items(dir.path()).unwrap_err().to_string();
        assert!(err.contains("items.jsonl"), "{err}");
        std::fs::write(dir.path().join(ITEMS_FILE), "\n").unwrap();
        let err = read_items(dir.path()).unwrap_err().to_string();
        assert!(err.contains("items.jsonl") && err.contains("no items"), "{err}");
        std::fs::write(dir.path().join(ITEMS_FILE), "{\"item_id\":\"a\",\"title\":\" \"}\n").unwrap();
        let err = read_items(dir.path()).unwrap_err().to_string();
        assert!(err.contains("items.jsonl:1") && err.contains("`a`"), "{err}");
    }
}
