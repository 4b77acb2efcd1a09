#!/usr/bin/env python3
"""Crash trials: SIGKILL a training run at a random instant, then check what it left.

Each trial starts `tunelab train` (SFT or DPO) or `tunelab run` on a notebook with a fresh record and
output folder, kills it with SIGKILL, and checks:

  1. the record passes `PRAGMA integrity_check`;
  2. it holds every acknowledged step: a step is acknowledged when its progress line `step N/T` is on
     stdout, which tunelab prints only after the step's metrics are committed. The record's steps are
     1..M with M >= the last acknowledged step (M may be one more: committed, killed before printing),
     and every recorded value equals the uninterrupted run's, bit for bit;
  3. every `checkpoint-N` folder is complete and byte-identical (adapter weights and optimiser
     moments) to the uninterrupted run's checkpoint-N: a half-written checkpoint never carries that
     name; the hidden temp folder a kill can leave behind is refused by `--resume`;
  4. resuming from the newest checkpoint (or starting again when there is none), in the same output
     folder and record, finishes with an adapter byte-identical to the uninterrupted run's and the same
     loss curve (metrics.jsonl, timing fields aside); the resumed steps are recorded with the same
     values; the killed run shows as interrupted; no temp folder is left.

Where the kill lands: some trials (2 in 5 without --quick; the "paused" ones) set TUNELAB_PAUSE_AT so the process stops
at a named place (`step`: between a step's backward and its update; `checkpoint-write`: half of a
checkpoint's optimizer.bin written; `checkpoint-rename`: every file written and synced, the folder not
yet renamed, also for the final adapter; `metrics-commit`: a step's rows inserted, not committed), at a
random occurrence, and the trial kills it there; the others kill at a uniformly random time within
0.9 × the uninterrupted run's wall time and classify where it landed from what is on disk.

Usage: crash_trials.py N [--quick] [--seed S] [--smollm2 K] [--json FILE]
  --quick     the CI set: tiny model only, phases and scenarios cycled so each is covered
  --smollm2 K K of the N trials on the default SmolLM2 model (slower: ~20 s each)
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TUNELAB", os.path.join(ROOT, ".build", "release", "tunelab"))
TINY = os.path.join(ROOT, "Tests", "Fixtures", "tiny-llama3")
PAIRS = os.path.join(ROOT, "notebooks", "data", "preference-sample.jsonl")
PAUSE_POINTS = ["step", "checkpoint-write", "checkpoint-rename", "metrics-commit"]
TIMING = {"seconds", "tokens_per_s"}


def write_data(work):
    """Short synthetic SFT rows and template (fast steps on the tiny model)."""
    data = os.path.join(work, "data.jsonl")
    with open(data, "w") as f:
        for i in range(32):
            a, b = i % 7 + 1, i % 5 + 2
            f.write(json.dumps({"Question": f"What is {a} plus {b}, and why?",
                                "Complex_CoT": f"Adding {a} and {b}: counting up from {a} by {b} gives {a + b}.",
                                "Response": f"{a} plus {b} is {a + b}."}) + "\n")
    tpl = os.path.join(work, "template.txt")
    with open(tpl, "w") as f:
        f.write("Q: {Question}\nA: <think>\n{Complex_CoT}\n</think>\n{Response}")
    return data, tpl


class Scenario:
    """One way of training: the command for a fresh run and for a resume, and its sizes."""

    def __init__(self, name, kind, steps, save_every, model, method="sft"):
        self.name, self.kind, self.steps, self.save_every, self.model, self.method = name, kind, steps, save_every, model, method
        self.state_file = "dpo_state.json" if method == "dpo" else "trainer_state.json"

    def flags(self, work):
        data, tpl = os.path.join(work, "data.jsonl"), os.path.join(work, "template.txt")
        common = {"model": self.model, "r": "4", "lora-alpha": "8", "warmup-steps": "1", "threads": "2",
                  "max-steps": str(self.steps), "save-every": str(self.save_every)}
        if self.method == "dpo":
            return {**common, "data": PAIRS, "max-length": "96", "max-prompt-length": "48", "batch-size": "2",
                    "grad-accum": "1", "lr": "5e-3", "val-fraction": "0.2", "eval-every": "4"}
        if self.model == "default":
            return {**common, "data": data, "template": tpl, "max-seq-length": "64", "targets": "q,v", "batch-size": "1",
                    "grad-accum": "1", "lr": "1e-3", "eval-every": "0"}
        return {**common, "data": data, "template": tpl, "max-seq-length": "128", "batch-size": "2", "grad-accum": "2",
                "lr": "1e-3", "eval-every": "4"}

    def command(self, work, db, out, resume=None):
        f = self.flags(work)
        if self.kind == "run":
            nb = os.path.join(out + ".md")
            keys = {"load": {"model": f["model"], "threads": f["threads"]},
                    "format": {"data": f["data"], "template": f["template"], "max_seq_length": f["max-seq-length"]},
                    "train": {k.replace("-", "_"): f[k] for k in ["r", "lora-alpha", "warmup-steps", "max-steps", "save-every",
                                                                  "batch-size", "grad-accum", "lr", "eval-every"]}}
            keys["train"]["out"] = out
            with open(nb, "w") as fh:
                fh.write("# crash trial\n")
                for kind, kv in keys.items():
                    fh.write(f"\n```{kind}\n")
                    for k, v in kv.items():
                        fh.write(f"{k} = {v if re.fullmatch(r'[0-9.e-]+', v) else json.dumps(v)}\n")
                    fh.write("```\n")
            cmd = [BIN, "run", nb, "--db", db]
            if resume:
                cmd += ["--set", f"train.resume={json.dumps(resume)}"]
            return cmd
        cmd = [BIN, "train", "--db", db, "--out", out] + (["--method", "dpo"] if self.method == "dpo" else [])
        for k, v in f.items():
            cmd += ["--" + k, v]
        if resume:
            cmd += ["--resume", resume]
        return cmd

    def checkpoints(self):
        """How many times each pause point can be reached in a run."""
        n = self.steps // self.save_every + (0 if self.steps % self.save_every == 0 else 1)
        return {"step": self.steps, "metrics-commit": self.steps, "checkpoint-write": n, "checkpoint-rename": n + 1}


def run(cmd, cwd, env=None, timeout=600):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def curve(out):
    """metrics.jsonl as a list of dicts without the timing fields."""
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f if line.strip()]


def recorded(db, run_id):
    """{(step, name): value} of one run's metrics (timing metrics left out)."""
    con = sqlite3.connect(db)
    try:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'metrics'").fetchone():
            return {}  # killed while the new record's schema was being created (rolled back)
        rows = con.execute("SELECT step, name, value FROM metrics WHERE run_id = ? AND name NOT IN ('tokens_per_s')",
                           (run_id,)).fetchall()
    finally:
        con.close()
    return {(s, n): v for s, n, v in rows}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def checkpoint_files(scenario, path):
    return {n: read(os.path.join(path, n)) for n in ["adapter_model.safetensors", "optimizer.bin", "adapter_config.json"]}


class Reference:
    """The uninterrupted run of a scenario: its adapter, curve, checkpoints and recorded values."""

    def __init__(self, scenario, work):
        d = os.path.join(work, "ref-" + scenario.name)
        os.makedirs(d)
        self.db, self.out = os.path.join(d, "record.sqlite"), os.path.join(d, "out")
        t = time.monotonic()
        r = run(scenario.command(work, self.db, self.out), cwd=d)
        self.seconds = time.monotonic() - t
        if r.returncode != 0:
            sys.exit(f"reference run of {scenario.name} failed:\n{r.stdout}\n{r.stderr}")
        self.adapter = read(os.path.join(self.out, "adapter", "adapter_model.safetensors"))
        self.curve = curve(self.out)
        self.values = recorded(self.db, 1)
        self.checkpoints = {int(n.split("-")[1]): checkpoint_files(scenario, os.path.join(self.out, n))
                            for n in os.listdir(self.out) if re.fullmatch(r"checkpoint-\d+", n)}
        assert len(self.curve) == scenario.steps, f"{scenario.name}: {len(self.curve)} steps"


def acknowledged(stdout):
    steps = [int(m.group(1)) for m in re.finditer(r"^step (\d+)/\d+ ", stdout, re.M)]
    return max(steps, default=0)


def trial(i, scenario, ref, mode, rng, work):
    """One killed run and its resume; returns a result dict with `problems` (empty = pass)."""
    d = os.path.join(work, f"trial-{i}")
    os.makedirs(d)
    db, out = os.path.join(d, "record.sqlite"), os.path.join(d, "out")
    env = dict(os.environ)
    res = {"trial": i, "scenario": scenario.name, "mode": mode, "problems": []}
    bad = res["problems"].append
    if mode in PAUSE_POINTS:
        n = rng.randint(1, scenario.checkpoints()[mode])
        env["TUNELAB_PAUSE_AT"] = f"{mode}:{n}"
        res["at"] = f"{mode}:{n}"
    so, se = open(os.path.join(d, "stdout"), "w"), open(os.path.join(d, "stderr"), "w")
    t0 = time.monotonic()
    p = subprocess.Popen(scenario.command(work, db, out), cwd=d, env=env, stdout=so, stderr=se)
    if mode in PAUSE_POINTS:
        while p.poll() is None and "paused at" not in open(os.path.join(d, "stderr")).read():
            if time.monotonic() - t0 > 300:
                bad("never reached the pause point")
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.02))
    else:
        delay = rng.uniform(0, 0.9 * ref.seconds)
        res["at"] = f"{delay:.3f}s"
        while p.poll() is None and time.monotonic() - t0 < delay:
            time.sleep(0.002)
    exited = p.poll() is not None
    if not exited:
        p.send_signal(signal.SIGKILL)
    p.wait()
    so.close(); se.close()
    stdout, stderr = read(os.path.join(d, "stdout")).decode(), read(os.path.join(d, "stderr")).decode()
    if exited:
        res["phase"] = "finished before the kill"
        if p.returncode != 0:
            bad(f"exited {p.returncode} on its own: {stderr[-500:]}")
    elif p.returncode != -signal.SIGKILL:
        bad(f"ended with {p.returncode}, not SIGKILL")
    temps = sorted(n for n in (os.listdir(out) if os.path.isdir(out) else []) if ".tmp-" in n and n.startswith(".checkpoint-"))
    if not exited and mode not in PAUSE_POINTS:
        started = "training " in stdout or "DPO (" in stdout
        res["phase"] = "checkpoint-write" if temps else ("step" if started else "before training")
    elif not exited:
        res["phase"] = mode
    ack = acknowledged(stdout)
    res["acknowledged"] = ack
    status = None
    if os.path.exists(db):
        con = sqlite3.connect(db)
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
            status = (con.execute("SELECT status FROM runs WHERE id = 1").fetchone() or [None])[0]
        con.close()
    if not exited and status == "completed":
        res["phase"] = "after the run was recorded"  # killed while the process was exiting

    # 1-2. The record: whole, every acknowledged step, the uninterrupted run's values.
    if os.path.exists(db):
        con = sqlite3.connect(db)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        con.close()
        if ok != "ok":
            bad(f"integrity_check: {ok}")
        vals = recorded(db, 1)
        steps = sorted({s for s, n in vals if n == "loss"})
        res["recorded"] = len(steps)
        if steps != list(range(1, len(steps) + 1)):
            bad(f"recorded steps not 1..M: {steps}")
        if len(steps) < ack or len(steps) > ack + 1:
            bad(f"{len(steps)} steps recorded, {ack} acknowledged")
        for k, v in vals.items():
            if ref.values.get(k) != v:
                bad(f"recorded {k} = {v!r}, uninterrupted run {ref.values.get(k)!r}")
                break
    elif ack > 0:
        bad(f"{ack} steps acknowledged and no record")

    # 3. Checkpoints: only complete ones carry the name; a temp folder is refused by --resume.
    names = sorted((int(n.split("-")[1]) for n in (os.listdir(out) if os.path.isdir(out) else [])
                    if re.fullmatch(r"checkpoint-\d+", n)))
    res["checkpoint"] = names[-1] if names else None
    for k in names:
        path = os.path.join(out, f"checkpoint-{k}")
        if not os.path.exists(os.path.join(path, scenario.state_file)):
            bad(f"checkpoint-{k} has no {scenario.state_file}")
            continue
        if checkpoint_files(scenario, path) != ref.checkpoints.get(k):
            bad(f"checkpoint-{k} differs from the uninterrupted run's")
    res["temp_left"] = len(temps)
    if temps and scenario.kind == "train":
        r = run(scenario.command(work, os.path.join(d, "refused.sqlite"), os.path.join(d, "refused"),
                                 resume=os.path.join(out, temps[0])), cwd=d)
        if r.returncode == 0 or "unfinished checkpoint" not in r.stderr:
            bad(f"--resume {temps[0]} was not refused: {r.stderr[-300:]}")

    # 4. Resume from the newest checkpoint (or start again) in the same folder and record.
    if not exited:
        resume = os.path.join(out, f"checkpoint-{names[-1]}") if names else None
        r = run(scenario.command(work, db, out, resume=resume), cwd=d)
        if r.returncode != 0:
            bad(f"resume failed: {r.stderr[-500:]}")
            return res
        if read(os.path.join(out, "adapter", "adapter_model.safetensors")) != ref.adapter:
            bad("resumed adapter differs from the uninterrupted run's")
        if curve(out) != ref.curve:
            bad("resumed metrics.jsonl differs from the uninterrupted run's")
        con = sqlite3.connect(db)
        after = con.execute("SELECT status FROM runs WHERE id = 1").fetchone()
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        con.close()
        if ok != "ok":
            bad(f"integrity_check after resume: {ok}")
        # The killed run is run 1 when it got as far as being recorded; the resume is the next one.
        if status is not None and after[0] != ("completed" if status == "completed" else "interrupted"):
            bad(f"killed run recorded as {after[0]}, not interrupted")
        first = names[-1] if names else 0
        resumed = recorded(db, 2 if status is not None else 1)
        want = {k: v for k, v in ref.values.items() if k[0] > first}
        if resumed != want:
            diff = sorted(set(resumed.items()) ^ set(want.items()))[:3]
            bad(f"resumed run's recorded metrics differ from the uninterrupted run's steps {first + 1}..: {diff}")
        left = [n for n in os.listdir(out) if n.startswith(".") and (".tmp-" in n or ".old-" in n)]
        if left:
            bad(f"temp folders left after the resume: {left}")
    res["seconds"] = round(time.monotonic() - t0, 2)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--smollm2", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 31)
    rng = random.Random(seed)
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN}: no tunelab binary (build with swift build -c release, or set TUNELAB)")
    work = tempfile.mkdtemp(prefix="tunelab-crash-trials-")
    write_data(work)
    tiny = [Scenario("train", "train", 24, 4, TINY), Scenario("run", "run", 16, 4, TINY),
            Scenario("dpo", "train", 12, 3, TINY, method="dpo")]
    smol = Scenario("train-smollm2", "train", 6, 2, "default")
    print(f"crash trials: {a.n} (seed {seed}), tunelab {BIN}, work {work}", flush=True)
    t0 = time.monotonic()
    refs = {s.name: Reference(s, work) for s in tiny + ([smol] if a.smollm2 else [])}
    print("uninterrupted runs: " + ", ".join(f"{k} {r.seconds:.1f}s" for k, r in refs.items()), flush=True)
    modes = PAUSE_POINTS + ["random"]
    plan = []
    for i in range(a.n):
        s = smol if i >= a.n - a.smollm2 else (tiny[i % len(tiny)] if a.quick else rng.choice(tiny))
        m = modes[i % len(modes)] if a.quick else rng.choice(PAUSE_POINTS + ["random"] * 4)
        plan.append((s, m))
    results = []
    for i, (s, m) in enumerate(plan, 1):
        r = trial(i, s, refs[s.name], m, rng, work)
        results.append(r)
        print(f"trial {i:3d} {s.name:13s} kill {r.get('at', ''):20s} phase {r.get('phase', '?'):24s} "
              f"ack {r['acknowledged']:3d} recorded {r.get('recorded', 0):3d} ckpt {str(r['checkpoint']):4s} "
              f"temp {r['temp_left']} {'PASS' if not r['problems'] else 'FAIL: ' + '; '.join(r['problems'])}", flush=True)
    failed = [r for r in results if r["problems"]]
    by = {}
    for r in results:
        key = (r["scenario"], r.get("phase", "?"))
        by.setdefault(key, [0, 0])
        by[key][0] += 1
        by[key][1] += not r["problems"]
    print(f"\n{len(results) - len(failed)}/{len(results)} trials passed in {time.monotonic() - t0:.0f}s (seed {seed})")
    for (s, ph), (n, ok) in sorted(by.items()):
        print(f"  {s:13s} {ph:26s} {ok}/{n}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"seed": seed, "results": results}, f, indent=1)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
