#!/usr/bin/env bash
# Mutation testing of the core: does a test fail when a rule is wrong?
#
#   scripts/mutants.sh src/learn.rs [more files...] [-- extra cargo-mutants options]
#
# Runs cargo-mutants (installed if missing) over the named files with the core's tests:
# the library's unit tests and the simulator-driven suites (scenarios, properties, api,
# pair, set, set_heap, kernel, memory), feature `sim`. TESTS="lib properties memory" runs a
# subset (a score from a subset is a lower bound: the full suite catches at least as
# much); FEATURES="sim driver" builds more of the crate (code behind a feature the tests
# are not built with is mutated all the same, and counts as missed); JOBS=2 tests two
# mutants at once. Prints each file's caught / missed /
# timeout / unviable counts and the score; the missed mutants are listed in
# mutants.out/missed.txt. Minutes per file: not part of the test command. TESTING.md
# holds the latest scores and the equivalent mutants.
set -euo pipefail
cd "$(dirname "$0")/.."

files=()
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; extra=("$@"); break ;;
        *) files+=("$1"); shift ;;
    esac
done
if [ ${#files[@]} -eq 0 ]; then
    echo "usage: scripts/mutants.sh FILE... [-- cargo-mutants options]" >&2
    exit 2
fi
if ! cargo mutants --version >/dev/null 2>&1; then
    cargo install cargo-mutants --locked --version 27.1.0
fi

tests=(${TESTS:-lib scenarios properties api pair set set_heap kernel memory})
test_args=()
for t in "${tests[@]}"; do
    if [ "$t" = lib ]; then test_args+=(--lib); else test_args+=(--test "$t"); fi
done

args=()
for f in "${files[@]}"; do
    [ -f "$f" ] || { echo "no such file: $f" >&2; exit 2; }
    args+=(--file "$f")
done

status=0
# The `mutants` profile (Cargo.toml): optimised a little, no debug info.
features=${FEATURES:-sim}
cargo mutants "${args[@]}" --features "${features// /,}" --profile mutants --timeout-multiplier 3 \
    --no-shuffle --jobs "${JOBS:-1}" "${extra[@]}" -- "${test_args[@]}" || status=$?
# 0: all caught; 2: some missed; 3: timeouts; 4: unviable only. Anything else failed.
case $status in 0|2|3|4) ;; *) exit $status ;; esac

python3 - "${files[@]}" <<'PY'
import json, sys
outcomes = json.load(open("mutants.out/outcomes.json"))["outcomes"]
per = {}
for o in outcomes:
    scen = o.get("scenario")
    if not isinstance(scen, dict) or "Mutant" not in scen:
        continue
    f = scen["Mutant"]["file"]
    s = o["summary"]
    d = per.setdefault(f, {"CaughtMutant": 0, "MissedMutant": 0, "Timeout": 0, "Unviable": 0})
    d[s] = d.get(s, 0) + 1
for f, d in sorted(per.items()):
    viable = d["CaughtMutant"] + d["MissedMutant"] + d["Timeout"]
    caught = d["CaughtMutant"] + d["Timeout"]
    score = 100.0 * caught / viable if viable else 100.0
    print(f"{f}: caught {d['CaughtMutant']}, missed {d['MissedMutant']}, "
          f"timeout {d['Timeout']}, unviable {d['Unviable']}: {score:.1f} % of viable")
PY
