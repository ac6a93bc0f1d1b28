#!/bin/sh
# The front half without the kernel: `check` (read + parse + validate + graph) and `plan`
# (the same + expansion into calls + the text dry run) of generated plans of N steps, run by
# examples/frontend.rs (the same library calls as `mountplan check` and `mountplan plan`,
# without the command line's limit of 10 000 steps and 2 MiB per file).
# Median wall time (hyperfine) and peak resident memory (getrusage of the child, ru_maxrss).
# No root needed. Usage: bench/frontend.sh [N...]   (default 1000 10000 100000; RUNS=10)
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
build_frontend
MP=$FE
NS=${*:-1000 10000 100000}
echo "| steps | plan file KiB | check median ms | check peak RSS MiB | plan median ms | plan peak RSS MiB | plan output KiB |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for n in $NS; do
  f=$W/front-$n.toml
  # A realistic mix: mkdir, a tmpfs on it, a symlink in it, a chmod of the link's directory.
  python3 - "$n" > "$f" <<'PY'
import sys
n = int(sys.argv[1])
out = ['version = 1\nname = "generated"\n[root]\ntmpfs = {}\n']
for i in range(n):
    k, d = i % 4, i - i % 4
    if k == 0:
        out.append('[[step]]\nkind = "mkdir"\npath = "/d%d"\nmode = "0755"\n' % d)
    elif k == 1:
        out.append('[[step]]\nkind = "mount"\ntype = "tmpfs"\ntarget = "/d%d"\noptions = ["nosuid", "nodev"]\nsize = "1M"\n' % d)
    elif k == 2:
        out.append('[[step]]\nkind = "symlink"\npath = "/d%d/link"\nto = "/proc/self/fd"\n' % d)
    else:
        out.append('[[step]]\nkind = "chmod"\npath = "/d%d"\nmode = "0700"\n' % d)
sys.stdout.write("\n".join(out))
PY
  # Both must succeed: a benchmark of an error path would mean nothing.
  "$MP" check "$f" >/dev/null 2>&1 || { echo "bench: frontend check $f failed" >&2; exit 1; }
  "$MP" plan "$f" > "$W/front-$n.out"
  $PRIO hyperfine -N --warmup 1 --runs "${RUNS:-10}" --export-json "$W/front-$n.json" \
    "$MP check $f" "$MP plan $f" >/dev/null 2>&1
  python3 - "$W/front-$n.json" "$n" "$f" "$W/front-$n.out" "$MP" <<'PY'
import json, os, resource, subprocess, sys
js, n, f, out, mp = sys.argv[1:]
def peak(*cmd):
    # ru_maxrss of the children waited for so far is a maximum: measure each in a fresh process.
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    return int(subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True).stdout) / 1024
r = json.load(open(js))["results"]
print("| %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.0f |" % (
    n, os.path.getsize(f) / 1024, r[0]["median"] * 1e3, peak(mp, "check", f),
    r[1]["median"] * 1e3, peak(mp, "plan", f), os.path.getsize(out) / 1024))
PY
done
