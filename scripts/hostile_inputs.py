"""Writes the hostile inputs that scripts/hostile_inputs.sh runs the release binary on.

    python3 scripts/hostile_inputs.py OUT_DIR              # every case (OUT_DIR/<case>...)
    python3 scripts/hostile_inputs.py --truncate GGUF OUT_DIR
        # GGUF cut at every byte offset 0..end of its tensor-info section: OUT_DIR/<offset>.gguf;
        # prints that end offset

Standard library only. The byte layouts follow the builders in
Tests/ModelFilesTests/HostileInputTests.swift, Tests/DatasetTests/HostileDataTests.swift,
Tests/TokenizationTests/HostileTokenizerTests.swift and Tests/ChatTemplateTests
(HostileTemplateTests); HF model folders start from the Tests/Fixtures/tiny-llama3 fixture.
"""
import json
import os
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "Tests", "Fixtures", "tiny-llama3")


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return u64(len(b)) + b


def gguf(kv=(), tensors=(), data=0, n_tensors=None, n_kv=None):
    """GGUF v3: whole key/value records, tensors (name, dims in ggml order, ggml type, offset),
    then `data` zero bytes after the 32-byte aligned header."""
    b = b"GGUF" + u32(3) + u64(len(tensors) if n_tensors is None else n_tensors) + u64(len(kv) if n_kv is None else n_kv)
    for r in kv:
        b += r
    for name, dims, typ, off in tensors:
        b += gstr(name) + u32(len(dims)) + b"".join(u64(d) for d in dims) + u32(typ) + u64(off)
    b += bytes((32 - len(b) % 32) % 32)
    return b + bytes(data)


def u8_array(key, count, present):
    return gstr(key) + u32(9) + u32(0) + u64(count) + b"\x07" * present


def safetensors(header, data):
    h = header.encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return u64(len(h)) + h + bytes(data)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def hf_folder(path, weights=True, tokenizer_json=None, tokenizer_config=None, extra=None):
    """A copy of the tiny-llama3 model folder with some files replaced."""
    os.makedirs(path, exist_ok=True)
    for name in ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(os.path.join(TINY, name), os.path.join(path, name))
    if weights:
        for name in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]:
            shutil.copy(os.path.join(TINY, name), os.path.join(path, name))
    if tokenizer_json is not None:
        write(os.path.join(path, "tokenizer.json"), tokenizer_json)
    if tokenizer_config is not None:
        write(os.path.join(path, "tokenizer_config.json"), tokenizer_config)
    for name, data in (extra or {}).items():
        write(os.path.join(path, name), data)


def st_model(path, st_bytes):
    """An HF folder whose only weights file is the given model.safetensors."""
    hf_folder(path, weights=False, extra={"model.safetensors": st_bytes})


def tokenizer_config_with(template):
    cfg = json.load(open(os.path.join(TINY, "tokenizer_config.json")))
    if template is None:
        cfg.pop("chat_template", None)
    else:
        cfg["chat_template"] = template
    return json.dumps(cfg, indent=2)


RECURSE = "{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"
LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
FILL = "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"

ROW = b'{"Question":"q","Complex_CoT":"c","Response":"r"}'
BAD_ROW = b'{"Question":"q\xff\xfe","Complex_CoT":"c","Response":"r"}'


def all_cases(out):
    # A good model folder and the committed sample data and template, for the data cases
    hf_folder(f"{out}/tiny-llama3")
    shutil.copy(os.path.join(ROOT, "notebooks", "templates", "medical-cot.txt"), f"{out}/medical-cot.txt")
    shutil.copy(os.path.join(ROOT, "notebooks", "data", "medical-cot-sample.jsonl"), f"{out}/medical-cot-sample.jsonl")

    # GGUF headers (tunelab info --model FILE)
    write(f"{out}/gguf-huge-array.gguf", gguf(kv=[u8_array("k", 1 << 40, 16)]))
    write(f"{out}/gguf-array-over-cap.gguf", gguf(kv=[u8_array("k", 5_000_000, 5_000_000)]))
    write(f"{out}/gguf-huge-string.gguf", gguf(kv=[gstr("k") + u32(8) + u64(1 << 40) + b"abc"]))
    big = (1 << 24) + 1
    write(f"{out}/gguf-string-over-cap.gguf", gguf(kv=[gstr("k") + u32(8) + u64(big) + b"a" * big]))
    write(f"{out}/gguf-huge-counts.gguf", gguf(kv=[], n_tensors=1 << 62, n_kv=1 << 62))
    nested = gstr("k") + u32(9) + b"".join(u32(9) + u64(1) for _ in range(40)) + u32(4) + u64(1) + u32(7)
    write(f"{out}/gguf-deep-nesting.gguf", gguf(kv=[nested]))
    write(f"{out}/gguf-overlap.gguf", gguf(tensors=[("a", [16], 0, 0), ("b", [8], 0, 32)], data=64))
    write(f"{out}/gguf-past-end.gguf", gguf(tensors=[("a", [16], 0, 0)], data=63))
    write(f"{out}/gguf-negative-dim.gguf", gguf(tensors=[("a", [(1 << 64) - 1], 0, 0)]))
    write(f"{out}/gguf-overflow-dim.gguf", gguf(tensors=[("a", [1 << 62, 4], 0, 0)]))
    write(f"{out}/gguf-bad-utf8-template.gguf", gguf(kv=[gstr("tokenizer.chat_template") + u32(8) + gstr(b"a\xffb")]))

    # safetensors in an HF folder (tunelab info --model DIR)
    st_model(f"{out}/st-huge-header", u64(1 << 62) + b"{}")
    st_model(f"{out}/st-overlap", safetensors(
        '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', 16))
    st_model(f"{out}/st-past-end", safetensors('{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,20]}}', 16))
    st_model(f"{out}/st-negative-dim", safetensors('{"a":{"dtype":"F16","shape":[-1],"data_offsets":[0,2]}}', 2))
    st_model(f"{out}/st-overflow-dim", safetensors(
        '{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}', 16))
    st_model(f"{out}/st-negative-offset", safetensors('{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}', 16))
    deep = "[" * 100_000 + "]" * 100_000
    st_model(f"{out}/st-deep-nesting", safetensors('{"__metadata__":' + deep + "}", 0))
    st_model(f"{out}/st-huge-string", safetensors('{"__metadata__":{"k":"' + "a" * 50_000_000 + '"}}', 0))

    # model.safetensors.index.json naming shards outside the folder
    outside = safetensors('{"outside":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)
    write(f"{out}/outside.safetensors", outside)
    for case, shard in [("index-dotdot-shard", "../outside.safetensors"),
                        ("index-absolute-shard", os.path.abspath(f"{out}/outside.safetensors"))]:
        hf_folder(f"{out}/{case}")
        index = json.load(open(os.path.join(TINY, "model.safetensors.index.json")))
        index["weight_map"]["model.embed_tokens.weight"] = shard
        write(f"{out}/{case}/model.safetensors.index.json", json.dumps(index, indent=2))

    hf_folder(f"{out}/config-deep-nesting", extra={"config.json": '{"model_type":"llama","x":' + deep + "}"})

    # tokenizer files (tunelab tokenize --model DIR)
    good = open(os.path.join(TINY, "tokenizer.json"), "rb").read()
    at = good.index(b'"vocab": {') + len(b'"vocab": {')
    hf_folder(f"{out}/tokenizer-bad-utf8", tokenizer_json=good[:at] + b'"x\xff":99999,' + good[at:])
    hf_folder(f"{out}/chat-template-jinja-bad-utf8", tokenizer_config=tokenizer_config_with(None),
              extra={"chat_template.jinja": b"{{ 'a' }}\xc3\x28"})
    hf_folder(f"{out}/tokenizer-deep-nesting", tokenizer_json=b'{"model":' + deep.encode() + b"}")

    # data files (tunelab lint / train --data FILE)
    write(f"{out}/data-bad-utf8.jsonl", ROW + b"\n" + BAD_ROW + b"\n")
    write(f"{out}/data-bad-utf8.json", b"[" + ROW + b",\n" + BAD_ROW + b"]")
    write(f"{out}/data-deep-nesting.jsonl", ROW + b"\n" + b'{"Question":' + deep.encode() + b"}\n")
    write(f"{out}/template-bad-utf8.txt", b"{Question}\xc3\x28")

    # chat templates (tunelab generate --chat, tunelab run on a notebook)
    hf_folder(f"{out}/chat-template-recursion", tokenizer_config=tokenizer_config_with(RECURSE))
    hf_folder(f"{out}/chat-template-loop", tokenizer_config=tokenizer_config_with(LOOP))
    hf_folder(f"{out}/chat-template-fill", tokenizer_config=tokenizer_config_with(FILL))
    write(f"{out}/recursion-notebook.md",
          "# A model whose chat template recurses forever\n\n```load\nmodel = \"chat-template-recursion\"\n```\n\n"
          "```infer\nprompt = \"hi\"\nchat = true\nmax_new_tokens = 1\n```\n")
    write(f"{out}/notebook-bad-utf8.md", b"# x\xff\n\n```load\nmodel = \"default\"\n```\n")


def header_end(b):
    """Offset just past the tensor-info section of a GGUF v2/v3 file."""
    _, _, n_tensors, n_kv = struct.unpack_from("<4sIQQ", b, 0)
    p = 24
    fixed = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_string(p):
        return p + 8 + struct.unpack_from("<Q", b, p)[0]

    def skip_value(t, p):
        if t in fixed:
            return p + fixed[t]
        if t == 8:
            return skip_string(p)
        item, n = struct.unpack_from("<IQ", b, p)
        p += 12
        for _ in range(n):
            p = skip_value(item, p)
        return p

    for _ in range(n_kv):
        p = skip_string(p)
        p = skip_value(struct.unpack_from("<I", b, p)[0], p + 4)
    for _ in range(n_tensors):
        p = skip_string(p)
        p += 4 + 8 * struct.unpack_from("<I", b, p)[0] + 4 + 8
    return p


def truncations(src, out):
    b = open(src, "rb").read()
    end = header_end(b)
    os.makedirs(out, exist_ok=True)
    for n in range(end + 1):
        with open(os.path.join(out, f"{n}.gguf"), "wb") as f:
            f.write(b[:n])
    print(end)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--truncate":
        truncations(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2:
        all_cases(sys.argv[1])
    else:
        sys.exit(__doc__)
