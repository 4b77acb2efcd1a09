#!/usr/bin/env bash
# Training benchmark: TuneLab and PyTorch + PEFT (fp32 eager) on the same fixed-length batches
# cut from ../shared/data/medical_o1_en_160.json, SmolLM2 r=16 on all 7 projections, same
# thread count, in one run on this machine; prints both and the ratios.
#   bash scripts/bench_train.sh [b×L ...]     default: 4x256 1x1024
# Needs the reference venv (bash scripts/make_references.sh creates scripts/.venv) or PYTHON=...
source "$(dirname "$0")/bench_env.sh"
STEPS=${STEPS:-3}
shapes=("$@"); [ ${#shapes[@]} -gt 0 ] || shapes=(4x256 1x1024)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# The machine is shared and noisy: each side runs ROUNDS times, alternating, and the medians
# are compared (every round's numbers are printed too).
ROUNDS=${ROUNDS:-3}
for s in "${shapes[@]}"; do
    b=${s%x*}; l=${s#*x}
    rounds=()
    for r in $(seq "$ROUNDS"); do
        ours=$("$bin" bench train --json --threads "$THREADS" --batch-size "$b" --seq-len "$l" --steps "$STEPS" --warmup 1 \
            --write-batches "$tmp/batches.json")
        ref=$("$PY" scripts/bench_torch_train.py --batches "$tmp/batches.json" --threads "$THREADS" --steps "$STEPS" --warmup 1 | tail -1)
        rounds+=("$ours" "$ref")
    done
    python3 - "$s" "${rounds[@]}" <<'PY'
import json, statistics, sys
s, runs = sys.argv[1], [json.loads(a) for a in sys.argv[2:]]
ours, ref = runs[0::2], runs[1::2]
for i, (o, r) in enumerate(zip(ours, ref)):
    print(f"  round {i + 1}: tunelab {o['tokens_per_s']:.1f} tok/s, pytorch+peft {r['tokens_per_s']:.1f} tok/s")
med = lambda xs, k: statistics.median(x[k] for x in xs)
o_tps, r_tps = med(ours, 'tokens_per_s'), med(ref, 'tokens_per_s')
o_rss, r_rss = med(ours, 'peak_rss_mb'), med(ref, 'peak_rss_mb')
gpt = ours[0]['gflop_per_token']
print(f"b{s} (medians of {len(ours)}): tunelab {o_tps:.1f} tok/s ({o_tps * gpt:.0f} GFLOP/s, {gpt:.2f} GFLOP/token), peak RSS {o_rss:.0f} MB"
      f" | pytorch+peft {r_tps:.1f} tok/s, peak RSS {r_rss:.0f} MB"
      f" | ratio {o_tps / r_tps:.2f}x speed, {o_rss / r_rss:.2f}x RSS")
print(f"  tunelab BLAS: {ours[0].get('blas', '?')}")
PY
done
