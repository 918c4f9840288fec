//! `recfound info --model DIR`: family, parameter count, dtype and the tensors loaded.

use anyhow::Context;
use burn::tensor::backend::Backend;
use recfound::backbone::load_decoder;
use recfound::with_backend;

use super::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    with_backend!(args.model.backend(), |B, device| run_on::<B>(&args, &device))
}

fn run_on<B: Backend>(args: &InfoArgs, device: &B::Device) -> anyhow::Result<()> {
    let dir = &args.model.model;
    let loaded = load_decoder::<B>(dir, device).with_context(|| format!("loading {}", dir.display()))?;
    let c = &loaded.config;
    let r = &loaded.report;
    let files: Vec<String> = r.files.iter().map(|f| f.display().to_string()).collect();
    let info = serde_json::json!({
        "family": c.family.name(),
        "parameters": c.num_parameters(),
        "dtype": c.torch_dtype,
        "file_dtypes": r.file_dtypes,
        "tensors_loaded": r.tensors_loaded,
        "files": files,
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads,
        "head_dim": c.head_dim,
        "vocab_size": c.vocab_size,
        "tie_word_embeddings": c.tie_word_embeddings,
        "sliding_window": c.sliding_window,
        "rope_theta": c.rope_theta,
    });
    if args.json {
        println!("{info}");
    } else {
        println!("family            {}", c.family.name());
        println!("parameters        {} ({:.2} M)", c.num_parameters(), c.num_parameters() as f64 / 1e6);
        println!("dtype             {} (files: {:?})", c.torch_dtype.as_deref().unwrap_or("unknown"), r.file_dtypes);
        println!("tensors loaded    {} from {} file(s)", r.tensors_loaded, r.files.len());
        println!(
            "shape             {} layers, hidden {}, {} heads / {} kv heads, head_dim {}, vocab {}",
            c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.vocab_size
        );
        println!("lm_head           {}", if c.tie_word_embeddings { "tied to embed_tokens" } else { "separate" });
        println!("rope_theta        {}", c.rope_theta);
        if let Some(w) = c.sliding_window {
            println!("sliding_window    {w}");
        }
    }
    Ok(())
}
