#!/usr/bin/env python3
"""PyTorch eager float32 reference for the TuneLab inference benchmark (SmolLM2-135M-Instruct Q4_1 GGUF).

Model: loaded by transformers from the GGUF, dequantised to float32 at load, eager attention, CPU,
torch.set_num_threads(--threads) (default 2), torch.inference_mode().

Prompt (reproducible without Python; the ids are also stored in Tests/Fixtures/smollm2/bench_prompt_ids.json):
  1. P = tokenizer(PARAGRAPH, add_special_tokens=False).input_ids   (SmolLM2 adds no special tokens;
     PARAGRAPH is the constant below, exactly, no trailing newline)
  2. prompt = (P repeated end to end)[:N]  for N = --prompt-tokens (default 512); no BOS, no chat template.

Measured:
  prompt_tok_s  N / wall time of ONE forward over the N prompt ids (use_cache=True, which fills the KV cache)
  decode_tok_s  M / wall time of M single-token forwards with the KV cache (M = --new-tokens, default 128):
                the first new token is the argmax of the prefill's last logits; each timed step feeds the
                previous token and takes the argmax (greedy) - only this loop is timed
  peak_rss_mb   resource.getrusage(RUSAGE_SELF).ru_maxrss / 1024 (whole process, includes loading)
A warm-up (one 16-token forward plus 2 cached steps) runs before timing. The prefill + decode pair is
repeated --repeats times (default 3, each with a fresh cache) and the medians are reported, as the Swift
`tunelab bench infer` does.

Prints ONE JSON line: {"prompt_tok_s", "decode_tok_s", "peak_rss_mb", "torch", "threads", ...}.
With N == 512 and the default model it (re)writes Tests/Fixtures/smollm2/bench_prompt_ids.json, a plain
JSON array of the 512 ids (unless --no-write-ids).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEFAULT_MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
IDS_FIXTURE = os.path.join(ROOT, "Tests", "Fixtures", "smollm2", "bench_prompt_ids.json")

PARAGRAPH = (
    "A nurse checks the patient's temperature, pulse and blood pressure every four hours and writes the values "
    "on the chart at the foot of the bed. When a reading falls outside the expected range, she repeats it, informs "
    "the doctor on call and notes the time. Most changes turn out to be harmless, but a rising pulse with a falling "
    "blood pressure can be the first sign of bleeding or infection, so it is never ignored."
)


def build_prompt(tok, n):
    para = tok(PARAGRAPH, add_special_tokens=False).input_ids
    reps = -(-n // len(para))
    return para, (para * reps)[:n]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="GGUF file (default: models/SmolLM2-135M-Instruct.Q4_1.gguf)")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="prefill+decode repetitions; medians reported")
    ap.add_argument("--no-write-ids", action="store_true", help="do not (re)write the bench_prompt_ids.json fixture")
    args = ap.parse_args()
    if min(args.prompt_tokens, args.new_tokens, args.threads, args.repeats) < 1:
        raise SystemExit("--prompt-tokens, --new-tokens, --threads and --repeats must be >= 1")
    if not os.path.exists(args.model):
        raise SystemExit(f"{args.model}: missing (run scripts/setup.sh to fetch it)")

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    folder, name = os.path.split(os.path.abspath(args.model))
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()

    para, ids = build_prompt(tok, args.prompt_tokens)
    if (args.prompt_tokens == 512 and not args.no_write_ids
            and os.path.abspath(args.model) == os.path.abspath(DEFAULT_MODEL)):
        text = json.dumps(ids) + "\n"      # a plain array: `tunelab bench infer --prompt-ids` reads it
        old = open(IDS_FIXTURE, encoding="utf-8").read() if os.path.exists(IDS_FIXTURE) else None
        if old != text:
            os.makedirs(os.path.dirname(IDS_FIXTURE), exist_ok=True)
            with open(IDS_FIXTURE, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(IDS_FIXTURE, ROOT)}", file=sys.stderr)

    with torch.inference_mode():
        # Warm-up: first-call allocations and kernel selection stay out of the timings.
        w = model(input_ids=torch.tensor([ids[:16]]), use_cache=True)
        for _ in range(2):
            w = model(input_ids=torch.tensor([[int(w.logits[0, -1].argmax())]]),
                      past_key_values=w.past_key_values, use_cache=True)
        del w

        prompt_times, decode_times = [], []
        for _ in range(args.repeats):
            x = torch.tensor([ids])
            t0 = time.perf_counter()
            out = model(input_ids=x, use_cache=True)
            prompt_times.append(time.perf_counter() - t0)

            cache = out.past_key_values
            nxt = int(out.logits[0, -1].argmax())
            generated = [nxt]
            t0 = time.perf_counter()
            for _ in range(args.new_tokens):
                out = model(input_ids=torch.tensor([[nxt]]), past_key_values=cache, use_cache=True)
                cache = out.past_key_values
                nxt = int(out.logits[0, -1].argmax())
                generated.append(nxt)
            decode_times.append(time.perf_counter() - t0)
            del out, cache
    t_prompt = statistics.median(prompt_times)
    t_decode = statistics.median(decode_times)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        "prompt_tok_s": round(args.prompt_tokens / t_prompt, 2),
        "decode_tok_s": round(args.new_tokens / t_decode, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "torch": torch.__version__,
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "repeats": args.repeats,
        "prompt_s": [round(t, 4) for t in prompt_times],
        "decode_s": [round(t, 4) for t in decode_times],
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "model": os.path.relpath(os.path.abspath(args.model), ROOT),
        "first_new_ids": generated[:8],
    }))


if __name__ == "__main__":
    main()
