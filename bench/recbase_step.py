#!/usr/bin/env python3
"""Side by side: RecBase speed (issue 9 item 9), PyTorch + transformers vs recfound, in one run.

Same shapes and token ids on both sides (benches/recbase_step.rs): a small Qwen2 (hidden 256,
intermediate 688, 4 layers, 4 / 2 heads, untied head) over a recbase-small vocabulary of 1283
tokens (3 specials + 5 levels x 256 codes; an item is 5 tokens).

    pretrain    one full-parameter training step: batch 8 x 256 tokens (BOS then item tokens,
                one user per row, no padding), next-token cross-entropy over the 255 item-token
                targets of each row, backward, AdamW (lr 1e-4, eps 1e-5, weight decay 1e-4 as
                Burn's defaults) on every parameter; tokens/s.
    zero-shot   candidate scoring with a shared-history KV cache: 16 users x 50 history items
                (251 tokens) x 20 candidates; one forward over the histories, the cache repeated
                per candidate, one forward over the candidates' first 4 tokens; candidates/s.

    cargo bench --bench recbase_step --no-run
    python bench/recbase_step.py --threads 2 --steps 5
    python bench/side_by_side.py recbase --threads 2 --steps 5      # the same, from the harness
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
from side_by_side import find_bench_binary, machine_info, markdown_table, recfound_info, run_recfound, set_threads, write_json  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CODES, LEVELS, SPECIALS, BOS = 256, 5, 3, 1
VOCAB = SPECIALS + CODES * LEVELS
SHAPE = dict(vocab_size=VOCAB, hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False)
PRETRAIN = dict(batch=8, seq=256)
ZERO_SHOT = dict(users=16, history=50, candidates=20)


def code_token(seed: int, level: int) -> int:
    """benches/recbase_step.rs `code_token`: level offset + a pseudo-random code."""
    return SPECIALS + level * CODES + (seed * 7919 + level * 104729) % CODES


def item(seed: int) -> list[int]:
    return [code_token(seed, level) for level in range(LEVELS)]


def model(threads: int):
    set_threads(threads)
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(**SHAPE, attn_implementation="sdpa"))


def torch_pretrain(steps: int, warmup: int, batch: int, seq: int, threads: int) -> dict:
    m = model(threads)
    import torch
    import torch.nn.functional as F

    m.train()
    optim = torch.optim.AdamW(m.parameters(), lr=1e-4, eps=1e-5, weight_decay=1e-4)
    ids = torch.tensor([[BOS if t == 0 else code_token(r * seq + t, (t - 1) % LEVELS) for t in range(seq)]
                        for r in range(batch)])
    times, loss = [], 0.0
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        logits = m(input_ids=ids).logits  # [B, T, V]
        out = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        out.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        loss = float(out.detach())
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"median_step_s": med, "tokens_per_s": batch * seq / med, "loss": loss, "tokens": batch * seq,
            "params": sum(p.numel() for p in m.parameters()),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def torch_zero_shot(steps: int, warmup: int, users: int, history: int, candidates: int, threads: int) -> dict:
    m = model(threads)
    import torch

    m.eval()
    hist = torch.tensor([[BOS] + [t for i in range(history) for t in item(u * 1000 + i)] for u in range(users)])
    cand = torch.tensor([item(500_000 + u * 100 + c) for u in range(users) for c in range(candidates)])  # [N, L]
    n, t = users * candidates, hist.shape[1]
    positions = torch.arange(t, t + LEVELS - 1).expand(n, -1)

    def score():
        out = m(input_ids=hist, use_cache=True)
        first = torch.log_softmax(out.logits[:, -1], -1).repeat_interleave(candidates, 0)  # [N, V]
        cache = out.past_key_values
        cache.batch_repeat_interleave(candidates)
        rest = m(input_ids=cand[:, :-1], past_key_values=cache, position_ids=positions).logits  # [N, L-1, V]
        rest = torch.log_softmax(rest, -1).gather(2, cand[:, 1:, None]).squeeze(-1)
        return first.gather(1, cand[:, :1]).squeeze(1) + rest.sum(1)

    times, mean = [], 0.0
    with torch.inference_mode():
        for step in range(warmup + steps):
            t0 = time.perf_counter()
            scores = score()
            if step >= warmup:
                times.append(time.perf_counter() - t0)
            mean = float(scores.mean())
    med = statistics.median(times)
    return {"median_s": med, "candidates_per_s": n / med, "candidates": n, "mean_score": mean,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def flags(what: str, steps: int, warmup: int) -> list[str]:
    shape = PRETRAIN if what == "pretrain" else ZERO_SHOT
    out = ["--what", what, "--steps", str(steps), "--warmup", str(warmup)]
    for key, value in shape.items():
        out += [f"--{key}", str(value)]
    return out


def compare(threads: int, steps: int, warmup: int, backends: list[str], binary: Path | None) -> int:
    binary = binary or find_bench_binary("recbase_step")
    if binary is None:
        print("build the Rust side first: cargo bench --bench recbase_step --no-run", file=sys.stderr)
        return 1
    results = {"machine": machine_info(), "threads": threads, "shape": SHAPE, "pretrain": PRETRAIN, "zero_shot": ZERO_SHOT,
               "binary": recfound_info(binary), "torch": {}, "recfound": {}}
    rows = []
    for what, metric, prefix in [("pretrain", "tokens_per_s", "recbase_pretrain"), ("zero-shot", "candidates_per_s", "recbase_zero_shot")]:
        # PyTorch in its own process, so its thread pool is pinned before torch starts.
        out = subprocess.run([sys.executable, __file__, "--worker", what, "--threads", str(threads), "--steps", str(steps),
                              "--warmup", str(warmup)], capture_output=True, text=True, check=True)
        torch_res = json.loads(out.stdout.strip().splitlines()[-1])
        results["torch"][what] = torch_res
        rows.append([what, "PyTorch + transformers", f"{torch_res[metric]:.0f}", "1.00x", f"{torch_res['peak_rss_mib']:.0f}"])
        for backend in backends:
            res = run_recfound([str(binary), "--backend", backend, *flags(what, steps, warmup)],
                               {"RAYON_NUM_THREADS": str(threads)}, 1800, prefix)
            rep = res.get("report") or {"error": res.get("error"), "stderr": res.get("stderr_tail")}
            results["recfound"].setdefault(what, {})[backend] = rep
            if res["ok"]:
                rows.append([what, f"recfound {backend}", f"{rep[metric]:.0f}", f"{rep[metric] / torch_res[metric]:.2f}x",
                             f"{rep['peak_rss_mib']:.0f}"])
    write_json(REPO / "bench" / "out" / "recbase_step.json", results)
    print(markdown_table(["benchmark", "implementation", "tokens/s (pretrain) or candidates/s (zero-shot)", "vs PyTorch",
                          "peak MiB"], rows))
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--backends", nargs="+", default=["flex", "ndarray"])
    ap.add_argument("--binary", type=Path, default=None, help="benches/recbase_step binary (default: newest built)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    ap.add_argument("--worker", choices=["pretrain", "zero-shot"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "pretrain":
        print(json.dumps(torch_pretrain(args.steps, args.warmup, threads=args.threads, **PRETRAIN)))
        return 0
    if args.worker == "zero-shot":
        print(json.dumps(torch_zero_shot(args.steps, args.warmup, threads=args.threads, **ZERO_SHOT)))
        return 0
    return compare(args.threads, args.steps, args.warmup, args.backends, args.binary)


if __name__ == "__main__":
    sys.exit(main())
