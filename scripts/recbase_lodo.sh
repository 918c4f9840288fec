#!/usr/bin/env bash
# Leave-one-domain-out RecBase evaluation (issue 9 item 7): for each domain exported from
# ../shared/data, pretrain recipes/recbase-small.toml on the other domains (item tokenizer
# included: the held-out domain's items are never seen before scoring), then score the held-out
# domain zero-shot with `recfound recbase zero-shot` (RecBase against random, popularity and
# text-similarity baselines on the same RecBench-style rows), and print a Markdown table.
#
#   scripts/recbase_lodo.sh                     # all five domains, 300 steps each
#   STEPS=100 SOURCES="movielens steam" scripts/recbase_lodo.sh
#
# Environment: RECFOUND (binary, default target/release/recfound), DOMAINS (folder of exported
# domains, default data/domains), OUT (default runs/recbase-lodo), STEPS (pretraining steps per
# fold, default 300), SOURCES (domains, default all five), BACKEND (default flex).
# A fold whose run already has model.safetensors is not retrained; delete it to redo it.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${RECFOUND:-target/release/recfound}
DOMAINS=${DOMAINS:-data/domains}
OUT=${OUT:-runs/recbase-lodo}
STEPS=${STEPS:-300}
SOURCES=${SOURCES:-movielens steam lastfm amazon-scientific amazon-office}
BACKEND=${BACKEND:-flex}

for s in $SOURCES; do
    if [ ! -f "$DOMAINS/$s/sequences.jsonl" ]; then
        "$BIN" data export-domain --source "$s" --out "$DOMAINS/$s"
    fi
done

for held in $SOURCES; do
    list=""
    for s in $SOURCES; do
        [ "$s" = "$held" ] || list="$list\"$(realpath "$DOMAINS/$s")\","
    done
    run="$OUT/without-$held"
    if [ ! -f "$run/model.safetensors" ]; then
        "$BIN" recipe recipes/recbase-small.toml --backend "$BACKEND" --no-tui --out "$run" \
            --set "recbase.domains=[${list%,}]" --set "pretrain.steps=$STEPS"
    fi
    "$BIN" recbase zero-shot --backend "$BACKEND" --run "$run" --domain "$DOMAINS/$held" --out "$run/zero-shot-$held"
    # The held-out items' ids, to count how many distinct semantic ids (the levels before the
    # appended counter) the tokenizer gives items it never saw.
    "$BIN" itemtok encode --backend "$BACKEND" --run "$run/itemtok" --domain "$DOMAINS/$held" --out "$run/zero-shot-$held/item_ids.jsonl"
done

python3 - "$OUT" $SOURCES <<'PY'
import json, sys
out, sources = sys.argv[1], sys.argv[2:]
fmt = lambda v: "—" if v is None else f"{v:.4f}"
print("| held-out domain | rows | items (distinct semantic ids) | final train loss | RecBase AUC | random | popularity | text sim. | RecBase NDCG@10 | popularity NDCG@10 | text sim. NDCG@10 |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for held in sources:
    run = f"{out}/without-{held}"
    r = json.load(open(f"{run}/zero-shot-{held}/report.json"))
    loss = json.load(open(f"{run}/summary.json"))["last_loss"]
    ids = [json.loads(l)["ids"] for l in open(f"{run}/zero-shot-{held}/item_ids.jsonl")]
    levels = json.load(open(f"{run}/vocab.json"))["level_sizes"]
    semantic = len({tuple(i[:len(levels) - 1]) for i in ids})
    m = r["metrics"]
    print(f"| {held} | {r['rows']} | {len(ids)} ({semantic}) | {loss:.3f} | " + " | ".join(fmt(m[k]["auc"]) for k in ["recbase", "random", "popularity", "text_similarity"])
          + " | " + " | ".join(fmt(m[k]["ndcg@10"]) for k in ["recbase", "popularity", "text_similarity"]) + " |")
PY
