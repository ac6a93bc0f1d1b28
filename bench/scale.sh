#!/bin/sh
# Extra cost per mount: the reference sandbox plus N tmpfs mounts under /tmp, for mountplan, the
# floor and bubblewrap in one hyperfine run per N. Usage: bench/scale.sh [N...] (default 10 100 1000).
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
for n in ${@:-10 100 1000}; do
  plan=$W/scale-$n.toml
  # The reference plan with N tmpfs mounts inserted before its pivot.
  python3 - "$TOP/plans/reference-sandbox.toml" "$n" > "$plan" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, pivot = text.rsplit("[[step]]\nkind = \"pivot\"", 1)
extra = "".join('[[step]]\nkind = "mount"\ntype = "tmpfs"\ntarget = "/tmp/m%d"\noptions = ["nosuid", "nodev"]\n\n' % i
                for i in range(int(sys.argv[2])))
sys.stdout.write(head + extra + "[[step]]\nkind = \"pivot\"" + pivot)
PY
  args=$(i=0; while [ $i -lt "$n" ]; do printf -- '--tmpfs /tmp/m%d ' $i; i=$((i+1)); done)
  hyperfine -N --warmup 3 --runs "${RUNS:-30}" --export-json "$W/scale-$n.json" \
    -n "limit-c N=$n" "$W/limit $R $n" \
    -n "bwrap N=$n" "bwrap --bind $R / --proc /proc --dev /dev --tmpfs /tmp $args --unshare-pid /bin/true" \
    -n "mountplan N=$n" "$MP apply $plan --set ROOTFS=$R -- /bin/true" >/dev/null
  python3 "$HERE/table.py" "$W/scale-$n.json" "limit-c N=$n"
done
