#!/bin/sh
# Installs what the benchmarks need (Debian packages). Run once, as root.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq hyperfine bubblewrap busybox-static gcc time >/dev/null
