#!/usr/bin/env python3
"""Side-by-side benchmarks: Hugging Face transformers vs recfound, in one run.

Subcommands (one function each; add more benchmarks by writing `cmd_<name>(args)` plus an
`add_<name>_parser(sub)` and registering it in SUBCOMMANDS):

    generate   decoder greedy generation throughput (Qwen2-shaped random model)
    rqvae      RQ-VAE training step (768-512-256-64, 4 x 256 codes, batch 1024, AdamW), samples/s
    recbase    RecBase pretraining step (batch 8 x 256, full-parameter AdamW), tokens/s, and zero-shot
               scoring (16 users x 50 items x 20 candidates, shared-history KV cache), candidates/s

Example:

    python bench/side_by_side.py generate --threads 2 --repeats 3
    python bench/side_by_side.py generate --device cuda          # recfound built with the cuda feature
    cargo bench --bench rqvae_step --no-run && python bench/side_by_side.py rqvae --threads 2
    cargo bench --bench recbase_step --no-run && python bench/side_by_side.py recbase --threads 2

Outputs go under bench/out/ (gitignored): the random checkpoint, the prompt files, and
bench/out/<benchmark>.json; a markdown table is printed to stdout.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# --------------------------------------------------------------------------------------------
# shared helpers (usable by every benchmark)
# --------------------------------------------------------------------------------------------

def set_threads(threads: int) -> None:
    """Call before the first torch op: pins torch's intra-op pool (and OMP/MKL) to `threads`."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (pool started)
        pass


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(device: str = "cpu") -> dict:
    import torch
    import transformers

    info = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "nproc": os.cpu_count(),
        "nproc_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_num_threads": torch.get_num_threads(),
    }
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def timed(fn, device: str) -> tuple[float, object]:
    """Run fn() once; wall seconds with device synchronisation on both sides."""
    sync(device)
    t0 = time.perf_counter()
    result = fn()
    sync(device)
    return time.perf_counter() - t0, result


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    return "-" if x is None else f"{x:,.{nd}f}"


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def recfound_info(binary: Path) -> dict:
    info = {"path": str(binary), "exists": binary.exists()}
    if binary.exists():
        st = binary.stat()
        info["mtime_utc"] = _dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc).isoformat(timespec="seconds")
        info["size_bytes"] = st.st_size
        try:
            r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
            info["version"] = r.stdout.strip() or None if r.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired) as e:  # pragma: no cover - informational only
            info["version_error"] = str(e)
    return info


def run_recfound(cmd: list[str], env_extra: dict, timeout: float, prefix: str) -> dict:
    """Run one recfound command; parse the `<prefix>: {json}` line it prints on stderr and keep
    stdout for whatever the benchmark wants to check."""
    env = dict(os.environ)
    env.update(env_extra)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout}s", "cmd": cmd}
    except OSError as e:
        return {"ok": False, "error": str(e), "cmd": cmd}
    wall = time.perf_counter() - t0
    report = None
    for line in r.stderr.splitlines():
        line = line.strip()
        if line.startswith(prefix + ":"):
            try:
                report = json.loads(line[len(prefix) + 1:].strip())
            except json.JSONDecodeError:
                pass
    out = {"ok": r.returncode == 0 and report is not None, "returncode": r.returncode, "wall_s": wall,
           "report": report, "stdout": r.stdout, "cmd": cmd}
    if not out["ok"]:
        out["error"] = (f"exit {r.returncode}" if r.returncode else f"no '{prefix}: {{...}}' line on stderr")
        out["stderr_tail"] = r.stderr[-2000:]
    return out


def parse_generated_ids(stdout: str) -> list[list[int]] | None:
    """Best effort: recfound's --json stdout is expected to carry the generated ids, one JSON
    object per prompt (JSON lines) or one JSON document. Accepts the key names below."""
    keys = ("new_ids", "output_ids", "generated_ids", "new_tokens", "tokens", "ids")

    def from_obj(o):
        if isinstance(o, dict):
            for k in keys:
                if k in o and isinstance(o[k], list):
                    v = o[k]
                    if v and isinstance(v[0], list):
                        return [list(map(int, x)) for x in v]
                    return [list(map(int, v))]
            for k in ("outputs", "results", "sequences", "generations"):
                if k in o and isinstance(o[k], list):
                    rows = []
                    for item in o[k]:
                        got = from_obj(item)
                        if got is None:
                            return None
                        rows.extend(got)
                    return rows
        if isinstance(o, list) and o and all(isinstance(x, int) for x in o):
            return [o]
        if isinstance(o, list) and o and all(isinstance(x, list) for x in o):
            return [list(map(int, x)) for x in o]
        return None

    text = stdout.strip()
    if not text:
        return None
    try:
        got = from_obj(json.loads(text))
        if got is not None:
            return got
    except json.JSONDecodeError:
        pass
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(("{", "[")):
            continue
        try:
            got = from_obj(json.loads(line))
        except json.JSONDecodeError:
            continue
        if got is not None:
            rows.extend(got)
    return rows or None


# --------------------------------------------------------------------------------------------
# generate: decoder greedy generation throughput
# --------------------------------------------------------------------------------------------

QWEN2_SMALL = dict(
    vocab_size=4096,
    hidden_size=256,
    intermediate_size=688,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=1024,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    tie_word_embeddings=False,
    initializer_range=0.1,  # non-flat logits, so greedy ids are well separated (no near-ties)
    use_sliding_window=False,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=0,
)


def build_qwen2_small(out_dir: Path, seed: int) -> Path:
    """Random, seeded Qwen2 checkpoint (float32 safetensors) in out_dir."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(Qwen2Config(**QWEN2_SMALL)).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.copy_(0.1 * torch.randn(proj.bias.shape, generator=gen))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    (out_dir / "generation_config.json").unlink(missing_ok=True)
    return out_dir


def make_prompts(batch: int, length: int, vocab: int, seed: int) -> list[list[int]]:
    import numpy as np

    rng = np.random.default_rng(seed + 1000 * batch)
    return rng.integers(3, vocab, size=(batch, length)).tolist()  # no pad/bos/eos ids


def hf_generate_bench(model, prompts, new_tokens: int, device: str, repeats: int, warmup: int) -> dict:
    import torch
    from transformers import GenerationConfig

    ids = torch.tensor(prompts, dtype=torch.long, device=device)
    mask = torch.ones_like(ids)
    # transformers 5 fills None fields of the passed GenerationConfig from model.generation_config,
    # so eos_token_id=None alone does not disable EOS: clear it on the model too.
    model.generation_config.eos_token_id = None
    cfg = GenerationConfig(
        max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, num_beams=1,
        eos_token_id=None, pad_token_id=0, temperature=None, top_p=None, top_k=None, use_cache=True,
    )

    def go():
        with torch.inference_mode():
            return model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg)

    for _ in range(warmup):
        go()
    times, out = [], None
    for _ in range(repeats):
        t, out = timed(go, device)
        times.append(t)
    assert out.shape == (len(prompts), len(prompts[0]) + new_tokens), tuple(out.shape)
    new_ids = out[:, len(prompts[0]):].tolist()
    sec = median(times)
    return {
        "seconds": times,
        "median_seconds": sec,
        "new_tokens": len(prompts) * new_tokens,
        "tokens_per_s": len(prompts) * new_tokens / sec,
        "new_ids": new_ids,
    }


def add_generate_parser(sub) -> None:
    p = sub.add_parser("generate", help="greedy generation throughput, transformers vs recfound",
                       description="Greedy decoding throughput of a random Qwen2 (hidden 256, 4 layers, "
                       "vocab 4096) in transformers and in recfound, same checkpoint and prompts.")
    p.add_argument("--threads", type=int, default=2, help="torch threads and RAYON_NUM_THREADS (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per configuration; median reported")
    p.add_argument("--warmup", type=int, default=1, help="untimed transformers runs first (default 1)")
    p.add_argument("--recfound-inprocess-warmup", type=int, default=1,
                   help="untimed generations inside each recfound process before the timed one "
                        "(GPU backends compile kernels on first use; default 1)")
    p.add_argument("--recfound-warmup", type=int, default=0,
                   help="untimed recfound processes first (default 0; recfound times generation only)")
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--attn", default="sdpa", help="transformers attn_implementation (default sdpa)")
    p.add_argument("--recfound", default=str(REPO / "target" / "release" / "recfound"),
                   help="recfound binary (default target/release/recfound)")
    p.add_argument("--backends", default=None,
                   help="recfound --backend values, comma-separated (default ndarray,flex; cuda with --device cuda)")
    p.add_argument("--model-dir", default=str(OUT / "qwen2-small"))
    p.add_argument("--output", default=str(OUT / "generate.json"))
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per recfound process")
    p.add_argument("--skip-transformers", action="store_true")
    p.add_argument("--skip-recfound", action="store_true")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args) -> int:
    set_threads(args.threads)
    import torch
    from transformers import AutoModelForCausalLM

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    backends = (args.backends.split(",") if args.backends
                else (["cuda"] if args.device == "cuda" else ["ndarray", "flex"]))
    model_dir = Path(args.model_dir).resolve()
    binary = Path(args.recfound)
    if not binary.is_absolute():
        binary = (Path.cwd() / binary).resolve()

    print(f"building random Qwen2 checkpoint in {model_dir} ...", flush=True)
    build_qwen2_small(model_dir, args.seed)

    prompts = {}
    for b in batch_sizes:
        prompts[b] = make_prompts(b, args.prompt_len, QWEN2_SMALL["vocab_size"], args.seed)
        path = model_dir.parent / f"prompts-b{b}.jsonl"
        path.write_text("".join(json.dumps({"input_ids": p}) + "\n" for p in prompts[b]))

    result = {
        "benchmark": "generate",
        "machine": machine_info(args.device),
        "config": {
            "model": {"family": "qwen2", **QWEN2_SMALL, "dtype": "float32", "seed": args.seed,
                      "dir": str(model_dir)},
            "prompt_len": args.prompt_len, "new_tokens": args.new_tokens, "batch_sizes": batch_sizes,
            "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
            "recfound_warmup": args.recfound_warmup, "device": args.device,
            "decoding": "greedy, eos disabled, exactly new_tokens per row, KV cache",
            "transformers_attn_implementation": args.attn,
            "tokens_per_s": "batch * new_tokens / median seconds of generation (load excluded)",
        },
        "transformers": {},
        "recfound": {"binary": recfound_info(binary), "backends": backends, "runs": {}},
        "rows": [],
    }

    # ---- transformers ----
    hf = {}
    if not args.skip_transformers:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                     attn_implementation=args.attn).eval().to(args.device)
        for b in batch_sizes:
            print(f"transformers: batch {b} ...", flush=True)
            hf[b] = hf_generate_bench(model, prompts[b], args.new_tokens, args.device, args.repeats, args.warmup)
            print(f"  {hf[b]['tokens_per_s']:.1f} tok/s (median of {args.repeats}: "
                  f"{', '.join(f'{t:.3f}s' for t in hf[b]['seconds'])})", flush=True)
            result["transformers"][str(b)] = hf[b]
        del model

    # ---- recfound ----
    rf = {}
    message = None
    if args.skip_recfound:
        message = "recfound skipped (--skip-recfound)"
    elif not binary.exists():
        message = (f"recfound binary not found at {binary}: build it with `cargo build --release` "
                   f"(add `--features cuda` for --device cuda) or pass --recfound PATH; "
                   f"only transformers numbers are reported")
    else:
        env = {"RAYON_NUM_THREADS": str(args.threads)}
        for backend in backends:
            for b in batch_sizes:
                cmd = [str(binary), "generate", "--model", str(model_dir),
                       "--input-file", str(model_dir.parent / f"prompts-b{b}.jsonl"),
                       "--max-new-tokens", str(args.new_tokens), "--greedy", "--ignore-eos",
                       "--batch-size", str(b), "--json", "--backend", backend,
                       "--warmup", str(args.recfound_inprocess_warmup)]
                print(f"recfound[{backend}]: batch {b} ...", flush=True)
                for _ in range(args.recfound_warmup):
                    run_recfound(cmd, env, args.timeout, "generate")
                runs = []
                for _ in range(args.repeats):
                    r = run_recfound(cmd, env, args.timeout, "generate")
                    runs.append(r)
                    if not r["ok"]:
                        break
                entry = {"cmd": " ".join(cmd), "env": env}
                if all(r["ok"] for r in runs):
                    secs = [float(r["report"]["seconds"]) for r in runs]
                    ntok = [int(r["report"]["new_tokens"]) for r in runs]
                    sec = median(secs)
                    entry.update({
                        "seconds": secs, "median_seconds": sec, "new_tokens": ntok[0],
                        "tokens_per_s": ntok[0] / sec,
                        "reported_tokens_per_s": [r["report"].get("tokens_per_s") for r in runs],
                        "wall_s": [r["wall_s"] for r in runs],
                    })
                    if ntok[0] != b * args.new_tokens:
                        entry["warning"] = f"recfound reported {ntok[0]} new tokens, expected {b * args.new_tokens}"
                    ids = parse_generated_ids(runs[-1]["stdout"])
                    entry["new_ids"] = ids
                    if ids is None:
                        entry["stdout_head"] = runs[-1]["stdout"][:1000]
                    if b in hf:
                        entry["ids_match_transformers"] = None if ids is None else ids == hf[b]["new_ids"]
                        if ids is not None and ids != hf[b]["new_ids"]:
                            entry["first_mismatch"] = first_mismatch(hf[b]["new_ids"], ids)
                    print(f"  {entry['tokens_per_s']:.1f} tok/s; ids match transformers: "
                          f"{entry.get('ids_match_transformers')}", flush=True)
                else:
                    bad = runs[-1]
                    entry.update({"error": bad.get("error"), "returncode": bad.get("returncode"),
                                  "stderr_tail": bad.get("stderr_tail")})
                    print(f"  FAILED: {bad.get('error')}\n{(bad.get('stderr_tail') or '')[-800:]}", flush=True)
                rf[(backend, b)] = entry
                result["recfound"]["runs"][f"{backend}/b{b}"] = entry
    if message:
        result["recfound"]["message"] = message

    # ---- report ----
    rows = []
    for backend in (backends if rf else ["-"]):
        for b in batch_sizes:
            h = hf.get(b, {}).get("tokens_per_s")
            e = rf.get((backend, b), {})
            r = e.get("tokens_per_s")
            ratio = (r / h) if (r and h) else None
            match = e.get("ids_match_transformers")
            rf_cell = "FAILED" if "error" in e else fmt(r)
            rows.append([backend, b, fmt(h), rf_cell, fmt(ratio, 2), "-" if match is None else str(match).lower()])
            result["rows"].append({"backend": backend, "batch": b, "transformers_tokens_per_s": h,
                                   "recfound_tokens_per_s": r, "ratio_recfound_over_transformers": ratio,
                                   "ids_match": match})
    result["ids_match_batch1"] = {backend: rf.get((backend, 1), {}).get("ids_match_transformers")
                                  for backend in backends} if rf else None
    m = result["machine"]
    print()
    print(f"Greedy generation, random Qwen2 (hidden 256, 4 layers, vocab 4096, f32), prompt {args.prompt_len}, "
          f"{args.new_tokens} new tokens, device {args.device}, {args.threads} threads, median of {args.repeats}")
    print(f"{m['cpu_model']} ({m['nproc']} cpus), torch {m['torch']}, transformers {m['transformers']}, {m['date_utc']}")
    print()
    print(markdown_table(["backend", "batch", "transformers tok/s", "recfound tok/s", "ratio (rf/hf)", "ids match"], rows))
    print()
    if message:
        print(message)
    write_json(Path(args.output), result)
    return 0


def first_mismatch(a: list[list[int]], b: list[list[int]]):
    if len(a) != len(b):
        return {"rows": [len(a), len(b)]}
    for i, (x, y) in enumerate(zip(a, b)):
        for j in range(max(len(x), len(y))):
            if j >= len(x) or j >= len(y) or x[j] != y[j]:
                return {"row": i, "position": j, "transformers": x[j] if j < len(x) else None,
                        "recfound": y[j] if j < len(y) else None}
    return None



# --------------------------------------------------------------------------------------------
# rqvae: one RQ-VAE training step, PyTorch vs recfound (benches/rqvae_step.rs)
# --------------------------------------------------------------------------------------------

RQVAE_SHAPE = {"input": 768, "hidden": [512, 256], "latent": 64, "levels": 4, "codebook_size": 256}


def torch_rqvae_step(batch: int, steps: int, warmup: int, threads: int) -> dict:
    """The same network and loss as recfound's RqVae + rqvae_losses (default weights: recon 1,
    quant 1, beta 0.25, entropy 0.1 with soft assignments at temperature 1 relative to the mean
    distance), AdamW lr 1e-3, weight decay 1e-4."""
    set_threads(threads)
    import resource

    import torch
    from torch import nn

    torch.manual_seed(0)
    s = RQVAE_SHAPE
    widths = [s["input"], *s["hidden"], s["latent"]]

    def mlp(ws):
        layers = []
        for i, (a, b) in enumerate(zip(ws, ws[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(ws) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    encoder, decoder = mlp(widths), mlp(widths[::-1])
    codebooks = nn.ParameterList([nn.Parameter(torch.randn(s["codebook_size"], s["latent"]))
                                  for _ in range(s["levels"])])
    params = [*encoder.parameters(), *decoder.parameters(), *codebooks.parameters()]
    optim = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4, eps=1e-5)
    x = torch.randn(batch, s["input"])
    k = s["codebook_size"]

    def step():
        z = encoder(x)
        r, q_sum = z, 0
        cb, cm, ent = [], [], []
        for e in codebooks:
            d = (r.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1)[None, :] - 2 * r @ e.t()).clamp_min(0)
            code = d.argmin(1)
            q = e[code]
            cb.append((r.detach() - q).pow(2).mean())
            cm.append((r - q.detach()).pow(2).mean())
            soft = torch.softmax(-d / d.mean().detach().clamp_min(1e-12), dim=1)
            p = soft.mean(0)
            ent.append(1 + (p * p.clamp_min(1e-12).log()).sum() / torch.log(torch.tensor(float(k))))
            q_sum = q_sum + q
            r = r - q.detach()
        x_hat = decoder(z + (q_sum - z).detach())
        recon = (x_hat - x).pow(2).mean()
        loss = recon + (torch.stack(cb).mean() + 0.25 * torch.stack(cm).mean()) + 0.1 * torch.stack(ent).mean()
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)
        return float(loss.detach())

    times, loss = [], 0.0
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss = step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    med = median(times)
    return {"median_step_s": med, "samples_per_s": batch / med, "min_step_s": min(times), "loss": loss,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def find_bench_binary(name: str) -> Path | None:
    found = sorted((REPO / "target" / "release" / "deps").glob(f"{name}-*"), key=lambda p: p.stat().st_mtime)
    found = [p for p in found if p.is_file() and not p.suffix]
    return found[-1] if found else None


def add_rqvae_parser(sub) -> None:
    p = sub.add_parser("rqvae", help="RQ-VAE training step, PyTorch vs recfound (samples/s)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--backends", nargs="+", default=["flex", "ndarray"])
    p.add_argument("--binary", type=Path, default=None, help="benches/rqvae_step binary (default: newest built)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_rqvae)


def cmd_rqvae(args) -> int:
    if args.worker:
        print(json.dumps(torch_rqvae_step(args.batch, args.steps, args.warmup, args.threads)))
        return 0
    binary = args.binary or find_bench_binary("rqvae_step")
    if binary is None:
        print("build the Rust side first: cargo bench --bench rqvae_step --no-run", file=sys.stderr)
        return 1
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--batch", str(args.batch)]
    # PyTorch in its own process, so its thread pool is pinned before torch starts.
    out = subprocess.run([sys.executable, __file__, "rqvae", "--worker", "--threads", str(args.threads), *common],
                         capture_output=True, text=True, check=True)
    torch_res = json.loads(out.stdout.strip().splitlines()[-1])
    results = {"machine": machine_info(), "threads": args.threads, "shape": RQVAE_SHAPE, "batch": args.batch,
               "torch": torch_res, "recfound": {}, "binary": recfound_info(binary)}
    rows = [["PyTorch", f"{torch_res['samples_per_s']:.0f}", "1.00x", f"{torch_res['peak_rss_mib']:.0f}"]]
    for backend in args.backends:
        env = {"RAYON_NUM_THREADS": str(args.threads)}
        res = run_recfound([str(binary), "--backend", backend, *common], env, 1800, "rqvae_step")
        rep = res.get("report") or {"error": res.get("error"), "stderr": res.get("stderr_tail")}
        results["recfound"][backend] = rep
        if res["ok"]:
            rows.append([f"recfound {backend}", f"{rep['samples_per_s']:.0f}",
                         f"{rep['samples_per_s'] / torch_res['samples_per_s']:.2f}x", f"{rep['peak_rss_mib']:.0f}"])
    write_json(OUT / "rqvae.json", results)
    print(markdown_table(["implementation", "train samples/s", "vs PyTorch", "peak MiB"], rows))
    return 0

# --------------------------------------------------------------------------------------------
# recbase: pretraining tokens/s and zero-shot candidates/s (bench/recbase_step.py holds the
# PyTorch side and the shapes; imported here on use, as it imports the helpers above)
# --------------------------------------------------------------------------------------------

def add_recbase_parser(sub) -> None:
    from recbase_step import add_arguments

    p = sub.add_parser("recbase", help="RecBase pretraining step (tokens/s) and zero-shot scoring (candidates/s), "
                                       "PyTorch + transformers vs recfound")
    add_arguments(p)
    p.set_defaults(func=cmd_recbase)


def cmd_recbase(args) -> int:
    from recbase_step import compare

    return compare(args.threads, args.steps, args.warmup, args.backends, args.binary)

# --------------------------------------------------------------------------------------------

SUBCOMMANDS = [add_generate_parser, add_rqvae_parser, add_recbase_parser]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
