# Shared by the bench scripts (sourced): paths, prerequisites, and the things every benchmark
# needs built: a static release mountplan, a busybox rootfs, the C floor (limit.c).
# Prerequisites: root, Rust, python3, and the Debian packages bench/setup.sh installs.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
W=${MP_BENCH_DIR:-/tmp/mp-bench}
R=$W/rootfs
mkdir -p "$W"

need() {
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || {
      echo "bench: '$c' is missing: run bench/setup.sh (as root) first" >&2
      exit 2
    }
  done
}
need hyperfine python3 cargo

# What the benchmarks time: a static mountplan built for musl (src/musl_alloc.rs gives it
# dlmalloc), by default. glibc's startup asks the CPU for its cache sizes with dozens of CPUID
# instructions, each of which traps to the hypervisor in this VM: about 0.5 ms of a 2 ms apply
# (perf: intel_check_word, handle_intel). MP_TARGET=gnu builds and times the glibc binary instead
# (static too: a dynamic one pays the loader's CPUID queries as well). --target keeps the flags
# away from proc-macro builds.
case "${MP_TARGET:-musl}" in
  musl) TARGET=x86_64-unknown-linux-musl ;;
  gnu) TARGET=x86_64-unknown-linux-gnu ;;
  *) echo "bench: MP_TARGET is musl or gnu" >&2; exit 2 ;;
esac
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || {
  echo "bench: Rust's $TARGET target is missing: run bench/setup.sh (as root) first" >&2
  exit 2
}
build_mountplan() {
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet \
    --manifest-path "$TOP/Cargo.toml" --target "$TARGET"
  MP=$TOP/target/$TARGET/release/mountplan
}

# examples/frontend.rs, built like mountplan: the front half without the command line's input
# limits (a plan of more than 10 000 steps is refused by `mountplan check`).
build_frontend() {
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet \
    --manifest-path "$TOP/Cargo.toml" --target "$TARGET" --example frontend
  FE=$TOP/target/$TARGET/release/examples/frontend
}

# The rootfs, as ../shared/bench/mkroot.sh makes it: busybox (static) and its directories
# (shell.sh ends with the rootfs's own chroot).
make_rootfs() {
  need busybox
  rm -rf "$R"
  mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/etc" "$R/run" "$R/usr"
  cp "$(command -v busybox)" "$R/bin/busybox"
  for a in sh true ls cat mount umount chroot; do ln -s busybox "$R/bin/$a"; done
}

# The floor: the same system calls in C, nothing else (glibc, dynamic, as in ../shared/bench).
# Also the same file static with musl (limit-musl): the system calls without glibc's start-up,
# which in this VM is about half a millisecond of trapped CPUID instructions (musl-gcc, from
# Debian's musl-tools; bench/setup.sh installs it).
make_limit() {
  need gcc musl-gcc
  gcc -O2 -o "$W/limit" "$HERE/limit.c"
  musl-gcc -O2 -static -o "$W/limit-musl" "$HERE/limit.c"
}

# A runc bundle for the same rootfs, /bin/true, no terminal (runc's default spec otherwise).
make_runc_bundle() {
  need runc
  mkdir -p "$W/bundle"
  rm -f "$W/bundle/config.json"
  (cd "$W/bundle" && runc spec)
  python3 - "$W/bundle/config.json" "$R" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["root"] = {"path": sys.argv[2], "readonly": False}
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(sys.argv[1], "w"))
PY
}

# The timed commands run at the highest normal priority (nice -20, as root), so that a machine
# shared with builds disturbs them less. On a busy machine PRIO="chrt -f 10" (a real-time
# policy: a timed process runs as soon as it is woken; the kernel still leaves others 5 % of
# each second) gives steadier figures, all of them ~0.3 ms higher. PRIO= for neither.
if [ "$(id -u)" = 0 ]; then PRIO=${PRIO-nice -n -20}; else PRIO=${PRIO-}; fi

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "bench: run as root (the sandboxes are made with real namespaces)" >&2
    exit 2
  fi
}
