#!/bin/sh
# Installs what the benchmarks need (Debian packages, and Rust's musl target: the benchmarks
# build mountplan as a static musl binary, see common.sh). Run once, as root.
# frontend.sh takes peak memory from getrusage (python3), so GNU time is not needed.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq hyperfine bubblewrap runc busybox-static gcc musl-tools python3 >/dev/null
rustup target add x86_64-unknown-linux-musl
