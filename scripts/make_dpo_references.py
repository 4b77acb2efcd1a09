#!/usr/bin/env python3
"""DPO parity references (PyTorch + PEFT, TRL v0.28's formula written out) for the Swift DPO trainer.

Writes Tests/Fixtures/dpo_parity/ (relative to the repository root):

  adapter_config.json, adapter_model.safetensors
        a random NON-ZERO LoRA adapter (r=2, alpha=4, k_proj and v_proj of every layer; A ~ U(-1/sqrt(in),
        1/sqrt(in)), B ~ N(0, 0.02^2), seeded, rounded to float16), so the policy differs from the reference
  pairs.json    token ids only: 3 pairs of ../shared/data/human_like_dpo_972.json (rows in `settings`), the prompt
                rendered with SmolLM2's chat template, each completion + EOS; prompt cut to its last 48 tokens,
                each side cut to 96 tokens in all (keep_start), as the Swift PreferenceTokenizer does
  grads.safetensors
        float32 d loss / d lora tensor for each case, names "<case>.<PEFT name>"
  cases.json    per case: loss_type, beta, label_smoothing, loss, rewards (chosen, rejected, margins, accuracies),
                the policy's and the reference's log-prob sums per sequence, and the float64-model spread

The formula (TRL v0.28.0, trl/trainer/dpo_trainer.py, concatenated_forward + dpo_loss):
  logp(seq) = sum over completion tokens of log_softmax(logits[t-1])[token t]
  reference = the same model with the adapter disabled (PeftModel.disable_adapter()), no grad
  ipo: every logp (policy and reference) divided by its completion's token count
  logits = (pi_w - pi_l) - (ref_w - ref_l)
  sigmoid: -logsigmoid(beta*logits)*(1-ls) - logsigmoid(-beta*logits)*ls
  hinge:   relu(1 - beta*logits)
  ipo:     (logits - 1/(2*beta))**2
  loss = mean over pairs; rewards = beta * (pi - ref) per side (detached)
Each sequence runs alone (batch 1, no padding, positions from 0), model.eval() (no dropout), 1 thread.

Usage: python scripts/make_dpo_references.py   (venv with scripts/requirements-ref.txt; needs ../shared/data)
"""
import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_lora_parity_references import load_tokenizer  # noqa: E402  (SmolLM2's tokenizer as the Swift one)
from make_model_references import setup_determinism, versions, write_json  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "dpo_parity")
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
DATA = os.path.join(ROOT, "..", "shared", "data", "human_like_dpo_972.json")
SCRIPT = "scripts/make_dpo_references.py"

RANK, ALPHA = 2, 4
TARGETS = ["k_proj", "v_proj"]
INIT_SEED = 4321
B_STD = 0.02
ROWS = [3, 17, 42]
MAX_PROMPT_LENGTH, MAX_LENGTH = 48, 96
CASES = [
    {"name": "sigmoid", "loss_type": "sigmoid", "beta": 0.1, "label_smoothing": 0.0},
    {"name": "sigmoid_smoothed", "loss_type": "sigmoid", "beta": 0.3, "label_smoothing": 0.2},
    # beta 0.5: with TRL's default 0.1 the loss is (delta - 5)^2 ~ 25, whose float32 rounding alone (~7e-6
    # against the float64 model) uses up the 1e-5 loss tolerance.
    {"name": "ipo", "loss_type": "ipo", "beta": 0.5, "label_smoothing": 0.0},
    {"name": "hinge", "loss_type": "hinge", "beta": 0.1, "label_smoothing": 0.0},
]


def build_pairs(tok):
    with open(DATA, encoding="utf-8") as f:
        rows = json.load(f)
    pairs = []
    for i in ROWS:
        r = rows[i]
        text = tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], add_generation_prompt=True,
                                       tokenize=False)
        prompt = tok(text, add_special_tokens=False)["input_ids"][-MAX_PROMPT_LENGTH:]
        room = MAX_LENGTH - len(prompt)
        side = lambda s: (tok(s, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])[:room]
        pairs.append({"row": i, "prompt": prompt, "chosen": side(r["chosen"]), "rejected": side(r["rejected"])})
    return pairs


def peft_name(n):
    return n.replace(".default.", ".")


def lora_params(model):
    out = [(peft_name(n), p) for n, p in model.named_parameters() if "lora_" in n]
    expect = [f"base_model.model.model.layers.{i}.self_attn.{t}.lora_{ab}.weight"
              for i in range(model.config.num_hidden_layers) for t in TARGETS for ab in "AB"]
    assert [n for n, _ in out] == expect, "unexpected LoRA parameter names / order"
    return out


@torch.no_grad()
def init_adapter(model):
    g = torch.Generator().manual_seed(INIT_SEED)
    for n, p in lora_params(model):
        if ".lora_A." in n:
            bound = 1 / math.sqrt(p.shape[1])
            v = (torch.rand(p.shape, generator=g, dtype=torch.float32) * 2 - 1) * bound
        else:
            v = torch.randn(p.shape, generator=g, dtype=torch.float32) * B_STD
        p.copy_(v.to(torch.float16).to(p.dtype))


def seq_logp(model, prompt, completion):
    """Sum of log pi over the completion's tokens (the prompt is context only)."""
    ids = torch.tensor([prompt + completion])
    logits = model(input_ids=ids, use_cache=False).logits[0]
    logp = torch.log_softmax(logits[:-1], dim=-1)
    targets = ids[0, 1:]
    per_token = logp.gather(1, targets[:, None])[:, 0]
    return per_token[len(prompt) - 1:].sum()


def dpo(model, pairs, case):
    beta, ls, kind = case["beta"], case["label_smoothing"], case["loss_type"]
    pol_w = torch.stack([seq_logp(model, p["prompt"], p["chosen"]) for p in pairs])
    pol_l = torch.stack([seq_logp(model, p["prompt"], p["rejected"]) for p in pairs])
    with torch.no_grad(), model.disable_adapter():
        ref_w = torch.stack([seq_logp(model, p["prompt"], p["chosen"]) for p in pairs])
        ref_l = torch.stack([seq_logp(model, p["prompt"], p["rejected"]) for p in pairs])
    raw = {"policy_chosen": pol_w.tolist(), "policy_rejected": pol_l.tolist(),
           "reference_chosen": ref_w.tolist(), "reference_rejected": ref_l.tolist()}
    if kind == "ipo":
        nw = torch.tensor([float(len(p["chosen"])) for p in pairs], dtype=pol_w.dtype)
        nl = torch.tensor([float(len(p["rejected"])) for p in pairs], dtype=pol_w.dtype)
        pol_w, pol_l, ref_w, ref_l = pol_w / nw, pol_l / nl, ref_w / nw, ref_l / nl
    logits = (pol_w - pol_l) - (ref_w - ref_l)
    if kind == "sigmoid":
        losses = -F.logsigmoid(beta * logits) * (1 - ls) - F.logsigmoid(-beta * logits) * ls
    elif kind == "hinge":
        losses = torch.relu(1 - beta * logits)
    elif kind == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(kind)
    cr, rr = (beta * (pol_w - ref_w)).detach(), (beta * (pol_l - ref_l)).detach()
    metrics = {"rewards_chosen": cr.mean().item(), "rewards_rejected": rr.mean().item(),
               "rewards_margins": (cr - rr).mean().item(), "rewards_accuracies": (cr > rr).float().mean().item()}
    return losses.mean(), metrics, raw


def grads_of(model, pairs, case):
    model.zero_grad(set_to_none=True)
    loss, metrics, raw = dpo(model, pairs, case)
    loss.backward()
    return loss.item(), metrics, raw, {n: p.grad.detach().clone() for n, p in lora_params(model)}


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
    pairs = build_pairs(tok)

    folder, name = os.path.split(GGUF)
    base = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, attn_implementation="eager")
    base.eval()
    cfg = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    model.eval()
    init_adapter(model)
    init_state = {n: p.detach().clone() for n, p in lora_params(model)}

    model.save_pretrained(OUT)
    save_file({n: t.to(torch.float16).contiguous() for n, t in init_state.items()},
              os.path.join(OUT, "adapter_model.safetensors"), metadata={"format": "pt"})
    cpath = os.path.join(OUT, "adapter_config.json")
    with open(cpath) as f:
        acfg = json.load(f)
    acfg["base_model_name_or_path"] = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    acfg["target_modules"] = sorted(acfg["target_modules"])
    with open(cpath, "w") as f:
        json.dump(acfg, f, indent=2, sort_keys=True)
        f.write("\n")
    readme = os.path.join(OUT, "README.md")
    if os.path.exists(readme):
        os.remove(readme)

    write_json(os.path.join(OUT, "pairs.json"), {"pairs": pairs}, compact=True)

    m64 = copy.deepcopy(model).to(torch.float64)
    all_grads, cases = {}, []
    for case in CASES:
        loss, metrics, raw, grads = grads_of(model, pairs, case)
        loss64, _, _, grads64 = grads_of(m64, pairs, case)
        rel = max(float((grads[n].double() - grads64[n]).norm() / grads64[n].norm()) for n in grads)
        total = math.sqrt(sum(float(g.double().norm()) ** 2 for g in grads.values()))
        for n, g in grads.items():
            all_grads[f"{case['name']}.{n}"] = g.contiguous()
        cases.append({**case, "loss": loss, **metrics, "logps": raw, "grad_norm": total,
                      "float64_model": {"loss": loss64, "loss_abs_diff": abs(loss - loss64),
                                        "grad_rel_l2_diff_max": rel}})
        print(f"{case['name']}: loss {loss!r} (float64 {loss64!r}) grad norm {total:.6f} fp32/fp64 rel {rel:.2e} "
              f"margins {metrics['rewards_margins']:.5f} acc {metrics['rewards_accuracies']}", flush=True)
    save_file(all_grads, os.path.join(OUT, "grads.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(OUT, "cases.json"), {
        "script": SCRIPT, **versions(), "peft": peft.__version__, "trl_semantics": "v0.28.0",
        "model": "models/SmolLM2-135M-Instruct.Q4_1.gguf (transformers GGUF loader, dequantised to float32, eager attention)",
        "settings": {"rows": ROWS, "source": "../shared/data/human_like_dpo_972.json", "max_prompt_length": MAX_PROMPT_LENGTH,
                     "max_length": MAX_LENGTH, "lora": {"r": RANK, "lora_alpha": ALPHA, "target_modules": TARGETS,
                                                        "init_seed": INIT_SEED, "b_std": B_STD}},
        "cases": cases})
    for f in sorted(os.listdir(OUT)):
        print(f"{f}: {os.path.getsize(os.path.join(OUT, f))} bytes")


if __name__ == "__main__":
    main()
