//! Step-level checkpoints for exact resume: the adapter (PEFT layout, plus its parameter ids,
//! which key the optimizer state), AdamW's state, the LR step, both S2Sched states, the task
//! pools' positions and the run's history. burn-train's own checkpointer is per epoch, keeps no
//! RNG or data position and writes the frozen base, so the strategy writes these instead.
//! A checkpoint directory is written under a temporary name and renamed when complete, so a
//! crash mid-write leaves the previous one intact.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, LearningRate, MultiGradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::plots::RunHistory;
use super::s2sched::S2Sched;
use super::task_pools::TaskPools;

/// An optimizer whose state the training strategy can read: burn-train's `Learner` owns the
/// optimizer and has no getter for it, so the strategy keeps a second handle on the same state.
pub struct SharedOptimizer<O> {
    pub inner: Arc<Mutex<O>>,
}

impl<O> Clone for SharedOptimizer<O> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<M, B, O> Optimizer<M, B> for SharedOptimizer<O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    O: Optimizer<M, B>,
{
    type Record = O::Record;

    fn step(&mut self, lr: LearningRate, module: M, grads: GradientsParams) -> M {
        self.inner.lock().expect("optimizer lock").step(lr, module, grads)
    }

    fn step_multi(&mut self, lr: LearningRate, module: M, grads: MultiGradientsParams) -> M {
        self.inner.lock().expect("optimizer lock").step_multi(lr, module, grads)
    }

    fn to_record(&self) -> Self::Record {
        self.inner.lock().expect("optimizer lock").to_record()
    }

    fn load_record(self, record: Self::Record) -> Self {
        let loaded = self.inner.lock().expect("optimizer lock").clone().load_record(record);
        *self.inner.lock().expect("optimizer lock") = loaded;
        self
    }
}

/// Everything but the tensors, as `state.json` (written last: its presence marks a complete
/// checkpoint).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    pub step: usize,
    /// The adapter's parameter ids in visiting order (they key the optimizer state).
    pub param_ids: Vec<u64>,
    pub embedding_sched: S2Sched,
    pub generative_sched: S2Sched,
    pub embedding_counts: Vec<usize>,
    pub generative_counts: Vec<usize>,
    pub embedding_pools: TaskPools,
    pub generative_pools: TaskPools,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub history: RunHistory,
}

pub const STATE_FILE: &str = "state.json";
pub const OPTIMIZER_FILE: &str = "optimizer.mpk";

/// `checkpoints/step-NNNNNNN` of a run directory.
pub fn checkpoint_dir(run_dir: &Path, step: usize) -> PathBuf {
    run_dir.join("checkpoints").join(format!("step-{step:07}"))
}

/// Serialises an optimizer's state (named MessagePack, full precision).
pub fn optimizer_bytes<M: AutodiffModule<B>, B: AutodiffBackend, O: Optimizer<M, B>>(optim: &O) -> Result<Vec<u8>, String> {
    NamedMpkBytesRecorder::<FullPrecisionSettings>::default().record(optim.to_record(), ()).map_err(|e| e.to_string())
}

/// Reads an optimizer state written by [`optimizer_bytes`].
pub fn read_optimizer_record<M: AutodiffModule<B>, B: AutodiffBackend, O: Optimizer<M, B>>(path: &Path, device: &B::Device) -> Result<O::Record, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    NamedMpkBytesRecorder::<FullPrecisionSettings>::default().load(bytes, device).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `checkpoints/step-N/` whole or not at all: `fill` writes into a temporary directory
/// (its `state.json` last), which is renamed over the final name once complete.
pub fn write_checkpoint_dir(run_dir: &Path, step: usize, fill: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), String> {
    let dir = checkpoint_dir(run_dir, step);
    let tmp = dir.with_file_name(format!(".step-{step:07}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    fill(&tmp)?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp, &dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Writes a checkpoint's `state.json` (call it last inside [`write_checkpoint_dir`]'s `fill`).
pub fn write_state<T: Serialize>(dir: &Path, state: &T) -> Result<(), String> {
    let text = serde_json::to_string(state).map_err(|e| e.to_string())?;
    crate::io::write_atomic(&dir.join(STATE_FILE), text.as_bytes()).map_err(|e| e.to_string())
}

/// Reads a checkpoint's `state.json`.
pub fn read_state<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<T, String> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Where a resumed run continues: the newest complete checkpoint, once the run's saved
/// `recipe.toml` is checked to equal `resolved` (resuming under other settings would silently
/// mix two runs).
pub fn resume_point(run_dir: &Path, resolved: &str) -> Result<PathBuf, String> {
    let saved_path = run_dir.join("recipe.toml");
    let saved = std::fs::read_to_string(&saved_path).map_err(|e| format!("{}: {e}", saved_path.display()))?;
    if saved != resolved {
        return Err(format!("{}: the recipe differs from the one this run started with; resume with the same recipe and --set overrides", saved_path.display()));
    }
    latest_checkpoint(run_dir).ok_or_else(|| format!("{}: no complete checkpoint to resume from", run_dir.join("checkpoints").display()))
}

/// A fresh run: writes the resolved `recipe.toml` and removes logs of an earlier run in the
/// same directory.
pub fn start_fresh(run_dir: &Path, resolved: &str, logs: &[&str]) -> Result<(), String> {
    let path = run_dir.join("recipe.toml");
    crate::io::write_atomic(&path, resolved.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    for name in logs {
        let _ = std::fs::remove_file(run_dir.join(name));
    }
    Ok(())
}

/// The newest complete checkpoint of a run (one with `state.json`), if any.
pub fn latest_checkpoint(run_dir: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run_dir.join("checkpoints"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("step-")) && p.join(STATE_FILE).is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Keeps the lines of a JSONL log whose `"step"` is at most `step` (what a resumed run must
/// not repeat), rewriting the file atomically.
pub fn truncate_log(path: &Path, step: usize) -> std::io::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let kept: String = text
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).ok().and_then(|v| v["step"].as_u64()).is_some_and(|s| s as usize <= step))
        .map(|l| format!("{l}\n"))
        .collect();
    crate::io::write_atomic(path, kept.as_bytes())
}
