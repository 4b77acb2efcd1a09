#!/usr/bin/env python3
"""GGUF versions of the tiny Llama-3 / Qwen2 fixtures, and reference logits for them.

Writes (relative to the repository root):

  Tests/Fixtures/tiny-gguf/tiny-llama3.gguf   from Tests/Fixtures/tiny-llama3 (llama, llama3 RoPE scaling, tied)
  Tests/Fixtures/tiny-gguf/tiny-qwen2.gguf    from Tests/Fixtures/tiny-qwen2  (qwen2, q/k/v bias, untied)
  Tests/Fixtures/tiny-gguf/refs.json          per model: tensor types, prompts (text, ids), last-position
                                              logits, 24-token greedy continuations, checks

Conversion follows llama.cpp's convert_hf_to_gguf.py (LlamaModel / Qwen2Model, _set_vocab_gpt2):
GGUF tensor names, llama-only Q/K row `permute` (HF rotate-half -> interleaved pairs), Llama-3
RoPE scaling as an F32 `rope_freqs.weight` tensor of per-frequency divisors (LlamaModel.
generate_extra_tensors; no rope.scaling.* keys), tokenizer as tokenizer.ggml.* (model "gpt2") with
gguf-py's SpecialVocab for merges / special ids / add_bos / chat template. One deliberate difference:
llama.cpp reads original_max_position_embeddings from the top level of config.json (default 8192,
which is what Llama-3.x has inside rope_scaling); these tiny configs hold it (64) in rope_scaling,
so it is read from there to keep the GGUF equivalent to the HF model.
2-D weights are quantised with gguf-py (Q8_0 / Q5_1 / Q5_0 / Q4_1 / Q4_0; ffn_down rows are 172
long, not a multiple of 32, so they stay F16 / BF16); norms, biases and rope_freqs are F32.

Reference: NOT transformers' GGUF loader (it drops rope_freqs); the original HF model in float32 with
every 2-D weight replaced by gguf-py's dequantize(quantize(w)), i.e. exactly the values stored in
the GGUF, in HF layout. As a self-check the script also loads each GGUF with transformers' own GGUF
loader and records how far its logits are from the reference (expected: ~0 for qwen2; for llama3
only the long prompt moves, because that loader ignores rope_freqs.weight).

CPU, float32, eager attention, 1 thread. Usage: make_gguf_model_references.py
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_references import LONG, f32, f32list, greedy, logits_of, setup_determinism, versions, \
    write_json  # noqa: E402

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q  # noqa: E402
from gguf.quants import dequantize, quantize  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
OUT = os.path.join(FIX, "tiny-gguf")
SCRIPT = "scripts/make_gguf_model_references.py"
N_NEW = 24

# GGUF type per tensor kind and layer (layers differ so that both layers exercise different kernels).
TYPES = {
    "tiny-llama3": {
        "token_embd": Q.F16,
        "attn_q": [Q.Q8_0, Q.Q5_1], "attn_k": [Q.Q8_0, Q.Q5_1], "attn_v": [Q.Q8_0, Q.Q8_0],
        "attn_output": [Q.Q8_0, Q.Q4_1],
        "ffn_gate": [Q.Q4_1, Q.Q4_0], "ffn_up": [Q.Q5_0, Q.Q4_1], "ffn_down": [Q.F16, Q.F16],
    },
    "tiny-qwen2": {
        "token_embd": Q.F16, "output": Q.Q8_0,
        "attn_q": [Q.Q8_0, Q.Q5_0], "attn_k": [Q.Q8_0, Q.Q5_0], "attn_v": [Q.Q5_1, Q.Q8_0],
        "attn_output": [Q.Q8_0, Q.Q4_0],
        "ffn_gate": [Q.Q4_0, Q.Q5_1], "ffn_up": [Q.Q4_1, Q.Q5_0], "ffn_down": [Q.BF16, Q.BF16],
    },
}

HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
}

CHINESE = "患者头痛三天，伴有发热，请问应该怎么办？"
ENGLISH = "Paris is the capital of France, and Berlin is the capital of Germany."
CHAT_USER = "What causes a headache?"


def permute(w, n_head, n_head_kv):
    """llama.cpp LlamaModel.permute: HF rotate-half rows -> interleaved RoPE pairs, per head."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def llama3_rope_factors(hp):
    """llama.cpp LlamaModel.generate_extra_tensors (see the module docstring for the one difference)."""
    rs = hp["rope_scaling"]
    base = hp.get("rope_theta", 10000.0)
    dim = hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor = rs.get("factor", 8.0)
    low_freq_factor = rs.get("low_freq_factor", 1.0)
    high_freq_factor = rs.get("high_freq_factor", 4.0)
    old_context_len = rs.get("original_max_position_embeddings", hp.get("original_max_position_embeddings", 8192))
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    rope_factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            rope_factors.append(1)
        elif wavelen > low_freq_wavelen:
            rope_factors.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            rope_factors.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(rope_factors, dtype=torch.float32)


def store(w, qtype):
    """(bytes-or-array for GGUFWriter, float32 values the reader will see)."""
    w = np.ascontiguousarray(w, dtype=np.float32)
    if qtype == Q.F32:
        return w, w
    if qtype == Q.F16:
        h = w.astype(np.float16)
        return h, h.astype(np.float32)
    q = quantize(w, qtype)
    dq = dequantize(q, qtype)
    assert dq.shape == w.shape, (dq.shape, w.shape)
    return q, dq.astype(np.float32)


def vocab_base(tok, vocab_size):
    """llama.cpp TextModel.get_vocab_base (tokens and token types; pre-tokenizer named by the caller)."""
    reverse = {i: t for t, i in tok.vocab.items()}
    added = tok.get_added_vocab()
    dec = tok.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        t = reverse[i]
        if t in added:
            if not dec[i].normalized:
                t = tok.decode(tok.encode(t, add_special_tokens=False))
            if dec[i].special:
                types.append(gguf.TokenType.CONTROL)
            else:
                types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(t)
    return tokens, types


def convert(kind, model, tok, hp, path):
    """Writes the GGUF; returns {hf_param_name: float32 values stored (HF layout)} and the tensor table."""
    arch = "llama" if kind == "tiny-llama3" else "qwen2"
    types = TYPES[kind]
    n_head, n_kv = hp["num_attention_heads"], hp["num_key_value_heads"]
    w = gguf.GGUFWriter(path, arch)
    w.add_name(kind)
    w.add_block_count(hp["num_hidden_layers"])
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(float(model.config.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    if hp.get("head_dim"):
        w.add_key_length(hp["head_dim"])
        w.add_value_length(hp["head_dim"])
    if arch == "llama":
        w.add_vocab_size(hp["vocab_size"])
        w.add_rope_dimension_count(hp.get("head_dim") or hp["hidden_size"] // n_head)
    else:
        w.add_rope_dimension_count(hp["hidden_size"] // n_head)

    folder = os.path.join(FIX, kind)
    tokens, toktypes = vocab_base(tok, hp["vocab_size"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe" if arch == "llama" else "qwen2")
    w.add_token_list(tokens)
    w.add_token_types(toktypes)
    sv = gguf.SpecialVocab(folder, load_merges=True, n_vocab=len(tokens))
    sv.add_to_gguf(w, quiet=True)
    eot = tok.convert_tokens_to_ids("<|eot_id|>" if arch == "llama" else "<|im_end|>")
    w.add_eot_token_id(eot)

    stored, table = {}, []

    def put(gname, hf_name, t, qtype, perm=None):
        a = t.detach().to(torch.float32).numpy()
        if perm is not None:
            a = permute(a, n_head, perm)
        data, vals = store(a, qtype)
        if perm is not None:  # the HF model sees the un-permuted (original row order) values
            inv = np.argsort(permute(np.arange(a.shape[0]), n_head, perm))
            vals = vals[inv]
        w.add_tensor(gname, data, raw_dtype=qtype if data.dtype == np.uint8 else None)
        if hf_name is not None:
            stored[hf_name] = vals
        table.append({"name": gname, "type": qtype.name, "shape": list(a.shape)})

    sd = model.state_dict()
    if arch == "llama" and (hp.get("rope_scaling") or {}).get("rope_type") == "llama3":
        put("rope_freqs.weight", None, llama3_rope_factors(hp), Q.F32)
    put("token_embd.weight", "model.embed_tokens.weight", sd["model.embed_tokens.weight"], types["token_embd"])
    for i in range(hp["num_hidden_layers"]):
        for hf, gg in HF_TO_GGUF.items():
            for suffix in ("weight", "bias"):
                name = f"model.layers.{i}.{hf}.{suffix}"
                if name not in sd:
                    continue
                t = sd[name]
                perm = None
                if arch == "llama" and gg in ("attn_q", "attn_k"):
                    perm = n_head if gg == "attn_q" else n_kv
                qtype = types[gg][i] if (t.dim() == 2) else Q.F32
                put(f"blk.{i}.{gg}.{suffix}", name, t, qtype, perm)
    put("output_norm.weight", "model.norm.weight", sd["model.norm.weight"], Q.F32)
    if not hp.get("tie_word_embeddings", False):
        put("output.weight", "lm_head.weight", sd["lm_head.weight"], types["output"])

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return stored, table


def prompts_for(kind, tok):
    long_text = ""
    for sentence in LONG.split(". "):           # the shortest sentence prefix of >= 120 tokens
        long_text = (long_text + ". " if long_text else "") + sentence
        if len(tok(long_text).input_ids) >= 120:
            break
    out = []
    for name, text in (("english", ENGLISH), ("chinese", CHINESE), ("long", long_text)):
        out.append({"name": name, "text": text, "add_special_tokens": True, "ids": tok(text).input_ids})
    chat_text = tok.apply_chat_template([{"role": "user", "content": CHAT_USER}], add_generation_prompt=True,
                                        tokenize=False)
    chat_ids = tok.apply_chat_template([{"role": "user", "content": CHAT_USER}], add_generation_prompt=True,
                                       tokenize=True, return_dict=True)["input_ids"]
    assert list(chat_ids) == tok(chat_text, add_special_tokens=False).input_ids
    out.append({"name": "chat", "text": chat_text, "add_special_tokens": False, "ids": list(chat_ids)})
    long_ids = out[2]["ids"]
    assert 120 <= len(long_ids) <= 512 - N_NEW, len(long_ids)
    return out


@torch.inference_mode()
def transformers_gguf_check(kind, path, prompts, ablated):
    """Max |Δ| of transformers' own GGUF loader against our reference, per prompt (or the error), and
    against the reference model without its feature (`ablated`: llama3 -> no RoPE scaling)."""
    from transformers import AutoModelForCausalLM
    try:
        m = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                 dtype=torch.float32, attn_implementation="eager")
    except Exception as e:  # noqa: BLE001 - this is a report, not a requirement
        return {"loaded": False, "error": f"{type(e).__name__}: {e}"[:300]}
    m.eval()
    diffs, diffs_ablated = {}, {}
    for p in prompts:
        got = logits_of(m, p["ids"])[-1]
        diffs[p["name"]] = f32(float((got - torch.tensor(p["last_logits"])).abs().max()))
        diffs_ablated[p["name"]] = f32(float((got - logits_of(ablated, p["ids"])[-1]).abs().max()))
    rp = getattr(m.config, "rope_parameters", None)
    out = {"loaded": True, "rope_parameters": rp, "max_abs_diff_last_logits": diffs}
    if kind == "tiny-llama3":
        out["max_abs_diff_last_logits_vs_reference_without_rope_scaling"] = diffs_ablated
    return out


@torch.inference_mode()
def one(kind):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    folder = os.path.join(FIX, kind)
    tok = AutoTokenizer.from_pretrained(folder)
    with open(os.path.join(folder, "config.json")) as f:
        hp = json.load(f)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    path = os.path.join(OUT, f"{kind}.gguf")
    stored, table = convert(kind, model, tok, hp, path)

    # The reference model: the HF model with exactly the stored values.
    sd = model.state_dict()
    n_changed = 0
    for name, vals in stored.items():
        t = torch.from_numpy(np.array(vals))
        assert t.shape == sd[name].shape, (name, t.shape, sd[name].shape)
        n_changed += int(not torch.equal(t, sd[name]))
        sd[name].copy_(t)
    if hp.get("tie_word_embeddings"):
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()

    # Cross-check the file with gguf-py's reader: types and (dequantised, un-permuted) values.
    r = gguf.GGUFReader(path)
    rt = {t.name: t for t in r.tensors}
    for e in table:
        assert rt[e["name"]].tensor_type.name == e["type"], e
    n_head, n_kv = hp["num_attention_heads"], hp["num_key_value_heads"]
    for name, vals in stored.items():
        gname = "token_embd.weight" if name == "model.embed_tokens.weight" else \
            "output.weight" if name == "lm_head.weight" else "output_norm.weight" if name == "model.norm.weight" else None
        if gname is None:
            i = int(name.split(".")[2])
            hf = ".".join(name.split(".")[3:-1])
            gname = f"blk.{i}.{HF_TO_GGUF[hf]}.{name.split('.')[-1]}"
        t = rt[gname]
        got = dequantize(np.array(t.data), t.tensor_type).reshape(vals.shape).astype(np.float32)
        if kind == "tiny-llama3" and (".attn_q." in gname or ".attn_k." in gname):
            got = permute(vals, n_head, n_head if ".attn_q." in gname else n_kv)
            want = dequantize(np.array(t.data), t.tensor_type).reshape(vals.shape)
            assert np.array_equal(got, want), gname
        else:
            assert np.array_equal(got, vals), gname

    prompts = prompts_for(kind, tok)
    for p in prompts:
        p["last_logits"] = f32list(logits_of(model, p["ids"])[-1])
    eot = tok.convert_tokens_to_ids("<|eot_id|>" if kind == "tiny-llama3" else "<|im_end|>")
    eos_ids = {tok.eos_token_id, eot}
    eos_ids.add(tok.convert_tokens_to_ids("<|end_of_text|>" if kind == "tiny-llama3" else "<|endoftext|>"))
    runs = []
    for p in prompts:
        g = greedy(model, p["ids"], N_NEW, eos_ids)
        runs.append({"prompt": p["name"], "new_ids": g["new_ids"], "min_margin": g["min_margin"],
                     "safe_prefix_len": next((k for k, m in enumerate(g["margins"]) if m < 1e-3), N_NEW),
                     "eos_at": g["eos_at"], "margins": g["margins"]})

    # How much the model-specific feature matters (the Swift negative control mirrors the llama3 one).
    long_ids = next(p for p in prompts if p["name"] == "long")["ids"]
    long_ref = torch.tensor(next(p for p in prompts if p["name"] == "long")["last_logits"])
    import copy
    m2 = copy.deepcopy(model)
    if kind == "tiny-llama3":
        c = copy.deepcopy(m2.config)
        c.rope_parameters = {"rope_type": "default", "rope_theta": c.rope_parameters["rope_theta"]}
        m2.model.rotary_emb = type(m2.model.rotary_emb)(config=c)
        ablation_key = "long_last_logits_change_without_rope_scaling"
    else:
        for layer in m2.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.zero_()
        ablation_key = "long_last_logits_change_without_qkv_bias"
    ablation = float((logits_of(m2, long_ids)[-1] - long_ref).abs().max())
    # Quantisation effect: the GGUF model against the original HF one (just informative).
    orig = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    quant_effect = max(float((logits_of(orig, p["ids"])[-1] - torch.tensor(p["last_logits"])).abs().max())
                       for p in prompts)
    del orig
    tf_check = transformers_gguf_check(kind, path, prompts, m2)
    del m2

    entry = {
        "file": f"{kind}.gguf", "architecture": "llama" if kind == "tiny-llama3" else "qwen2",
        "source": f"Tests/Fixtures/{kind}", "file_bytes": os.path.getsize(path),
        "vocab_size": hp["vocab_size"], "tensors": table,
        "rope_freqs": (llama3_rope_factors(hp).tolist() if kind == "tiny-llama3" else None),
        "prompts": prompts,
        "greedy": {"max_new_tokens": N_NEW, "stop_on_eos": False, "eos_ids": sorted(eos_ids),
                   "note": "argmax with KV cache; safe_prefix_len = leading steps with top1-top2 margin >= 1e-3",
                   "results": runs},
        "checks": {ablation_key: f32(ablation),
                   "max_abs_diff_vs_unquantised_hf_model": f32(quant_effect),
                   "weights_changed_by_quantisation": n_changed,
                   "transformers_gguf_loader": tf_check},
    }
    print(f"{kind}: {os.path.getsize(path)} bytes, prompts {[(p['name'], len(p['ids'])) for p in prompts]}, "
          f"ablation {ablation:.3f}, quantisation effect {quant_effect:.3f}")
    for r_ in runs:
        print(f"  greedy {r_['prompt']}: min margin {r_['min_margin']}, safe {r_['safe_prefix_len']}, "
              f"{tok.decode(r_['new_ids'])[:60]!r}")
    print(f"  transformers GGUF loader: {json.dumps(tf_check)[:400]}")
    return entry


def main():
    setup_determinism()
    os.makedirs(OUT, exist_ok=True)
    refs = {"script": SCRIPT, **versions(), "gguf": gguf.__version__ if hasattr(gguf, "__version__") else "0.19",
            "compute": "float32, eager attention, 1 thread; HF model with each weight replaced by the "
                       "dequantised values stored in the GGUF",
            "models": {}}
    for kind in ("tiny-llama3", "tiny-qwen2"):
        refs["models"][kind] = one(kind)
    write_json(os.path.join(OUT, "refs.json"), refs, compact=True)


if __name__ == "__main__":
    main()
