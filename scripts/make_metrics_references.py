#!/usr/bin/env python3
"""Reference scores for the Metrics module: BLEU-4 and ROUGE-1/2/L exactly as LLaMA-Factory's
`ComputeSimilarity` (src/llamafactory/train/sft/metric.py) computes them, and jieba's segmentation.

Per pair (prediction, reference):
  bleu4  = nltk sentence_bleu([list(reference)], list(prediction), SmoothingFunction().method3)
  rouge* = jieba.cut both (default mode, HMM on), " ".join(tokens); 0 when either side has no token
           after .split(); else rouge_chinese.Rouge().get_scores(hyp, ref)[0][k]["f"]
  stored unrounded (0..1) and as LLaMA-Factory keeps them: round(x * 100, 4); plus np.mean of the
  rounded column, as LLaMA-Factory reports it. Scores are written as repr strings (exact doubles).

Pairs: built from ../shared/data rows by recipes (the Swift test rebuilds the same texts; the
fixture holds only the recipe, sha256 of each text and of its jieba token list, never the text),
plus project-written edge cases stored verbatim. Also: a sha256 digest of jieba's tokens for every
Chinese text field of every row of the Chinese data files, and Python's whitespace code points
(str.split() / re's \\s), which jieba and rouge-chinese both split on.

Token-list digest: sha256 over each token's UTF-8 bytes followed by one 0xFF byte (never in UTF-8).

Usage: bash scripts/make_references.sh make_metrics_references.py
Writes Tests/Fixtures/metrics/parity.json.
"""
import hashlib
import json
import logging
import os
import platform
import sys
from importlib.metadata import version

import jieba
import numpy as np
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_chinese import Rouge

PINNED = {"nltk": "3.9.1", "jieba": "0.42.1", "rouge-chinese": "1.0.3"}
for name, v in PINNED.items():
    assert version(name) == v, f"{name} {version(name)} installed, {v} pinned (scripts/requirements-ref.txt)"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "metrics", "parity.json")

jieba.setLogLevel(logging.CRITICAL)
jieba.initialize()


def load(name):
    with open(os.path.join(SHARED, name), encoding="utf-8") as f:
        if name.endswith(".jsonl"):
            return [json.loads(line) for line in f if line.strip()]
        return json.load(f)


def field(row, path):
    """'a.0.b' walks dict keys and list indices."""
    for part in path.split("."):
        row = row[int(part)] if isinstance(row, list) else row[part]
    return row


def transform(text, kind, n):
    """On code points: 'none', 'prefix' (first n), 'rotate' (text[n:] + text[:n])."""
    if kind == "none":
        return text
    if kind == "prefix":
        return text[:n]
    if kind == "rotate":
        return text[n:] + text[:n]
    raise ValueError(kind)


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tokens_sha(tokens):
    h = hashlib.sha256()
    for t in tokens:
        h.update(t.encode("utf-8"))
        h.update(b"\xff")
    return h.hexdigest()


def exact(scores):
    """Scores as repr strings: Foundation's JSON number parser on Linux is not correctly rounded
    (26.370131398416888 reads back as 26.37013139841689), Swift's Double(String) is."""
    return {k: repr(v) for k, v in scores.items()}


def similarity(pred, label):
    """One row of LLaMA-Factory's ComputeSimilarity.__call__, unrounded."""
    hypothesis = list(jieba.cut(pred))
    reference = list(jieba.cut(label))
    if len(" ".join(hypothesis).split()) == 0 or len(" ".join(reference).split()) == 0:
        result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
    else:
        result = Rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
    bleu = sentence_bleu([list(label)], list(pred), smoothing_function=SmoothingFunction().method3)
    raw = {"bleu4": float(bleu), "rouge1": result["rouge-1"]["f"], "rouge2": result["rouge-2"]["f"],
           "rougeL": result["rouge-l"]["f"]}
    return raw, hypothesis, reference


# (group, prediction source, reference source, rows): a source is (file, field, transform, n or a
# function of the text giving n); row i pairs prediction row p(i) with reference row r(i).
O1, HL, R1, SFT, DPO = ("medical_o1_en_160.json", "human_like_dpo_972.json", "medical_r1_zh_200.jsonl",
                        "medical_sft_zh_1k.sharegpt.jsonl", "dpo_zh_500.jsonl")
HALF = lambda t, i: len(t) // 2
THIRD = lambda t, i: len(t) // 3
SHORT = lambda t, i: 1 + i % 4  # 1–4 code points: hypotheses shorter than BLEU's 4-grams
RECIPES = [
    # English
    ("en: other row's answer", (O1, "Response", "none"), (O1, "Response", "none"), [(i, i + 1) for i in range(30)]),
    ("en: answer's first half", (O1, "Response", "prefix", HALF), (O1, "Response", "none"), [(i, i) for i in range(30, 50)]),
    ("en: answer rotated by a third", (O1, "Response", "rotate", THIRD), (O1, "Response", "none"), [(i, i) for i in range(50, 70)]),
    ("en: answer vs chain of thought", (O1, "Response", "none"), (O1, "Complex_CoT", "none"), [(i, i) for i in range(70, 85)]),
    ("en: 1-4 code points", (O1, "Response", "prefix", SHORT), (O1, "Response", "none"), [(i, i) for i in range(85, 95)]),
    ("en: rejected vs chosen (emoji)", (HL, "rejected", "none"), (HL, "chosen", "none"), [(i, i) for i in range(30)]),
    ("en: prompt vs chosen", (HL, "prompt", "none"), (HL, "chosen", "none"), [(i, i) for i in range(30, 45)]),
    # Chinese
    ("zh: other row's answer", (R1, "answer", "none"), (R1, "answer", "none"), [(i, i + 1) for i in range(30)]),
    ("zh: answer vs think", (R1, "answer", "none"), (R1, "think", "none"), [(i, i) for i in range(30, 50)]),
    ("zh: answer's first half", (R1, "answer", "prefix", HALF), (R1, "answer", "none"), [(i, i) for i in range(50, 70)]),
    ("zh: answer rotated by a third", (R1, "answer", "rotate", THIRD), (R1, "answer", "none"), [(i, i) for i in range(70, 90)]),
    ("zh: other row's reply", (SFT, "conversations.1.value", "none"), (SFT, "conversations.1.value", "none"), [(i, i + 1) for i in range(30)]),
    ("zh: 1-4 code points", (SFT, "conversations.1.value", "prefix", SHORT), (SFT, "conversations.1.value", "none"), [(i, i) for i in range(30, 45)]),
    ("zh: rejected vs chosen (mixed scripts)", (DPO, "rejected", "none"), (DPO, "chosen", "none"), [(i, i) for i in range(40)]),
    ("zh: question vs chosen", (DPO, "conversations.0.value", "none"), (DPO, "chosen", "none"), [(i, i) for i in range(40, 55)]),
]

# Project-written edge cases (prediction, reference), stored verbatim.
EDGE = [
    ("", ""), ("", "参考答案"), ("预测", ""), ("", "reference"),
    ("   ", "   "), ("\n\n", "答案"), ("答案", "\t \u3000\u00a0"), ("\u3000", "\u3000"),
    ("。，！？", "。，！？"), ("!!!", "..."), ("……", "。。。"), ("。", "答。"),
    ("😀😀😀", "😀😀😀"), ("😀", "😀 ok"), ("👨‍👩‍👧 family", "👨‍👩‍👧 family 👍🏽"), ("🙂🙃", "🙃🙂"),
    ("a", "a"), ("ab", "abc"), ("abc", "abcd"), ("abcd", "abcd"), ("x", "yz"),
    ("患者发热5天，右下腹压痛。", "患者发热5天，右下腹压痛明显。"),
    ("我用iPhone13拍照，花了2023.5元（约3.14%的预算）。", "我用 iPhone 13 拍照，花了 2023.5 元。"),
    ("COVID-19 的潜伏期为1-14天，多为3~7天。", "新冠病毒（COVID-19）潜伏期1至14天"),
    ("c++和C#都是AT&T之后的语言吗？", "C++ 和 c# 不是。"),
    ("血压 120/80 mmHg，心率 72 次/分。", "血压120/80mmHg，心率72次/分"),
    ("他说：“好的。”然后走了。", "他说：“好的！”"), ("这是……真的吗？！", "是真的。"),
    ("第一句。第二句！第三句？Fourth? Fifth.", "第一句。第三句？"),
    ("......然后", "......然后呢"), ("??ab", "? ab"),
    ("こんにちは、世界。", "你好，世界。"), ("안녕하세요 세계", "世界 안녕"),
    ("繁體中文與简体中文混合", "繁体中文与简体中文"),
    ("𠀀𠀁是扩展B区的字，鿖不在基本区", "𠀀是扩展字"),
    ("café", "cafe\u0301"), ("Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ１２３", "Fullwidth ABC123"),
    ("line one\r\nline two\r\n", "line one\nline two"), ("tab\tseparated\tvalues", "tab separated values"),
    ("The answer is B. Folate deficiency.", "The answer is D. Parvovirus B19 infection."),
    ("<think>\n先分析。\n</think>\n答案是C。", "答案是C。"),
    ("哈" * 1000, "哈" * 999 + "呵"), ("ab" * 1500, "ba" * 1500), ("重复的句子。" * 200, "重复的句子。" * 150),
    ("1.2.3.4 版本号", "版本 1.2.3"), ("50%的患者", "约50%患者"), ("e.g. i.e. etc.", "e.g., i.e., etc"),
    ("\u200b零宽\u200b空格", "零宽空格"), ("\x1c\x1d分隔\x1e\x1f符", "分隔符"),
]


def main():
    pairs = []
    cache = {}
    for group, psrc, rsrc, rows in RECIPES:
        for pi, ri in rows:
            sides = []
            for src, row in ((psrc, pi), (rsrc, ri)):
                name, path, kind = src[:3]
                data = cache.setdefault(name, load(name))
                text = field(data[row], path)
                n = src[3](text, row) if kind != "none" else 0
                sides.append(({"file": name, "row": row, "field": path, "transform": kind, "n": n},
                              transform(text, kind, n)))
            (pspec, pred), (rspec, ref) = sides
            pairs.append({"group": group, "prediction": pspec, "reference": rspec, "texts": (pred, ref)})
    for pred, ref in EDGE:
        pairs.append({"group": "edge", "prediction": {"text": pred}, "reference": {"text": ref}, "texts": (pred, ref)})

    columns = {"bleu4": [], "rouge1": [], "rouge2": [], "rougeL": []}
    out_pairs = []
    for p in pairs:
        pred, ref = p.pop("texts")
        raw, htok, rtok = similarity(pred, ref)
        rounded = {k: round(v * 100, 4) for k, v in raw.items()}
        for k in columns:
            columns[k].append(rounded[k])
        p["prediction"].update({"sha256": sha(pred), "tokens": len(htok), "tokens_sha256": tokens_sha(htok)})
        p["reference"].update({"sha256": sha(ref), "tokens": len(rtok), "tokens_sha256": tokens_sha(rtok)})
        p["raw"], p["rounded"] = exact(raw), exact(rounded)
        out_pairs.append(p)

    # Segmentation of every Chinese text field of every row.
    segmentation = []
    for name, paths in [(R1, ["instruction", "question", "think", "answer"]),
                        (SFT, ["conversations.0.value", "conversations.1.value"]),
                        (DPO, ["conversations.0.value", "chosen", "rejected"])]:
        data = cache.setdefault(name, load(name))
        for path in paths:
            digests = [tokens_sha(list(jieba.cut(field(row, path))))[:16] for row in data]
            segmentation.append({"file": name, "field": path, "rows": len(data), "tokens_sha256_16": digests})

    fixture = {
        "about": "scripts/make_metrics_references.py: LLaMA-Factory ComputeSimilarity per pair; see its docstring",
        "versions": {**PINNED, "numpy": np.__version__, "python": platform.python_version()},
        "python_whitespace": [c for c in range(sys.maxunicode + 1) if chr(c).isspace()],
        "means": exact({k: float(np.mean(v)) for k, v in columns.items()}),
        # the verbatim edge pairs alone (what the `tunelab metrics` CLI test feeds it)
        "edge_means": exact({k: float(np.mean(v[-len(EDGE):])) for k, v in columns.items()}),
        "pairs": out_pairs,
        "segmentation": segmentation,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:  # one pair / one segmentation list per line
        dump = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        f.write("{\n" + ",\n".join(
            f"{dump(k)}:[\n" + ",\n".join(dump(x) for x in v) + "\n]" if k in ("pairs", "segmentation")
            else f"{dump(k)}:{dump(v)}" for k, v in fixture.items()) + "\n}\n")
    en = sum(1 for p in out_pairs if p["group"].startswith("en"))
    zh = sum(1 for p in out_pairs if p["group"].startswith("zh"))
    print(f"wrote {OUT}: {len(out_pairs)} pairs ({en} en, {zh} zh, {len(EDGE)} edge), "
          f"{sum(s['rows'] for s in segmentation)} segmented texts; means {fixture['means']}")


if __name__ == "__main__":
    main()
