#!/bin/sh
# The reference sandbox (plans/reference-sandbox.toml: bind the root, proc, a /dev with six nodes,
# devpts + ptmx, stdio links, tmpfs /tmp, pivot_root, exec /bin/true) set up by the raw-syscall
# floor (limit.c), bubblewrap, runc, a shell script (shell.sh) and mountplan, all timed in ONE
# hyperfine run so the ratios hold on a noisy machine.
# Usage: bench/apply.sh [extra hyperfine args]   (RUNS=100 by default)
# Results: $MP_BENCH_DIR/apply.json (default /tmp/mp-bench) and a Markdown table on stdout.
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
hyperfine -N --warmup 10 --runs "${RUNS:-100}" --export-json "$W/apply.json" "$@" \
  -n limit-c "$W/limit $R" \
  -n bwrap "bwrap --bind $R / --proc /proc --dev /dev --tmpfs /tmp --unshare-pid /bin/true" \
  -n runc "runc run -b $W/bundle mpbench" \
  -n shell "$HERE/shell.sh $R" \
  -n mountplan "$MP apply $TOP/plans/reference-sandbox.toml --set ROOTFS=$R -- /bin/true" \
  >/dev/null
python3 "$HERE/table.py" "$W/apply.json" limit-c bwrap
