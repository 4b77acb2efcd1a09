#!/usr/bin/env python3
"""GRPO parity references: TRL v1.9.0's own GRPOTrainer._compute_loss (and its advantage code) on SmolLM2 with a
random non-zero PEFT adapter, for fixed completions, rewards and old log-probs.

Writes Tests/Fixtures/grpo_parity/ (relative to the repository root):

  adapter_config.json, adapter_model.safetensors
        a random NON-ZERO LoRA adapter (r=2, alpha=4, q_proj and v_proj of every layer; A ~ U(-1/sqrt(in),
        1/sqrt(in)), B ~ N(0, 0.02^2), seeded, rounded to float16), so the policy differs from the reference
  batch.json    token ids only: 2 MedQA-style rows of ../shared/data/medical_o1_en_160.json (rows in `settings`), the
                prompt "{question}\\n\\n{options as 'A. text' lines}" as the user turn of SmolLM2's chat template;
                4 completions of each (sampled from the policy by torch, seeded, <= 20 tokens; the first cut to 7
                tokens + EOS so lengths differ and one ends on EOS); two reward functions' values per completion
                (TRL's think_format_reward on the decoded text, and fixed numbers: the second group's all equal, so
                its std is 0); TRL's advantages; old log-probs per completion token (the policy's at temperature 1
                plus seeded noise N(0, 0.15^2), so ratios leave [1 - eps, 1 + eps_high])
  grads.safetensors
        float32 d loss / d lora tensor for each case (one micro-batch of 8), names "<case>.<PEFT name>"; the two
        micro-batches of 4 give the same within `split_grad_rel_l2_max` (cases.json)
  cases.json    per case: loss_type, epsilon, epsilon_high, beta, temperature, whether old log-probs are given
                (else TRL's on-policy default, old = the policy detached); per split (one micro-batch of 8, two of 4):
                the summed loss, TRL's logged kl / clip ratios (mean over micro-batches), the gradient norm; and the
                written-out formula's loss (a second implementation in this script) with its difference to TRL's

How TRL is run: `GRPOTrainer._compute_loss(stub, model, inputs)` with `stub` holding the attributes the method
reads (loss_type, epsilon_low/high, beta, temperature, max_completion_length, current_gradient_accumulation_steps,
an accelerator with one process, ...), `_get_per_token_logps_and_entropies` bound to it (TRL's own, unwrapped from
its profiling decorator). Inputs as `_generate_and_score_completions` builds them: prompts left-padded, completions
right-padded, `num_items_in_batch` = completion tokens of the whole generation batch; every micro-batch's loss is
backpropagated (as transformers' Trainer does with accumulation). Advantages: TRL's sum_then_normalize code with
scale_rewards="group" (trl.trainer.utils.nanstd). Model: the GGUF via transformers (dequantised to float32), eager
attention, model.eval() (no dropout), 1 thread. The reference of the KL term is the adapter disabled.

  rewards.json  TRL's think_format_reward and get_soft_overlong_punishment, and SQuAD's normalize_answer (the
                definitions of the built-in rewards), on edge-case inputs

Usage: python scripts/make_grpo_references.py [--rewards-only]   (venv with scripts/requirements-ref.txt + trl==1.9.0; needs
../shared/data)
"""
import copy
import json
import math
import os
import sys
import types
from collections import defaultdict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_lora_parity_references import load_tokenizer  # noqa: E402
from make_model_references import setup_determinism, versions, write_json  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "grpo_parity")
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
DATA = os.path.join(ROOT, "..", "shared", "data", "medical_o1_en_160.json")
SCRIPT = "scripts/make_grpo_references.py"

RANK, ALPHA = 2, 4
TARGETS = ["q_proj", "v_proj"]
INIT_SEED, SAMPLE_SEED, NOISE_SEED = 4321, 77, 99
B_STD, NOISE_STD = 0.02, 0.15
ROWS = [27, 71]   # the two shortest MedQA questions: short sequences keep the Swift test fast
NUM_GENERATIONS, MAX_COMPLETION_LENGTH = 4, 20
REWARD_WEIGHTS = [1.0, 0.5]
FIXED_REWARD = [1.0, 0.0, 0.5, 0.0, 0.25, 0.25, 0.25, 0.25]   # second group: std 0
CASES = [
    {"name": "grpo", "loss_type": "grpo", "epsilon": 0.2, "epsilon_high": 0.2, "beta": 0.0, "temperature": 1.0, "old": True},
    {"name": "dr_grpo", "loss_type": "dr_grpo", "epsilon": 0.2, "epsilon_high": 0.2, "beta": 0.0, "temperature": 1.0, "old": True},
    {"name": "dapo", "loss_type": "dapo", "epsilon": 0.2, "epsilon_high": 0.28, "beta": 0.0, "temperature": 1.0, "old": True},
    {"name": "dapo_kl_t07", "loss_type": "dapo", "epsilon": 0.2, "epsilon_high": 0.28, "beta": 0.04, "temperature": 0.7, "old": True},
    {"name": "grpo_on_policy", "loss_type": "grpo", "epsilon": 0.2, "epsilon_high": 0.2, "beta": 0.0, "temperature": 1.0, "old": False},
]
SPLITS = {"one": [list(range(8))], "two": [list(range(4)), list(range(4, 8))]}


def options_text(opts):
    return "\n".join(f"{k}. {opts[k]}" for k in sorted(opts))


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


@torch.no_grad()
def sample(model, prompt, n, eos):
    """n completions of `prompt` (plain multinomial sampling at temperature 1, seeded), cut after a first EOS."""
    g = torch.Generator().manual_seed(SAMPLE_SEED + len(prompt))
    outs = []
    for _ in range(n):
        ids = list(prompt)
        comp = []
        for _ in range(MAX_COMPLETION_LENGTH):
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1]
            t = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=g))
            comp.append(t)
            ids.append(t)
            if t == eos:
                break
        outs.append(comp)
    return outs


def pad(seqs, value, left):
    L = max(len(s) for s in seqs)
    out = torch.full((len(seqs), L), value, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        if left:
            out[i, L - len(s):] = torch.tensor(s); mask[i, L - len(s):] = 1
        else:
            out[i, :len(s)] = torch.tensor(s); mask[i, :len(s)] = 1
    return out, mask


def trl_stub(model, case, grad_accum):
    from trl import GRPOTrainer
    s = types.SimpleNamespace()
    s.model = types.SimpleNamespace(training=True)
    s.model_kwarg_keys = set()
    s.temperature = case["temperature"]
    s._entropy_bonus_enabled = False
    s.aux_loss_enabled = False
    s.top_entropy_quantile = 1.0
    s.off_policy_mask_threshold = None
    s.importance_sampling_level = "token"
    s.beta = case["beta"]
    s.args = types.SimpleNamespace(use_bias_correction_kl=False, delta=None)
    s.loss_type = case["loss_type"]
    s.epsilon_low, s.epsilon_high = case["epsilon"], case["epsilon_high"]
    s.use_vllm = False
    s.vllm_importance_sampling_correction = False
    s.current_gradient_accumulation_steps = grad_accum
    s.max_completion_length = MAX_COMPLETION_LENGTH
    s.accelerator = types.SimpleNamespace(num_processes=1, gather=lambda x: x, reduce=lambda x, reduction="sum": x)
    s._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    f = GRPOTrainer._get_per_token_logps_and_entropies
    s._get_per_token_logps_and_entropies = types.MethodType(getattr(f, "__wrapped__", f), s)
    s.compute = types.MethodType(GRPOTrainer._compute_loss, s)
    return s


def inputs_for(batch, idx, case, model, total_tokens):
    prompts = [batch["prompts"][batch["completions"][i]["prompt"]]["ids"] for i in idx]
    comps = [batch["completions"][i]["ids"] for i in idx]
    pid, pmask = pad(prompts, 0, left=True)
    cid, cmask = pad(comps, 0, left=False)
    x = {"prompt_ids": pid, "prompt_mask": pmask, "completion_ids": cid, "completion_mask": cmask,
         "advantages": torch.tensor([batch["advantages"][i] for i in idx], dtype=torch.float32),
         "num_items_in_batch": torch.tensor(total_tokens)}
    if case["old"]:
        old = torch.zeros(cid.shape, dtype=torch.float32)
        for r, i in enumerate(idx):
            o = batch["completions"][i]["old_logps"]
            old[r, :len(o)] = torch.tensor(o, dtype=torch.float32)
        x["old_per_token_logps"] = old
    if case["beta"] != 0:
        stub = trl_stub(model, case, 1)
        with torch.no_grad(), model.disable_adapter():
            ref, _, _ = stub._get_per_token_logps_and_entropies(model, torch.cat([pid, cid], 1), torch.cat([pmask, cmask], 1),
                                                                 cid.size(1))
        x["ref_per_token_logps"] = ref
    return x


def written_out(model, batch, split, case, total_tokens):
    """The formula again, without TRL: per-sequence forwards (no padding), float64 sums."""
    T, eps_lo, eps_hi, beta = case["temperature"], case["epsilon"], case["epsilon_high"], case["beta"]
    G = len(split)
    total = 0.0
    for mb in split:
        B = len(mb)
        for i in mb:
            c = batch["completions"][i]
            p = batch["prompts"][c["prompt"]]["ids"]
            ids = torch.tensor([p + c["ids"]])
            logits = model(input_ids=ids, use_cache=False).logits[0, :-1] / T
            lp = torch.log_softmax(logits.double(), -1).gather(1, ids[0, 1:, None])[:, 0][len(p) - 1:]
            old = torch.tensor(c["old_logps"], dtype=torch.float64) if case["old"] else lp.detach()
            ratio = torch.exp(lp - old)
            A = batch["advantages"][i]
            per = -torch.min(ratio * A, torch.clamp(ratio, 1 - eps_lo, 1 + eps_hi) * A)
            if beta != 0:
                with torch.no_grad(), model.disable_adapter():
                    rl = torch.log_softmax((model(input_ids=ids, use_cache=False).logits[0, :-1] / T).double(), -1)
                    ref = rl.gather(1, ids[0, 1:, None])[:, 0][len(p) - 1:]
                per = per + beta * (torch.exp(ref - lp) - (ref - lp) - 1)
            n = len(c["ids"])
            if case["loss_type"] == "grpo":
                total += float(per.sum()) / n / B / G
            elif case["loss_type"] == "dr_grpo":
                total += float(per.sum()) / (B * MAX_COMPLETION_LENGTH) / G
            else:
                total += float(per.sum()) / total_tokens
    return total


THINK_CASES = [
    "<think>\nreasoning\n</think>\nThe answer is B.", "<think>x</think>", "<think></think>", "<think>a</think>b</think>c",
    "<think>a<think>b</think>c", " <think>a</think>b", "\n<think>a</think>b", "<think>a\n\nb", "answer first <think>a</think>",
    "<think>\r\nline\r\n</think>\r\n", "<THINK>a</THINK>b", "<think>a</think>\n<think>", "</think><think>a</think>",
    "<think>多行\n推理</think>答案", "", "<think>", "<think>a</think >b", "<think> </think>\n\n",
]
NORMALIZE_CASES = [
    "Parvovirus B19 infection", "  The   answer: Parvovirus-B19 infection! ", "an apple a day", "theory of the case",
    "A", "(B)", "Vitamin B12 deficiency.", "Thé café", "O'Brien's sign", "a\tb\nc", "THE END", "anaemia; an anemia",
    "x—the—y", "", "...", "The", "two  words",
]
OVERLONG_CASES = [(0, 192, 64), (192, 192, 64), (193, 192, 64), (224, 192, 64), (256, 192, 64), (257, 192, 64),
                  (10, 8, 0), (8, 8, 0), (5, 4, 3), (7, 4, 3), (6, 4, 3)]


def normalize_answer(s):
    """SQuAD v1.1's evaluation script (the definition answer_mode = "normalized" follows)."""
    import re
    import string

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def write_rewards():
    """rewards.json: TRL's think_format_reward and soft overlong punishment, SQuAD's normalize_answer, on edge cases."""
    from trl.rewards import get_soft_overlong_punishment, think_format_reward
    os.makedirs(OUT, exist_ok=True)
    think = think_format_reward([[{"content": t}] for t in THINK_CASES])
    overlong = [get_soft_overlong_punishment(t + c, c)([[0] * n])[0] for n, t, c in OVERLONG_CASES]
    write_json(os.path.join(OUT, "rewards.json"), {
        "think_format": [{"text": t, "reward": r} for t, r in zip(THINK_CASES, think)],
        "normalize_answer": [{"text": t, "normalized": normalize_answer(t)} for t in NORMALIZE_CASES],
        "soft_overlong": [{"length": n, "target": t, "cache": c, "reward": r} for (n, t, c), r in zip(OVERLONG_CASES, overlong)]})


def main():
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging
    import peft
    import trl
    from trl.rewards import think_format_reward
    from trl.trainer.utils import nanstd
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    assert trl.__version__ == "1.9.0", f"TRL {trl.__version__}: the fixtures follow v1.9.0"
    write_rewards()
    if "--rewards-only" in sys.argv:
        return

    setup_determinism()
    os.makedirs(OUT, exist_ok=True)
    tok = load_tokenizer()
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
    if os.path.exists(os.path.join(OUT, "README.md")):
        os.remove(os.path.join(OUT, "README.md"))

    # Prompts and completions.
    with open(DATA, encoding="utf-8") as f:
        rows = json.load(f)
    eos = tok.eos_token_id
    prompts, completions = [], []
    for pi, r in enumerate(ROWS):
        text = tok.apply_chat_template([{"role": "user", "content": rows[r]["question"] + "\n\n" + options_text(rows[r]["options"])}],
                                       add_generation_prompt=True, tokenize=False)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        prompts.append({"row": r, "ids": ids})
        for g, comp in enumerate(sample(model, ids, NUM_GENERATIONS, eos)):
            completions.append({"prompt": pi, "row": r, "generation": g, "ids": comp})
    completions[0]["ids"] = completions[0]["ids"][:7] + [eos]
    texts = tok.batch_decode([c["ids"] for c in completions], skip_special_tokens=True)
    fmt = think_format_reward([[{"content": t}] for t in texts])
    values = torch.tensor([[fmt[i], FIXED_REWARD[i]] for i in range(len(completions))], dtype=torch.float32)

    # TRL's advantages (sum_then_normalize, scale_rewards = "group").
    w = torch.tensor(REWARD_WEIGHTS, dtype=torch.float32)
    rewards = (values * w.unsqueeze(0)).nansum(dim=1)
    mean = torch.nanmean(rewards.view(-1, NUM_GENERATIONS), dim=1).repeat_interleave(NUM_GENERATIONS, dim=0)
    std = nanstd(rewards.view(-1, NUM_GENERATIONS), dim=1).repeat_interleave(NUM_GENERATIONS, dim=0)
    advantages = (rewards - mean) / (std + 1e-4)
    zero = torch.isclose(std, torch.zeros_like(std)).float().mean().item()

    # Old log-probs: the policy's (temperature 1, per completion alone) plus seeded noise.
    noise = torch.Generator().manual_seed(NOISE_SEED)
    with torch.no_grad():
        for c in completions:
            p = prompts[c["prompt"]]["ids"]
            ids = torch.tensor([p + c["ids"]])
            lp = torch.log_softmax(model(input_ids=ids, use_cache=False).logits[0, :-1], -1).gather(1, ids[0, 1:, None])[:, 0]
            lp = lp[len(p) - 1:]
            c["old_logps"] = (lp + torch.randn(lp.shape, generator=noise) * NOISE_STD).tolist()
    batch = {"prompts": prompts, "completions": completions, "advantages": advantages.tolist()}
    total_tokens = sum(len(c["ids"]) for c in completions)
    write_json(os.path.join(OUT, "batch.json"), {
        "prompts": prompts, "completions": [{**c, "text": t, "rewards": values[i].tolist()} for i, (c, t) in enumerate(zip(completions, texts))],
        "reward_names": ["think_format", "fixed"], "reward_weights": REWARD_WEIGHTS,
        "trl": {"rewards": rewards.tolist(), "advantages": advantages.tolist(), "frac_reward_zero_std": zero}}, compact=True)

    all_grads, cases = {}, []
    for case in CASES:
        out = dict(case)
        for split_name, split in SPLITS.items():
            model.zero_grad(set_to_none=True)
            stub = trl_stub(model, case, len(split))
            loss = 0.0
            for mb in split:
                x = inputs_for(batch, mb, case, model, total_tokens)
                l = stub.compute(model, x)
                l.backward()
                loss += l.item()
            m = {k: sum(v) / len(v) for k, v in stub._metrics["train"].items()}
            grads = {n: p.grad.detach().clone() for n, p in lora_params(model)}
            if split_name == "one":
                first = grads
                for n, g in grads.items():
                    all_grads[f"{case['name']}.{n}"] = g.contiguous()
            else:
                out["split_grad_rel_l2_max"] = max(float((grads[n] - first[n]).norm() / first[n].norm()) for n in grads)
            norm = math.sqrt(sum(float(g.double().norm()) ** 2 for g in grads.values()))
            with torch.no_grad():
                w_loss = written_out(model, batch, split, case, total_tokens)
            out[split_name] = {"loss": loss, "grad_norm": norm, "kl": m.get("kl"), "clip_low": m["clip_ratio/low_mean"],
                               "clip_high": m["clip_ratio/high_mean"], "clip_region": m["clip_ratio/region_mean"],
                               "written_out_loss": w_loss, "written_out_abs_diff": abs(w_loss - loss)}
            print(f"{case['name']} {split_name}: loss {loss!r} (written out {w_loss!r}) grad norm {norm:.6g} "
                  f"clip low {m['clip_ratio/low_mean']:.3f} high {m['clip_ratio/high_mean']:.3f} kl {m.get('kl')}", flush=True)
            assert abs(w_loss - loss) < 1e-5, "TRL's loss and the written-out formula disagree"
        cases.append(out)
    save_file(all_grads, os.path.join(OUT, "grads.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(OUT, "cases.json"), {
        "script": SCRIPT, **versions(), "peft": peft.__version__, "trl": trl.__version__,
        "model": "models/SmolLM2-135M-Instruct.Q4_1.gguf (transformers GGUF loader, dequantised to float32, eager attention)",
        "settings": {"rows": ROWS, "source": "../shared/data/medical_o1_en_160.json", "num_generations": NUM_GENERATIONS,
                     "max_completion_length": MAX_COMPLETION_LENGTH, "completion_tokens": total_tokens,
                     "lora": {"r": RANK, "lora_alpha": ALPHA, "target_modules": TARGETS, "init_seed": INIT_SEED, "b_std": B_STD},
                     "old_logp_noise_std": NOISE_STD, "splits": SPLITS},
        "cases": cases})
    for f in sorted(os.listdir(OUT)):
        print(f"{f}: {os.path.getsize(os.path.join(OUT, f))} bytes")


if __name__ == "__main__":
    main()
