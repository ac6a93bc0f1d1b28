#!/bin/sh
# Installs what the benchmarks need (Debian packages). Run once, as root.
# frontend.sh takes peak memory from getrusage (python3), so GNU time is not needed.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq hyperfine bubblewrap runc busybox-static gcc python3 >/dev/null
