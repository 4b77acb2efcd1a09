#!/usr/bin/env bash
# Developer tool (not run by CI): (re)create the Python reference venv and regenerate the committed
# reference fixtures under Tests/Fixtures by running every scripts/make_*_references.py.
#
#   bash scripts/make_references.sh [--fresh] [make_x_references.py ...]
#     --fresh     delete scripts/.venv and build it again from scripts/requirements-ref.txt
#     scripts     run only these (default: all; make_tokenizer_references.py first, since the
#                 model fixtures take their vocabulary size from the tokenizers it writes)
#     PYTHON=...  use this interpreter instead of scripts/.venv (e.g. PYTHON=/opt/refvenv/bin/python)
#
# Needs python3 (>= 3.10) with venv, network access to PyPI for the first run, and
# models/SmolLM2-135M-Instruct.Q4_1.gguf (bash scripts/setup.sh fetches it).
# Everything is computed on the CPU, seeded; re-running gives identical files.
set -euo pipefail
cd "$(dirname "$0")/.."

fresh=0
only=()
for a in "$@"; do
    case "$a" in
        --fresh) fresh=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) only+=("$(basename "$a")") ;;
    esac
done

if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
else
    VENV=scripts/.venv
    [ "$fresh" = 1 ] && rm -rf "$VENV"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "make_references: creating $VENV"
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r scripts/requirements-ref.txt
    PY=$VENV/bin/python
fi

if [ ${#only[@]} -gt 0 ]; then
    todo=("${only[@]}")
else
    todo=()
    [ -f scripts/make_tokenizer_references.py ] && todo+=(make_tokenizer_references.py)
    for f in scripts/make_*_references.py; do
        b=$(basename "$f")
        [ "$b" = make_tokenizer_references.py ] || todo+=("$b")
    done
fi

# CPU only, fixed hashing; each script fixes its own seeds and thread counts.
export CUDA_VISIBLE_DEVICES="" PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false
[ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ] || echo "make_references: models/SmolLM2-135M-Instruct.Q4_1.gguf missing (run scripts/setup.sh)" >&2
for b in "${todo[@]}"; do
    [ -f "scripts/$b" ] || { echo "make_references: no scripts/$b" >&2; exit 1; }
    echo "== $b"
    "$PY" "scripts/$b"
done
echo "== changed fixtures:"
git status --short -- Tests/Fixtures || true
