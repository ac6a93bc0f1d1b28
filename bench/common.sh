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
need python3 cargo

# What the benchmarks time: mountplan as the README's `cargo build --release` builds it, which
# .cargo/config.toml makes a static musl binary (src/musl_alloc.rs gives it dlmalloc). glibc's
# start-up asks the CPU for its cache sizes with dozens of CPUID instructions, each of which
# traps to the hypervisor in this VM: about 0.5 ms of a 2 ms apply (perf: intel_check_word,
# handle_intel). build_mountplan_gnu builds the glibc dynamic binary beside it (MP_GNU), and
# MP_TARGET=gnu times that one wherever the scripts time "mountplan".
rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl || {
  echo "bench: Rust's x86_64-unknown-linux-musl target is missing: run bench/setup.sh (as root) first" >&2
  exit 2
}
build_mountplan_gnu() {
  cargo build --release --quiet --manifest-path "$TOP/Cargo.toml" --target x86_64-unknown-linux-gnu
  MP_GNU=$TOP/target/x86_64-unknown-linux-gnu/release/mountplan
}
build_mountplan() {
  (cd "$TOP" && cargo build --release --quiet)
  MP=$TOP/target/x86_64-unknown-linux-musl/release/mountplan
  case "${MP_TARGET:-musl}" in
    musl) ;;
    gnu) build_mountplan_gnu; MP=$MP_GNU ;;
    *) echo "bench: MP_TARGET is musl or gnu" >&2; exit 2 ;;
  esac
}

# examples/frontend.rs, built like mountplan: the front half without the command line's input
# limits (a plan of more than 10 000 steps is refused by `mountplan check`).
build_frontend() {
  (cd "$TOP" && cargo build --release --quiet --example frontend)
  FE=$TOP/target/x86_64-unknown-linux-musl/release/examples/frontend
  if [ "${MP_TARGET:-musl}" = gnu ]; then
    cargo build --release --quiet --manifest-path "$TOP/Cargo.toml" --target x86_64-unknown-linux-gnu --example frontend
    FE=$TOP/target/x86_64-unknown-linux-gnu/release/examples/frontend
  fi
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
# Debian's musl-tools; bench/setup.sh installs it). And the floor through the new mount API
# (limit-newapi.c, as ../shared/bench has it: fsopen/fsconfig/fsmount, open_tree, move_mount),
# both ways: mountplan mounts through the new API.
make_limit() {
  need gcc musl-gcc
  gcc -O2 -o "$W/limit" "$HERE/limit.c"
  musl-gcc -O2 -static -o "$W/limit-musl" "$HERE/limit.c"
  gcc -O2 -o "$W/limit-newapi" "$HERE/limit-newapi.c"
  musl-gcc -O2 -static -o "$W/limit-newapi-musl" "$HERE/limit-newapi.c"
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
