#!/bin/sh
# Extra cost per mount: the reference sandbox plus N tmpfs mounts under /tmp (each on a directory
# made first), for the floor (limit.c), bubblewrap and mountplan, in one hyperfine run per N.
# The slope between two N is the extra cost of one mount (mkdir + mount + its teardown at exit,
# and for mountplan its part of parse, validation, expansion and verification).
# Usage: bench/scale.sh [N...]   (default 10 100 1000; RUNS=30 per command)
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
need_root
need bwrap
build_mountplan
make_rootfs
make_limit
NS=${*:-10 100 1000}
for n in $NS; do
  plan=$W/scale-$n.toml
  # The reference plan with N tmpfs mounts inserted before its pivot.
  python3 - "$TOP/plans/reference-sandbox.toml" "$n" > "$plan" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, pivot = text.rsplit('[[step]]\nkind = "pivot"', 1)
extra = "".join('[[step]]\nkind = "mount"\ntype = "tmpfs"\ntarget = "/tmp/m%d"\noptions = ["nosuid", "nodev"]\n\n' % i
                for i in range(int(sys.argv[2])))
sys.stdout.write(head + extra + '[[step]]\nkind = "pivot"' + pivot)
PY
  "$MP" apply "$plan" --set ROOTFS="$R" -- /bin/true 2>/dev/null
  "$W/limit" "$R" "$n"
  args=$(i=0; while [ $i -lt "$n" ]; do printf -- '--tmpfs /tmp/m%d ' $i; i=$((i+1)); done)
  $PRIO hyperfine -N --warmup 3 --runs "${RUNS:-30}" --export-json "$W/scale-$n.json" \
    -n "limit-c N=$n" "$W/limit $R $n" \
    -n "bwrap N=$n" "bwrap --bind $R / --proc /proc --dev /dev --tmpfs /tmp $args --unshare-pid /bin/true" \
    -n "mountplan N=$n" "$MP apply $plan --set ROOTFS=$R -- /bin/true" >/dev/null
  python3 "$HERE/table.py" "$W/scale-$n.json" "limit-c N=$n" "bwrap N=$n"
  echo
done
# Per-mount slopes between consecutive N, in microseconds, and mountplan's ratio to the floor's.
python3 - "$W" $NS <<'PY'
import json, sys
w, ns = sys.argv[1], [int(n) for n in sys.argv[2:]]
med = {}
for n in ns:
    for r in json.load(open("%s/scale-%d.json" % (w, n)))["results"]:
        med[(r["command"].split(" ")[0], n)] = r["median"]
tools = ["limit-c", "bwrap", "mountplan"]
print("| N from -> to | " + " | ".join("%s us/mount" % t for t in tools) + " | mountplan / limit-c |")
print("| --- |" + " --- |" * (len(tools) + 1))
for a, b in zip(ns, ns[1:]):
    s = {t: (med[(t, b)] - med[(t, a)]) / (b - a) * 1e6 for t in tools}
    print("| %d -> %d | " % (a, b) + " | ".join("%.1f" % s[t] for t in tools)
          + " | %.2f |" % (s["mountplan"] / s["limit-c"]))
PY
