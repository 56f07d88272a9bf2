#!/usr/bin/env bash
# Installs what the interop, conformance and lab tests need, at pinned versions, and fails
# loudly if one cannot be had: Python `websockets` and the Autobahn|Testsuite runner
# `kosoku` (pip, in target/interop/venv), Node `ws` (npm ci,
# in tests/interop/node_modules), Debian's `chromium`, and `iproute2` (`ip`, `tc`) and
# `nftables` (`nft`, the lab's NAT) for the network lab of tests/lab.rs (apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> Python websockets (tests/interop/requirements.txt)"
if [ ! -x target/interop/venv/bin/python ]; then
    python3 -m venv target/interop/venv
fi
target/interop/venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
target/interop/venv/bin/python -c 'import websockets; print("websockets", websockets.__version__)'
target/interop/venv/bin/python -c 'import importlib.metadata as m; print("kosoku", m.version("kosoku"))'

echo "==> Node ws (tests/interop/package-lock.json)"
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
node -e 'console.log("ws", require("./tests/interop/node_modules/ws/package.json").version)'

echo "==> Chromium, iproute2 and nftables (Debian packages)"
missing=()
if ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
if ! command -v ip >/dev/null 2>&1 || ! command -v tc >/dev/null 2>&1; then missing+=(iproute2); fi
if ! command -v nft >/dev/null 2>&1; then missing+=(nftables); fi
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
fi
chromium --version
ip -V
nft --version
