#!/usr/bin/env bash
# Runs every test of keepalive, from a fresh clone, and stops at the first failure.
# CI (.ci/run) runs exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
    echo
    echo "==> $*"
    "$@"
}

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUSTDOCFLAGS="-D warnings"

step cargo fmt --all --check
step cargo clippy --all-targets --all-features -- -D warnings
# Everything, doc tests and the README's run loop included.
step cargo test --all-features
# The no_std core alone, and sim on alloc without std.
step cargo test --no-default-features
step cargo build --no-default-features
step cargo build --no-default-features --features sim
step cargo doc --no-deps --all-features

echo
echo "==> all checks passed"
