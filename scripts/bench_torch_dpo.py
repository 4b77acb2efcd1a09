#!/usr/bin/env python3
"""PyTorch + PEFT float32 eager reference for the DPO benchmark (scripts/bench_dpo.sh).

The same work as `tunelab train --method dpo` with the same settings: the pairs of --data[--start:--end]
(prompt rendered with SmolLM2's chat template, each completion + EOS, prompt cut to its last
--max-prompt-length tokens, each side cut to --max-length tokens in all), one epoch, --batch-size pairs per
micro-batch, --grad-accum micro-batches per optimiser step. Per micro-batch, as TRL's DPOTrainer does:
the reference log-probs of pairs not seen yet (PeftModel.disable_adapter(), no grad, computed once per pair
and cached), then one forward of the chosen and rejected sequences concatenated and right-padded with an
attention mask, per-token log-probs summed over the completion tokens, the sigmoid loss (beta 0.1) averaged
over the step's pairs, backward; then clip_grad_norm_(1.0), AdamW (torch defaults, weight decay 0.01), zero_grad.

Model: models/SmolLM2-135M-Instruct.Q4_1.gguf via transformers (dequantised to float32), eager attention,
CPU, torch.set_num_threads(--threads). LoRA: PEFT LoraConfig(r, lora_alpha, dropout 0, --targets).

Prints ONE JSON line: tokens_per_s (real tokens of the policy's sequences, padding excluded, over the summed
step times, reference forwards included), tokens, steps, losses, step_seconds, versions.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_lora_parity_references import load_tokenizer  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
NAMES = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj", "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}


def pairs_of(tok, path, start, end, max_length, max_prompt):
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)[start:end]
    out = []
    for r in rows:
        text = tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], add_generation_prompt=True, tokenize=False)
        prompt = tok(text, add_special_tokens=False)["input_ids"][-max_prompt:]
        room = max_length - len(prompt)
        side = lambda s: (tok(s, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])[:room]
        out.append((prompt, side(r["chosen"]), side(r["rejected"])))
    return out


def padded(seqs):
    """Right-padded ids, attention mask, and the completion mask shifted to the predicting positions."""
    L = max(len(p) + len(c) for p, c in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    att = torch.zeros(len(seqs), L, dtype=torch.long)
    comp = torch.zeros(len(seqs), L - 1)
    for i, (p, c) in enumerate(seqs):
        n = len(p) + len(c)
        ids[i, :n] = torch.tensor(p + c)
        att[i, :n] = 1
        comp[i, len(p) - 1:n - 1] = 1   # position t predicts token t+1
    return ids, att, comp


AUTOCAST = False


def logps(model, seqs):
    ids, att, comp = padded(seqs)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=AUTOCAST):
        logits = model(input_ids=ids, attention_mask=att, use_cache=False).logits[:, :-1].float()
    per_token = torch.gather(logits.log_softmax(-1), 2, ids[:, 1:, None])[..., 0]
    return (per_token * comp).sum(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--end", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--max-prompt-length", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--grad-accum", type=int, default=2)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--targets", default="q,k,v,o,gate,up,down")
    ap.add_argument("--lr", type=float, default=5e-6)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--autocast-bf16", action="store_true",
                    help='forwards under torch.autocast("cpu", dtype=torch.bfloat16), as bench_torch_train.py')
    a = ap.parse_args()

    global AUTOCAST
    AUTOCAST = a.autocast_bf16
    from peft import LoraConfig, get_peft_model
    import peft
    import transformers
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)

    tok = load_tokenizer()
    pairs = pairs_of(tok, a.data, a.start, a.end, a.max_length, a.max_prompt_length)
    folder, name = os.path.split(GGUF)
    base = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, attn_implementation="eager")
    model = get_peft_model(base, LoraConfig(r=a.r, lora_alpha=a.alpha, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                                            target_modules=[NAMES[t] for t in a.targets.split(",")]))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01)

    per_step = a.batch_size * a.grad_accum
    ref = {}
    steps, losses, tokens = [], [], 0
    for s0 in range(0, len(pairs), per_step):
        t0 = time.perf_counter()
        idx = list(range(s0, min(s0 + per_step, len(pairs))))
        n = len(idx)
        total = 0.0
        for m0 in range(0, n, a.batch_size):
            mb = idx[m0:m0 + a.batch_size]
            missing = [i for i in mb if i not in ref]
            if missing:
                with torch.no_grad(), model.disable_adapter():
                    lp = logps(model, [(pairs[i][0], pairs[i][1]) for i in missing] + [(pairs[i][0], pairs[i][2]) for i in missing])
                for k, i in enumerate(missing):
                    ref[i] = (lp[k].item(), lp[k + len(missing)].item())
            seqs = [(pairs[i][0], pairs[i][1]) for i in mb] + [(pairs[i][0], pairs[i][2]) for i in mb]
            tokens += sum(len(p) + len(c) for p, c in seqs)
            lp = logps(model, seqs)
            pw, pl = lp[:len(mb)], lp[len(mb):]
            rw = torch.tensor([ref[i][0] for i in mb]); rl = torch.tensor([ref[i][1] for i in mb])
            loss = -F.logsigmoid(a.beta * ((pw - pl) - (rw - rl))).sum() / n
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        steps.append(time.perf_counter() - t0)
        losses.append(total)
    print(json.dumps({"tokens_per_s": tokens / sum(steps), "tokens": tokens, "steps": len(steps), "losses": losses,
                      "step_seconds": steps, "torch": torch.__version__, "transformers": transformers.__version__,
                      "peft": peft.__version__, "autocast_bf16": a.autocast_bf16}))


if __name__ == "__main__":
    main()
