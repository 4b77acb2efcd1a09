"""Seed files for the fuzz targets (Fuzz/Corpus, Fuzz/Support) that no fixture provides: micro
GGUF models (llama with a tied head, qwen2 with q/k/v biases) carrying a byte-level BPE tokenizer
and a chat template, trimmed tokenizer.json files (llama3-style split + post-processor, qwen2 NFC),
and the shard that must never be loaded through a model.safetensors.index.json (it lives outside
the model folder). Small on purpose: libFuzzer mutates faster on small inputs.

    /work/venv-fuzz/bin/python scripts/make_fuzz_seeds.py   (gguf==0.19.0, numpy, safetensors)
Deterministic: re-running writes identical files.
"""
import json
import os

import gguf
import numpy as np
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "Corpus")
SUPPORT = os.path.join(ROOT, "Fuzz", "Support")


def byte_chars():
    """GPT-2's bytes_to_unicode, in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def micro_vocab():
    tokens = byte_chars()
    merges = [("H", "e"), ("l", "l"), ("He", "ll"), ("Ġ", "w"), ("o", "r"), ("Ġw", "or")]
    for a, b in merges:
        tokens.append(a + b)
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    return tokens, merges, special


SMOLLM2_TEMPLATE = open(os.path.join(ROOT, "Tests", "Fixtures", "chat_templates", "smollm2_135m_instruct.jinja")).read()


def micro_gguf(path, arch):
    rng = np.random.default_rng(7)
    tokens, merges, special = micro_vocab()
    all_tokens = tokens + special
    vocab, d, heads, kv, ff = len(all_tokens), 16, 2, 1, 32
    hd = d // heads
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(d)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm" if arch == "llama" else "qwen2")
    w.add_token_list(all_tokens)
    w.add_token_types([1] * len(tokens) + [3] * len(special))
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    w.add_bos_token_id(len(tokens) + 1)
    w.add_eos_token_id(len(tokens) + 2)
    w.add_chat_template(SMOLLM2_TEMPLATE)

    def t(name, shape, dtype=np.float32):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.1).astype(dtype))

    t("token_embd.weight", (vocab, d), np.float16)
    t("blk.0.attn_norm.weight", (d,))
    t("blk.0.attn_q.weight", (heads * hd, d), np.float16)
    t("blk.0.attn_k.weight", (kv * hd, d))
    t("blk.0.attn_v.weight", (kv * hd, d))
    if arch == "qwen2":
        t("blk.0.attn_q.bias", (heads * hd,))
        t("blk.0.attn_k.bias", (kv * hd,))
        t("blk.0.attn_v.bias", (kv * hd,))
    t("blk.0.attn_output.weight", (d, heads * hd))
    t("blk.0.ffn_norm.weight", (d,))
    t("blk.0.ffn_gate.weight", (ff, d))
    t("blk.0.ffn_up.weight", (ff, d))
    t("blk.0.ffn_down.weight", (d, ff))
    t("output_norm.weight", (d,))
    if arch == "qwen2":
        t("output.weight", (vocab, d), np.float16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def micro_tokenizer_json(path):
    tokens, merges, special = micro_vocab()
    vocab = {tok: i for i, tok in enumerate(tokens)}
    added = [{"id": len(tokens) + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(special)]
    doc = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }
    with open(path, "w") as f:
        json.dump(doc, f, ensure_ascii=False, indent=None)


def trimmed_tokenizer_json(src, path, keep=300):
    """A real tokenizer.json with the vocabulary cut to its first `keep` ids (and the merges that
    stay inside it): same pre-tokenizer, normalizer, post-processor and added tokens."""
    doc = json.load(open(src))
    model = doc["model"]
    vocab = {t: i for t, i in model["vocab"].items() if i < keep}
    merges = []
    for m in model["merges"]:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    model["vocab"], model["merges"] = vocab, merges
    for i, t in enumerate(doc["added_tokens"]):
        t["id"] = keep + i
    pp = doc.get("post_processor")
    if pp and pp.get("type") == "Sequence":
        for p in pp["processors"]:
            for tok in (p.get("special_tokens") or {}).values():
                tok["ids"] = [keep + [a["content"] for a in doc["added_tokens"]].index(tok["id"])]
    with open(path, "w") as f:
        json.dump(doc, f, ensure_ascii=False)


def main():
    os.makedirs(os.path.join(CORPUS, "gguf"), exist_ok=True)
    os.makedirs(os.path.join(CORPUS, "tokenizer-json"), exist_ok=True)
    os.makedirs(SUPPORT, exist_ok=True)
    micro_gguf(os.path.join(CORPUS, "gguf", "micro-llama.gguf"), "llama")
    micro_gguf(os.path.join(CORPUS, "gguf", "micro-qwen2.gguf"), "qwen2")
    micro_tokenizer_json(os.path.join(CORPUS, "tokenizer-json", "micro-bytelevel.json"))
    fx = os.path.join(ROOT, "Tests", "Fixtures")
    trimmed_tokenizer_json(os.path.join(fx, "tiny-llama3", "tokenizer.json"), os.path.join(CORPUS, "tokenizer-json", "trimmed-llama3.json"))
    trimmed_tokenizer_json(os.path.join(fx, "tokenizer", "qwen2", "tokenizer.json"), os.path.join(CORPUS, "tokenizer-json", "trimmed-qwen2.json"))
    save_file({"outside": np.arange(4, dtype=np.float32)}, os.path.join(SUPPORT, "outside.safetensors"))


if __name__ == "__main__":
    main()
