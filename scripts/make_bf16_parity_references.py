#!/usr/bin/env python3
"""bf16-compute references for the Swift trainer's `compute_dtype = bf16` (PyTorch + PEFT).

Reads the fp32 parity fixture (Tests/Fixtures/lora_parity: adapter, batch; see
make_lora_parity_references.py) and writes, next to it:

  bf16_grads.safetensors   float32 d loss / d every lora_A, lora_B (PEFT names), bf16 compute
  bf16.json                the loss, trained tokens, the fp32 loss of the same batch, the noise floor
                           (below), versions

bf16 compute, as TuneLab defines it: every frozen product (the 7 base projections of every layer and
the tied LM head) rounds its input and the dequantised weight to bfloat16 (round to nearest, ties to
even: torch's .to(torch.bfloat16)) and multiplies them with fp32 accumulation; its input gradient
rounds the output gradient and multiplies by the same rounded weight. Everything else -- the LoRA
factors and their products, norms, RoPE, attention, SwiGLU, softmax / cross-entropy, the gradients
-- stays float32. Here that is an autograd.Function on each base Linear: fp32 matmuls of
bf16-valued tensors (products of two bf16 values are exact in fp32).

Noise floor: bf16 results are chaotic at their own precision. A last-bit difference in an activation
flips some bf16 roundings in the next product, the flips spread through 30 layers, and two correct
implementations end up apart by bf16 noise, not fp32 noise. The same model with the products
accumulated in float64 instead of float32 (same rounded operands) is such a second implementation:
bf16.json records how far its loss and gradients are from the float32-accumulated ones, and the
Swift test's tolerances are set from that spread.

Usage: /opt/refvenv/bin/python scripts/make_bf16_parity_references.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_lora_parity_references import GGUF, OUT, lora_params, step_loss  # noqa: E402
from make_model_references import setup_determinism, versions, write_json  # noqa: E402

SCRIPT = "scripts/make_bf16_parity_references.py"


def bf16(t):
    return t.to(torch.bfloat16).to(torch.float32)


ACCUMULATE = torch.float32   # float64 for the noise-floor run


class BF16Product(torch.autograd.Function):
    """y = bf16(x) · bf16(W)ᵀ; dx = bf16(dy) · bf16(W); W frozen (no gradient); sums in ACCUMULATE."""

    @staticmethod
    def forward(ctx, x, w):
        wr = bf16(w)
        ctx.save_for_backward(wr)
        return (bf16(x).to(ACCUMULATE) @ wr.to(ACCUMULATE).T).float()

    @staticmethod
    def backward(ctx, dy):
        (wr,) = ctx.saved_tensors
        return (bf16(dy).to(ACCUMULATE) @ wr.to(ACCUMULATE)).float(), None


def bf16_linear(linear):
    assert linear.bias is None, "SmolLM2's projections have no bias"
    linear.forward = lambda x: BF16Product.apply(x, linear.weight)


def bf16_run(folder, name, seqs):
    """(fp32 loss, bf16 loss, trained tokens, gradients) of a fresh model with the starting adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                attn_implementation="eager")
    model = PeftModel.from_pretrained(base, OUT, is_trainable=True)
    model.eval()
    with torch.no_grad():
        loss32 = step_loss(model, seqs)[0].item()
    patched = 0
    for layer in base.model.layers:
        for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.self_attn.o_proj,
                     layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj):
            bf16_linear(proj.base_layer)
            patched += 1
    bf16_linear(base.lm_head)
    assert patched == 7 * base.config.num_hidden_layers
    model.zero_grad(set_to_none=True)
    loss, n = step_loss(model, seqs)
    loss.backward()
    return loss32, loss.item(), n, {name: p.grad.detach().clone().contiguous() for name, p in lora_params(model)}


def main():
    global ACCUMULATE
    from safetensors.torch import save_file
    from transformers.utils import logging as hf_logging
    import peft
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    setup_determinism()

    with open(os.path.join(OUT, "batch.json")) as f:
        seqs = json.load(f)["sequences"]
    folder, name = os.path.split(GGUF)
    loss32, loss, n, grads = bf16_run(folder, name, seqs)
    ACCUMULATE = torch.float64
    _, loss64, _, grads64 = bf16_run(folder, name, seqs)
    rel = {k: float((grads[k].double() - grads64[k].double()).norm() / grads64[k].double().norm()) for k in grads}
    save_file(grads, os.path.join(OUT, "bf16_grads.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(OUT, "bf16.json"), {
        "script": SCRIPT, **versions(), "peft": peft.__version__,
        "loss": loss, "trained_tokens": n, "fp32_loss": loss32,
        "grad_norm_total": float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values()))),
        "noise_floor": {"loss_rel_diff": abs(loss - loss64) / abs(loss64),
                        "grad_rel_l2_diff_max": max(rel.values()),
                        "grad_rel_l2_diff_median": sorted(rel.values())[len(rel) // 2],
                        "note": "the same bf16 computation with float64 instead of float32 accumulation: how far two "
                                "correct bf16 implementations drift apart (see the script's docstring)"},
        "compute": "frozen products: bf16(x) @ bf16(W).T forward, bf16(dy) @ bf16(W) backward, fp32 accumulation; "
                   "all else fp32 (see the script's docstring)"})
    print(f"bf16 loss {loss!r} (fp32 {loss32!r}, bf16 with float64 sums {loss64!r}), trained tokens {n}, "
          f"grad rel L2 fp32 vs float64 sums: max {max(rel.values()):.3e}")


if __name__ == "__main__":
    main()
