#!/usr/bin/env bash
# DPO benchmark: `tunelab train --method dpo` against PyTorch + PEFT running TRL's formula
# (scripts/bench_torch_dpo.py) on the same pairs, in one run on this machine, interleaved.
#   bash scripts/bench_dpo.sh            (ROUNDS=2 PAIRS=32 MAX_LENGTH=256 BATCH=2 ACCUM=2 THREADS=2
#                                         DTYPES="fp32 bf16")
# Per dtype: TuneLab --compute-dtype fp32 | bf16 against PyTorch fp32 eager, and TuneLab bf16
# also against PyTorch under bf16 autocast (its CPU bf16 mode), all interleaved per round.
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
DTYPES=${DTYPES:-fp32 bf16}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; threads $THREADS"
: > "$tmp/runs.jsonl"
for r in $(seq "$ROUNDS"); do
    for d in $DTYPES; do
        ours=$("$bin" train --method dpo --no-record --json --model default --data "$DATA" --split "train[0:$PAIRS]" \
            --max-length "$MAX_LENGTH" --max-prompt-length 64 --batch-size "$BATCH" --grad-accum "$ACCUM" --max-steps 0 \
            --epochs 1 --val-fraction 0 --save-every 0 --no-plot --r 16 --lora-alpha 16 --warmup-steps 0 --lr 5e-6 \
            --compute-dtype "$d" --threads "$THREADS" --out "$tmp/dpo-$r-$d")
        printf '{"side":"tunelab-%s","r":%s}\n' "$d" "$ours" >> "$tmp/runs.jsonl"
    done
    for ac in fp32 $([[ " $DTYPES " == *" bf16 "* ]] && echo bf16); do
        flag=(); [ "$ac" = bf16 ] && flag=(--autocast-bf16)
        ref=$("$PY" scripts/bench_torch_dpo.py --data "$DATA" --end "$PAIRS" --max-length "$MAX_LENGTH" --max-prompt-length 64 \
            --batch-size "$BATCH" --grad-accum "$ACCUM" --threads "$THREADS" "${flag[@]}" 2>/dev/null | tail -1)
        printf '{"side":"pytorch-%s","r":%s}\n' "$ac" "$ref" >> "$tmp/runs.jsonl"
    done
done
python3 - "$tmp/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
sides = {}
for x in runs: sides.setdefault(x["side"], []).append(x["r"])
for side, rs in sides.items():
    print(f"{side}: " + ", ".join(f"{r['tokens_per_s']:.1f}" for r in rs) + " tok/s"
          + f" ({rs[0]['tokens']} tokens, {len(rs[0].get('loss', rs[0].get('losses', [])))} steps)")
med = {s: statistics.median(r["tokens_per_s"] for r in rs) for s, rs in sides.items()}
for ours, ref in [("tunelab-fp32", "pytorch-fp32"), ("tunelab-bf16", "pytorch-fp32"), ("tunelab-bf16", "pytorch-bf16")]:
    if ours in med and ref in med:
        print(f"DPO medians of {len(sides[ours])}: {ours} {med[ours]:.1f} tok/s | {ref} (PyTorch + PEFT"
              f"{' bf16 autocast' if ref.endswith('bf16') else ' fp32 eager'}) {med[ref]:.1f} tok/s | ratio {med[ours] / med[ref]:.2f}x")
first = sides.get("tunelab-fp32", next(iter(sides.values())))[0]
ref = sides["pytorch-fp32"][0]
print(f"first-step losses: tunelab {first['loss'][0]:.6f}, pytorch {ref['losses'][0]:.6f} (both log 2 = 0.693147 for a fresh adapter)")
PY
