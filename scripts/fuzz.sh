#!/usr/bin/env bash
# libFuzzer targets for the readers of outside bytes (Fuzz/Sources/<target>, a package of its
# own, so the normal `swift build` never builds them).
#
#   bash scripts/fuzz.sh TARGET SECONDS [libFuzzer flags…]   fuzz TARGET for SECONDS (one process)
#   bash scripts/fuzz.sh all SECONDS                          every target in turn (what CI runs)
#   bash scripts/fuzz.sh build [TARGET]                       only build
#   bash scripts/fuzz.sh list                                 the targets
#
# Built with `-sanitize=fuzzer,address` in release (the readers as shipped: bounds-checked -O;
# the Quantization / Kernels loops -Ounchecked) into Fuzz/.build. Seeds: Fuzz/Corpus/TARGET
# (committed), with Fuzz/Dictionaries/TARGET.dict when there is one; inputs that reach new code go
# to Fuzz/.work/TARGET/corpus, findings (crash-*,
# timeout-*, oom-*) to Fuzz/.work/TARGET/. Limits: 10 s per input, 2 GB RSS, 1 GB per malloc.
# RUNS=N also stops after N executions (whichever comes first). Exit status: libFuzzer's (0: no
# finding). The last lines printed give the execution count (stat::number_of_executed_units).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="/opt/swift/usr/bin:$PATH"
targets=(gguf safetensors safetensors-index hf-config peft-config tokenizer-json chat-template notebook dataset hub-response)

build() {
    # One target: only its product; several: the whole fuzz package (every target).
    local what=()
    [ $# -eq 1 ] && what=(--product "fuzz-$1")
    (cd Fuzz && swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing -Xswiftc -use-ld=lld \
        "${what[@]}" 2>&1 | grep -E "error|warning: unre|Compiling fuzz|Build" || true)
    for t in "$@"; do [ -x "Fuzz/.build/release/fuzz-$t" ] || { echo "fuzz: building fuzz-$t failed" >&2; exit 1; }; done
}

run() {
    local t=$1 seconds=$2; shift 2
    local work="Fuzz/.work/$t" rc=0 dict=()
    [ -f "Fuzz/Dictionaries/$t.dict" ] && dict=(-dict="Fuzz/Dictionaries/$t.dict")
    mkdir -p "$work/corpus"
    echo "== fuzz-$t: ${seconds}s${RUNS:+ or $RUNS runs} (seeds: Fuzz/Corpus/$t, $(ls "Fuzz/Corpus/$t" | wc -l) files)"
    TUNELAB_ROOT="$root" ASAN_OPTIONS="detect_leaks=0" \
        "Fuzz/.build/release/fuzz-$t" -max_total_time="$seconds" ${RUNS:+-runs=$RUNS} -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$work/" "${dict[@]}" "$@" "$work/corpus" "Fuzz/Corpus/$t" 2>&1 \
        | { grep -Ev "^#[0-9]+\s+(NEW|REDUCE|pulse)|^INFO: |Recommended dictionary|# Uses: " || true; } || rc=$?
    return $rc
}

case "${1:-}" in
    list) printf '%s\n' "${targets[@]}" ;;
    build) shift; if [ $# -gt 0 ]; then build "$@"; else build "${targets[@]}"; fi ;;
    all)
        [ $# -ge 2 ] || { echo "usage: $0 all SECONDS" >&2; exit 2; }
        build "${targets[@]}"
        status=0
        for t in "${targets[@]}"; do
            run "$t" "$2" || { echo "fuzz-$t: FINDING (see Fuzz/.work/$t)"; status=1; }
        done
        exit $status ;;
    ""|-h|--help) sed -n '2,16p' "$0"; exit 2 ;;
    *)
        t=$1
        [ $# -ge 2 ] || { echo "usage: $0 TARGET SECONDS [libFuzzer flags…]" >&2; exit 2; }
        printf '%s\n' "${targets[@]}" | grep -qx "$t" || { echo "fuzz: no target $t (targets: ${targets[*]})" >&2; exit 2; }
        seconds=$2; shift 2
        build "$t"
        run "$t" "$seconds" "$@" ;;
esac
