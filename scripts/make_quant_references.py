#!/usr/bin/env python3
"""Reference fixtures for the ModelFiles tests (GGUF, dequantisation, safetensors, HF configs).

Run from anywhere:  /opt/refvenv/bin/python scripts/make_quant_references.py
Deterministic (seeded). Writes:
  Tests/Fixtures/quant/       small GGUF files written by gguf-py's GGUFWriter, with the values
                              gguf-py's dequantize() gives stored beside them, plus JSON summaries
                              made by gguf-py's GGUFReader.
  Tests/Fixtures/modelfiles/  summary of the real SmolLM2 GGUF (GGUFReader + gguf-py dequantize),
                              safetensors files written by the safetensors library, HF config.json
                              examples and what transformers' AutoConfig reads from them.

JSON value encoding (exact, so the Swift tests need no float parsing):
  {"t": <GGUF value type name>, "v": ...}: integers as decimal strings, FLOAT32 as its uint32 bit
  pattern, FLOAT64 as its uint64 bit pattern (decimal string), BOOL as bool, STRING as string,
  ARRAY as a list of such objects. Float tensor values are lists of uint32 bit patterns.
"""
from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as Q, GGUFReader, GGUFValueType as T, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from safetensors.numpy import save_file as np_save_file
from safetensors.torch import save_file as torch_save_file

ROOT = Path(__file__).resolve().parent.parent
QUANT = ROOT / "Tests" / "Fixtures" / "quant"
MF = ROOT / "Tests" / "Fixtures" / "modelfiles"
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"

rng = np.random.default_rng(20240611)


# ---------------------------------------------------------------------------------------------
# helpers

def f32_bits(a) -> list[int]:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32)).reshape(-1).view(np.uint32).tolist()


def enc(value, vtype: T, sub: T | None = None) -> dict:
    """Typed JSON encoding of a metadata value as it was handed to GGUFWriter."""
    if vtype in (T.UINT8, T.INT8, T.UINT16, T.INT16, T.UINT32, T.INT32, T.UINT64, T.INT64):
        return {"t": vtype.name, "v": str(int(value))}
    if vtype == T.FLOAT32:
        return {"t": "FLOAT32", "v": struct.unpack("<I", struct.pack("<f", value))[0]}
    if vtype == T.FLOAT64:
        return {"t": "FLOAT64", "v": str(struct.unpack("<Q", struct.pack("<d", value))[0])}
    if vtype == T.BOOL:
        return {"t": "BOOL", "v": bool(value)}
    if vtype == T.STRING:
        return {"t": "STRING", "v": value}
    if vtype == T.ARRAY:
        st = sub if sub is not None else T.get_type(value[0])
        return {"t": "ARRAY", "v": [enc(x, st) for x in value]}
    raise ValueError(vtype)


def enc_reader_scalar(vtype: T, v) -> dict:
    if vtype == T.STRING and isinstance(v, (bytes, bytearray)):
        v = v.decode("utf-8")
    return enc(v, vtype)


def reader_field_json(field, head: int | None = None) -> dict:
    """Typed JSON of a GGUFReader field (flat arrays only); long arrays keep head/tail items."""
    types = field.types
    if types[0] != T.ARRAY:
        return enc_reader_scalar(types[0], field.contents())
    assert len(types) == 2, f"nested array in {field.name}"
    items = field.contents()
    if head is None or len(items) <= 2 * head:
        return {"t": "ARRAY", "v": [enc_reader_scalar(types[1], x) for x in items]}
    return {"t": "ARRAY", "len": len(items),
            "head": [enc_reader_scalar(types[1], x) for x in items[:head]],
            "tail": [enc_reader_scalar(types[1], x) for x in items[-head:]]}


def gguf_summary(path: Path, head: int | None = None, values_upto: int = 0) -> dict:
    """What gguf-py's GGUFReader sees in a GGUF file. Shapes are reversed into PyTorch order."""
    r = GGUFReader(path)
    meta = {}
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue
        meta[name] = reader_field_json(field, head)
    tensors = []
    for t in r.tensors:
        entry = {"name": t.name, "shape": [int(x) for x in reversed(t.shape.tolist())],
                 "type": t.tensor_type.name, "n_bytes": int(t.n_bytes), "data_offset": int(t.data_offset)}
        if 0 < t.n_elements <= values_upto:
            entry["values"] = f32_bits(gguf.quants.dequantize(t.data, t.tensor_type))
        tensors.append(entry)
    return {"file": path.name,
            "version": int(r.fields["GGUF.version"].contents()),
            "alignment": int(r.alignment), "data_offset": int(r.data_offset),
            "tensor_count": len(r.tensors), "kv_count": int(r.fields["GGUF.kv_count"].contents()),
            "metadata": meta, "tensors": tensors}


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def finish(w: GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# Byte ranges of the f16 scale fields in one block, per type (ggml-common.h block structs).
SCALE_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}


def random_blocks(qtype: Q, n_blocks: int) -> np.ndarray:
    """Random but valid block bytes: every bit of the payload random, f16 scales finite
    (half of them small normal values, half random finite bit patterns incl. subnormals)."""
    _, type_size = GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in SCALE_FIELDS[qtype]:
        small = rng.normal(0, 0.05, size=n_blocks).astype(np.float16).view(np.uint16)
        bits = rng.integers(0, 1 << 16, size=n_blocks, dtype=np.uint32).astype(np.uint16)
        bits = np.where((bits & 0x7C00) == 0x7C00, bits & 0x83FF, bits)  # no inf / nan
        vals = np.where(rng.random(n_blocks) < 0.5, small, bits).astype(np.uint16)
        b[:, off:off + 2] = vals.view(np.uint8).reshape(n_blocks, 2)
    return b


# ---------------------------------------------------------------------------------------------
# Tests/Fixtures/quant/quant_types.gguf: one tensor per type, "<name>.expected" = dequantised F32

def make_quant_types() -> None:
    path = QUANT / "quant_types.gguf"
    w = GGUFWriter(path, "llama")
    w.add_string("general.name", "quant reference tensors")

    def add(name: str, qtype: Q, raw: np.ndarray, shape: tuple[int, ...]) -> None:
        """raw: uint8 block bytes (rows, row_bytes) or float array for F32/F16."""
        if qtype in (Q.F32, Q.F16):
            w.add_tensor(name, raw)
            expected = gguf.quants.dequantize(raw.reshape(-1).view(np.uint8), qtype)
        else:
            raw = raw.reshape(shape[:-1] + (-1,))
            w.add_tensor(name, raw, raw_dtype=qtype)
            expected = gguf.quants.dequantize(raw, qtype)
        expected = np.asarray(expected, dtype=np.float32).reshape(shape)
        w.add_tensor(name + ".expected", np.ascontiguousarray(expected))

    # F32 / F16 / BF16 with special values.
    f32 = rng.normal(size=(3, 40)).astype(np.float32)
    f32[0, :6] = [np.inf, -np.inf, np.nan, -0.0, 1e-40, 3.4e38]
    add("F32", Q.F32, f32, f32.shape)
    f16 = rng.normal(size=(3, 40)).astype(np.float16)
    f16[0, :8] = [np.inf, -np.inf, np.nan, -0.0, 6e-8, 65504, -1e-5, 0.1]
    f16[2] = rng.integers(0, 1 << 16, size=40, dtype=np.uint32).astype(np.uint16).view(np.float16)
    add("F16", Q.F16, f16, f16.shape)
    bf = gguf.quants.quantize(rng.normal(size=(2, 40)).astype(np.float32), Q.BF16)
    bf_rand = rng.integers(0, 1 << 16, size=(2, 40), dtype=np.uint32).astype(np.uint16).view(np.uint8)
    bf_special = np.array([0x7F80, 0xFF80, 0x7FC0, 0x8000, 0x0001, 0x7F7F, 0x3F80, 0xC000] * 5,
                          dtype=np.uint16).view(np.uint8).reshape(1, 80)
    bf16 = np.concatenate([bf, bf_rand, bf_special], axis=0)
    add("BF16", Q.BF16, bf16, (5, 40))

    # Legacy 32-element quants: rows quantised by gguf-py from normal data, then random rows.
    for qtype in (Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1):
        block, _ = GGML_QUANT_SIZES[qtype]
        cols = 4 * block
        data = rng.normal(size=(2, cols)).astype(np.float32)
        data[1, :block] = np.linspace(-1, 1, block)   # block with exact extremes
        data[1, block:2 * block] = 0.0                # all-zero block (d == 0)
        qrows = gguf.quants.quantize(data, qtype)
        rrows = random_blocks(qtype, 2 * 4).reshape(2, -1)
        add(qtype.name, qtype, np.concatenate([qrows, rrows], axis=0), (4, cols))

    # K quants: gguf-py cannot quantise them, so random valid blocks only.
    for qtype in (Q.Q4_K, Q.Q5_K, Q.Q6_K):
        add(qtype.name, qtype, random_blocks(qtype, 3 * 2), (3, 512))

    # Shapes with more dims (GGUF ne order is reversed from PyTorch order).
    q3 = random_blocks(Q.Q8_0, 2 * 3 * 2)
    add("Q8_0_3d", Q.Q8_0, q3, (2, 3, 64))
    f4 = rng.normal(size=(2, 1, 3, 4)).astype(np.float32)
    add("F32_4d", Q.F32, f4, f4.shape)

    finish(w)
    write_json(QUANT / "quant_types_summary.json", gguf_summary(path))


# ---------------------------------------------------------------------------------------------
# Tests/Fixtures/quant/metadata.gguf: every metadata value type, custom alignment, odd tensor sizes

METADATA = [
    ("t.uint8", 255, T.UINT8, None),
    ("t.int8", -128, T.INT8, None),
    ("t.uint16", 65535, T.UINT16, None),
    ("t.int16", -32768, T.INT16, None),
    ("t.uint32", 4294967295, T.UINT32, None),
    ("t.int32", -2147483648, T.INT32, None),
    ("t.uint64", 2**64 - 1, T.UINT64, None),
    ("t.int64", -2**63, T.INT64, None),
    ("t.float32", 3.14159, T.FLOAT32, None),
    ("t.float32_neg", -1.5e-7, T.FLOAT32, None),
    ("t.float64", 2.718281828459045, T.FLOAT64, None),
    ("t.bool_true", True, T.BOOL, None),
    ("t.bool_false", False, T.BOOL, None),
    ("t.string", "héllo wörld ✓ 🙂", T.STRING, None),
    ("t.string_empty", "", T.STRING, None),
    ("t.string_newlines", "line1\nline2\t\"quoted\"", T.STRING, None),
    ("a.uint8", [0, 1, 255], T.ARRAY, T.UINT8),
    ("a.int8", [-128, 0, 127], T.ARRAY, T.INT8),
    ("a.uint16", [0, 65535], T.ARRAY, T.UINT16),
    ("a.int16", [-32768, 32767], T.ARRAY, T.INT16),
    ("a.uint32", [7, 4294967295], T.ARRAY, T.UINT32),
    ("a.int32", [-5, 0, 2147483647], T.ARRAY, T.INT32),
    ("a.uint64", [0, 2**64 - 1], T.ARRAY, T.UINT64),
    ("a.int64", [-2**63, 2**63 - 1], T.ARRAY, T.INT64),
    ("a.float32", [0.5, -2.25, 1e-3], T.ARRAY, T.FLOAT32),
    ("a.float64", [0.1, -1e300], T.ARRAY, T.FLOAT64),
    ("a.bool", [True, False, True], T.ARRAY, T.BOOL),
    ("a.string", ["a", "", "ünï", "Ġ t"], T.ARRAY, T.STRING),
    ("n.int", [[1, 2], [3]], T.ARRAY, None),
    ("n.string", [["x", "y"], ["z"]], T.ARRAY, None),
    ("n.mixed", [[1, 2], ["s"], [True]], T.ARRAY, None),
    ("n.deep", [[[1], [2, 3]], [[4]]], T.ARRAY, None),
]


def make_metadata() -> None:
    path = QUANT / "metadata.gguf"
    w = GGUFWriter(path, "llama")
    w.add_custom_alignment(64)
    expected = {"general.architecture": enc("llama", T.STRING), "general.alignment": enc(64, T.UINT32)}
    for key, value, vtype, sub in METADATA:
        w.add_key_value(key, value, vtype, sub)
        expected[key] = enc(value, vtype, sub)
    w.add_tensor("a", np.array([1.0, -2.0, 3.5], dtype=np.float32))
    w.add_tensor("b", rng.normal(size=(5, 7)).astype(np.float16))
    w.add_tensor("c", np.array([0.25, 1e30], dtype=np.float32))
    finish(w)

    # GGUFReader flattens nested arrays, so cross-check it on what it can express and keep the
    # writer's input as the expected structure.
    r = GGUFReader(path)
    for key, value, vtype, sub in METADATA:
        f = r.fields[key]
        if vtype != T.ARRAY:
            got = f.contents()
            assert (got == value) or (vtype == T.FLOAT32 and abs(got - value) < 1e-6 * abs(value)), key
        elif not isinstance(value[0], list):
            got = list(f.contents())
            assert f.types == [T.ARRAY, sub], key
            assert np.allclose(got, value, rtol=1e-6) if sub == T.FLOAT32 else got == list(value), key
    tensors = []
    for t in r.tensors:
        tensors.append({"name": t.name, "shape": [int(x) for x in reversed(t.shape.tolist())],
                        "type": t.tensor_type.name, "n_bytes": int(t.n_bytes),
                        "data_offset": int(t.data_offset),
                        "values": f32_bits(gguf.quants.dequantize(t.data, t.tensor_type))})
    assert r.alignment == 64
    write_json(QUANT / "metadata_expected.json", {
        "file": path.name, "version": 3, "alignment": 64, "data_offset": int(r.data_offset),
        "metadata": expected, "tensors": tensors})


# ---------------------------------------------------------------------------------------------
# GGUF v2 and big-endian files

def make_v2_and_big_endian() -> None:
    saved = gguf.gguf_writer.GGUF_VERSION
    try:
        gguf.gguf_writer.GGUF_VERSION = 2
        path = QUANT / "v2.gguf"
        w = GGUFWriter(path, "qwen2")
        w.add_uint32("qwen2.block_count", 2)
        w.add_array("tokenizer.ggml.tokens", ["<a>", "b", "c"])
        w.add_tensor("x", np.arange(6, dtype=np.float32).reshape(2, 3))
        w.add_tensor("y", gguf.quants.quantize(rng.normal(size=(1, 64)).astype(np.float32), Q.Q8_0),
                     raw_dtype=Q.Q8_0)
        finish(w)
        write_json(QUANT / "v2_summary.json", gguf_summary(path, values_upto=64))
    finally:
        gguf.gguf_writer.GGUF_VERSION = saved
    w = GGUFWriter(QUANT / "big_endian.gguf", "llama", endianess=gguf.GGUFEndian.BIG)
    w.add_tensor("x", np.arange(4, dtype=np.float32).byteswap(), tensor_endianess=gguf.GGUFEndian.BIG)
    finish(w)


# ---------------------------------------------------------------------------------------------
# Real model summary

def make_smollm2_summary() -> None:
    if not MODEL.exists():
        print(f"skipping SmolLM2 summary: {MODEL} not found", file=sys.stderr)
        return
    s = gguf_summary(MODEL, head=5)
    s["file"] = MODEL.name
    r = GGUFReader(MODEL)
    by_name = {t.name: t for t in r.tensors}
    samples = []
    # (tensor, row, first col, count): rows in PyTorch order [out, in].
    for name, row, col, n in [("token_embd.weight", 0, 0, 64), ("token_embd.weight", 12345, 512, 64),
                              ("token_embd.weight", 49151, 0, 576),
                              ("blk.0.attn_q.weight", 0, 0, 64), ("blk.0.attn_q.weight", 575, 512, 64),
                              ("blk.29.ffn_down.weight", 100, 0, 1536),
                              ("blk.0.attn_k.weight", 191, 0, 576),
                              ("output_norm.weight", 0, 0, 576)]:
        t = by_name[name]
        full = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        full = full.reshape(-1, int(t.shape[0]))
        samples.append({"tensor": name, "row": row, "col": col,
                        "values": f32_bits(full[row, col:col + n])})
    s["samples"] = samples
    write_json(MF / "smollm2_gguf_summary.json", s)


# ---------------------------------------------------------------------------------------------
# Safetensors (written by the safetensors library)

def st_expected(tensors: dict[str, torch.Tensor]) -> dict:
    dt = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    return {name: {"dtype": dt[t.dtype], "shape": list(t.shape), "values": f32_bits(t.float().numpy())}
            for name, t in tensors.items()}


def make_safetensors() -> None:
    d = MF / "safetensors"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    g = torch.Generator().manual_seed(7)
    f16 = torch.randn(4, 8, generator=g).to(torch.float16)
    f16[0, :4] = torch.tensor([float("inf"), -float("inf"), 6e-8, -0.0], dtype=torch.float16)
    bf16 = torch.randn(2, 3, 4, generator=g).to(torch.bfloat16)
    bf16[0, 0, :3] = torch.tensor([float("inf"), 1e-40, -0.0], dtype=torch.bfloat16)
    mixed = {"w_f32": torch.randn(3, 5, generator=g), "w_f16": f16, "w_bf16": bf16,
             "scalar": torch.tensor(1.5), "empty": torch.zeros(0, 4)}
    meta = {"format": "pt"}  # one key: the library writes metadata in HashMap (random) order
    torch_save_file(mixed, d / "mixed.safetensors", metadata=meta)
    expected = {"mixed.safetensors": {"metadata": meta, "tensors": st_expected(mixed)}}

    (d / "single").mkdir()
    single = {"model.embed_tokens.weight": torch.randn(6, 4, generator=g).to(torch.bfloat16),
              "model.norm.weight": torch.ones(4)}
    torch_save_file(single, d / "single" / "model.safetensors", metadata={"format": "pt"})
    expected["single"] = {"metadata": {"format": "pt"}, "tensors": st_expected(single)}

    (d / "sharded").mkdir()
    shard1 = {"model.layers.0.mlp.up_proj.weight": torch.randn(8, 4, generator=g),
              "model.embed_tokens.weight": torch.randn(6, 4, generator=g).to(torch.float16)}
    shard2 = {"model.layers.1.mlp.up_proj.weight": torch.randn(8, 4, generator=g).to(torch.bfloat16),
              "lm_head.weight": torch.randn(6, 4, generator=g)}
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    torch_save_file(shard1, d / "sharded" / names[0], metadata={"format": "pt"})
    torch_save_file(shard2, d / "sharded" / names[1], metadata={"format": "pt"})
    total = sum(t.numel() * t.element_size() for t in list(shard1.values()) + list(shard2.values()))
    index = {"metadata": {"total_size": total},
             "weight_map": {**{k: names[0] for k in shard1}, **{k: names[1] for k in shard2}}}
    (d / "sharded" / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    expected["sharded"] = {"metadata": {"format": "pt"}, "tensors": st_expected({**shard1, **shard2})}

    # Unsupported dtype.
    torch_save_file({"ids": torch.arange(4, dtype=torch.int64), "ok": torch.ones(2)}, d / "int64.safetensors")

    # Writer reference: F32 only, written by the library (numpy API, like writeSafetensors).
    names = ["model.layers.10.self_attn.q_proj.lora_A.weight", "model.layers.2.self_attn.q_proj.lora_A.weight",
             "Zeta", "lm_head.weight", "é.bias", "a", "scalar"]
    tensors = {}
    for i, n in enumerate(names):
        shape = () if n == "scalar" else (i + 1, 3) if i % 2 else (5 - i % 3,)
        tensors[n] = rng.normal(size=shape).astype(np.float32)
    tensors["empty"] = np.zeros((0, 3), dtype=np.float32)
    np_save_file(tensors, d / "writer_reference.safetensors", metadata={"format": "pt"})
    write_json(d / "expected.json", expected)


# ---------------------------------------------------------------------------------------------
# HF configs and what transformers reads from them

CONFIGS = {
    # Llama 3.2 1B style: rope_scaling llama3, tied embeddings, eos list (hub style, transformers 4 keys).
    "llama3_tied": {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 64,
        "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
        "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
        "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "transformers_version": "4.45.0.dev0", "use_cache": True, "vocab_size": 128256},
    # SmolLM2-135M-Instruct style (no head_dim key: derived).
    "smollm2": {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 576,
        "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": True,
        "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": 9,
        "num_hidden_layers": 30, "num_key_value_heads": 3, "pad_token_id": 2, "pretraining_tp": 1,
        "rms_norm_eps": 1e-05, "rope_interleaved": False, "rope_scaling": None, "rope_theta": 100000,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16", "transformers_version": "4.42.3",
        "use_cache": True, "vocab_size": 49152},
    # Qwen2.5-7B style: untied, q/k/v biases implied by the architecture.
    "qwen2_untied": {
        "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
        "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02,
        "intermediate_size": 18944, "max_position_embeddings": 32768, "max_window_layers": 28,
        "model_type": "qwen2", "num_attention_heads": 28, "num_hidden_layers": 28,
        "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
        "sliding_window": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.43.1", "use_cache": True, "use_sliding_window": False,
        "vocab_size": 152064},
    # Unknown architecture: must be rejected.
    "mistral": {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096,
        "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
        "num_key_value_heads": 8, "vocab_size": 32000, "rms_norm_eps": 1e-05, "rope_theta": 10000.0},
}


def config_expected(c) -> dict:
    rp = getattr(c, "rope_parameters", None) or {}
    rope_type = rp.get("rope_type", "default")
    scaling = None
    if rope_type != "default":
        scaling = {"type": rope_type, "factor": rp.get("factor"), "low_freq_factor": rp.get("low_freq_factor"),
                   "high_freq_factor": rp.get("high_freq_factor"),
                   "original_max_position_embeddings": rp.get("original_max_position_embeddings")}
    eos = c.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return {"architecture": c.model_type, "vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size, "num_layers": c.num_hidden_layers,
            "num_heads": c.num_attention_heads, "num_kv_heads": c.num_key_value_heads, "head_dim": head_dim,
            "max_position_embeddings": c.max_position_embeddings, "rms_norm_eps": c.rms_norm_eps,
            "rope_theta": float(rp.get("rope_theta")), "rope_scaling": scaling,
            "tie_word_embeddings": bool(c.tie_word_embeddings),
            # Qwen2 attention always has q/k/v biases (hard-coded in modeling_qwen2).
            "attention_bias": True if c.model_type == "qwen2" else bool(getattr(c, "attention_bias", False)),
            "bos_token_id": c.bos_token_id, "eos_token_ids": eos}


def make_configs() -> None:
    from transformers import AutoConfig
    d = MF / "configs"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    expected = {}
    for name, cfg in CONFIGS.items():
        (d / name).mkdir()
        (d / name / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        if name != "mistral":
            expected[name] = config_expected(AutoConfig.from_pretrained(d / name))
    # The same Llama 3 config as saved by transformers 5 (rope_parameters instead of rope_scaling).
    c = AutoConfig.from_pretrained(d / "llama3_tied")
    c.save_pretrained(d / "llama3_tied_tf5")
    expected["llama3_tied_tf5"] = config_expected(AutoConfig.from_pretrained(d / "llama3_tied_tf5"))
    write_json(d / "expected.json", expected)


def main() -> None:
    QUANT.mkdir(parents=True, exist_ok=True)
    MF.mkdir(parents=True, exist_ok=True)
    make_quant_types()
    make_metadata()
    make_v2_and_big_endian()
    make_smollm2_summary()
    make_safetensors()
    make_configs()
    print("wrote", QUANT, MF)


if __name__ == "__main__":
    main()
