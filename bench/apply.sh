#!/bin/sh
# The reference sandbox (plans/reference-sandbox.toml) set up by mountplan, the raw-syscall floor
# (limit.c) and bubblewrap, timed side by side in ONE hyperfine run so the ratios hold on a noisy
# machine. Usage: bench/apply.sh [extra hyperfine args]. Results: $W/apply.json and a table.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
hyperfine -N --warmup 10 --runs "${RUNS:-100}" --export-json "$W/apply.json" "$@" \
  -n limit-c "$W/limit $R" \
  -n bwrap "bwrap --bind $R / --proc /proc --dev /dev --tmpfs /tmp --unshare-pid /bin/true" \
  -n mountplan "$MP apply $TOP/plans/reference-sandbox.toml --set ROOTFS=$R -- /bin/true" >/dev/null
python3 "$HERE/table.py" "$W/apply.json" limit-c
