#!/usr/bin/env python3
"""Counts keepalive's named public items, from rustdoc JSON with every user feature on.

A named public item is a struct, enum, trait, function, type alias, constant, static or
macro that a user can name by a public path (modules and re-exports are ways to reach
items, not items; methods, fields and variants belong to their item). Hidden items are
left out.

Usage: scripts/api-surface.py [--max N]   (needs the nightly toolchain for the JSON)
Prints the items by module and exits 1 if there are more than N.
"""
import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMED = {"struct", "enum", "trait", "function", "type_alias", "constant", "static", "macro", "union"}


def rustdoc_json():
    subprocess.run(
        ["cargo", "+nightly", "rustdoc", "--quiet", "--lib", "--all-features",
         "--", "-Z", "unstable-options", "--output-format", "json"],
        cwd=ROOT, check=True)
    return json.loads((ROOT / "target/doc/keepalive.json").read_text())


def hidden(item):
    return any("hidden" in str(a) for a in item.get("attrs", []))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--max", type=int, default=None)
    args = p.parse_args()
    doc = rustdoc_json()
    index = doc["index"]
    found = {}

    def walk(module_id, path):
        for child in index[str(module_id)]["inner"]["module"]["items"]:
            item = index.get(str(child))
            if item is None or item["visibility"] != "public" or hidden(item):
                continue
            kind, inner = next(iter(item["inner"].items()))
            if kind == "use":
                target = index.get(str(inner.get("id")))
                if target is None or hidden(target):
                    continue  # another crate's item, re-exported
                item, child = target, inner["id"]
                kind = next(iter(item["inner"]))
            if kind == "module":
                walk(child, f"{path}::{item['name']}")
            elif kind in NAMED:
                found.setdefault(child, f"{path}::{item['name']}")

    walk(doc["root"], "keepalive")
    names = sorted(found.values())
    for name in names:
        print(name)
    print(f"{len(names)} named public items")
    if args.max is not None and len(names) > args.max:
        print(f"error: more than {args.max} named public items", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
