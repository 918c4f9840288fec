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
