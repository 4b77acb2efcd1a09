#!/usr/bin/env bash
# Crash trials: `bash scripts/crash_trials.sh N [--quick] [--smollm2 K] [--seed S] [--json FILE]`.
# SIGKILLs N training runs (tunelab train / run, SFT and DPO, tiny Llama-3; K of them on SmolLM2) at
# random instants and checks the record, the checkpoints and a bit-identical resume; see
# scripts/crash_trials.py. Uses the release build (built here, as scripts/test.sh builds it, if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
if [ -z "${TUNELAB:-}" ] && [ ! -x .build/release/tunelab ]; then
    swift build -c release -Xswiftc -enable-testing --product tunelab
fi
exec python3 scripts/crash_trials.py "$@"
