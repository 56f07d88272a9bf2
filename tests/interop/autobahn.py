"""The Autobahn|Testsuite cases, run natively by kosoku, for tests/autobahn.rs.

    autobahn.py fuzzingclient ws://127.0.0.1:PORT   drives a server under test
    autobahn.py fuzzingserver                       serves the cases to a client under test

Prints one JSON object per line: {"event": "listening", "port": N} (fuzzingserver, once
it accepts), then {"event": "case", "id": "2.10", "behavior": "OK", "close": "OK",
"passed": true} per case, then {"event": "done", "cases": N}. The compression cases
(12.*, 13.*) are left out: the crate does not negotiate permessage-deflate. Verdicts are
compared by the Rust side, so a failed case is a line, not an exit code.
"""

import asyncio
import json
import sys

import kosoku

EXCLUDE = ["12.*", "13.*"]


def say(**fields):
    print(json.dumps(fields, separators=(",", ":")), flush=True)


def report(results):
    for r in results:
        say(
            event="case",
            id=r.case_id,
            behavior=r.behavior.value,
            close=r.behavior_close.value,
            passed=r.passed,
            remote_close_code=r.remote_close_code,
        )
    say(event="done", cases=len(results))


async def fuzzingclient(url):
    try:
        results = await kosoku.run_fuzzingclient(url, None, EXCLUDE, concurrency=2)
    except kosoku.FailureError as failure:
        results = failure.results  # every case's result, failed ones included
    report(results)


async def fuzzingserver():
    async with kosoku.run_fuzzingserver(None, EXCLUDE, host="127.0.0.1", port=0) as server:
        say(event="listening", port=server.port)
        try:
            results = await server.get_result()
        except kosoku.FailureError as failure:
            results = failure.results
    report(results)


def main():
    mode = sys.argv[1]
    if mode == "fuzzingclient":
        asyncio.run(fuzzingclient(sys.argv[2]))
    elif mode == "fuzzingserver":
        asyncio.run(fuzzingserver())
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
