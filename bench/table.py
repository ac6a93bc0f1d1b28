#!/usr/bin/env python3
"""Print a hyperfine JSON export as a Markdown table: median ms and the ratio to baselines.

Usage: table.py RESULT.json BASELINE [BASELINE...]   (baselines are command names, -n of hyperfine)
"""
import json
import sys

d = json.load(open(sys.argv[1]))
res = {r["command"]: r for r in d["results"]}
bases = [b for b in sys.argv[2:] if b in res]
print("| command | median ms | min ms | runs |" + "".join(" ratio to %s |" % b for b in bases))
print("| --- | --- | --- | --- |" + " --- |" * len(bases))
for r in d["results"]:
    cells = "".join(" %.2f |" % (r["median"] / res[b]["median"]) for b in bases)
    print("| %s | %.2f | %.2f | %d |%s" % (r["command"], r["median"] * 1e3, r["min"] * 1e3, len(r["times"]), cells))
