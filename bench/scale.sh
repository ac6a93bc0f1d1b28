#!/bin/sh
# Extra cost per mount: the reference sandbox plus N tmpfs mounts under /tmp (each on a directory
# made first), for the floor (limit.c; limit-newapi.c, the same through the new mount API, which
# mountplan uses), bubblewrap and mountplan, timed interleaved (bench/interleave.py: each round
# runs every command of every N once, in random order). The slope between two N is the extra
# cost of one mount (mkdir + mount + its teardown at exit, and for mountplan its part of parse,
# validation, expansion and verification); the least-squares slope over all N is printed too.
# mountplan runs both ways: `api = "new"` (its default on this kernel) and `--api classic`
# (mount(2) on descriptors, as limit.c).
# Usage: bench/scale.sh [N...]   (default 10 100 1000; RUNS=30 rounds)
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
need_root
need bwrap
build_mountplan
make_rootfs
make_limit
NS=${*:-10 100 1000}
set --
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
  "$MP" apply --api classic "$plan" --set ROOTFS="$R" -- /bin/true 2>/dev/null
  "$W/limit" "$R" "$n"
  "$W/limit-newapi" "$R" "$n"
  args=$(i=0; while [ $i -lt "$n" ]; do printf -- '--tmpfs /tmp/m%d ' $i; i=$((i+1)); done)
  set -- "$@" "limit-c@$n=$W/limit $R $n" "limit-newapi@$n=$W/limit-newapi $R $n" \
    "bwrap@$n=bwrap --bind $R / --proc /proc --dev /dev --tmpfs /tmp $args --unshare-pid /bin/true" \
    "mountplan@$n=$MP apply $plan --set ROOTFS=$R -- /bin/true" \
    "mountplan-classic@$n=$MP apply --api classic $plan --set ROOTFS=$R -- /bin/true"
done
echo "($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$TOP" rev-parse --short HEAD))"
# (TOOL@N: the tool with N extra mounts)
$PRIO python3 "$HERE/interleave.py" --rounds "${RUNS:-30}" --warmup 3 --json "$W/scale.json" "$@"
python3 - "$W/scale.json" $NS <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["times"]
ns = [int(n) for n in sys.argv[2:]]
med = lambda v: sorted(v)[len(v) // 2]
tools = ["limit-c", "limit-newapi", "bwrap", "mountplan", "mountplan-classic"]
m = {(k.split("@")[0], int(k.split("@")[1])): med(v) for k, v in t.items()}
def slope(tool, pts):
    xs = pts; ys = [m[(tool, n)] for n in pts]
    mx = sum(xs) / len(xs); my = sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs) * 1e6
print()
print("| N from -> to | " + " | ".join("%s us/mount" % x for x in tools) + " | mountplan / limit-c | mountplan / bwrap | classic / limit-c | classic / new |")
print("| --- |" + " --- |" * (len(tools) + 4))
rows = [("%d -> %d" % (a, b), [a, b]) for a, b in zip(ns, ns[1:])] + [("least squares", ns)]
for label, pts in rows:
    s = {x: slope(x, pts) for x in tools}
    print("| %s | " % label + " | ".join("%.1f" % s[x] for x in tools)
          + " | %.2f | %.2f | %.2f | %.2f |" % (s["mountplan"] / s["limit-c"], s["mountplan"] / s["bwrap"],
                                     s["mountplan-classic"] / s["limit-c"], s["mountplan-classic"] / s["mountplan"]))
PY
