#!/usr/bin/env python3
"""Benchmark helper for scripts/bench_metrics.sh.

  pairs N DIR   write DIR/predictions.jsonl and DIR/references.jsonl: N pairs cycling over five
                kinds built from ../shared/data (en: another row's answer, rejected vs chosen; zh: another
                row's answer, another row's reply, rejected vs chosen), each text cut to its first 600
                code points (about an eval answer's length)
  score P R     LLaMA-Factory's ComputeSimilarity loop (jieba + rouge-chinese + nltk, one process) on the
                files; prints {"bleu4":…,"rouge1":…,"rouge2":…,"rougeL":…} and the seconds on stderr
"""
import json
import logging
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
CUT = 600


def load(name):
    with open(os.path.join(SHARED, name), encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()] if name.endswith(".jsonl") else json.load(f)


def pairs(n, out):
    o1, hl = load("medical_o1_en_160.json"), load("human_like_dpo_972.json")
    r1, sft, dpo = load("medical_r1_zh_200.jsonl"), load("medical_sft_zh_1k.sharegpt.jsonl"), load("dpo_zh_500.jsonl")
    kinds = [
        lambda i: (o1[i % len(o1)]["Response"], o1[(i + 1) % len(o1)]["Response"]),
        lambda i: (hl[i % len(hl)]["rejected"], hl[i % len(hl)]["chosen"]),
        lambda i: (r1[i % len(r1)]["answer"], r1[(i + 1) % len(r1)]["answer"]),
        lambda i: (sft[i % len(sft)]["conversations"][1]["value"], sft[(i + 1) % len(sft)]["conversations"][1]["value"]),
        lambda i: (dpo[i % len(dpo)]["rejected"], dpo[i % len(dpo)]["chosen"]),
    ]
    with open(os.path.join(out, "predictions.jsonl"), "w", encoding="utf-8") as p, \
         open(os.path.join(out, "references.jsonl"), "w", encoding="utf-8") as r:
        for k in range(n):
            pred, ref = kinds[k % 5](k // 5)
            p.write(json.dumps(pred[:CUT], ensure_ascii=False) + "\n")
            r.write(json.dumps(ref[:CUT], ensure_ascii=False) + "\n")


def score(pred_path, ref_path):
    import jieba
    import numpy as np
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    t0 = time.perf_counter()
    jieba.setLogLevel(logging.CRITICAL)
    jieba.initialize()
    with open(pred_path, encoding="utf-8") as f:
        preds = [json.loads(l) for l in f]
    with open(ref_path, encoding="utf-8") as f:
        labels = [json.loads(l) for l in f]
    scores = {"rouge-1": [], "rouge-2": [], "rouge-l": [], "bleu-4": []}
    for pred, label in zip(preds, labels):  # LLaMA-Factory ComputeSimilarity.__call__
        hypothesis, reference = list(jieba.cut(pred)), list(jieba.cut(label))
        if len(" ".join(hypothesis).split()) == 0 or len(" ".join(reference).split()) == 0:
            result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
        else:
            result = Rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
        for k, v in result.items():
            scores[k].append(round(v["f"] * 100, 4))
        bleu = sentence_bleu([list(label)], list(pred), smoothing_function=SmoothingFunction().method3)
        scores["bleu-4"].append(round(bleu * 100, 4))
    names = {"bleu-4": "bleu4", "rouge-1": "rouge1", "rouge-2": "rouge2", "rouge-l": "rougeL"}
    print(json.dumps({names[k]: float(np.mean(scores[k])) for k in ["bleu-4", "rouge-1", "rouge-2", "rouge-l"]},
                     separators=(",", ":")))
    print(f"{time.perf_counter() - t0:.3f}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1] == "pairs":
        pairs(int(sys.argv[2]), sys.argv[3])
    else:
        score(sys.argv[2], sys.argv[3])
