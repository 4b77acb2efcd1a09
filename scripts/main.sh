#!/usr/bin/env bash
# The main job: set-up, release build, then the default run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release
bin=$(swift build -c release --show-bin-path)/tunelab
# Make `tunelab` callable from anywhere (it finds the default model next to its checkout).
if [ -w /usr/local/bin ]; then ln -sf "$PWD/$(realpath --relative-to="$PWD" "$bin")" /usr/local/bin/tunelab; fi
# The default notebook: load SmolLM2 → format the sample medical CoT data → infer → LoRA train →
# infer again → validation loss; every cell recorded in experiments/tunelab.sqlite.
"$bin" run notebooks/medical-cot.md
"$bin" runs --limit 5
