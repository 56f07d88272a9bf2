#!/usr/bin/env bash
# Runs every test of keepalive, from a fresh clone, and stops at the first failure.
# CI (.ci/run) runs exactly this script. It installs what it needs (cargo-fuzz) and
# fails loudly if something cannot be had (the nightly toolchain for the fuzz smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
    echo
    echo "==> $*"
    local start=$SECONDS
    "$@"
    echo "    ($(( SECONDS - start )) s)"
}

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUSTDOCFLAGS="-D warnings"

# The nightly toolchain: for the public-surface count (rustdoc JSON) and the fuzz run.
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "error: the API count and the fuzz run need a nightly toolchain (cargo +nightly); none is installed" >&2
    exit 1
fi

step cargo fmt --all --check
# The interop peers (Python websockets, Node ws, Chromium) and the lab's iproute2, pinned;
# fails if one cannot be had.
step ./scripts/install-peers.sh
# --all-targets: the tests, examples and benchmarks too (benchmarks run with `cargo
# bench`, see BENCHMARKS.md; building them in release here took a minute and a half).
step cargo clippy --all-targets --all-features -- -D warnings
# Everything: the network lab (it needs root, which CI has), the floods, the interop
# peers, and the doc tests (every code block of the README).
step cargo test --all-features
# The no_std core alone; the set on alloc without std; sim on alloc without std.
step cargo test --no-default-features
step cargo build --no-default-features
step cargo build --no-default-features --features alloc
step cargo build --no-default-features --features sim
# Each runtime and codec feature on its own (a cfg mistake shows only there).
for f in driver tokio smol async-std tungstenite axum tokio-websockets tracing metrics; do
    step cargo check --no-default-features --features "$f"
done
step cargo doc --no-deps --all-features
# The public surface stays small: at most 55 named items (rustdoc JSON, nightly).
step python3 scripts/api-surface.py --max 55

# The README's "see it work" command: it fails unless the frozen server is detected in time.
step cargo run --quiet --example demo --features tokio,tungstenite

# Fuzzing: the seed corpora match tests/scenarios, then each target runs 30 s.
if ! cargo fuzz --version >/dev/null 2>&1; then
    step cargo install cargo-fuzz --locked
fi
(cd fuzz && step cargo run --quiet --bin seed-corpus)
if [ -n "$(git status --porcelain -- fuzz/corpus fuzz/scenario.dict)" ]; then
    git status --short -- fuzz/corpus fuzz/scenario.dict >&2
    echo "error: fuzz/corpus or fuzz/scenario.dict does not match tests/scenarios and the settings table: run (cd fuzz && cargo run --bin seed-corpus) and commit" >&2
    exit 1
fi
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
for target in machine config scenario set codec link; do
    work="$(mktemp -d)"
    dict=()
    if [ "$target" = scenario ]; then dict=(-dict=scenario.dict); fi
    # Past findings (fuzz/regressions/<target>) replay first, with the seeds.
    seeds=()
    if [ -d "fuzz/corpus/$target" ]; then seeds+=("corpus/$target"); fi
    if [ -d "fuzz/regressions/$target" ]; then seeds+=("regressions/$target"); fi
    (cd fuzz && step cargo +nightly fuzz run -O -a "$target" "$work" "${seeds[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 "${dict[@]}")
    rm -rf "$work"
done

echo
echo "==> all checks passed"
