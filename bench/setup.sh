#!/bin/sh
# Installs what the benchmarks need (Debian packages). Run once, as root.
# GNU time (the `time` package) gives frontend.sh its peak memory figures.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq hyperfine bubblewrap runc busybox-static gcc time python3 >/dev/null
