#!/usr/bin/env bash
# DPO benchmark: `tunelab train --method dpo` against PyTorch + PEFT running TRL's formula
# (scripts/bench_torch_dpo.py) on the same pairs, in one run on this machine, interleaved.
#   bash scripts/bench_dpo.sh            (ROUNDS=2 PAIRS=32 MAX_LENGTH=256 BATCH=2 ACCUM=2 THREADS=2)
# Both sides: SmolLM2-135M (Q4_1 GGUF; PyTorch dequantises it to fp32), r=16 on all 7 projections,
# pairs 0..PAIRS of ../shared/data/human_like_dpo_972.json with the chat template, one epoch
# (every pair once: its reference forward, its policy forward + backward), sigmoid loss, β 0.1.
# tokens/s = real tokens of the policy's sequences (both sides of each pair, no padding) over the
# summed step times. Needs the reference venv (scripts/.venv, or PYTHON=...).
source "$(dirname "$0")/bench_env.sh"
ROUNDS=${ROUNDS:-2}
PAIRS=${PAIRS:-32}
MAX_LENGTH=${MAX_LENGTH:-256}
BATCH=${BATCH:-2}
ACCUM=${ACCUM:-2}
DATA=../shared/data/human_like_dpo_972.json
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; threads $THREADS"
: > "$tmp/runs.jsonl"
for r in $(seq "$ROUNDS"); do
    ours=$("$bin" train --method dpo --no-record --json --model default --data "$DATA" --split "train[0:$PAIRS]" \
        --max-length "$MAX_LENGTH" --max-prompt-length 64 --batch-size "$BATCH" --grad-accum "$ACCUM" --max-steps 0 \
        --epochs 1 --val-fraction 0 --save-every 0 --no-plot --r 16 --lora-alpha 16 --warmup-steps 0 --lr 5e-6 \
        --threads "$THREADS" --out "$tmp/dpo-$r")
    ref=$("$PY" scripts/bench_torch_dpo.py --data "$DATA" --end "$PAIRS" --max-length "$MAX_LENGTH" --max-prompt-length 64 \
        --batch-size "$BATCH" --grad-accum "$ACCUM" --threads "$THREADS" 2>/dev/null | tail -1)
    printf '{"side":"tunelab","r":%s}\n{"side":"pytorch","r":%s}\n' "$ours" "$ref" >> "$tmp/runs.jsonl"
done
python3 - "$tmp/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
ours = [x["r"] for x in runs if x["side"] == "tunelab"]
ref = [x["r"] for x in runs if x["side"] == "pytorch"]
for i, (o, r) in enumerate(zip(ours, ref)):
    print(f"round {i + 1}: tunelab {o['tokens_per_s']:.1f} tok/s ({o['tokens']} tokens, {len(o['loss'])} steps), "
          f"pytorch+peft {r['tokens_per_s']:.1f} tok/s ({r['tokens']} tokens, {r['steps']} steps)")
o = statistics.median(x["tokens_per_s"] for x in ours); r = statistics.median(x["tokens_per_s"] for x in ref)
print(f"DPO medians of {len(ours)}: tunelab {o:.1f} tok/s | pytorch+peft fp32 {r:.1f} tok/s | ratio {o / r:.2f}x")
print(f"first-step losses: tunelab {ours[0]['loss'][0]:.6f}, pytorch {ref[0]['losses'][0]:.6f} (both log 2 = 0.693147 for a fresh adapter)")
PY
