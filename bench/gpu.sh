#!/usr/bin/env bash
# The GPU machine's share of the benchmarks page: transformers vs recfound on CUDA, the same
# on 2 CPU threads of that machine (quieter than a shared VM), and recfound's CUDA backend
# against the transformers fixtures. Needs torch + transformers and a recfound binary built
# with `--features cuda` (RECFOUND=path, default target/release/recfound).
set -u
cd "$(dirname "$0")/.."
BIN=${RECFOUND:-target/release/recfound}
DEST=${OUT:-bench/out}
mkdir -p "$DEST"
nvidia-smi --query-gpu=name,driver_version --format=csv > "$DEST/gpu.txt" 2>&1
python3 scripts/check_cli_parity.py --recfound "$BIN" --backend cuda > "$DEST/cuda-parity.txt" 2>&1
python3 bench/side_by_side.py generate --device cuda --backends cuda --recfound "$BIN" --repeats 5 \
    --output "$DEST/generate-cuda.json" > "$DEST/generate-cuda.txt" 2>&1
python3 bench/side_by_side.py generate --device cpu --backends ndarray,flex --recfound "$BIN" --repeats 5 \
    --threads 2 --output "$DEST/generate-cpu.json" > "$DEST/generate-cpu.txt" 2>&1
tail -n 12 "$DEST"/*.txt
