"""Reference for the sampler's logits processing: transformers' RepetitionPenaltyLogitsProcessor,
TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper applied in generate()'s order.
Writes Tests/Fixtures/sampling/warpers.json: per case the input logits, history, settings, the
processed logits of the repetition penalty, and the set of token ids left with non-zero probability."""
import json, os
import torch
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

torch.manual_seed(0)
out = []
for case in range(24):
    g = torch.Generator().manual_seed(case)
    v = [8, 50, 300][case % 3]
    logits = torch.randn(1, v, generator=g) * (1 + case % 4)
    hist = torch.randint(0, v, (1, 6), generator=g)
    temp = [0.5, 0.7, 1.0, 1.3][case % 4]
    top_k = [0, 5, 20, 0][(case // 2) % 4]
    top_p = [1.0, 0.9, 0.5, 0.95, 0.3, 1.0][case % 6]
    rep = [1.0, 1.3, 1.1][case % 3]
    x = logits.clone()
    if rep != 1.0:
        x = RepetitionPenaltyLogitsProcessor(rep)(hist, x)
    penalised = x.clone()
    x = TemperatureLogitsWarper(temp)(hist, x)
    if top_k > 0:
        x = TopKLogitsWarper(top_k)(hist, x)
    if top_p < 1.0:
        x = TopPLogitsWarper(top_p)(hist, x)
    allowed = torch.nonzero(torch.isfinite(x[0])).flatten().tolist()
    out.append({"logits": logits[0].tolist(), "history": hist[0].tolist(), "temperature": temp,
                "top_k": top_k, "top_p": top_p, "repetition_penalty": rep,
                "penalised": penalised[0].tolist(), "allowed": allowed})
root = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "sampling")
os.makedirs(root, exist_ok=True)
with open(os.path.join(root, "warpers.json"), "w") as f:
    json.dump(out, f)
print(len(out), "cases")
