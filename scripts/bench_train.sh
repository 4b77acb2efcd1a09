#!/usr/bin/env bash
# Training benchmark: TuneLab and PyTorch + PEFT (fp32 eager) on the same fixed-length batches
# cut from ../shared/data/medical_o1_en_160.json, SmolLM2 r=16 on all 7 projections, same
# thread count, in one run on this machine; prints both and the ratios.
#   bash scripts/bench_train.sh [b×L ...]     default: 4x256 1x1024
# Needs the reference venv (bash scripts/make_references.sh creates scripts/.venv) or PYTHON=...
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
PY=${PYTHON:-scripts/.venv/bin/python}
[ -x "$PY" ] || PY=/opt/refvenv/bin/python
THREADS=${THREADS:-2}
STEPS=${STEPS:-3}
shapes=("$@"); [ ${#shapes[@]} -gt 0 ] || shapes=(4x256 1x1024)
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)/tunelab
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for s in "${shapes[@]}"; do
    b=${s%x*}; l=${s#*x}
    ours=$("$bin" bench train --json --threads "$THREADS" --batch-size "$b" --seq-len "$l" --steps "$STEPS" --warmup 1 \
        --write-batches "$tmp/batches.json")
    ref=$("$PY" scripts/bench_torch_train.py --batches "$tmp/batches.json" --threads "$THREADS" --steps "$STEPS" --warmup 1 | tail -1)
    python3 - "$s" "$ours" "$ref" <<'PY'
import json, sys
s, o, r = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"b{s}: tunelab {o['tokens_per_s']:.1f} tok/s ({o['gflop_s']:.0f} GFLOP/s, {o['gflop_per_token']:.2f} GFLOP/token), peak RSS {o['peak_rss_mb']:.0f} MB"
      f" | pytorch+peft {r['tokens_per_s']:.1f} tok/s, peak RSS {r['peak_rss_mb']:.0f} MB"
      f" | ratio {o['tokens_per_s']/r['tokens_per_s']:.2f}x speed, {o['peak_rss_mb']/r['peak_rss_mb']:.2f}x RSS")
PY
done
