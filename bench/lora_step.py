#!/usr/bin/env python3
"""Side by side: one adapter training step, PyTorch + PEFT vs recfound, in one run.

Shape (issue: adapters): the small Qwen2 (hidden 256, intermediate 688, 4 layers, 4 heads /
2 kv heads, vocab 4096), batch 8 x 128 tokens, r 16, targets q/k/v/o, frozen base, next-token
cross-entropy, AdamW on the adapter only. Also TMoLE (6 experts, experts stacked as recfound
does, one routing vector per sample) against plain LoRA, and each process's peak RSS.

    python bench/lora_step.py --threads 2 --steps 10
    python bench/lora_step.py --kinds lora tmole --backends flex ndarray

The Rust side is `benches/lora_step.rs` (built by `cargo bench --bench lora_step --no-run`;
pass its path with --binary, or the script finds the newest one under target/release/deps).
Each measurement runs in its own process so peak memory is per configuration.
Writes bench/out/lora_step.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from side_by_side import machine_info, markdown_table, run_recfound, set_threads, write_json  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
QWEN2_SMALL = dict(vocab_size=4096, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def torch_worker(kind: str, steps: int, warmup: int, batch: int, seq: int, r: int, threads: int) -> dict:
    """One configuration in this process (called with --worker)."""
    set_threads(threads)
    import torch
    from torch import nn
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**QWEN2_SMALL, attn_implementation="sdpa"))
    if kind == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=TARGETS,
                                                 init_lora_weights=False))
    else:
        for p in model.parameters():
            p.requires_grad_(False)
        table = nn.Embedding(14, 512)

        class Tmole(nn.Module):
            """TMoLE on one Linear: 6 stacked experts (2 emb / 2 shared / 2 gen), router Linear(512, 6)."""

            def __init__(self, base: nn.Linear):
                super().__init__()
                self.base, n = base, 6
                self.a = nn.Parameter(torch.randn(base.in_features, n * r) / base.in_features ** 0.5)
                self.b = nn.Parameter(torch.randn(n * r, base.out_features) / r ** 0.5)
                self.router = nn.Linear(512, n)
                self.n, self.scaling, self.routing_input = n, 2.0, None

            def forward(self, x):
                bsz, t, _ = x.shape
                logits = self.router(self.routing_input)  # [B, N]
                mask = torch.tensor([True, True, False, False, False, False])  # generative: emb experts off
                v = torch.softmax(logits.masked_fill(mask, float("-inf")), -1) * self.scaling
                h = (x @ self.a).view(bsz, t, self.n, r) * v.view(bsz, 1, self.n, 1)
                return self.base(x) + h.view(bsz, t, -1) @ self.b

        wrappers = []
        for layer in model.model.layers:
            for name in TARGETS:
                w = Tmole(getattr(layer.self_attn, name))
                setattr(layer.self_attn, name, w)
                wrappers.append(w)
        model.table = table
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-4)
    ids = (torch.arange(batch * (seq + 1)) * 7919 % 4000 + 10).view(batch, seq + 1)
    inputs, labels = ids[:, :seq], ids[:, 1:]
    tasks = torch.full((batch,), 4)
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        if kind == "tmole":
            emb = model.table(tasks)
            for w in wrappers:
                w.routing_input = emb
        logits = model(input_ids=inputs).logits
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"kind": kind, "median_step_s": med, "tokens_per_s": batch * seq / med, "min_step_s": min(times),
            "trainable_params": sum(p.numel() for p in params), "loss": float(loss),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def find_binary() -> Path | None:
    found = sorted((REPO / "target" / "release" / "deps").glob("lora_step-*"), key=lambda p: p.stat().st_mtime)
    found = [p for p in found if p.is_file() and not p.suffix]
    return found[-1] if found else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--kinds", nargs="+", default=["lora", "tmole"])
    ap.add_argument("--backends", nargs="+", default=["flex", "ndarray"])
    ap.add_argument("--binary", type=Path, default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(torch_worker(args.worker, args.steps, args.warmup, args.batch, args.seq, args.r, args.threads)))
        return 0

    binary = args.binary or find_binary()
    if binary is None:
        print("build the Rust side first: cargo bench --bench lora_step --no-run", file=sys.stderr)
        return 1
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--batch", str(args.batch), "--seq", str(args.seq), "--r", str(args.r)]
    results = {"machine": machine_info(), "threads": args.threads, "shape": QWEN2_SMALL, "batch": args.batch, "seq": args.seq,
               "r": args.r, "torch": {}, "recfound": {}}
    rows = []
    for kind in args.kinds:
        out = subprocess.run([sys.executable, __file__, "--worker", kind, "--threads", str(args.threads), *common],
                             capture_output=True, text=True, check=True)
        torch_res = json.loads(out.stdout.strip().splitlines()[-1])
        results["torch"][kind] = torch_res
        for backend in args.backends:
            env = {"RAYON_NUM_THREADS": str(args.threads)}
            res = run_recfound([str(binary), "--backend", backend, "--kind", kind, *common], env, 1800, "lora_step")
            rep = res.get("report") or {"error": res.get("error"), "stderr": res.get("stderr_tail")}
            results["recfound"][f"{kind}/{backend}"] = rep
            if res["ok"]:
                rows.append([kind, backend, f"{rep['tokens_per_s']:.0f}", f"{torch_res['tokens_per_s']:.0f}",
                             f"{rep['tokens_per_s'] / torch_res['tokens_per_s']:.2f}x",
                             f"{rep['peak_rss_mib']:.0f}", f"{torch_res['peak_rss_mib']:.0f}"])
    write_json(REPO / "bench" / "out" / "lora_step.json", results)
    print(markdown_table(["adapter", "recfound backend", "recfound tok/s", "PyTorch tok/s", "ratio", "recfound peak MiB", "PyTorch peak MiB"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
