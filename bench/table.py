#!/usr/bin/env python3
"""Print a hyperfine JSON export as a Markdown table: median ms and ratio to a baseline."""
import json, sys
d = json.load(open(sys.argv[1]))
base = next(r for r in d["results"] if r["command"] == sys.argv[2])["median"]
print("| command | median ms | ratio to %s |" % sys.argv[2])
print("| --- | --- | --- |")
for r in d["results"]:
    print("| %s | %.2f | %.2f |" % (r["command"], r["median"] * 1000, r["median"] / base))
