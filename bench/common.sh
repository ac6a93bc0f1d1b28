# Shared by the bench scripts: build a static release mountplan, a busybox root and the C floor.
# Needs root, hyperfine, bubblewrap, busybox-static, gcc (bench/setup.sh installs them).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
W=${MP_BENCH_DIR:-/tmp/mp-bench}
R=$W/rootfs
mkdir -p "$W"
# A statically linked binary starts ~0.3 ms faster in this VM (fewer trapped CPUID
# instructions in the dynamic loader); --target keeps the flag away from proc-macro builds.
TARGET=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet \
  --manifest-path "$TOP/Cargo.toml" --target "$TARGET"
MP=$TOP/target/$TARGET/release/mountplan
# The rootfs: busybox, the directories the sandbox mounts on.
rm -rf "$R"; mkdir -p "$R/bin" "$R/proc" "$R/dev" "$R/tmp"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in sh true ls cat; do ln -sf busybox "$R/bin/$a"; done
gcc -O2 -o "$W/limit" "$HERE/limit.c"
