#!/bin/sh
# Parse + validate + graph (check) and + render (plan) for generated plans of N steps:
# median time (hyperfine) and peak memory (GNU time's maximum resident set size).
# Usage: bench/frontend.sh [N...]   (default 1000 10000 100000)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd); TOP=$(cd "$HERE/.." && pwd)
W=${MP_BENCH_DIR:-/tmp/mp-bench}; mkdir -p "$W"
cargo build --release --quiet --manifest-path "$TOP/Cargo.toml"
MP=$TOP/target/release/mountplan
echo "| steps | check median ms | check peak RSS MiB | plan (text) median ms | plan peak RSS MiB |"
echo "| --- | --- | --- | --- | --- |"
for n in ${@:-1000 10000 100000}; do
  f=$W/front-$n.toml
  python3 - "$n" > "$f" <<'PY'
import sys
n = int(sys.argv[1])
out = ['version = 1\nname = "generated"\n[root]\ntmpfs = {}\n']
for i in range(n):
    k = i % 4
    if k == 0:
        out.append('[[step]]\nkind = "mkdir"\npath = "/d%d"\nmode = "0755"\n' % i)
    elif k == 1:
        out.append('[[step]]\nkind = "mount"\ntype = "tmpfs"\ntarget = "/d%d"\noptions = ["nosuid", "nodev"]\nsize = "1M"\n' % (i - 1))
    elif k == 2:
        out.append('[[step]]\nkind = "symlink"\npath = "/d%d/link"\nto = "/proc/self/fd"\n' % (i - 2))
    else:
        out.append('[[step]]\nkind = "chmod"\npath = "/d%d/link"\nmode = "0700"\n' % (i - 3))
sys.stdout.write("\n".join(out))
PY
  hyperfine -N --warmup 1 --runs "${RUNS:-10}" --export-json "$W/front-$n.json" \
    "$MP check $f" "$MP plan $f --color never" >/dev/null 2>&1
  rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
  python3 - "$W/front-$n.json" "$n" "$(rss "$MP" check "$f")" "$(rss "$MP" plan "$f" --color never)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print("| %s | %.1f | %.1f | %.1f | %.1f |" % (sys.argv[2], r[0]["median"]*1e3, int(sys.argv[3])/1024, r[1]["median"]*1e3, int(sys.argv[4])/1024))
PY
done
