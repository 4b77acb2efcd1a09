# Shared set-up of the benchmark scripts (sourced): repository root, Swift on PATH, the
# reference Python (scripts/.venv from make_references.sh, or PYTHON=...), thread count, and a
# release build of tunelab in $bin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="/opt/swift/usr/bin:$PATH"
PY=${PYTHON:-scripts/.venv/bin/python}
[ -x "$PY" ] || PY=/opt/refvenv/bin/python
THREADS=${THREADS:-2}
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)/tunelab
