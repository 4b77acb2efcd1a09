#!/usr/bin/env python3
"""PEFT LoRA adapter and merged-model references (Tests/Fixtures/peft/).

Two stages, because the second one checks files TuneLab wrote from the first one's adapters:

  make_peft_references.py adapters
      PEFT adapters with random non-zero A and B (get_peft_model, then seeded values) and PEFT's
      logits for them:
        tiny-llama3/adapter/        PeftModel.save_pretrained (F32), r=4, alpha=8, all 7 projections
        tiny-qwen2/adapter/         r=8, alpha=16, use_rslora, 5 projections; tensors stored as BF16
                                    under names with the ".default" adapter infix (as other writers do)
        tiny-gguf-llama3/adapter/   r=2, alpha=4, all 7 projections, F16; base = the tiny-llama3 GGUF
                                    (dequantised by gguf-py, Q/K rows un-permuted: the values TuneLab sees)
        */refs.json                 prompts (text, ids) and PEFT's last-position logits (float32)
        rope_freqs.json             llama.cpp's rope_freqs divisors (convert_hf_to_gguf's formula) for Llama-3.1 /
                                    3.2 rope_scaling and a non-standard one, for the rope_freqs -> rope_scaling fit
  (then)  TUNELAB_WRITE_PEFT_FIXTURES=1 swift test --filter "savedFilesAreWhatPEFTWrites|mergeFixturesAreCurrent|exportFixtureIsCurrent"
      TuneLab writes tiny-llama3/tunelab-adapter/ (its save of the PEFT adapter), merged-tiny-qwen2/
      (bf16 merge of the HF folder), merged-tiny-gguf-llama3/ (f32 merge of the GGUF, with the
      tokenizer exported from GGUF metadata) and exported-tokenizer-tiny-qwen2/ (the tiny Qwen2 GGUF's
      tokenizer exported). Without the variable those tests compare instead.
  make_peft_references.py check
      checks.json: PEFT loads TuneLab's adapter (logits vs PEFT's own, byte equality of the
      safetensors with PEFT's save), transformers loads both merged folders (logits, and max |Δ|
      against the unmerged PEFT model), HF tokenizers / transformers load the exported tokenizers (ids on
      strings, chat template, bos/eos).

CPU, float32, eager attention, 1 thread, deterministic. Run with /opt/refvenv/bin/python.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_references import f32list, setup_determinism, versions, write_json  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
OUT = os.path.join(FIX, "peft")
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

PROMPTS = [
    ("english", "Paris is the capital of France, and Berlin is the capital of Germany."),
    ("chinese", "患者头痛三天，伴有发热，请问应该怎么办？"),
    ("code", "def add(a, b):\n    return a + b\n"),
]
# Strings for the exported tokenizer (special tokens, digits, CJK, whitespace runs, emoji).
TOKENIZER_STRINGS = [
    "Hello world", " leading space", "Numbers 1234567 and 3.14159", "患者头痛三天，伴有发热。",
    "tabs\tand\nnewlines\n\n  indented", "<|begin_of_text|>special<|eot_id|> tokens", "emoji 🙂👍 café naïve",
    "it's we'll THEY'RE", "",
]

ADAPTERS = {
    "tiny-llama3": dict(base="tiny-llama3", r=4, alpha=8, targets=ALL, rslora=False, dropout=0.05,
                        dtype=None, infix=False, seed=11),
    "tiny-qwen2": dict(base="tiny-qwen2", r=8, alpha=16, targets=["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
                       rslora=True, dropout=0.0, dtype=torch.bfloat16, infix=True, seed=12),
    "tiny-gguf-llama3": dict(base="tiny-gguf/tiny-llama3.gguf", r=2, alpha=4, targets=ALL, rslora=False, dropout=0.0,
                             dtype=torch.float16, infix=False, seed=13),
}


def hf_folder(spec):
    return os.path.join(FIX, "tiny-llama3" if spec.startswith("tiny-gguf") else spec)


def base_model(spec):
    """The base as TuneLab sees it: the HF folder in float32, or for a GGUF the HF model holding
    exactly the GGUF's dequantised values (llama Q/K rows un-permuted back to HF order)."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(hf_folder(spec), dtype=torch.float32, attn_implementation="eager").eval()
    if spec.endswith(".gguf"):
        import gguf
        from gguf.quants import dequantize
        from make_gguf_model_references import HF_TO_GGUF, permute
        r = gguf.GGUFReader(os.path.join(FIX, spec))
        c = model.config
        sd = model.state_dict()
        names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                 "output.weight": "lm_head.weight"}
        for i in range(c.num_hidden_layers):
            for hf, gg in HF_TO_GGUF.items():
                for s in ("weight", "bias"):
                    names[f"blk.{i}.{gg}.{s}"] = f"model.layers.{i}.{hf}.{s}"
        seen = set()
        for t in r.tensors:
            if t.name == "rope_freqs.weight":
                continue
            hf = names[t.name]
            v = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(sd[hf].shape)
            if ".attn_q." in t.name or ".attn_k." in t.name:
                n_kv = None if ".attn_q." in t.name else c.num_key_value_heads
                inv = np.argsort(permute(np.arange(v.shape[0]), c.num_attention_heads, n_kv))
                v = v[inv]
            sd[hf].copy_(torch.from_numpy(np.ascontiguousarray(v)))
            seen.add(hf)
        assert seen >= {k for k in sd if k != "lm_head.weight"}, set(sd) - seen
    return model


def prompts_for(spec):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(hf_folder(spec))
    return [{"name": n, "text": t, "ids": tok(t)["input_ids"]} for n, t in PROMPTS]


@torch.inference_mode()
def last_logits(model, ids):
    return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1]


def make_adapter(name, a):
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file, save_file
    setup_determinism()
    model = base_model(a["base"])
    cfg = LoraConfig(r=a["r"], lora_alpha=a["alpha"], target_modules=a["targets"], lora_dropout=a["dropout"],
                     use_rslora=a["rslora"], task_type="CAUSAL_LM")
    pm = get_peft_model(model, cfg).eval()
    g = torch.Generator().manual_seed(a["seed"])
    with torch.no_grad():
        for n, p in sorted(pm.named_parameters()):
            if "lora_A" in n or "lora_B" in n:
                v = torch.randn(p.shape, generator=g) * (0.2 if "lora_A" in n else 0.05)
                if a["dtype"] is not None:  # the reference uses the values the file will hold
                    v = v.to(a["dtype"]).to(torch.float32)
                p.copy_(v)
    folder = os.path.join(OUT, name, "adapter")
    os.makedirs(folder, exist_ok=True)
    base_name = "Tests/Fixtures/" + a["base"]
    pm.save_pretrained(folder)
    os.remove(os.path.join(folder, "README.md"))  # PEFT's model card template: nothing to test
    with open(os.path.join(folder, "adapter_config.json")) as f:
        c = json.load(f)
    c["base_model_name_or_path"] = base_name  # not the absolute path of the machine that made it
    c["target_modules"] = sorted(c["target_modules"])
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        f.write(json.dumps(c, indent=2, sort_keys=True))
    if a["dtype"] is not None or a["infix"]:
        path = os.path.join(folder, "adapter_model.safetensors")
        sd = load_file(path)
        out = {}
        for k, v in sd.items():
            if a["infix"]:
                k = k.replace(".lora_A.weight", ".lora_A.default.weight").replace(".lora_B.weight", ".lora_B.default.weight")
            out[k] = v.to(a["dtype"]) if a["dtype"] is not None else v
        save_file(out, path, metadata={"format": "pt"})

    prompts = prompts_for(a["base"])
    for p in prompts:
        p["peft_last_logits"] = f32list(last_logits(pm, p["ids"]))
        with torch.no_grad(), pm.disable_adapter():
            base = last_logits(pm, p["ids"])
        p["adapter_effect_max_abs"] = float((torch.tensor(p["peft_last_logits"]) - base).abs().max())
    # PEFT's own merge, for scale: how far merge_and_unload moves the logits in float32.
    merged = pm.merge_and_unload()
    merge_diff = max(float((last_logits(merged, p["ids"]) - torch.tensor(p["peft_last_logits"])).abs().max()) for p in prompts)
    write_json(os.path.join(OUT, name, "refs.json"), {
        "script": "scripts/make_peft_references.py", "versions": versions() | {"peft": __import__("peft").__version__},
        "base": base_name, "r": a["r"], "lora_alpha": a["alpha"], "use_rslora": a["rslora"], "target_modules": a["targets"],
        "tensor_dtype": str(a["dtype"] or torch.float32).replace("torch.", ""), "adapter_name_infix": a["infix"],
        "peft_merge_and_unload_max_abs_diff": merge_diff,
        "prompts": prompts,
    }, compact=True)
    print(f"{name}: adapter effect {min(p['adapter_effect_max_abs'] for p in prompts):.3f}.."
          f"{max(p['adapter_effect_max_abs'] for p in prompts):.3f}, PEFT merge diff {merge_diff:.2e}")


def rope_freqs():
    from make_gguf_model_references import llama3_rope_factors
    cases = [
        ("llama-3.1-8b", 500000.0, 128, dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192)),
        ("llama-3.2-1b", 500000.0, 64, dict(factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192)),
        ("custom", 10000.0, 32, dict(factor=4.0, low_freq_factor=2.0, high_freq_factor=8.0, original_max_position_embeddings=1024)),
    ]
    rows = []
    for name, theta, hd, rs in cases:
        hp = {"rope_theta": theta, "head_dim": hd, "rope_scaling": dict(rs, rope_type="llama3")}
        rows.append({"name": name, "rope_theta": theta, "head_dim": hd, "rope_scaling": hp["rope_scaling"],
                     "factors": f32list(llama3_rope_factors(hp))})
    write_json(os.path.join(OUT, "rope_freqs.json"), {"script": "scripts/make_peft_references.py",
                                                     "formula": "convert_hf_to_gguf LlamaModel.generate_extra_tensors",
                                                     "cases": rows})


def check():
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from tokenizers import Tokenizer
    setup_determinism()
    result = {"script": "scripts/make_peft_references.py", "versions": versions() | {"peft": __import__("peft").__version__}}

    # 1. TuneLab's save of the tiny-llama3 adapter, loaded by PEFT.
    ref = json.load(open(os.path.join(OUT, "tiny-llama3", "refs.json")))
    tl = os.path.join(OUT, "tiny-llama3", "tunelab-adapter")
    peft_bytes = open(os.path.join(OUT, "tiny-llama3", "adapter", "adapter_model.safetensors"), "rb").read()
    tl_bytes = open(os.path.join(tl, "adapter_model.safetensors"), "rb").read()
    pm = PeftModel.from_pretrained(base_model("tiny-llama3"), tl).eval()
    c = pm.peft_config["default"]
    diffs = [float((last_logits(pm, p["ids"]) - torch.tensor(p["peft_last_logits"])).abs().max()) for p in ref["prompts"]]
    result["tunelab_adapter"] = {
        "folder": "tiny-llama3/tunelab-adapter", "safetensors_bytes_equal_peft_save": tl_bytes == peft_bytes,
        "loaded_config": {"r": c.r, "lora_alpha": c.lora_alpha, "lora_dropout": c.lora_dropout, "use_rslora": c.use_rslora,
                          "target_modules": sorted(c.target_modules), "bias": c.bias, "task_type": c.task_type},
        "max_abs_diff_vs_peft_logits": max(diffs),
    }
    print("tunelab adapter in PEFT:", result["tunelab_adapter"])

    # 2. Merged folders written by TuneLab, loaded by transformers.
    result["merged"] = {}
    for folder, name in [("merged-tiny-qwen2", "tiny-qwen2"), ("merged-tiny-gguf-llama3", "tiny-gguf-llama3")]:
        path = os.path.join(OUT, folder)
        ref = json.load(open(os.path.join(OUT, name, "refs.json")))
        m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager").eval()
        rows, diffs = [], []
        for p in ref["prompts"]:
            lg = last_logits(m, p["ids"])
            rows.append({"name": p["name"], "ids": p["ids"], "last_logits": f32list(lg)})
            diffs.append(float((lg - torch.tensor(p["peft_last_logits"])).abs().max()))
        cfg = json.load(open(os.path.join(path, "config.json")))
        result["merged"][folder] = {"adapter": name, "dtype": cfg.get("dtype"), "architectures": cfg["architectures"],
                                    "max_abs_diff_vs_peft_unmerged": max(diffs), "prompts": rows}
        print(f"{folder} ({cfg.get('dtype')}): transformers vs PEFT unmerged max |d| {max(diffs):.3e}")

    # 3. Tokenizers TuneLab exported from GGUF metadata, against the original HF tokenizers.
    result["exported_tokenizers"] = {}
    for folder, source in [("merged-tiny-gguf-llama3", "tiny-llama3"), ("exported-tokenizer-tiny-qwen2", "tiny-qwen2")]:
        path = os.path.join(OUT, folder)
        orig = AutoTokenizer.from_pretrained(os.path.join(FIX, source))
        exported = AutoTokenizer.from_pretrained(path)
        raw = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        rows = []
        for s in TOKENIZER_STRINGS:
            want = orig(s, add_special_tokens=False)["input_ids"]
            want_special = orig(s)["input_ids"]
            rows.append({"text": s, "ids": want, "ids_with_special_tokens": want_special,
                         "transformers_equal": exported(s, add_special_tokens=False)["input_ids"] == want
                         and exported(s)["input_ids"] == want_special,
                         "tokenizers_equal": raw.encode(s, add_special_tokens=False).ids == want
                         and raw.encode(s).ids == want_special,
                         "decode_equal": exported.decode(want) == orig.decode(want)})
        chat = [{"role": "user", "content": "What causes a headache?"}]
        entry = {
            "folder": folder, "reference": f"Tests/Fixtures/{source} (AutoTokenizer)",
            "all_equal": all(r["transformers_equal"] and r["tokenizers_equal"] and r["decode_equal"] for r in rows),
            "chat_template_equal": exported.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            == orig.apply_chat_template(chat, tokenize=False, add_generation_prompt=True),
            "bos_eos_equal": (exported.bos_token, exported.eos_token) == (orig.bos_token, orig.eos_token),
            "strings": rows,
        }
        result["exported_tokenizers"][folder] = entry
        print(f"exported tokenizer {folder}: all equal", entry["all_equal"], "chat template equal",
              entry["chat_template_equal"], "bos/eos equal", entry["bos_eos_equal"])
    write_json(os.path.join(OUT, "checks.json"), result, compact=True)


def main():
    stage = sys.argv[1] if len(sys.argv) > 1 else ""
    if stage == "adapters":
        for name, a in ADAPTERS.items():
            make_adapter(name, a)
        rope_freqs()
    elif stage == "check":
        check()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
