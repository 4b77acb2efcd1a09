#!/usr/bin/env bash
# Hostile files against the release binary, run as a user would (`tunelab info`, `tokenize`, `lint`,
# `train`, `generate`, `run`): prints a Markdown table, one row per input, with the exit status,
# the first line of the error and the wall time. Fails (exit 1) when a case crashes (a signal,
# status >= 128), hangs (`timeout 60`, status 124), exits 0, or gives an error that does not name
# the file that was wrong. The files are written by scripts/hostile_inputs.py (standard library
# only) into a temporary folder that is removed afterwards.
#
#   swift build -c release && bash scripts/hostile_inputs.sh
#
# HOSTILE_GGUF picks the GGUF cut at every byte offset of its header and tensor-info section
# (default: Fuzz/Corpus/gguf/micro-llama.gguf, 5.5 kB of header written by gguf-py's GGUFWriter;
# tiny-llama3.gguf has 45 kB of header, ~45,000 runs). HOSTILE_JOBS: parallel runs for that loop (2).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$ROOT/.build/release/tunelab
[ -x "$T" ] || { echo "no $T: run swift build -c release first" >&2; exit 2; }
GGUF=${HOSTILE_GGUF:-$ROOT/Fuzz/Corpus/gguf/micro-llama.gguf}
JOBS=${HOSTILE_JOBS:-2}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 "$ROOT/scripts/hostile_inputs.py" "$TMP" || exit 2
cd "$TMP" || exit 2   # relative paths in commands and messages
failures=()
now() { date +%s.%N; }

# hostile INPUT MUST_NAME -- ARGS...: run `tunelab ARGS`; an error is expected whose first line
# contains MUST_NAME (the file that was wrong).
hostile() {
    local input=$1 must=$2; shift 3
    local start end rc first secs why=""
    start=$(now)
    timeout 60 "$T" "$@" >"$TMP/.out" 2>"$TMP/.err" </dev/null
    rc=$?
    end=$(now)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f s", b - a }')
    first=$(grep -m1 -E '^(Error|error)' "$TMP/.err" || grep -m1 -v '^$' "$TMP/.err" || true)
    first=${first//$TMP/\$TMP}
    if [ "$rc" -eq 124 ]; then why="hang (timeout 60 s)"
    elif [ "$rc" -ge 128 ]; then why="crash (signal $((rc - 128)))"
    elif [ "$rc" -eq 0 ]; then why="exit 0 where an error was expected"
    elif [[ "$first" != *"$must"* ]]; then why="the error does not name $must"
    fi
    [ -n "$why" ] && failures+=("$input: $why: $first")
    printf '| %s | `tunelab %s` | %s%s | %s | %s |\n' "$input" "$*" "$rc" "${why:+ **$why**}" \
        "$(printf '%s' "${first:-(nothing on stderr)}" | sed 's/|/\\|/g; s/`/\\`/g')" "$secs"
}

echo "| input | command | exit | first line of the error | time |"
echo "|---|---|---|---|---|"
# GGUF header and tensor table
hostile "huge declared array (2^40 u8 in a 70-byte file)" gguf-huge-array.gguf -- info --model gguf-huge-array.gguf
hostile "array over the item cap (5M u8, 5 MB file)" gguf-array-over-cap.gguf -- info --model gguf-array-over-cap.gguf
hostile "huge string (length 2^40)" gguf-huge-string.gguf -- info --model gguf-huge-string.gguf
hostile "string over the 16 MiB cap (16 MiB + 1, in the file)" gguf-string-over-cap.gguf -- info --model gguf-string-over-cap.gguf
hostile "huge tensor and key counts (2^62)" gguf-huge-counts.gguf -- info --model gguf-huge-counts.gguf
hostile "deep nesting (arrays 41 deep)" gguf-deep-nesting.gguf -- info --model gguf-deep-nesting.gguf
hostile "overlapping tensors (GGUF)" gguf-overlap.gguf -- info --model gguf-overlap.gguf
hostile "tensor past end of file (GGUF)" gguf-past-end.gguf -- info --model gguf-past-end.gguf
hostile "negative dimension (-1 as u64, GGUF)" gguf-negative-dim.gguf -- info --model gguf-negative-dim.gguf
hostile "overflowing dimensions (2^62 × 4, GGUF)" gguf-overflow-dim.gguf -- info --model gguf-overflow-dim.gguf
hostile "invalid UTF-8 in GGUF tokenizer.chat_template" gguf-bad-utf8-template.gguf -- info --model gguf-bad-utf8-template.gguf
# safetensors in a model folder
hostile "safetensors header length 2^62" st-huge-header/model.safetensors -- info --model st-huge-header
hostile "50 MB string in a safetensors header (under the 100 MB cap: read; the folder then lacks weights)" st-huge-string -- info --model st-huge-string
hostile "deep nesting (100,000 [ in safetensors header)" st-deep-nesting/model.safetensors -- info --model st-deep-nesting
hostile "overlapping tensors (safetensors)" st-overlap/model.safetensors -- info --model st-overlap
hostile "tensor past end of file (safetensors)" st-past-end/model.safetensors -- info --model st-past-end
hostile "negative dimension (shape [-1], safetensors)" st-negative-dim/model.safetensors -- info --model st-negative-dim
hostile "negative data offset (safetensors)" st-negative-offset/model.safetensors -- info --model st-negative-offset
hostile "overflowing dimensions (2^62 × 4, safetensors)" st-overflow-dim/model.safetensors -- info --model st-overflow-dim
hostile '`../` shard in model.safetensors.index.json' index-dotdot-shard/model.safetensors.index.json -- info --model index-dotdot-shard
hostile "absolute shard path in the index" index-absolute-shard/model.safetensors.index.json -- info --model index-absolute-shard
hostile "deep nesting (100,000 [ in config.json)" config-deep-nesting/config.json -- info --model config-deep-nesting
# tokenizer files
hostile "invalid UTF-8 in tokenizer.json" tokenizer-bad-utf8/tokenizer.json -- tokenize --model tokenizer-bad-utf8 hi
hostile "deep nesting (100,000 [ in tokenizer.json)" tokenizer-deep-nesting/tokenizer.json -- tokenize --model tokenizer-deep-nesting hi
hostile "invalid UTF-8 in chat_template.jinja" chat-template-jinja-bad-utf8/chat_template.jinja -- tokenize --model chat-template-jinja-bad-utf8 hi
# data, prompt template, notebook
hostile "invalid UTF-8 in JSONL data" data-bad-utf8.jsonl -- lint --model tiny-llama3 --template medical-cot.txt --data data-bad-utf8.jsonl
hostile "invalid UTF-8 in JSON data (train)" data-bad-utf8.json -- train --no-record --model tiny-llama3 --template medical-cot.txt --data data-bad-utf8.json --max-steps 1 --out out
hostile "deep nesting (100,000 [ in a JSONL row)" data-deep-nesting.jsonl -- lint --model tiny-llama3 --template medical-cot.txt --data data-deep-nesting.jsonl
hostile "invalid UTF-8 in the prompt template" template-bad-utf8.txt -- lint --model tiny-llama3 --template template-bad-utf8.txt --data medical-cot-sample.jsonl
hostile "invalid UTF-8 in a notebook" notebook-bad-utf8.md -- run notebook-bad-utf8.md --db record.sqlite
# chat templates
hostile "chat template that recurses forever" chat-template-recursion/tokenizer_config.json -- generate --no-record --model chat-template-recursion --chat --prompt hi --max-new-tokens 1
hostile "the same, from a notebook" chat-template-recursion/tokenizer_config.json -- run recursion-notebook.md --db record.sqlite
hostile "chat template that loops forever (10^10 steps)" chat-template-loop/tokenizer_config.json -- generate --no-record --model chat-template-loop --chat --prompt hi --max-new-tokens 1
hostile "chat template that doubles a string 64 times" chat-template-fill/tokenizer_config.json -- generate --no-record --model chat-template-fill --chat --prompt hi --max-new-tokens 1

# One real GGUF cut at every byte offset of its header and tensor-info section.
mkdir -p cut
end=$(python3 "$ROOT/scripts/hostile_inputs.py" --truncate "$GGUF" cut) || exit 2
start=$(now)
seq 0 "$end" | xargs -P "$JOBS" -n 100 bash -c '
    T=$0
    for n; do
        timeout 60 "$T" info --model "cut/$n.gguf" >/dev/null 2>"cut/$n.err" </dev/null
        printf "%s\t%s\t%s\n" "$n" "$?" "$(grep -m1 -E "^(Error|error)" "cut/$n.err" || head -n1 "cut/$n.err")"
    done' "$T" >cut.tsv
secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.0f s", b - a }')
tried=$(wc -l <cut.tsv)
crashes=$(awk -F'\t' '$2 >= 124' cut.tsv | wc -l)
zeros=$(awk -F'\t' '$2 == 0' cut.tsv | wc -l)
unnamed=$(awk -F'\t' 'index($3, "cut/" $1 ".gguf") == 0' cut.tsv | wc -l)
# Messages without the file name; kinds: numbers as N and quoted names as 'K'.
distinct=$(cut -f3 cut.tsv | sed -E 's#cut/[0-9]+\.gguf#FILE#' | sort -u | wc -l)
kind() { sed -E "s#cut/[0-9]+\.gguf#FILE#; s/'[^']*'/'K'/g; s/[0-9]+/N/g"; }
kinds=$(cut -f3 cut.tsv | kind | sort -u | wc -l)
statuses=$(cut -f2 cut.tsv | sort -n | uniq -c | awk '{ printf "%s%s×%s", (NR > 1 ? ", " : ""), $2, $1 }')
[ "$tried" -ne $((end + 1)) ] && failures+=("truncation: $tried results for $((end + 1)) offsets")
[ "$crashes" -ne 0 ] && failures+=("truncation: $crashes crashes or hangs: $(awk -F'\t' '$2 >= 124 { printf "%s ", $1 }' cut.tsv)")
[ "$zeros" -ne 0 ] && failures+=("truncation: $zeros offsets exit 0: $(awk -F'\t' '$2 == 0 { printf "%s ", $1 }' cut.tsv)")
[ "$unnamed" -ne 0 ] && failures+=("truncation: $unnamed errors do not name the file")
example=$(awk -F'\t' -v n=$((end / 2)) '$1 == n { print $3 }' cut.tsv)
printf '| %s cut at every offset 0..%s (end of tensor info): %s files | `tunelab info --model cut/N.gguf` | %s | %s distinct messages (%s kinds, numbers and names aside), %s crashes, %s exit 0; e.g. `%s` | %s |\n' \
    "$(basename "$GGUF")" "$end" "$tried" "$statuses" "$distinct" "$kinds" "$crashes" "$zeros" "${example//|/\\|}" "$secs"

echo
echo "Kinds of truncation errors (numbers as N, names as 'K'), with their counts:"
echo
cut -f3 cut.tsv | kind | sort | uniq -c | sort -rn | sed -E 's/^ *([0-9]+) (.*)/- \1 × `\2`/'

if [ ${#failures[@]} -gt 0 ]; then
    echo
    echo "FAILED (${#failures[@]}):"
    printf -- '- %s\n' "${failures[@]}"
    exit 1
fi
echo
echo "no crash, hang, exit 0 or unnamed file in any case"
