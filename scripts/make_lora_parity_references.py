#!/usr/bin/env python3
"""LoRA training parity references (PyTorch + PEFT) for the Swift trainer.

Writes Tests/Fixtures/lora_parity/ (relative to the repository root):

  adapter_config.json          PEFT LoraConfig(r=2, lora_alpha=4, lora_dropout=0, bias="none",
                               target_modules q,k,v,o,gate,up,down _proj), as PEFT's save_pretrained writes it
  adapter_model.safetensors    the starting adapter, F16, PEFT names
                               base_model.model.model.layers.{i}.{self_attn|mlp}.{x}_proj.lora_{A,B}.weight
                               (A [r, in], B [out, r]); A = kaiming-uniform U(-1/sqrt(in), 1/sqrt(in)),
                               B = N(0, 0.01^2) (not PEFT's zero, so both get gradients), both seeded and
                               rounded to float16 - the float32 model below uses exactly these values
  batch.json                   {"sequences":[{"row","ids","labels"}]}: 2 examples of
                               notebooks/data/medical-cot-sample.jsonl formatted with
                               notebooks/templates/medical-cot.txt exactly as the Dataset module builds them
                               (see make_dataset_references.py), max_seq_length 192. labels are unshifted
                               (HF convention): the loss at position t predicts labels[t+1].
  grads.safetensors            float32 gradient of the loss w.r.t. every lora_A / lora_B (same names, same shapes)
  steps.json                   10 AdamW steps on the same batch: per step loss (before the update), grad norm
                               (before clipping), lr used; then the loss after the last update
  meta.json                    loss, trained tokens, per-tensor grad norms, float32-vs-float64 spread, versions, settings

Loss: cross-entropy of logits[t] against labels[t+1] over positions whose label is not -100, SUMMED over
both sequences and divided by the total number of such positions in the step. Each sequence is run on its
own (batch of 1, no padding, positions from 0).

Model: models/SmolLM2-135M-Instruct.Q4_1.gguf loaded by transformers (dequantised to float32, eager
attention), model.eval() (no dropout anywhere), CPU, 1 thread, deterministic algorithms.

Usage: /opt/refvenv/bin/python scripts/make_lora_parity_references.py
"""
import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from transformers import get_linear_schedule_with_warmup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_dataset_references import load_template  # noqa: E402  (same template split as the Dataset module)
from make_model_references import setup_determinism, versions, write_json  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "lora_parity")
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
DATA = os.path.join(ROOT, "notebooks", "data", "medical-cot-sample.jsonl")
SCRIPT = "scripts/make_lora_parity_references.py"

RANK, ALPHA = 2, 4
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ROWS = [23, 4]          # 127 tokens; 196 tokens truncated to 192 (EOS cut off)
MAX_SEQ_LENGTH = 192
INIT_SEED = 1234
B_STD = 0.01
STEPS = 10
OPT = {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}
WARMUP = 2
MAX_NORM = 0.5         # grad norms run 0.38-0.58: steps 1-4 unclipped, 5-10 clipped (1.0 would never clip)


def load_tokenizer():
    from tokenizers import pre_tokenizers
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(os.path.dirname(GGUF), gguf_file=os.path.basename(GGUF))
    # SmolLM2's own pre-tokenizer (digits split first), as in make_dataset_references.py.
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    return tok


def build_batch(tok):
    prompt_t, response_t = load_template()
    with open(DATA, encoding="utf-8") as f:
        rows = [json.loads(l) for l in f if l.strip()]
    seqs = []
    for i in ROWS:
        cols = {k: rows[i][k] for k in ("Question", "Complex_CoT", "Response")}
        p = tok(prompt_t.format(**cols))["input_ids"]
        r = tok(response_t.format(**cols), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids, labels = p + r, [-100] * len(p) + r
        full = len(ids)
        ids, labels = ids[:MAX_SEQ_LENGTH], labels[:MAX_SEQ_LENGTH]
        seqs.append({"row": i, "ids": ids, "labels": labels, "untruncated_length": full})
    return seqs


def peft_name(n):
    return n.replace(".default.", ".")


def lora_params(model):
    """(PEFT name, parameter) in the trainer's order: layer, q k v o gate up down, A before B."""
    out = [(peft_name(n), p) for n, p in model.named_parameters() if "lora_" in n]
    expect = [f"base_model.model.model.layers.{i}.{'self_attn' if t[0] in 'qkvo' else 'mlp'}.{t}.lora_{ab}.weight"
              for i in range(model.config.num_hidden_layers) for t in TARGETS for ab in "AB"]
    assert [n for n, _ in out] == expect, "unexpected LoRA parameter names / order"
    return out


@torch.no_grad()
def init_adapter(model):
    g = torch.Generator().manual_seed(INIT_SEED)
    for n, p in lora_params(model):
        if ".lora_A." in n:
            bound = 1 / math.sqrt(p.shape[1])   # kaiming_uniform_(a=sqrt(5)) on [r, in] = U(-1/sqrt(in), 1/sqrt(in))
            v = (torch.rand(p.shape, generator=g, dtype=torch.float32) * 2 - 1) * bound
        else:
            v = torch.randn(p.shape, generator=g, dtype=torch.float32) * B_STD
        p.copy_(v.to(torch.float16).to(p.dtype))


def step_loss(model, seqs):
    """Summed token cross-entropy over all sequences / trained tokens of the step (each sequence alone)."""
    n = sum(sum(1 for l in s["labels"][1:] if l != -100) for s in seqs)
    total = 0
    for s in seqs:
        logits = model(input_ids=torch.tensor([s["ids"]]), use_cache=False).logits[0]
        target = torch.tensor(s["labels"][1:])
        total = total + F.cross_entropy(logits[:-1], target, ignore_index=-100, reduction="sum")
    return total / n, n


def grads_of(model, seqs):
    model.zero_grad(set_to_none=True)
    loss, n = step_loss(model, seqs)
    loss.backward()
    return loss.item(), n, {name: p.grad.detach().clone() for name, p in lora_params(model)}


def train(model, seqs):
    params = [p for _, p in lora_params(model)]
    opt = torch.optim.AdamW(params, lr=OPT["lr"], betas=OPT["betas"], eps=OPT["eps"],
                            weight_decay=OPT["weight_decay"], foreach=False)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=WARMUP, num_training_steps=STEPS)
    steps = []
    for k in range(STEPS):
        opt.zero_grad(set_to_none=True)
        l, _ = step_loss(model, seqs)
        l.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm=MAX_NORM)
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        steps.append({"step": k + 1, "loss": l.item(), "grad_norm": norm.item(), "lr": lr,
                      "clipped": norm.item() > MAX_NORM})
        print(f"{l.dtype} step {k + 1}: loss {l.item():.6f} grad_norm {norm.item():.6f} lr {lr:.3e}", flush=True)
    with torch.no_grad():
        final_loss = step_loss(model, seqs)[0].item()
    return steps, final_loss


def main():
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging
    import peft
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    setup_determinism()
    os.makedirs(OUT, exist_ok=True)
    tok = load_tokenizer()
    seqs = build_batch(tok)

    folder, name = os.path.split(GGUF)
    base = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                attn_implementation="eager")
    base.eval()
    cfg = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, bias="none",
                     task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    model.eval()
    init_adapter(model)
    init_state = {n: p.detach().clone() for n, p in lora_params(model)}

    # Adapter: PEFT's own config file, tensors written as F16 (exact: the values were rounded to F16).
    model.save_pretrained(OUT)
    save_file({n: t.to(torch.float16).contiguous() for n, t in init_state.items()},
              os.path.join(OUT, "adapter_model.safetensors"), metadata={"format": "pt"})
    cpath = os.path.join(OUT, "adapter_config.json")
    with open(cpath) as f:
        acfg = json.load(f)
    acfg["base_model_name_or_path"] = "models/SmolLM2-135M-Instruct.Q4_1.gguf"   # not the local absolute path
    acfg["target_modules"] = sorted(acfg["target_modules"])   # PEFT writes a set: order varies run to run
    with open(cpath, "w") as f:
        json.dump(acfg, f, indent=2, sort_keys=True)
        f.write("\n")
    for extra in ("README.md",):
        p = os.path.join(OUT, extra)
        if os.path.exists(p):
            os.remove(p)

    write_json(os.path.join(OUT, "batch.json"), {"sequences": [
        {"row": s["row"], "ids": s["ids"], "labels": s["labels"]} for s in seqs]}, compact=True)

    # Gradients (float32) and a float64 copy of the same model to show the rounding noise floor.
    loss, n_tok, grads = grads_of(model, seqs)
    # Cross-check with HF's own loss: with num_items_in_batch it sums per sequence and divides by that count.
    with torch.no_grad():
        hf = sum(float(model(input_ids=torch.tensor([s["ids"]]), labels=torch.tensor([s["labels"]]),
                             num_items_in_batch=n_tok, use_cache=False).loss) for s in seqs)
    assert abs(hf - loss) < 1e-5, (hf, loss)
    save_file({n: g.contiguous() for n, g in grads.items()}, os.path.join(OUT, "grads.safetensors"),
              metadata={"format": "pt"})

    # The saved folder must reproduce the same loss through PEFT's own loader (F16 values are exact).
    from peft import PeftModel
    fresh = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager")
    reloaded = PeftModel.from_pretrained(fresh, OUT)
    reloaded.eval()
    for (n1, p1), (n2, p2) in zip(lora_params(reloaded), lora_params(model)):
        assert n1 == n2 and p1.dtype == torch.float32 and torch.equal(p1, init_state[n2]), n1
    with torch.no_grad():
        reloaded_loss = step_loss(reloaded, seqs)[0].item()
    assert reloaded_loss == loss, (reloaded_loss, loss)
    del fresh, reloaded

    m64 = copy.deepcopy(model).to(torch.float64)
    loss64, _, grads64 = grads_of(m64, seqs)
    rel = {n: float((grads[n].double() - grads64[n]).norm() / grads64[n].norm()) for n in grads}
    absmax = max(float((grads[n].double() - grads64[n]).abs().max()) for n in grads)
    gnorm = {n: float(g.double().norm()) for n, g in grads.items()}
    total_norm = math.sqrt(sum(v * v for v in gnorm.values()))

    # 10 optimiser steps on the same batch, from the same starting adapter; the float64 copy runs the same
    # steps (its loss curve shows how far float32 rounding alone moves the trajectory).
    steps, final_loss = train(model, seqs)
    steps64, final_loss64 = train(m64, seqs)
    del m64
    final_norms = {n: float(p.detach().double().norm()) for n, p in lora_params(model)}
    moved = math.sqrt(sum(float((p.detach().double() - init_state[n].double()).norm()) ** 2
                          for n, p in lora_params(model)))

    settings = {
        "lora": {"r": RANK, "lora_alpha": ALPHA, "scaling": ALPHA / RANK, "lora_dropout": 0.0, "bias": "none",
                 "target_modules": TARGETS, "use_rslora": False},
        "init": {"seed": INIT_SEED, "lora_A": "U(-1/sqrt(in), 1/sqrt(in)) from torch.Generator(seed), rounded to float16",
                 "lora_B": f"N(0, {B_STD}^2) from the same generator after all preceding tensors, rounded to float16",
                 "order": "layer 0..29, q k v o gate up down, A then B"},
        "batch": {"rows": ROWS, "source": "notebooks/data/medical-cot-sample.jsonl",
                  "template": "notebooks/templates/medical-cot.txt", "max_seq_length": MAX_SEQ_LENGTH,
                  "lengths": [len(s["ids"]) for s in seqs],
                  "untruncated_lengths": [s["untruncated_length"] for s in seqs],
                  "trained_tokens": [sum(1 for l in s["labels"][1:] if l != -100) for s in seqs]},
        "loss": "sum over sequences of sum_t CE(logits[t], labels[t+1]) over labels[t+1] != -100, divided by "
                "trained_tokens (the count of such positions in the step); each sequence alone (batch 1, no padding, "
                "positions from 0)",
        "optimizer": {"name": "torch.optim.AdamW(foreach=False)", "lr": OPT["lr"], "betas": list(OPT["betas"]),
                      "eps": OPT["eps"], "weight_decay": OPT["weight_decay"],
                      "params": "LoRA A and B only (weight decay applies to all of them)",
                      "schedule": f"transformers get_linear_schedule_with_warmup(num_warmup_steps={WARMUP}, "
                                  f"num_training_steps={STEPS})",
                      "clip": f"torch.nn.utils.clip_grad_norm_(max_norm={MAX_NORM}) before each step",
                      "steps": STEPS},
    }
    write_json(os.path.join(OUT, "steps.json"), {
        "note": "loss and grad_norm (total L2 norm before clipping, as clip_grad_norm_ returns) are measured before "
                "the step's update; lr is the rate that update used (step 1: 0 - warmup starts at 0); final_loss is "
                "the loss after the 10th update. clipped: grad_norm > max_norm, so clip_grad_norm_ scaled the gradients by "
                "max_norm / (grad_norm + 1e-6). Same batch every step, starting from adapter_model.safetensors.",
        "settings": settings["optimizer"], "steps": steps, "final_loss": final_loss,
        "final_param_norms": final_norms, "distance_from_init": moved,
        "float64_model": {"losses": [x["loss"] for x in steps64], "grad_norms": [x["grad_norm"] for x in steps64],
                          "final_loss": final_loss64,
                          "note": "the same 10 steps with the model (and the optimiser) in float64: the float32 "
                                  "rounding spread of the trajectory, a guide for tolerances"}})
    write_json(os.path.join(OUT, "meta.json"), {
        "script": SCRIPT, **versions(), "peft": peft.__version__,
        "model": "models/SmolLM2-135M-Instruct.Q4_1.gguf",
        "load": "AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=float32, attn_implementation='eager'); "
                "model.eval(); get_peft_model(model, LoraConfig(...))",
        "threads": 1, "dtype": "float32",
        "loss": loss, "loss_float64_model": loss64, "hf_loss_check": hf,
        "trained_tokens": n_tok,
        "grad_norm_total": total_norm,
        "grad_norms": gnorm,
        "fp32_vs_fp64": {"loss_abs_diff": abs(loss - loss64),
                         "grad_max_abs_diff": absmax,
                         "grad_rel_l2_diff_max": max(rel.values()),
                         "grad_rel_l2_diff_median": float(np.median(list(rel.values()))),
                         "note": "the same computation in float64 (weights identical): the float32 rounding noise floor"},
        "files": {
            "adapter_model.safetensors": "F16, PEFT names, A [r, in], B [out, r]",
            "grads.safetensors": "F32, same names and shapes: d loss / d parameter",
            "batch.json": "{sequences:[{row, ids, labels}]}, labels unshifted (-100 = not trained)",
        },
        "settings": settings})
    print(f"loss {loss!r} (float64 model {loss64!r}), trained tokens {n_tok}, grad norm {total_norm:.6f}, "
          f"fp32/fp64 grad rel diff max {max(rel.values()):.2e}")
    for f in sorted(os.listdir(OUT)):
        print(f"{f}: {os.path.getsize(os.path.join(OUT, f))} bytes")


if __name__ == "__main__":
    main()
