#!/usr/bin/env python3
"""References for Sources/Training (AdamW, gradient clipping, LR schedules).

Writes Tests/Fixtures/optimizer/{adamw.json,schedules.json}. CPU, float32, seeded: re-running
gives identical bytes. Float32 values are stored as their IEEE bit patterns (uint32), doubles
as repr() decimals (shortest round-trip), so the Swift tests can compare bit-for-bit.

adamw.json
  tensors: sizes of the 3 parameter tensors (odd sizes: exercise both the 16-lane SIMD body
           and the scalar tail of torch's CPU kernels).
  init:    initial parameter bits per tensor.
  grads:   [step][tensor] raw gradient bits (before clipping), 10 steps.
  cases:   each case = AdamW(foreach=False) hyper-parameters, a schedule and optional clipping:
     lrs[step]          lr the optimizer used at that step (param_groups[0]["lr"] before step())
     pre_clip_norms     bits of clip_grad_norm_'s return value (only when max_norm is set)
     params[step][t]    parameter bits after that step
schedules.json
  base_lr, total 50; for each (name, warmup) case: lrs[k] = lr used by optimizer step k
  through transformers.get_scheduler + LambdaLR; warmup given as steps or as a ratio resolved by
  TrainingArguments.get_warmup_steps (ceil(ratio * total)).
"""
import json
import os

import torch
from transformers import TrainingArguments, get_scheduler

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "optimizer")
torch.set_num_threads(1)


def bits(t):
    return t.detach().contiguous().view(torch.int32).numpy().astype("uint32").tolist()


def adamw_refs():
    g = torch.Generator().manual_seed(1234)
    sizes = [37, 130, 8]
    steps = 10
    init = [torch.randn(n, generator=g) * 0.5 for n in sizes]
    # Gradient scale varies by step so clipping (max_norm 1.0) triggers on some steps only.
    scales = [0.05, 0.4, 0.02, 0.3, 0.08, 0.01, 0.25, 0.06, 0.5, 0.03]
    grads = [[torch.randn(n, generator=g) * scales[s] for n in sizes] for s in range(steps)]

    cases = [
        # (name, adamw kwargs, schedule (name, warmup, total) or None, max_norm or None)
        ("defaults_constant", dict(lr=1e-3), None, None),
        ("hyper_constant", dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), None, None),
        ("small_beta1_no_decay", dict(lr=5e-3, betas=(0.3, 0.95), eps=1e-8, weight_decay=0.0), None, None),
        ("linear_clip", dict(lr=2e-3, weight_decay=0.01), ("linear", 3, 10), 1.0),
        ("cosine_clip", dict(lr=1e-2, weight_decay=0.05), ("cosine", 2, 10), 0.5),
    ]
    out_cases = []
    for name, kw, sched, max_norm in cases:
        params = [torch.nn.Parameter(p.clone()) for p in init]
        opt = torch.optim.AdamW(params, foreach=False, fused=False, **kw)
        sch = get_scheduler(sched[0], opt, num_warmup_steps=sched[1], num_training_steps=sched[2]) if sched else None
        lrs, norms, after = [], [], []
        for s in range(steps):
            for p, gr in zip(params, grads[s]):
                p.grad = gr.clone()
            if max_norm is not None:
                n = torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=False)
                norms.append(bits(n.reshape(1))[0])
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if sch:
                sch.step()
            after.append([bits(p) for p in params])
        c = dict(name=name, lr=kw["lr"], betas=list(kw.get("betas", (0.9, 0.999))), eps=kw.get("eps", 1e-8),
                 weight_decay=kw.get("weight_decay", 1e-2),
                 schedule=None if sched is None else dict(name=sched[0], warmup_steps=sched[1], total_steps=sched[2]),
                 max_norm=max_norm, lrs=lrs, params=after)
        if max_norm is not None:
            c["pre_clip_norms"] = norms
        out_cases.append(c)
    return dict(torch=torch.__version__, tensors=sizes, steps=steps,
                init=[bits(p) for p in init], grads=[[bits(x) for x in row] for row in grads], cases=out_cases)


def schedule_refs():
    total, base = 50, 2e-4
    out = []
    for name in ["constant", "constant_with_warmup", "linear", "cosine"]:
        for kind, value in [("steps", 5), ("steps", 0), ("ratio", 0.07), ("ratio", 0.15), ("steps", 50)]:
            warm = value if kind == "steps" else TrainingArguments(output_dir="/tmp/x", warmup_steps=value).get_warmup_steps(total)
            p = torch.nn.Parameter(torch.zeros(1))
            opt = torch.optim.AdamW([p], lr=base)
            sch = get_scheduler(name, opt, num_warmup_steps=warm, num_training_steps=total)
            lrs = []
            for _ in range(total):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                sch.step()
            out.append(dict(name=name, warmup_kind=kind, warmup=value, warmup_steps=warm, lrs=lrs))
    import transformers
    return dict(transformers=transformers.__version__, base_lr=base, total_steps=total, cases=out)


def dump(obj, fname):
    with open(os.path.join(OUT, fname), "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    dump(adamw_refs(), "adamw.json")
    dump(schedule_refs(), "schedules.json")
    print("wrote", OUT)
