#!/usr/bin/env python3
"""Go's rendering of the Ollama Modelfile templates `tunelab export-gguf --modelfile` writes.

Ollama renders a Modelfile TEMPLATE with Go's text/template over `.Messages` (role, content), with
the Modelfile's SYSTEM prepended as a system message when a conversation has none. This script
writes the Modelfile for SmolLM2 (default model), tiny-llama3 and tiny-qwen2 with the built
`tunelab` binary (TUNELAB=path, default .build/release/tunelab), renders fixed conversations with
Go's text/template exactly that way (`go run`, Debian's golang-go), and stores the results. The Swift
test (Tests/TrainingTests/GGUFExportTests.swift) checks that the model's own Jinja chat template,
rendered by TuneLab, gives the same text, so a chat through Ollama sees the prompt the model was
trained on.

  apt-get install golang-go && python3 scripts/make_modelfile_references.py

Writes Tests/Fixtures/gguf_export/modelfile_go.json.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUNELAB = Path(os.environ.get("TUNELAB", ROOT / ".build" / "release" / "tunelab"))
MODELS = {
    "smollm2": "default",
    "tiny-llama3": str(ROOT / "Tests/Fixtures/tiny-llama3"),
    "tiny-qwen2": str(ROOT / "Tests/Fixtures/tiny-qwen2"),
}
CONVERSATIONS = [
    [{"role": "user", "content": "What causes a headache?"}],
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of France?"}],
    [{"role": "user", "content": "患者发热5天"}, {"role": "assistant", "content": "可能是感染。"},
     {"role": "user", "content": "还有呢？\nList two."}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
     {"role": "user", "content": "Bye"}],
]

GO = r'''
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type Job struct {
	Template      string      `json:"template"`
	System        string      `json:"system"`
	Conversations [][]Message `json:"conversations"`
}

func main() {
	var job Job
	if err := json.NewDecoder(os.Stdin).Decode(&job); err != nil { panic(err) }
	t := template.Must(template.New("m").Parse(job.Template))
	out := []string{}
	for _, msgs := range job.Conversations {
		// Ollama: the Modelfile's SYSTEM stands in when the conversation has no system message.
		if job.System != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
			msgs = append([]Message{{Role: "system", Content: job.System}}, msgs...)
		}
		var b strings.Builder
		if err := t.Execute(&b, map[string]any{"Messages": msgs, "System": job.System}); err != nil { panic(err) }
		out = append(out, b.String())
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
'''


def field(text: str, name: str) -> str:
    m = re.search(name + r' """(.*?)"""\n', text, re.S)
    return m.group(1) if m else ""


def main() -> None:
    if not TUNELAB.exists():
        sys.exit(f"{TUNELAB} not found: build first (swift build -c release)")
    doc = {"script": "scripts/make_modelfile_references.py",
           "go": subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "render.go").write_text(GO)
        for name, model in MODELS.items():
            d = tmp / name
            d.mkdir()
            r = subprocess.run([str(TUNELAB), "export-gguf", "--model", model, "--quant", "q4_0", "--modelfile",
                                "--out", str(d / "m.gguf")], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(r.stderr)
            text = (d / "m.Modelfile").read_text()
            job = {"template": field(text, "TEMPLATE"), "system": field(text, "SYSTEM"), "conversations": CONVERSATIONS}
            g = subprocess.run(["go", "run", str(tmp / "render.go")], input=json.dumps(job), capture_output=True, text=True)
            if g.returncode != 0:
                sys.exit(g.stderr)
            doc["models"][name] = {"modelfile": text, "conversations": CONVERSATIONS, "go_rendered": json.loads(g.stdout)}
            print(name, json.dumps(json.loads(g.stdout)[1])[:200])
    out = ROOT / "Tests/Fixtures/gguf_export/modelfile_go.json"
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
