#!/usr/bin/env python3
"""llama.cpp's view of the GGUF files `tunelab export-gguf` / `tunelab export-lora` write.

Runs the built `tunelab` binary (TUNELAB=path, default .build/release/tunelab) to export the
default model (SmolLM2-135M-Instruct Q4_1) with a fixed adapter merged, in f32, f16, q8_0 and
q4_0, and the adapter alone as a GGUF LoRA; loads each file with llama.cpp (the PyPI
`llama-cpp-python` package, which builds llama.cpp from source) and stores what llama.cpp computes:
token ids of fixed prompts (llama.cpp's tokenizer reading the exported metadata), logits at every
prompt position on a subset of the vocabulary (llama.cpp's 8 best at that position plus 16
fixed ids; rounded to 1e-4) and a 16-token greedy continuation. The Swift tests (Tests/TrainingTests/
GGUFExportTests.swift) export the same files again, check their sha256 against the ones stored
here (so they are the very bytes llama.cpp ran) and compare TuneLab's logits on them.

Also checks the quantisers bit for bit against gguf-py on the real tensors: every Q8_0 / Q4_0
matrix in the exports must equal `gguf.quants.quantize` applied to the same matrix of the f32
export; and writes a few blocks with gguf-py's encodings (edge cases included) for a unit test.

The adapter is Tests/Fixtures/lora_parity (r = 2, all seven projections) with lora_alpha raised
from 4 to 64 (scaling 32), so that merging it changes the greedy continuations: a dropped or
mis-permuted adapter cannot pass for a right one.

  python3 -m venv /work/venv-gguf && /work/venv-gguf/bin/pip install llama-cpp-python==0.3.36 gguf==0.19.0 numpy==2.4.6
  /work/venv-gguf/bin/python scripts/make_gguf_export_references.py

Writes Tests/Fixtures/gguf_export/llama_cpp.json and quant_blocks.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFReader
import llama_cpp
from llama_cpp import Llama

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "Fixtures" / "gguf_export"
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
TUNELAB = Path(os.environ.get("TUNELAB", ROOT / ".build" / "release" / "tunelab"))
ADAPTER = ROOT / "Tests" / "Fixtures" / "lora_parity"
ALPHA = 64
THREADS = 2
N_NEW = 16
TOP = 8
FIXED_IDS = list(range(0, 49152, 3072))  # 16 ids spread over the vocabulary
QUANTS = ["f32", "f16", "q8_0", "q4_0"]
PROMPTS = [
    ("chat", "<|im_start|>system\nYou are a careful medical assistant.<|im_end|>\n<|im_start|>user\n"
             "A 45-year-old man has fever and right lower abdominal pain. What is the most likely diagnosis?"
             "<|im_end|>\n<|im_start|>assistant\n"),
    ("plain", "The patient presented with a persistent cough and"),
    ("chinese", "患者发热5天，右下腹压痛，最可能的诊断是"),
]


def tunelab(*args: str) -> dict:
    r = subprocess.run([str(TUNELAB), *args, "--no-record", "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"tunelab {' '.join(args)} failed:\n{r.stderr}")
    return json.loads(r.stdout)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def llama_cpp_view(model: Path, lora: Path | None) -> dict:
    llm = Llama(model_path=str(model), lora_path=str(lora) if lora else None, n_ctx=512, n_batch=512,
                logits_all=True, n_threads=THREADS, n_threads_batch=THREADS, seed=0, verbose=False,
                type_k=0, type_v=0, flash_attn=False)  # F32 KV cache: only the weights' encoding differs from TuneLab
    meta = llm.metadata
    add_bos = meta.get("tokenizer.ggml.add_bos_token", "false") == "true"
    prompts = []
    for name, text in PROMPTS:
        llm.reset()
        ids = llm.tokenize(text.encode(), add_bos=add_bos, special=True)
        llm.eval(ids)
        scores = np.array(llm.scores[: len(ids)], dtype=np.float32)
        positions = []
        for row in scores:
            top = np.argsort(-row, kind="stable")[:TOP].tolist()
            sub = sorted(set(top) | {i for i in FIXED_IDS if i < len(row)})
            positions.append({"ids": sub, "logits": [round(float(row[i]), 4) for i in sub]})
        greedy = []
        for _ in range(N_NEW):
            t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            greedy.append(t)
            llm.eval([t])
        prompts.append({"name": name, "text": text, "ids": ids, "positions": positions, "greedy": greedy,
                        "greedy_text": llm.detokenize(greedy).decode("utf-8", "replace")})
    view = {"prompts": prompts, "eos_token_id": llm.token_eos(), "bos_token_id": llm.token_bos(),
            "add_bos_token": add_bos, "n_vocab": llm.n_vocab(),
            "has_chat_template": "tokenizer.chat_template" in meta}
    del llm
    return view


def quant_parity(files: dict[str, Path]) -> dict:
    """Every Q8_0 / Q4_0 matrix of the exports against gguf-py's quantize() of the f32 export's."""
    ref = {t.name: t for t in GGUFReader(files["f32"]).tensors}
    out = {}
    for q in ("q8_0", "q4_0"):
        same = total = 0
        mismatched = []
        for t in GGUFReader(files[q]).tensors:
            if t.tensor_type not in (Q.Q8_0, Q.Q4_0):
                continue
            total += 1
            src = np.array(ref[t.name].data, dtype=np.float32)
            mine = np.array(t.data).reshape(-1).tobytes()
            theirs = gguf.quants.quantize(src, t.tensor_type).reshape(-1).tobytes()
            if mine == theirs:
                same += 1
            else:
                mismatched.append(t.name)
        out[q] = {"tensors": total, "bytes_identical": same, "mismatched": mismatched[:10]}
    return out


def quant_blocks() -> dict:
    """Blocks with their gguf-py encodings: real weights plus the cases the rounding rules decide."""
    rng = np.random.default_rng(20261205)
    real = np.array(GGUFReader(MODEL).get_tensor(0).data)  # token_embd Q8_0 bytes; dequantise a few rows
    emb = gguf.quants.dequantize(real[:4], Q.Q8_0).reshape(-1)[:256]
    cases = [emb.astype(np.float32)]
    cases.append(rng.standard_normal(256).astype(np.float32) * 0.05)
    edge = np.zeros(32 * 8, dtype=np.float32)
    edge[32:64] = 1.0                                     # all equal
    edge[64:96] = np.linspace(-1, 1, 32)                  # symmetric: ties between +max and −max
    edge[96:128] = np.arange(32, dtype=np.float32) - 16   # negative max, exact halves after scaling
    edge[128:160] = (np.arange(32) % 2 * 2 - 1) * 127.5 / 127  # values landing on .5 for q8_0
    edge[160:192] = 1e-30                                 # f16 scale underflow
    edge[192:224] = 7e4                                   # f16 scale overflow to inf in d
    edge[224:256] = rng.standard_normal(32).astype(np.float32) * 1e-3
    cases.append(edge)
    x = np.concatenate(cases).astype(np.float32)
    return {"input_f32_bits": x.view(np.uint32).tolist(),
            **{name: gguf.quants.quantize(x.reshape(-1, 32), qt).reshape(-1).tobytes().hex()
               for name, qt in [("Q8_0", Q.Q8_0), ("Q4_0", Q.Q4_0), ("F16", Q.F16), ("BF16", Q.BF16)]}}


def main() -> None:
    if not TUNELAB.exists():
        sys.exit(f"{TUNELAB} not found: build first (swift build -c release)")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        adapter = tmp / "adapter"
        adapter.mkdir()
        shutil.copy(ADAPTER / "adapter_model.safetensors", adapter)
        cfg = json.loads((ADAPTER / "adapter_config.json").read_text())
        cfg["lora_alpha"] = ALPHA
        (adapter / "adapter_config.json").write_text(json.dumps(cfg, indent=2))

        exports, files = {}, {}
        for q in QUANTS:
            files[q] = tmp / f"merged-{q}.gguf"
            r = tunelab("export-gguf", "--model", str(MODEL), "--adapter", str(adapter), "--quant", q, "--out", str(files[q]))
            assert r["files"][0]["sha256"] == sha256(files[q])
            print(f"{q}: {r['files'][0]['bytes'] / 1e6:.1f} MB, llama.cpp …", flush=True)
            exports[q] = {"sha256": r["files"][0]["sha256"], "bytes": r["files"][0]["bytes"], **llama_cpp_view(files[q], None)}
        lora = tmp / "adapter.gguf"
        r = tunelab("export-lora", "--model", str(MODEL), "--adapter", str(adapter), "--format", "gguf", "--out", str(lora))
        print("lora on the Q4_1 base, llama.cpp …", flush=True)
        lora_view = {"sha256": r["files"][0]["sha256"], "bytes": r["files"][0]["bytes"], **llama_cpp_view(MODEL, lora)}
        # A Llama model from a Hugging Face folder (TuneLab un-permutes nothing on load there, so the
        # export's Q/K permutation is all llama.cpp sees), with its PEFT adapter merged.
        tiny = tmp / "tiny-llama3-f32.gguf"
        r = tunelab("export-gguf", "--model", str(ROOT / "Tests/Fixtures/tiny-llama3"),
                    "--adapter", str(ROOT / "Tests/Fixtures/peft/tiny-llama3/adapter"), "--quant", "f32", "--out", str(tiny))
        print("tiny-llama3 (HF folder) f32, llama.cpp …", flush=True)
        tiny_view = {"sha256": r["files"][0]["sha256"], "bytes": r["files"][0]["bytes"], **llama_cpp_view(tiny, None)}
        print("the Q4_1 source alone, llama.cpp …", flush=True)
        source_view = {"sha256": sha256(MODEL), **llama_cpp_view(MODEL, None)}
        parity = quant_parity(files)

    doc = {
        "script": "scripts/make_gguf_export_references.py",
        "llama_cpp_python": llama_cpp.__version__, "gguf": gguf.__version__ if hasattr(gguf, "__version__") else "0.19.0",
        "numpy": np.__version__, "threads": THREADS, "kv_cache": "f32", "flash_attn": False, "model": "models/SmolLM2-135M-Instruct.Q4_1.gguf",
        "adapter": {"from": "Tests/Fixtures/lora_parity", "lora_alpha": ALPHA},
        "n_new": N_NEW, "top": TOP, "fixed_ids": FIXED_IDS,
        "quant_parity_vs_gguf_py": parity,
        "merged": exports, "lora": lora_view, "source": source_view, "tiny_llama3_hf": tiny_view,
    }
    (OUT / "llama_cpp.json").write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    (OUT / "quant_blocks.json").write_text(json.dumps(quant_blocks()) + "\n")
    print(json.dumps(parity))
    for q, e in list(exports.items()) + [("lora", lora_view), ("source", source_view)]:
        print(q, [p["greedy_text"] for p in e["prompts"]])


if __name__ == "__main__":
    main()
