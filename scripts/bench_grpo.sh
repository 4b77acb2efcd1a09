#!/usr/bin/env bash
# GRPO benchmark: where a step's time goes (sampling the completions, scoring them, training on
# them) and what batched decoding buys, in one run on this machine, interleaved.
#   bash scripts/bench_grpo.sh            (ROUNDS=2 STEPS=2 GENERATIONS=8 LENGTH=128 THREADS=2)
# Both variants: `tunelab train --method grpo` on SmolLM2-135M (Q4_1 GGUF), r=16 on all 7
# projections, one MedQA-style prompt of ../shared/data/medical_o1_en_160.json per step (chat
# template), GENERATIONS completions of at most LENGTH tokens each at temperature 1, rewards
# think_format + answer_match, loss dapo, micro-batches of 4 completions. The one difference:
# --generation-batch 0 (all of a step's completions decoded together) or 1 (one at a time). The
# sampled completions are the same either way (checked here); only the time differs.
# Generation throughput = generated tokens (end tokens included) / sampling time (prefill included).
source "$(dirname "$0")/bench_env.sh"
ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-2}
GENERATIONS=${GENERATIONS:-8}
LENGTH=${LENGTH:-128}
DATA=../shared/data/medical_o1_en_160.json
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; threads $THREADS"
: > "$tmp/runs.jsonl"
for r in $(seq "$ROUNDS"); do
    for gb in 0 1; do
        out=$("$bin" train --method grpo --db "$tmp/r.sqlite" --json --model default --data "$DATA" --split "train[0:16]" \
            --num-generations "$GENERATIONS" --batch-size 4 --grad-accum $((GENERATIONS / 4)) --max-completion-length "$LENGTH" \
            --max-steps "$STEPS" --r 16 --lora-alpha 16 --lr 1e-5 --save-every 0 --no-plot --generation-batch "$gb" \
            --threads "$THREADS" --out "$tmp/g-$r-$gb")
        printf '{"batch":%s,"r":%s}\n' "$gb" "$out" >> "$tmp/runs.jsonl"
    done
done
python3 - "$tmp/runs.jsonl" "$tmp/r.sqlite" <<'PY'
import json, sqlite3, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
db = sqlite3.connect(sys.argv[2])
def comps(run):
    return db.execute("SELECT completion_ids FROM completions c JOIN cell_executions e ON e.id = c.cell_id "
                      "WHERE e.run_id = ? ORDER BY c.id", (run,)).fetchall()
same = all(comps(x["r"]["run"]) == comps(runs[0]["r"]["run"]) for x in runs)
def row(x):
    r = x["r"]; steps = len(r["loss"])
    return {"batched": x["batch"] == 0, "tokens": r["generated_tokens"], "sampling": r["sampling_seconds"] / steps,
            "reward": r["reward_seconds"] / steps, "training": r["training_seconds"] / steps,
            "tok_s": r["generated_tokens"] / r["sampling_seconds"]}
rows = [row(x) for x in runs]
for i, x in enumerate(rows):
    print(f"run {i + 1} ({'batched' if x['batched'] else 'one at a time'}): per step sampling {x['sampling']:.1f} s, "
          f"rewards {x['reward'] * 1000:.1f} ms, training {x['training']:.1f} s; {x['tokens']} tokens generated, {x['tok_s']:.1f} tok/s")
for b in (True, False):
    xs = [x for x in rows if x["batched"] == b]
    med = lambda k: statistics.median(x[k] for x in xs)
    print(f"{'batched      ' if b else 'one at a time'} medians of {len(xs)}: per step sampling {med('sampling'):.1f} s + training "
          f"{med('training'):.1f} s (sampling {100 * med('sampling') / (med('sampling') + med('training')):.0f}%), "
          f"generation {med('tok_s'):.1f} tok/s")
b = statistics.median(x["tok_s"] for x in rows if x["batched"]); o = statistics.median(x["tok_s"] for x in rows if not x["batched"])
print(f"batched / one at a time generation throughput: {b / o:.2f}x; completions identical in every run: {same}")
PY
