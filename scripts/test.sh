#!/usr/bin/env bash
# The test command: set-up, then the whole test suite (release build: the model tests run real inference).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release -Xswiftc -enable-testing --build-tests
# A hung test (e.g. Swift Testing diffing two huge arrays) fails here, not at CI's 90-minute limit.
timeout --signal=QUIT 2700 swift test -c release -Xswiftc -enable-testing --skip-build
# 10 training runs killed with SIGKILL at random instants (each phase), checked and resumed (~10 s).
bash scripts/crash_trials.sh 10 --quick
# Every fuzz target on the committed seed corpus, ~20 s each (scripts/fuzz.sh; a crash, timeout or
# out-of-memory is a finding and fails this script). About 5 minutes with the build.
bash scripts/fuzz.sh all "${FUZZ_SECONDS:-20}"
