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
if [ -f notebooks/medical-cot.md ] && "$bin" help run >/dev/null 2>&1; then
    "$bin" run notebooks/medical-cot.md
else
    "$bin" info --model default
    "$bin" generate --model default --chat --max-new-tokens 96 \
        --prompt "A patient has had a fever for 5 days and pain in the lower right abdomen. What should a doctor check first?"
fi
