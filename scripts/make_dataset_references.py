#!/usr/bin/env python3
"""Reference token ids / labels for the Dataset module (SFT "format" step).

Formats the first 8 rows of /work/shared/data/medical_o1_en_160.json and of
notebooks/data/medical-cot-sample.jsonl with notebooks/templates/medical-cot.txt, using
Python's str.format (an independent template implementation) and transformers' tokenizer
for SmolLM2 loaded from the GGUF. Boundary rule (same as the Swift module): prompt = the
template up to the first response placeholder ({Complex_CoT} or {Response}), tokenised with
special tokens; response = the rest, tokenised without; then eos_token_id. Labels: -100 on
the prompt, ids on response + EOS. Also records the whole text tokenised at once.
Writes Tests/Fixtures/dataset/smollm2_<name>.json (token ids only, no text of shared rows).

Usage: /opt/refvenv/bin/python scripts/make_dataset_references.py
"""
import json
import os
import re

from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "dataset")
N = 8


def load_template():
    with open(os.path.join(ROOT, "notebooks", "templates", "medical-cot.txt"), encoding="utf-8") as f:
        text = f.read()
    if text.endswith("\n"):
        text = text[:-1]
    m = re.search(r"(?<!\{)\{(Complex_CoT|Response)\}", text)
    return text[: m.start()], text[m.start():]


def main():
    tok = AutoTokenizer.from_pretrained(os.path.dirname(GGUF), gguf_file=os.path.basename(GGUF))
    plain = tok.backend_tokenizer.pre_tokenizer
    # transformers' GGUF loader builds a plain ByteLevel pre-tokenizer; SmolLM2's own
    # tokenizer.json (and llama.cpp's "smollm" pre-tokenizer) split digits first, which
    # changes e.g. ":\n\n1." Restore SmolLM2's pipeline (see make_tokenizer_references.py).
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    assert plain is not None
    eos = tok.eos_token_id
    assert eos is not None
    prompt_t, response_t = load_template()
    with open(os.path.join(SHARED, "medical_o1_en_160.json"), encoding="utf-8") as f:
        o1 = json.load(f)[:N]
    with open(os.path.join(ROOT, "notebooks", "data", "medical-cot-sample.jsonl"), encoding="utf-8") as f:
        sample = [json.loads(l) for l in f if l.strip()][:N]
    os.makedirs(OUT, exist_ok=True)
    for name, rows in [("medical_o1_en_160", o1), ("medical_cot_sample", sample)]:
        out = []
        for i, row in enumerate(rows):
            cols = {k: row[k] for k in ("Question", "Complex_CoT", "Response")}
            prompt = prompt_t.format(**cols)
            response = response_t.format(**cols)
            p = tok(prompt)["input_ids"]
            r = tok(response, add_special_tokens=False)["input_ids"] + [eos]
            whole = tok(prompt + response)["input_ids"] + [eos]
            out.append({
                "row": i,
                "ids": p + r,
                "labels": [-100] * len(p) + r,
                "prompt_ids": p,
                "whole_ids": whole,
            })
        ref = {
            "tokenizer": "SmolLM2-135M-Instruct.Q4_1.gguf via transformers AutoTokenizer(gguf_file=), pre-tokenizer set to SmolLM2's Digits + ByteLevel",
            "template": "notebooks/templates/medical-cot.txt",
            "eos_token": tok.eos_token,
            "eos_token_id": eos,
            "examples": out,
        }
        path = os.path.join(OUT, f"smollm2_{name}.json")
        with open(path, "w") as f:
            json.dump(ref, f, separators=(",", ":"))
        same = sum(e["ids"] == e["whole_ids"] for e in out)
        print(f"{path}: {len(out)} rows, {same} equal to whole-text tokenisation")


if __name__ == "__main__":
    main()
