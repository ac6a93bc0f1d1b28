#!/bin/sh
# The reference sandbox (plans/reference-sandbox.toml: bind the root, proc, a /dev with six nodes,
# devpts + ptmx, stdio links, tmpfs /tmp, pivot_root, exec /bin/true) set up by the raw-syscall
# floor (limit.c as ../shared/bench builds it, and static with musl), bubblewrap, runc, a shell script (shell.sh) and mountplan, all timed in ONE
# hyperfine run so the ratios hold on a noisy machine.
# Usage: bench/apply.sh [extra hyperfine args]   (RUNS=100 per command, ROUNDS=3 runs of all)
# Results: $MP_BENCH_DIR/apply-R.json (default /tmp/mp-bench), a Markdown table per round and
# the ratios of every round (medians drift between rounds on a shared machine; ratios less).
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
need_root
need bwrap unshare
build_mountplan
make_rootfs
make_limit
make_runc_bundle
# Each command must work before it is timed (hyperfine would time a failure as well).
"$W/limit" "$R"
"$MP" apply "$TOP/plans/reference-sandbox.toml" --set ROOTFS="$R" -- /bin/true 2>/dev/null
bwrap --bind "$R" / --proc /proc --dev /dev --tmpfs /tmp --unshare-pid /bin/true
runc run -b "$W/bundle" mpbench
"$HERE/shell.sh" "$R"
# runc cannot put a real-time task into the container's cgroup (EINVAL): under chrt it runs
# through `chrt -o 0` (normal policy), one exec (~0.5 ms) more than the others.
RUNC=runc
case "$PRIO" in chrt*) RUNC="chrt -o 0 runc" ;; esac
i=1
while [ "$i" -le "${ROUNDS:-3}" ]; do
  echo "round $i ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg))"
  $PRIO hyperfine -N --warmup 10 --runs "${RUNS:-100}" --export-json "$W/apply-$i.json" "$@" \
    -n limit-c "$W/limit $R" \
    -n limit-c-musl "$W/limit-musl $R" \
    -n bwrap "bwrap --bind $R / --proc /proc --dev /dev --tmpfs /tmp --unshare-pid /bin/true" \
    -n runc "$RUNC run -b $W/bundle mpbench" \
    -n shell "$HERE/shell.sh $R" \
    -n mountplan "$MP apply $TOP/plans/reference-sandbox.toml --set ROOTFS=$R -- /bin/true" \
    -n "mountplan --no-verify" \
    "$MP apply --no-verify $TOP/plans/reference-sandbox.toml --set ROOTFS=$R -- /bin/true" \
    >/dev/null 2>&1
  python3 "$HERE/table.py" "$W/apply-$i.json" limit-c bwrap
  echo
  i=$((i + 1))
done
# mountplan's ratios in every round.
python3 - "$W" "${ROUNDS:-3}" <<'PY'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
print("| round | mountplan median ms | / limit-c | / limit-c-musl | / bwrap |")
print("| --- | --- | --- | --- | --- |")
for i in range(1, n + 1):
    m = {r["command"]: r["median"] for r in json.load(open("%s/apply-%d.json" % (w, i)))["results"]}
    print("| %d | %.2f | %.2f | %.2f | %.2f |" % (i, m["mountplan"] * 1e3, m["mountplan"] / m["limit-c"],
                                               m["mountplan"] / m["limit-c-musl"], m["mountplan"] / m["bwrap"]))
PY
