#!/usr/bin/env bash
# Training benchmark: TuneLab and PyTorch + PEFT (eager) on the same fixed-length batches cut from
# ../shared/data/medical_o1_en_160.json, SmolLM2 r=16 on all 7 projections, same thread count, in one
# run on this machine; prints both and the ratios.
#   bash scripts/bench_train.sh [b×L ...]     default: 4x256 1x1024
# Each shape runs in fp32 (TuneLab's default, OpenBLAS; PyTorch fp32) and in bf16 compute (TuneLab
# --compute-dtype bf16, oneDNN; PyTorch under CPU autocast to bfloat16). DTYPES="fp32" or "bf16"
# runs one of them. The ratios are printed against PyTorch fp32 (the issue's reference) and against
# PyTorch's bf16 autocast.
# Needs the reference venv (bash scripts/make_references.sh creates scripts/.venv) or PYTHON=...
source "$(dirname "$0")/bench_env.sh"
STEPS=${STEPS:-3}
DTYPES=${DTYPES:-fp32 bf16}
shapes=("$@"); [ ${#shapes[@]} -gt 0 ] || shapes=(4x256 1x1024)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# The machine is shared and noisy: each configuration runs ROUNDS times, interleaved, and the medians
# are compared (every round's numbers are printed too).
ROUNDS=${ROUNDS:-3}
for s in "${shapes[@]}"; do
    b=${s%x*}; l=${s#*x}
    : > "$tmp/runs.jsonl"
    for r in $(seq "$ROUNDS"); do
        for d in $DTYPES; do
            ours=$("$bin" bench train --json --threads "$THREADS" --batch-size "$b" --seq-len "$l" --steps "$STEPS" --warmup 1 \
                --compute-dtype "$d" --write-batches "$tmp/batches.json")
            flag=; [ "$d" = bf16 ] && flag=--autocast-bf16
            ref=$("$PY" scripts/bench_torch_train.py --batches "$tmp/batches.json" --threads "$THREADS" --steps "$STEPS" \
                --warmup 1 $flag 2>/dev/null | tail -1)
            printf '{"side":"tunelab","dtype":"%s","round":%d,"r":%s}\n{"side":"pytorch","dtype":"%s","round":%d,"r":%s}\n' \
                "$d" "$r" "$ours" "$d" "$r" "$ref" >> "$tmp/runs.jsonl"
        done
    done
    python3 - "$s" "$tmp/runs.jsonl" <<'PY'
import json, statistics, sys
s, path = sys.argv[1], sys.argv[2]
runs = [json.loads(l) for l in open(path)]
def pick(side, dtype): return [x["r"] for x in runs if x["side"] == side and x["dtype"] == dtype]
med = lambda xs, k: statistics.median(x[k] for x in xs)
dtypes = sorted({x["dtype"] for x in runs}, key=["fp32", "bf16"].index)
res = {}
for d in dtypes:
    ours, ref = pick("tunelab", d), pick("pytorch", d)
    for i, (o, r) in enumerate(zip(ours, ref)):
        print(f"  {d} round {i + 1}: tunelab {o['tokens_per_s']:.1f} tok/s, pytorch+peft {r['tokens_per_s']:.1f} tok/s")
    res[d] = (med(ours, "tokens_per_s"), med(ref, "tokens_per_s"), med(ours, "peak_rss_mb"), med(ref, "peak_rss_mb"),
              ours[0]["gflop_per_token"])
torch_name = {"fp32": "pytorch+peft fp32", "bf16": "pytorch+peft bf16 autocast"}
base = res.get("fp32")
for d, (o, r, orss, rrss, gpt) in res.items():
    line = (f"b{s} {d} (medians of {len(pick('tunelab', d))}): tunelab {o:.1f} tok/s ({o * gpt:.0f} GFLOP/s, {gpt:.2f} GFLOP/token),"
            f" peak RSS {orss:.0f} MB | {torch_name[d]} {r:.1f} tok/s, peak RSS {rrss:.0f} MB | ratio {o / r:.2f}x speed, {orss / rrss:.2f}x RSS")
    if d == "bf16" and base:
        line += f" | vs pytorch fp32: {o / base[1]:.2f}x speed, {orss / base[3]:.2f}x RSS"
    print(line)
first = pick("tunelab", dtypes[0])[0]
print(f"  tunelab BLAS: {first.get('blas', '?')}")
if "bf16" in dtypes: print(f"  tunelab bf16: {pick('tunelab', 'bf16')[0].get('bf16', '?')}")
PY
done
