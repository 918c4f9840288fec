#!/usr/bin/env python3
"""Checks `recfound generate` on any backend (cuda, wgpu, flex, ...) against the committed
transformers fixtures: greedy ids over 40 tokens and 4-beam search, for every family.

    python scripts/check_cli_parity.py --recfound target/release/recfound --backend cuda

Prints one line per check and exits non-zero if any differs. Needs no torch.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(binary, backend, model, prompt, max_new, extra):
    cmd = [binary, "generate", "--model", str(model), "--input-ids", ",".join(map(str, prompt)),
           "--max-new-tokens", str(max_new), "--json", "--ignore-eos", "--backend", backend] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return None, out.stderr.strip()[-500:]
    return json.loads(out.stdout.splitlines()[0])["ids"], None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recfound", default=str(ROOT / "target/release/recfound"))
    ap.add_argument("--backend", default="flex")
    args = ap.parse_args()
    failures = 0
    for family in ["qwen2", "mistral", "llama"]:
        model = ROOT / "tests/fixtures" / family
        exp = json.loads((model / "expected.json").read_text())
        g, b = exp["greedy"], exp["beam"]
        checks = [
            ("greedy", g["prompt"], g["max_new_tokens"], ["--greedy"], g["new_ids"]),
            ("beam4", b["prompt"], b["max_new_tokens"], ["--num-beams", "4"], b["sequences"][0]),
        ]
        for name, prompt, max_new, extra, want in checks:
            got, err = run(args.recfound, args.backend, model, prompt, max_new, extra)
            ok = got == want
            failures += not ok
            detail = err or ("" if ok else f"got {got} want {want}")
            print(f"{args.backend} {family} {name}: {'ok' if ok else 'DIFFERS'} {detail}")
    print(f"{6 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
