#!/usr/bin/env python3
"""PyTorch + PEFT float32 eager reference for the TuneLab training benchmark (`tunelab bench train`).

Model: models/SmolLM2-135M-Instruct.Q4_1.gguf loaded by transformers (dequantised to float32 at load),
eager attention, CPU, model.train(), torch.set_num_threads(--threads), set_num_interop_threads(1).
Adapter: PEFT LoraConfig(r=--r, lora_alpha=--alpha, lora_dropout=0, bias="none", target_modules from
--targets; PEFT's default init). Optimiser: torch.optim.AdamW(LoRA parameters, lr=--lr) with torch's other
defaults, constant lr, no clipping. Optional --grad-checkpointing (non-reentrant, PEFT input grads enabled).
Optional --autocast-bf16: forward under torch.autocast("cpu", dtype=torch.bfloat16) (products in bf16 with
fp32 accumulation, weights and LoRA parameters stay fp32) -- the counterpart of TuneLab's --compute-dtype bf16.

Batches (one of):
  --batches FILE        JSON {"sequences":[{"ids":[...],"labels":[...]}], "batch_size": B} (as written by the
                        Swift side). Consecutive groups of B sequences form one micro-batch; the sequences of a
                        micro-batch must have the same length (no padding). Labels are unshifted (HF convention,
                        -100 = not trained). Used in order, cycling if there are fewer than warmup + steps * accum.
  --random-batches B,L  seeded random ids uniform in [0, vocab), labels = ids (standalone use).

One optimiser step = --grad-accum micro-batches (default 1), each forward + backward with HF's default loss
(mean cross-entropy over the micro-batch's trained tokens, divided by --grad-accum), then optimizer.step()
and zero_grad(). --warmup untimed steps run first, then --steps timed ones; each timed step is
wall-clock from its first forward to the end of zero_grad().

Prints ONE JSON line at the end:
  tokens_per_s          input tokens (all ids of the timed steps' micro-batches) / total timed seconds
  trained_tokens_per_s  positions with a loss term (labels[t+1] != -100) / total timed seconds
  peak_rss_mb           resource.getrusage(RUSAGE_SELF).ru_maxrss / 1024 (whole process, includes loading)
  step_seconds, losses, batch_size, seq_len, grad_accum, threads, r, alpha, targets, grad_checkpointing,
  trainable_params, torch, transformers, peft
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
TARGET_NAMES = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
                "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}


def parse_targets(s):
    out = []
    for t in s.split(","):
        t = t.strip().lower()
        name = TARGET_NAMES.get(t, t)
        if name not in TARGET_NAMES.values():
            raise SystemExit(f"--targets: unknown module {t!r} (use q,k,v,o,gate,up,down)")
        if name not in out:
            out.append(name)
    if not out:
        raise SystemExit("--targets: empty")
    return out


def load_batches(path):
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"{path}: cannot read batches: {e}")
    seqs, b = d.get("sequences"), d.get("batch_size")
    if not isinstance(seqs, list) or not isinstance(b, int) or b < 1:
        raise SystemExit(f"{path}: need {{\"sequences\": [...], \"batch_size\": B >= 1}}")
    if len(seqs) < b or len(seqs) % b:
        raise SystemExit(f"{path}: {len(seqs)} sequences is not a positive multiple of batch_size {b}")
    batches = []
    for g in range(0, len(seqs), b):
        group = seqs[g:g + b]
        for j, s in enumerate(group):
            if len(s.get("ids", [])) != len(s.get("labels", [])) or len(s["ids"]) < 2:
                raise SystemExit(f"{path}: sequences[{g + j}]: ids and labels must have the same length >= 2")
            if len(s["ids"]) != len(group[0]["ids"]):
                raise SystemExit(f"{path}: sequences[{g + j}] has {len(s['ids'])} tokens, its micro-batch starts with "
                                 f"{len(group[0]['ids'])} (no padding: a micro-batch needs equal lengths)")
        batches.append((torch.tensor([s["ids"] for s in group]), torch.tensor([s["labels"] for s in group])))
    return batches


def random_batches(spec, count, vocab, seed):
    try:
        b, l = (int(x) for x in spec.split(","))
    except ValueError:
        raise SystemExit(f"--random-batches: expected B,L (e.g. 4,256), got {spec!r}")
    if b < 1 or l < 2:
        raise SystemExit("--random-batches: need B >= 1 and L >= 2")
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        ids = torch.randint(0, vocab, (b, l), generator=g)
        out.append((ids, ids.clone()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="GGUF file (default: models/SmolLM2-135M-Instruct.Q4_1.gguf)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--batches", metavar="FILE")
    src.add_argument("--random-batches", metavar="B,L")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed optimiser steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed optimiser steps before timing")
    ap.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimiser step")
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--targets", default="q,k,v,o,gate,up,down")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--grad-checkpointing", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--autocast-bf16", action="store_true")
    args = ap.parse_args()
    if min(args.threads, args.steps, args.grad_accum, args.r) < 1 or args.warmup < 0:
        raise SystemExit("--threads, --steps, --grad-accum and --r must be >= 1, --warmup >= 0")
    if not os.path.exists(args.model):
        raise SystemExit(f"{args.model}: missing (run scripts/setup.sh to fetch it)")
    targets = parse_targets(args.targets)

    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass

    folder, name = os.path.split(os.path.abspath(args.model))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.config.use_cache = False
    if args.grad_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=args.r, lora_alpha=args.alpha, lora_dropout=0.0, bias="none",
                                             target_modules=targets, task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr)

    need = (args.warmup + args.steps) * args.grad_accum
    if args.batches:
        batches = load_batches(args.batches)
    else:
        batches = random_batches(args.random_batches, need, model.config.vocab_size, args.seed)
    vocab = model.config.vocab_size
    for ids, _ in batches:
        if int(ids.min()) < 0 or int(ids.max()) >= vocab:
            raise SystemExit(f"batches: token id out of range [0, {vocab})")

    def step(k):
        """One optimiser step over micro-batches k*accum ... (cycling); returns (seconds, loss, tokens, trained)."""
        t0 = time.perf_counter()
        total, tokens, trained = 0.0, 0, 0
        for j in range(args.grad_accum):
            ids, labels = batches[(k * args.grad_accum + j) % len(batches)]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast_bf16):
                loss = model(input_ids=ids, labels=labels, use_cache=False).loss
            (loss / args.grad_accum).backward()
            total += loss.item() / args.grad_accum
            tokens += ids.numel()
            trained += int((labels[:, 1:] != -100).sum())
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0, total, tokens, trained

    for k in range(args.warmup):
        step(k)
    secs, losses, tokens, trained = [], [], 0, 0
    for k in range(args.warmup, args.warmup + args.steps):
        s, l, n, m = step(k)
        secs.append(s)
        losses.append(l)
        tokens += n
        trained += m
    wall = sum(secs)
    b, seq_len = batches[0][0].shape
    lengths = sorted({int(x[0].shape[1]) for x in batches})
    print(json.dumps({
        "tokens_per_s": tokens / wall,
        "trained_tokens_per_s": trained / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "step_seconds": secs,
        "median_step_seconds": statistics.median(secs),
        "losses": losses,
        "batch_size": int(b),
        "seq_len": int(seq_len) if len(lengths) == 1 else lengths,
        "grad_accum": args.grad_accum,
        "warmup": args.warmup,
        "steps": args.steps,
        "threads": args.threads,
        "r": args.r,
        "alpha": args.alpha,
        "targets": targets,
        "grad_checkpointing": args.grad_checkpointing,
        "autocast_bf16": args.autocast_bf16,
        "trainable_params": sum(p.numel() for p in params),
        "batches": args.batches or f"random {args.random_batches} seed {args.seed}",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }))


if __name__ == "__main__":
    sys.exit(main())
