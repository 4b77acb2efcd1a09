#!/usr/bin/env bash
# Text-metric benchmark: `tunelab metrics` (1 thread and $THREADS threads, jieba load included) and the
# Python reference (LLaMA-Factory's ComputeSimilarity loop: jieba 0.42.1 + rouge-chinese 1.0.3 +
# nltk 3.9.1, one process) on the same N generated pairs (default 10,000), in one run; checks that
# both print the same four means and prints the times and ratios.
# Needs the reference venv (bash scripts/make_references.sh creates scripts/.venv) or PYTHON=...,
# and jieba's data (bash scripts/setup.sh).
source "$(dirname "$0")/bench_env.sh"
N=${N:-10000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" scripts/bench_metrics_reference.py pairs "$N" "$tmp"
P=$tmp/predictions.jsonl R=$tmp/references.jsonl
seconds() { local t0=$EPOCHREALTIME; "$@" >"$tmp/out"; python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$EPOCHREALTIME"; }
t1=$(seconds "$bin" metrics --json --threads 1 --predictions "$P" --references "$R"); ours1=$(cat "$tmp/out")
tn=$(seconds "$bin" metrics --json --threads "$THREADS" --predictions "$P" --references "$R"); oursn=$(cat "$tmp/out")
tp=$(seconds "$PY" scripts/bench_metrics_reference.py score "$P" "$R" 2>/dev/null); ref=$(cat "$tmp/out")
python3 - "$N" "$THREADS" "$t1" "$tn" "$tp" "$ours1" "$oursn" "$ref" <<'PY'
import json, sys
n, threads = int(sys.argv[1]), int(sys.argv[2])
t1, tn, tp = (float(x) for x in sys.argv[3:6])
o1, on, r = (json.loads(x) for x in sys.argv[6:9])
same = o1 == r and on == r
print(f"{n} pairs; means {'identical' if same else 'DIFFER'}: tunelab {o1}" + ("" if same else f" / {on} vs python {r}"))
print(f"tunelab metrics, 1 thread:        {t1:7.2f} s  ({n / t1:8.0f} pairs/s)")
print(f"tunelab metrics, {threads} threads:       {tn:7.2f} s  ({n / tn:8.0f} pairs/s)")
print(f"python (LLaMA-Factory loop, 1 process): {tp:7.2f} s  ({n / tp:8.0f} pairs/s)")
print(f"speed-up vs python: {tp / t1:.1f}x (1 thread), {tp / tn:.1f}x ({threads} threads)")
sys.exit(0 if same else 1)
PY
