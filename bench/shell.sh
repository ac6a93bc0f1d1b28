#!/bin/sh
# Copied from ../shared/bench/shell.sh (the peers' shell baseline) so bench/ is self-contained.
# The same setup as limit.c with util-linux and coreutils commands (what a hand-written provisioning script does).
R=${1:-/tmp/mp-bench/rootfs}
exec unshare -mpf --propagation slave sh -c '
set -e; R=$1
mount --rbind "$R" "$R"; cd "$R"
mount -t proc -o nosuid,nodev,noexec proc proc
mount -t tmpfs -o nosuid,strictatime,mode=755 tmpfs dev
mknod -m 666 dev/null c 1 3; mknod -m 666 dev/zero c 1 5; mknod -m 666 dev/full c 1 7
mknod -m 666 dev/random c 1 8; mknod -m 666 dev/urandom c 1 9; mknod -m 666 dev/tty c 5 0
mkdir dev/pts; mount -t devpts -o nosuid,noexec,newinstance,ptmxmode=0666,mode=620 devpts dev/pts
ln -s pts/ptmx dev/ptmx; ln -s /proc/self/fd dev/fd
ln -s /proc/self/fd/0 dev/stdin; ln -s /proc/self/fd/1 dev/stdout; ln -s /proc/self/fd/2 dev/stderr
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs tmp
pivot_root . .; umount -l .
exec chroot . /bin/true' sh "$R"
