#!/usr/bin/env python3
"""Run `sim diff --json` over every WAT module of the project's corpus (targets/corpus and its
findings) on both cores and count the outcomes per class: exports compared bit-identical,
exports synth left out, divergences by triage ([compiler], [budget], [twin]), modules both
sides refuse, modules the twin refuses (exit 2), and cases that finished on neither side.

Usage: python3 scripts/corpus-census.py [path/to/sim]   (default: target/release/sim)
"""
import collections
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/sim")
# The options a module of the corpus is meant to run with (its header says why).
OPTIONS = {
    "multi-memory.wat": ["--safety-bounds", "none"],
    "imports.wat": ["--imports", os.path.join(ROOT, "targets/corpus/imports-provider.wat")],
    "bus.wat": ["--imports", "bus"],
}
SKIP = {"imports-provider.wat"}  # a provider, not a module under test
TARGET = {"m7": "cortex-m7dp", "m4": "cortex-m4f"}

counts = collections.Counter()
rows = []
files = sorted(glob.glob(os.path.join(ROOT, "targets/corpus/*.wat"))) + sorted(
    glob.glob(os.path.join(ROOT, "targets/corpus/findings/*.wat"))
)
for path in files:
    name = os.path.relpath(path, os.path.join(ROOT, "targets/corpus"))
    if os.path.basename(path) in SKIP:
        continue
    for core in ("m7", "m4"):
        args = [SIM, "diff", "--wasm", path, "--core", core, "--cases", "60", "--json"]
        args += OPTIONS.get(os.path.basename(path), [])
        p = subprocess.run(args, capture_output=True, text=True)
        if p.returncode == 2:
            counts["module refused by the twin (exit 2)"] += 1
            rows.append((name, core, "twin refuses: " + p.stderr.strip().splitlines()[-1][:120]))
            continue
        r = json.loads(p.stdout)
        if "refused" in r:
            counts["module refused by both sides (equal)"] += 1
            rows.append((name, core, "refused by both sides"))
            continue
        for e in r["exports"]:
            if e["skipped"]:
                counts["export left out by synth"] += 1
            elif e.get("divergence"):
                t = e["divergence"]["triage"]["kind"]
                counts[f"divergence [{t}]"] += 1
                rows.append((name, core, f"{e['export']}: [{t}] {e['divergence']['triage']['detail']}"))
            elif e.get("stack_bound_exceeded"):
                counts["stack above synth's bound"] += 1
                rows.append((name, core, f"{e['export']}: stack {e['stack_max']} B above synth's bound"))
            else:
                counts["export bit-identical"] += 1
            counts["cases unfinished on both sides (equal)"] += e.get("unfinished", 0)
        counts["modules x cores run"] += 1

for k in sorted(counts):
    print(f"{counts[k]:6}  {k}")
print()
for name, core, what in rows:
    print(f"{name:<32} {core}  {what}")
