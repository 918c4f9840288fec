#!/usr/bin/env python3
"""Side by side: one RecFound joint training step, PyTorch + PEFT vs recfound, in one run.

The step (issue: training): 8 queries, each with 1 positive and 1 hard negative (24 inputs of
64 tokens, bidirectional attention, mean pooling past 8 instruction tokens, L2-normalised,
InfoNCE at temperature 0.02 over in-batch + hard negatives), plus 8 generative examples of 128
tokens with cross-entropy on the second half only. One frozen small Qwen2 (hidden 256,
intermediate 688, 4 layers, 4 / 2 heads, vocab 4096), one LoRA (r 16, alpha 32, q/k/v/o),
AdamW on the adapter. Same token ids on both sides.

    cargo bench --bench joint_step --no-run
    python bench/joint_step.py --threads 2 --steps 5
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
from lora_step import QWEN2_SMALL, TARGETS  # noqa: E402
from side_by_side import machine_info, markdown_table, run_recfound, set_threads, write_json  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def ids(seed: int, n: int) -> list[int]:
    return [(seed * 7919 + i * 104729) % 4000 + 10 for i in range(n)]


def torch_worker(steps: int, warmup: int, queries: int, emb_len: int, gen_batch: int, gen_len: int, threads: int) -> dict:
    set_threads(threads)
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    base = Qwen2ForCausalLM(Qwen2Config(**QWEN2_SMALL, attn_implementation="sdpa"))
    model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=TARGETS, init_lora_weights=False))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-4)
    emb_ids = torch.tensor([ids(s, emb_len) for s in range(3 * queries)])  # q0, p0, n0, q1, ...
    order = [3 * q for q in range(queries)] + [i for q in range(queries) for i in (3 * q + 1, 3 * q + 2)]
    emb_ids = emb_ids[order]
    bidir = torch.zeros((len(order), 1, emb_len, emb_len))  # a 4-D float mask of zeros: every token sees every token
    pool = torch.zeros(emb_len)
    pool[8:] = 1.0 / (emb_len - 8)
    gen_ids = torch.tensor([ids(1000 + g, gen_len) for g in range(gen_batch)])
    labels = gen_ids.clone()
    labels[:, : gen_len // 2] = -100
    tokens = 3 * queries * emb_len + gen_batch * gen_len
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        hidden = model.model.model(input_ids=emb_ids, attention_mask=bidir).last_hidden_state  # [N, T, D]
        emb = F.normalize((hidden * pool[None, :, None]).sum(1), dim=-1)
        q, d = emb[:queries], emb[queries:]
        scores = q @ d.T / 0.02
        l_emb = F.cross_entropy(scores, torch.arange(queries) * 2)
        logits = model(input_ids=gen_ids).logits
        l_gen = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        loss = l_emb + l_gen
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"median_step_s": med, "tokens_per_s": tokens / med, "loss": float(loss), "tokens": tokens,
            "trainable_params": sum(p.numel() for p in params), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--backends", nargs="+", default=["flex", "ndarray"])
    ap.add_argument("--binary", type=Path, default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    shape = dict(queries=8, emb_len=64, gen_batch=8, gen_len=128)
    if args.worker:
        print(json.dumps(torch_worker(args.steps, args.warmup, threads=args.threads, **shape)))
        return 0
    found = sorted((REPO / "target" / "release" / "deps").glob("joint_step-*"), key=lambda p: p.stat().st_mtime)
    binary = args.binary or next((p for p in reversed(found) if p.is_file() and not p.suffix), None)
    if binary is None:
        print("build the Rust side first: cargo bench --bench joint_step --no-run", file=sys.stderr)
        return 1
    out = subprocess.run([sys.executable, __file__, "--worker", "--threads", str(args.threads), "--steps", str(args.steps),
                          "--warmup", str(args.warmup)], capture_output=True, text=True, check=True)
    torch_res = json.loads(out.stdout.strip().splitlines()[-1])
    results = {"machine": machine_info(), "threads": args.threads, "shape": shape, "torch": torch_res, "recfound": {}}
    rows = []
    for backend in args.backends:
        res = run_recfound([str(binary), "--backend", backend, "--steps", str(args.steps), "--warmup", str(args.warmup)],
                           {"RAYON_NUM_THREADS": str(args.threads)}, 1800, "joint_step")
        rep = res.get("report") or {"error": res.get("error"), "stderr": res.get("stderr_tail")}
        results["recfound"][backend] = rep
        if res["ok"]:
            rows.append([backend, f"{rep['tokens_per_s']:.0f}", f"{torch_res['tokens_per_s']:.0f}",
                         f"{rep['tokens_per_s'] / torch_res['tokens_per_s']:.2f}x", f"{rep['peak_rss_mib']:.0f}", f"{torch_res['peak_rss_mib']:.0f}"])
    write_json(REPO / "bench" / "out" / "joint_step.json", results)
    print(markdown_table(["recfound backend", "recfound tok/s", "PyTorch + PEFT tok/s", "ratio", "recfound peak MiB", "PyTorch peak MiB"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
