#!/usr/bin/env bash
# Training speed of two tunelab binaries (e.g. main's and a branch's) on the same batches, rounds
# interleaved (old, new, old, new, …) so that a busy shared machine slows both alike; prints every
# round, the medians and new/old.
#   bash scripts/bench_compare.sh OLD_BIN NEW_BIN [b×L ...]     default shape: 4x256
# Environment: THREADS (2), STEPS (3), ROUNDS (5), DTYPES ("fp32 bf16"). Run from the repository
# root (the default model and data paths are relative to it).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_BIN NEW_BIN [b×L ...]" >&2; exit 2; }
old=$1; new=$2; shift 2
for b in "$old" "$new"; do [ -x "$b" ] || { echo "$b: not an executable" >&2; exit 2; }; done
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}; STEPS=${STEPS:-3}; ROUNDS=${ROUNDS:-5}; DTYPES=${DTYPES:-fp32 bf16}
shapes=("$@"); [ ${#shapes[@]} -gt 0 ] || shapes=(4x256)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads $THREADS; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${shapes[@]}"; do
    b=${s%x*}; l=${s#*x}
    : > "$tmp/runs.jsonl"
    for r in $(seq "$ROUNDS"); do
        for d in $DTYPES; do
            for side in old new; do
                bin=$old; [ $side = new ] && bin=$new
                out=$("$bin" bench train --json --threads "$THREADS" --batch-size "$b" --seq-len "$l" --steps "$STEPS" \
                    --warmup 1 --compute-dtype "$d")
                printf '{"side":"%s","dtype":"%s","round":%d,"load":%s,"r":%s}\n' \
                    "$side" "$d" "$r" "$(cut -d' ' -f1 /proc/loadavg)" "$out" >> "$tmp/runs.jsonl"
            done
        done
    done
    python3 - "$s" "$tmp/runs.jsonl" <<'PY'
import json, statistics, sys
s, path = sys.argv[1], sys.argv[2]
runs = [json.loads(l) for l in open(path)]
for d in sorted({x["dtype"] for x in runs}, key=["fp32", "bf16"].index):
    pick = lambda side: [x for x in runs if x["side"] == side and x["dtype"] == d]
    old, new = pick("old"), pick("new")
    for o, n in zip(old, new):
        print(f"  b{s} {d} round {o['round']}: old {o['r']['tokens_per_s']:.1f} tok/s, new {n['r']['tokens_per_s']:.1f} tok/s"
              f" (load {o['load']}, {n['load']})")
    mo = statistics.median(x["r"]["tokens_per_s"] for x in old)
    mn = statistics.median(x["r"]["tokens_per_s"] for x in new)
    print(f"b{s} {d} medians of {len(old)}: old {mo:.1f} tok/s, new {mn:.1f} tok/s, new/old {mn / mo:.3f}")
PY
done
