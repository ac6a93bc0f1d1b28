#!/bin/sh
# Where the time of one apply goes: runs `MOUNTPLAN_TIMING=1 mountplan apply PLAN -- /bin/true`
# RUNS times (default 50) and prints, per phase, the median time since main() started and the
# median length of the phase. Usage: bench/phases.sh [PLAN]   (default the reference sandbox)
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
need_root
build_mountplan
[ -d "$R/bin" ] || make_rootfs
PLAN=${1:-$TOP/plans/reference-sandbox.toml}
"$MP" apply "$PLAN" --set ROOTFS="$R" -- /bin/true 2>/dev/null
i=0
: > "$W/phases.txt"
while [ "$i" -lt "${RUNS:-50}" ]; do
  MOUNTPLAN_TIMING=1 $PRIO "$MP" apply "$PLAN" --set ROOTFS="$R" -- /bin/true 2>&1 |
    sed -n 's/^mountplan-timing: [0-9]* //p' | tr '\n' ' ' >> "$W/phases.txt"
  echo >> "$W/phases.txt"
  i=$((i + 1))
done
python3 - "$W/phases.txt" <<'PY'
import statistics, sys
runs = []
for line in open(sys.argv[1]):
    t = line.split()
    runs.append(dict(zip(t[0::2], map(int, t[1::2]))))
order = [k for k in runs[0]]
print("| phase (ends when) | median us since main() | median us in the phase |")
print("| --- | --- | --- |")
prev = None
for k in order:
    at = statistics.median(r[k] for r in runs if k in r)
    d = statistics.median(r[k] - (r[prev] if prev else 0) for r in runs if k in r and (prev is None or prev in r))
    print("| %s | %d | %d |" % (k, at, d))
    prev = k
PY
