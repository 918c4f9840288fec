//! `--adapter DIR [--task NAME]`, shared by `generate` and `embed`: loads a LoRA or TMoLE
//! adapter beside the base and says which task each input row runs.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::backend::Backend;
use recfound::adapters::{Adapter, load_adapter};
use recfound::backbone::Decoder;
use recfound::recfound::TaskId;

#[derive(clap::Args, Debug, Clone)]
pub struct AdapterArgs {
    /// A LoRA (PEFT) or TMoLE adapter directory: adapter_config.json + adapter_model.safetensors.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// The task of every input (released names, e.g. Sequential_Recommendation, Emb_user): picks
    /// TMoLE's routing. An input line's own "task" overrides it; without either, TMoLE routes
    /// with the "none" row (all experts).
    #[arg(long, requires = "adapter")]
    pub task: Option<String>,
}

impl AdapterArgs {
    pub fn load<B: Backend>(&self, decoder: &Decoder<B>, device: &B::Device) -> anyhow::Result<Option<Adapter<B>>> {
        self.adapter
            .as_ref()
            .map(|dir| load_adapter(dir, decoder, device).with_context(|| format!("loading the adapter {}", dir.display())))
            .transpose()
    }

    /// The default task of the rows.
    pub fn task(&self) -> anyhow::Result<TaskId> {
        match &self.task {
            Some(name) => name.parse().context("--task"),
            None => Ok(TaskId::None),
        }
    }
}

/// The task of each input line: its own `task`, else the default.
pub fn line_tasks(tasks: &[Option<String>], default: TaskId) -> anyhow::Result<Vec<TaskId>> {
    tasks
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            Some(name) => name.parse::<TaskId>().with_context(|| format!("line {}: `task`", i + 1)),
            None => Ok(default),
        })
        .collect()
}
