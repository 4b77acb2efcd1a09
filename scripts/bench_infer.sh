#!/usr/bin/env bash
# Inference benchmark: TuneLab and the PyTorch eager reference, same model, same prompt ids,
# same thread count, in one run on this machine; prints both and the ratios.
# Needs the reference venv (bash scripts/make_references.sh creates scripts/.venv) or PYTHON=...
source "$(dirname "$0")/bench_env.sh"
IDS=Tests/Fixtures/smollm2/bench_prompt_ids.json
ours=$("$bin" bench infer --json --threads "$THREADS" --prompt-ids "$IDS" --prompt-tokens 512 --new-tokens 128)
fp32=$("$bin" bench infer --json --threads "$THREADS" --prompt-ids "$IDS" --prompt-tokens 512 --new-tokens 128 --dequant-at-load)
ref=$("$PY" scripts/bench_torch_infer.py --threads "$THREADS" --prompt-tokens 512 --new-tokens 128 | tail -1)
python3 - "$ours" "$fp32" "$ref" <<'PY'
import json, sys
o, f, r = (json.loads(a) for a in sys.argv[1:4])
print(f"tunelab (quantised weights): prompt {o['prompt_tok_s']:.1f} tok/s  decode {o['decode_tok_s']:.1f} tok/s  peak RSS {o['peak_rss_mb']:.0f} MB")
print(f"tunelab (fp32 at load):      prompt {f['prompt_tok_s']:.1f} tok/s  decode {f['decode_tok_s']:.1f} tok/s  peak RSS {f['peak_rss_mb']:.0f} MB")
print(f"pytorch eager fp32:          prompt {r['prompt_tok_s']:.1f} tok/s  decode {r['decode_tok_s']:.1f} tok/s  peak RSS {r['peak_rss_mb']:.0f} MB")
print(f"ratio vs pytorch: prompt {o['prompt_tok_s']/r['prompt_tok_s']:.2f}x  decode {o['decode_tok_s']/r['decode_tok_s']:.2f}x  RSS {o['peak_rss_mb']/r['peak_rss_mb']:.2f}x")
PY
