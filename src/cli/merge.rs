//! `recfound merge`: TIES (or averaging) of adapter checkpoints into one adapter (RecFound §4.4).
//! Contract: `--base-init DIR --checkpoints A B C --method ties|average|ties-svd --density 0.8
//! --lambda 1.0 --out DIR [--trim-scope per-tensor|adapter]`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use recfound::merge::{AdapterMergeConfig, MergeMethod, TiesConfig, TrimScope, merge_adapter_dirs};

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum MethodArg {
    /// TIES on the stored tensors (A and B separately, routers, task table), as the authors do.
    Ties,
    /// Element-wise mean of the checkpoints (baseline; --base-init is not needed).
    Average,
    /// TIES on ΔW = s·B A per site and expert, then rank-r SVD back to B, A.
    TiesSvd,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum TrimScopeArg {
    /// Each tensor keeps its own top-density share (mergekit's way).
    PerTensor,
    /// One ranking over all tensors of a checkpoint (the TIES paper's task vector).
    Adapter,
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The adapter state training started from (e.g. the saved fresh adapter): θ_init.
    #[arg(long)]
    pub base_init: Option<PathBuf>,
    /// Adapter directories to merge (recfound LoRA/TMoLE or PEFT LoRA), all of one shape.
    #[arg(long, num_args = 1.., required = true)]
    pub checkpoints: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "ties")]
    pub method: MethodArg,
    /// Share of each delta's entries kept by magnitude, in (0, 1] (authors: 0.8).
    #[arg(long, default_value_t = 0.8)]
    pub density: f64,
    /// λ, the scale of the merged delta (authors: 1.0).
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    #[arg(long, value_enum, default_value = "per-tensor")]
    pub trim_scope: TrimScopeArg,
    /// Output adapter directory (adapter_config.json, adapter_model.safetensors, merge.json).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let method = match args.method {
        MethodArg::Ties => MergeMethod::Ties,
        MethodArg::Average => MergeMethod::Average,
        MethodArg::TiesSvd => MergeMethod::TiesSvd,
    };
    let trim_scope = match args.trim_scope {
        TrimScopeArg::PerTensor => TrimScope::PerTensor,
        TrimScopeArg::Adapter => TrimScope::Adapter,
    };
    if method != MergeMethod::Average && args.base_init.is_none() {
        bail!("--method {} needs --base-init (the adapter state training started from)", method.name());
    }
    if args.checkpoints.iter().any(|c| c == &args.out) || args.base_init.as_ref() == Some(&args.out) {
        bail!("--out {} is one of the inputs; write the merge elsewhere", args.out.display());
    }
    let config = AdapterMergeConfig { method, ties: TiesConfig { density: args.density, lambda: args.lambda, trim_scope } };
    let start = Instant::now();
    let summary = merge_adapter_dirs(args.base_init.as_deref(), &args.checkpoints, &config, &args.out)
        .with_context(|| format!("merging {} checkpoints into {}", args.checkpoints.len(), args.out.display()))?;
    eprintln!(
        "merge: {}",
        serde_json::json!({
            "method": method.name(),
            "checkpoints": args.checkpoints.len(),
            "tensors": summary.tensors,
            "parameters": summary.parameters,
            "svd_matrices": summary.svd_matrices,
            "max_svd_residual": summary.max_svd_residual,
            "seconds": start.elapsed().as_secs_f64(),
            "out": args.out.display().to_string(),
        })
    );
    Ok(())
}
