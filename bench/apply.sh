#!/bin/sh
# The reference sandbox (plans/reference-sandbox.toml: bind the root, proc, a /dev with six nodes,
# devpts + ptmx, stdio links, tmpfs /tmp, pivot_root, exec /bin/true) set up by the raw-syscall
# floor (limit.c as ../shared/bench builds it, static with musl, and limit-newapi.c: the same
# through the new mount API), bubblewrap and mountplan (as the README's `cargo build --release`
# builds it, and the glibc dynamic build), all timed INTERLEAVED (bench/interleave.py: each round
# runs every command once, in random order) so that the ratios hold on a noisy machine. mountplan
# runs both ways: its default (the new API on this kernel) and `--api classic` (mount(2)).
# Usage: bench/apply.sh   (RUNS=300 rounds per run, ROUNDS=3 runs; SLOW=1 adds runc and shell.sh)
# Results: $MP_BENCH_DIR/apply-R.json (default /tmp/mp-bench), a Markdown table per run with each
# median's ratio to limit-c.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
need_root
need bwrap unshare
build_mountplan
build_mountplan_gnu
make_rootfs
make_limit
P=$TOP/plans/reference-sandbox.toml
# Each command must work before it is timed (a failure is refused by interleave.py too).
"$W/limit" "$R"
"$W/limit-newapi" "$R"
"$MP" apply "$P" --set ROOTFS="$R" -- /bin/true 2>/dev/null
"$MP" apply --api classic "$P" --set ROOTFS="$R" -- /bin/true 2>/dev/null
bwrap --bind "$R" / --proc /proc --dev /dev --tmpfs /tmp --unshare-pid /bin/true
set -- \
  "limit-c=$W/limit $R" \
  "limit-c-musl=$W/limit-musl $R" \
  "limit-newapi=$W/limit-newapi $R" \
  "limit-newapi-musl=$W/limit-newapi-musl $R" \
  "bwrap=bwrap --bind $R / --proc /proc --dev /dev --tmpfs /tmp --unshare-pid /bin/true" \
  "mountplan=$MP apply $P --set ROOTFS=$R -- /bin/true" \
  "mountplan --api classic=$MP apply --api classic $P --set ROOTFS=$R -- /bin/true" \
  "mountplan --no-verify=$MP apply --no-verify $P --set ROOTFS=$R -- /bin/true" \
  "mountplan glibc dynamic=$MP_GNU apply $P --set ROOTFS=$R -- /bin/true"
if [ -n "${SLOW:-}" ]; then
  make_runc_bundle
  runc run -b "$W/bundle" mpbench
  "$HERE/shell.sh" "$R"
  # runc cannot put a real-time task into the container's cgroup (EINVAL): under chrt it runs
  # through `chrt -o 0` (normal policy), one exec (~0.5 ms) more than the others.
  RUNC=runc
  case "$PRIO" in chrt*) RUNC="chrt -o 0 runc" ;; esac
  set -- "$@" "runc=$RUNC run -b $W/bundle mpbench" "shell=$HERE/shell.sh $R"
fi
i=1
while [ "$i" -le "${ROUNDS:-3}" ]; do
  echo "run $i ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$TOP" rev-parse --short HEAD))"
  $PRIO python3 "$HERE/interleave.py" --rounds "${RUNS:-300}" --warmup 10 --json "$W/apply-$i.json" "$@"
  echo
  i=$((i + 1))
done
