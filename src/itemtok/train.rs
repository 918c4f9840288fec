//! The RQ-VAE / CL-VAE training loop (RecBase §3.2, issue 8 items 3-4): AdamW over shuffled
//! batches of item embeddings; each level is initialised by k-means on the residuals of a
//! seeded sample when it joins; the curriculum decides which levels train; after each epoch the
//! re-initialisation rule may re-cluster the first codebook. Plain RQ-VAE is the same loop with
//! both switches off. Per-epoch metrics go to `metrics.jsonl` and a resumable checkpoint to
//! `checkpoint/` in the run directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::ItemTokError;
use super::checkpoint::{load_optimizer, load_rqvae, optimizer_bytes, param_ids, save_rqvae, set_param_ids};
use super::curriculum::Curriculum;
use super::kmeans::{KMeansConfig, check_rows, kmeans};
use super::losses::rqvae_losses;
use super::recipe::ItemTokRecipe;
use super::reinit::CodeUsage;
use super::rqvae::{RqVae, RqVaeConfig};

/// Directory of the resumable checkpoint inside a run.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// Per-epoch metrics, one JSON object per line.
pub const METRICS_FILE: &str = "metrics.jsonl";
const STATE_FILE: &str = "state.json";

/// One epoch's averages (over items) and codebook usage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub active_levels: usize,
    pub loss: f64,
    pub recon: f64,
    pub codebook: f64,
    pub commitment: f64,
    pub entropy: f64,
    /// Share of each level's codes used in the epoch (0 for levels not yet active).
    pub used_share: Vec<f64>,
    /// Codes never chosen in the epoch, per level.
    pub dead_codes: Vec<usize>,
    /// Whether level 0 was re-initialised after this epoch.
    pub reinit: bool,
    pub samples_per_s: f64,
}

/// What the loop reports while it runs (for a progress bar).
#[derive(Debug, Clone)]
pub enum TrainEvent {
    /// Starting epoch `epoch` (1-based) of `epochs`, with `steps` batches.
    EpochStart {
        epoch: usize,
        epochs: usize,
        steps: usize,
    },
    Step,
    Epoch(EpochMetrics),
    /// Level `level`'s codebook was set by k-means (`reinit`: a re-initialisation).
    KMeans {
        level: usize,
        reinit: bool,
    },
    /// Training picks up after `epoch` finished epochs.
    Resumed {
        epoch: usize,
    },
}

/// Everything besides weights that an exact resume needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct TrainState {
    /// Finished epochs.
    epoch: usize,
    curriculum: Curriculum,
    /// Levels whose codebooks k-means has initialised.
    initialized_levels: usize,
    epochs_since_reinit: usize,
    metrics: Vec<EpochMetrics>,
    /// The parameters' ids, which key the optimizer state (see [`param_ids`]).
    param_ids: Vec<u64>,
}

/// The trained network (on the inner backend) and the metrics of every epoch.
#[derive(Debug)]
pub struct TrainOutcome<B: Backend> {
    pub model: RqVae<B>,
    pub metrics: Vec<EpochMetrics>,
    /// Finished epochs found in the checkpoint, when the run resumed.
    pub resumed_from: Option<usize>,
}

/// Trains an RQ-VAE of shape `config` on `rows` (one embedding per item) as `recipe` says,
/// resuming from `run_dir/checkpoint/` when it holds one.
pub fn train<B: AutodiffBackend>(
    recipe: &ItemTokRecipe,
    config: &RqVaeConfig,
    rows: &[Vec<f32>],
    run_dir: &Path,
    device: &B::Device,
    observer: &mut dyn FnMut(&TrainEvent),
) -> Result<TrainOutcome<B::InnerBackend>, ItemTokError> {
    let dim = check_rows(rows)?;
    if dim != config.input_dim {
        return Err(ItemTokError::DimensionMismatch { row: 0, expected: config.input_dim, found: dim });
    }
    if rows.len() < config.codebook_size {
        let message = format!("{} items cannot seed {} codes per level", rows.len(), config.codebook_size);
        return Err(ItemTokError::config("model.codebook_size", message));
    }
    let t = &recipe.train;
    B::seed(device, t.seed);
    let mut model = config.init::<B>(device);
    let mut optim = crate::optim::AdamWSettings::default().with_weight_decay(t.weight_decay as f32).init::<B, RqVae<B>>();
    let mut state = TrainState {
        epoch: 0,
        curriculum: Curriculum::new(recipe.curriculum.clone(), config.levels)?,
        initialized_levels: 0,
        epochs_since_reinit: 0,
        metrics: Vec::new(),
        param_ids: Vec::new(),
    };
    let checkpoint = run_dir.join(CHECKPOINT_DIR);
    let mut resumed_from = None;
    if let Some(saved) = read_state(&checkpoint)? {
        model = load_rqvae::<B>(config, &checkpoint.join(model_file(saved.epoch)), device)?;
        model = set_param_ids(model, &saved.param_ids)?;
        optim = load_optimizer::<B, _>(optim, &checkpoint.join(optim_file(saved.epoch)), device)?;
        observer(&TrainEvent::Resumed { epoch: saved.epoch });
        resumed_from = Some(saved.epoch);
        state = saved;
    }
    let sample = kmeans_sample::<B::InnerBackend>(rows, t.kmeans_rows, t.seed, device);
    let kmeans_config = |level: usize, salt: usize| KMeansConfig {
        k: config.codebook_size,
        max_iters: t.kmeans_iters,
        seed: t.seed.wrapping_add((level * 1_000 + salt) as u64),
    };
    let steps = rows.len().div_ceil(t.batch_size);
    while state.epoch < t.epochs {
        let active = state.curriculum.active_levels();
        while state.initialized_levels < active {
            let level = state.initialized_levels;
            let codes = cluster_level(&model.valid(), sample.clone(), level, &kmeans_config(level, state.epoch))?;
            model = model.set_codebook(level, Tensor::from_data(codes.into_data(), device));
            observer(&TrainEvent::KMeans { level, reinit: false });
            state.initialized_levels += 1;
        }
        observer(&TrainEvent::EpochStart { epoch: state.epoch + 1, epochs: t.epochs, steps });
        let start = Instant::now();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(t.seed.wrapping_add(1 + state.epoch as u64)));
        let mut usage = CodeUsage::new(config.levels, config.codebook_size);
        let mut sums = [0.0f64; 5];
        for batch in order.chunks(t.batch_size) {
            let x = batch_tensor::<B>(rows, batch, dim, device);
            let out = model.forward(x.clone(), active);
            let losses = rqvae_losses(&out, x, &recipe.loss);
            // One read-back per step: the five loss terms and the codes (for the usage counts).
            let terms = Tensor::cat(
                vec![losses.total.clone(), losses.recon, losses.codebook, losses.commitment, losses.entropy],
                0,
            );
            let codes: Vec<Tensor<B, 2, Int>> = out.levels.iter().map(|l| l.codes.clone().unsqueeze_dim(1)).collect();
            let codes = Tensor::cat(codes, 1); // [B, active]
            let grads = GradientsParams::from_grads(losses.total.backward(), &model);
            model = optim.step(t.lr, model, grads);
            let terms = terms.into_data().convert::<f64>().to_vec::<f64>().expect("f64 after convert");
            for (sum, term) in sums.iter_mut().zip(&terms) {
                *sum += term * batch.len() as f64;
            }
            let codes = codes.into_data().convert::<i64>().to_vec::<i64>().expect("i64 after convert");
            for (i, &code) in codes.iter().enumerate() {
                usage.record(i % active, code as usize)?;
            }
            observer(&TrainEvent::Step);
        }
        let seconds = start.elapsed().as_secs_f64();
        let [loss, recon, codebook, commitment, entropy] = sums.map(|s| s / rows.len() as f64);
        if !loss.is_finite() {
            return Err(ItemTokError::NonFiniteLoss { epoch: state.epoch + 1 });
        }
        state.epoch += 1;
        let used_share = (0..config.levels).map(|l| if l < active { usage.used_share(l) } else { 0.0 }).collect();
        let dead_codes = (0..config.levels).map(|l| usage.dead_codes(l)).collect();
        let reinit = recipe.reinit.should_reinit(state.epoch, &usage, state.epochs_since_reinit + 1);
        if reinit {
            let codes = cluster_level(&model.valid(), sample.clone(), 0, &kmeans_config(0, state.epoch))?;
            model = model.set_codebook(0, Tensor::from_data(codes.into_data(), device));
            observer(&TrainEvent::KMeans { level: 0, reinit: true });
            state.epochs_since_reinit = 0;
        } else {
            state.epochs_since_reinit += 1;
        }
        state.curriculum.end_epoch(loss)?;
        let metrics = EpochMetrics {
            epoch: state.epoch,
            active_levels: active,
            loss,
            recon,
            codebook,
            commitment,
            entropy,
            used_share,
            dead_codes,
            reinit,
            samples_per_s: rows.len() as f64 / seconds.max(1e-9),
        };
        tracing::debug!(epoch = state.epoch, active, loss, recon, entropy, reinit, "itemtok epoch");
        state.metrics.push(metrics.clone());
        write_metrics(&run_dir.join(METRICS_FILE), &state.metrics)?;
        observer(&TrainEvent::Epoch(metrics));
        if state.epoch.is_multiple_of(t.checkpoint_every) || state.epoch == t.epochs {
            state.param_ids = param_ids(&model);
            write_checkpoint::<B, _>(&checkpoint, &model, &optim, &state)?;
        }
    }
    Ok(TrainOutcome { model: model.valid(), metrics: state.metrics, resumed_from })
}

fn model_file(epoch: usize) -> String {
    format!("rqvae-{epoch:05}.safetensors")
}

fn optim_file(epoch: usize) -> String {
    format!("optim-{epoch:05}.mpk")
}

/// Writes the weights and optimizer state under epoch-numbered names, then `state.json` (the
/// commit point: a crash before it leaves the previous checkpoint intact), then removes older
/// files.
fn write_checkpoint<B: AutodiffBackend, O: Optimizer<RqVae<B>, B>>(
    dir: &Path,
    model: &RqVae<B>,
    optim: &O,
    state: &TrainState,
) -> Result<(), ItemTokError> {
    save_rqvae(model, &dir.join(model_file(state.epoch)))?;
    let optim_path = dir.join(optim_file(state.epoch));
    crate::io::write_atomic(&optim_path, &optimizer_bytes::<B, O>(optim)?)
        .map_err(|source| ItemTokError::Io { path: optim_path.clone(), source })?;
    let state_path = dir.join(STATE_FILE);
    let json = serde_json::to_vec(state).expect("plain numbers serialise");
    crate::io::write_atomic(&state_path, &json).map_err(|source| ItemTokError::Io { path: state_path, source })?;
    let keep = [model_file(state.epoch), optim_file(state.epoch), STATE_FILE.to_string()];
    let entries = std::fs::read_dir(dir).map_err(|source| ItemTokError::Io { path: dir.to_path_buf(), source })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) && (name.starts_with("rqvae-") || name.starts_with("optim-")) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

fn read_state(dir: &Path) -> Result<Option<TrainState>, ItemTokError> {
    let path: PathBuf = dir.join(STATE_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|source| ItemTokError::Io { path: path.clone(), source })?;
    let state = serde_json::from_slice(&bytes)
        .map_err(|e| ItemTokError::Format { path: path.clone(), message: e.to_string() })?;
    Ok(Some(state))
}

fn write_metrics(path: &Path, metrics: &[EpochMetrics]) -> Result<(), ItemTokError> {
    let mut text = String::new();
    for m in metrics {
        text.push_str(&serde_json::to_string(m).expect("plain numbers serialise"));
        text.push('\n');
    }
    crate::io::write_atomic(path, text.as_bytes())
        .map_err(|source| ItemTokError::Io { path: path.to_path_buf(), source })
}

/// The rows `batch` of `rows` as one tensor.
///
/// # Shapes
/// -> `[batch.len(), dim]`
fn batch_tensor<B: Backend>(rows: &[Vec<f32>], batch: &[usize], dim: usize, device: &B::Device) -> Tensor<B, 2> {
    let mut flat = Vec::with_capacity(batch.len() * dim);
    for &i in batch {
        flat.extend_from_slice(&rows[i]);
    }
    Tensor::from_data(TensorData::new(flat, [batch.len(), dim]), device)
}

/// The first `n` rows of a seeded shuffle (all rows when fewer), for k-means.
fn kmeans_sample<B: Backend>(rows: &[Vec<f32>], n: usize, seed: u64, device: &B::Device) -> Tensor<B, 2> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order.truncate(n.min(rows.len()));
    batch_tensor(rows, &order, rows[0].len(), device)
}

/// k-means centroids of the residuals entering `level` for the items of `sample`.
///
/// # Shapes
/// `sample: [N, input_dim]` -> `[K, D]`
pub fn cluster_level<B: Backend>(
    model: &RqVae<B>,
    sample: Tensor<B, 2>,
    level: usize,
    config: &KMeansConfig,
) -> Result<Tensor<B, 2>, ItemTokError> {
    let device = sample.device();
    let mut residual = model.encode(sample); // [N, D]
    if level > 0 {
        let (residuals, choices) = model.quantize(residual, level);
        let last = choices.last().expect("level > 0");
        residual = residuals[level - 1].clone() - last.quantized.clone();
    }
    let [_, d] = residual.dims();
    let rows = to_rows(residual);
    let result = kmeans(&rows, config)?;
    let flat: Vec<f32> = result.centroids.into_iter().flatten().collect();
    Ok(Tensor::from_data(TensorData::new(flat, [config.k, d]), &device))
}

/// A matrix as one `Vec` per row.
pub fn to_rows<B: Backend>(t: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [_, d] = t.dims();
    let flat = t.into_data().convert::<f32>().to_vec::<f32>().expect("f32 after convert");
    flat.chunks(d.max(1)).map(<[f32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TestBackend;
    use burn::backend::Autodiff;

    type A = Autodiff<TestBackend>;

    fn tiny_recipe(epochs: usize) -> ItemTokRecipe {
        let mut r = ItemTokRecipe::parse(include_str!("../../recipes/itemtok-clvae.toml"), &[]).unwrap();
        r.model =
            super::super::recipe::ModelSection { hidden_dims: vec![8], latent_dim: 4, levels: 2, codebook_size: 4 };
        r.curriculum = super::super::CurriculumRule::FixedEpochs { start_epochs: vec![0, 1] };
        r.train.epochs = epochs;
        r.train.batch_size = 8;
        r.train.kmeans_rows = 16;
        r.train.checkpoint_every = 1;
        r
    }

    fn rows() -> Vec<Vec<f32>> {
        (0..24).map(|i| (0..6).map(|j| ((i * 7 + j * 3) % 11) as f32 / 11.0).collect()).collect()
    }

    #[test]
    fn trains_with_curriculum_and_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let recipe = tiny_recipe(3);
        let config = recipe.resolve(6).unwrap();
        let device = Default::default();
        let mut events = Vec::new();
        let full =
            train::<A>(&recipe, &config, &rows(), dir.path(), &device, &mut |e| events.push(format!("{e:?}"))).unwrap();
        let active: Vec<usize> = full.metrics.iter().map(|m| m.active_levels).collect();
        assert_eq!(active, [1, 2, 2]);
        assert!(full.metrics.iter().all(|m| m.loss.is_finite()));
        assert_eq!(std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap().lines().count(), 3);

        // Two epochs, then a third from the checkpoint: same weights as three in one go.
        let dir2 = tempfile::tempdir().unwrap();
        train::<A>(&tiny_recipe(2), &config, &rows(), dir2.path(), &device, &mut |_| {}).unwrap();
        let resumed = train::<A>(&recipe, &config, &rows(), dir2.path(), &device, &mut |_| {}).unwrap();
        assert_eq!(resumed.resumed_from, Some(2));
        let weights = |m: &RqVae<TestBackend>| m.codebooks[1].val().into_data().to_vec::<f32>().unwrap();
        let (a, b) = (weights(&full.model), weights(&resumed.model));
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5), "{a:?} vs {b:?}");
        assert_eq!(resumed.metrics.len(), 3);
    }

    #[test]
    fn bad_input_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let recipe = tiny_recipe(1);
        let device = Default::default();
        let config = recipe.resolve(5).unwrap();
        let err = train::<A>(&recipe, &config, &rows(), dir.path(), &device, &mut |_| {}).unwrap_err();
        assert!(matches!(err, ItemTokError::DimensionMismatch { expected: 5, found: 6, .. }), "{err}");
        let config = recipe.resolve(6).unwrap();
        let err = train::<A>(&recipe, &config, &[], dir.path(), &device, &mut |_| {}).unwrap_err();
        assert!(matches!(err, ItemTokError::Empty { .. }), "{err}");
        let err = train::<A>(&recipe, &config, &rows()[..3], dir.path(), &device, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("codebook_size"), "{err}");
    }
}
