/* From ../shared/bench/limit-newapi.c, the floor through the new mount API (kept here so the benchmark is self-contained). */
/* The floor again, but with the NEW mount API (Linux >= 5.2; mount_setattr >= 5.12):
 * fsopen/fsconfig/fsmount/move_mount for proc, tmpfs, devpts; open_tree(OPEN_TREE_CLONE|AT_RECURSIVE)
 * for the rootfs bind; mount_setattr for "/" rslave. Same sandbox as limit.c: new mount+pid ns,
 * / rslave, bind root, proc, tmpfs /dev with 6 nodes, devpts, ptmx and stdio symlinks, tmpfs /tmp,
 * pivot_root(".", "."), detach old root, exec /bin/true. Extra N tmpfs mounts under /tmp/mN.
 *
 * Usage: limit-newapi ROOTFS [N [MODE]]
 *   MODE attach   (default) attach the cloned root at ROOTFS first, then move_mount each new
 *                 filesystem onto a path below it (like limit.c, one move_mount per mount).
 *   MODE detached build the whole tree on the DETACHED clone (move_mount onto a detached mount,
 *                 needs Linux >= 6.15), populate /dev through the detached tmpfs fd, and attach
 *                 the finished tree with a single move_mount at the end.
 * Build: gcc -O2 -o limit-newapi limit-newapi.c   (glibc >= 2.36 wrappers; otherwise, e.g.
 *        musl-gcc -O2 -static, raw x86_64 syscall numbers are used) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef FSOPEN_CLOEXEC /* C library without the wrappers (musl 1.2.3): raw syscalls, x86_64 numbers */
#include <stdint.h>
#define FSOPEN_CLOEXEC 0x1
#define FSMOUNT_CLOEXEC 0x1
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#define MOUNT_ATTR_STRICTATIME 0x20
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC O_CLOEXEC
struct mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
#define open_tree(d, p, f) ((int)syscall(428, d, p, f))
#define move_mount(fd, fp, td, tp, f) ((int)syscall(429, fd, fp, td, tp, f))
#define fsopen(n, f) ((int)syscall(430, n, f))
#define fsconfig(fd, c, k, v, a) ((int)syscall(431, fd, c, k, v, a))
#define fsmount(fd, f, a) ((int)syscall(432, fd, f, a))
#define mount_setattr(d, p, f, a, s) ((int)syscall(442, d, p, f, a, s))
#endif
#define CK(x) do { if ((x) < 0) { perror(#x); _exit(1); } } while (0)

/* fsopen + fsconfig(key=val...) + create + fsmount; returns the detached mount fd */
static int newfs(const char *type, unsigned attrs, const char *const *kv) {
  int fs = fsopen(type, FSOPEN_CLOEXEC);
  CK(fs);
  for (; kv && kv[0]; kv += 2)
    CK(kv[1] ? fsconfig(fs, FSCONFIG_SET_STRING, kv[0], kv[1], 0)
             : fsconfig(fs, FSCONFIG_SET_FLAG, kv[0], NULL, 0));
  CK(fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
  int m = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
  CK(m);
  close(fs);
  return m;
}
/* attach detached mount fd m at dirfd/path, then close it */
static void attach(int m, int dirfd, const char *path) {
  CK(move_mount(m, "", dirfd, path, MOVE_MOUNT_F_EMPTY_PATH));
  close(m);
}

int main(int argc, char **argv) {
  const char *r = argv[1]; int n = argc > 2 ? atoi(argv[2]) : 0; char p[64];
  int detached = argc > 3 && strcmp(argv[3], "detached") == 0;
  CK(unshare(CLONE_NEWNS | CLONE_NEWPID));
  pid_t c = fork();
  if (c) { int st; waitpid(c, &st, 0); return WEXITSTATUS(st); }
  struct mount_attr slave = { .propagation = MS_SLAVE };
  CK(mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &slave, sizeof slave));
  int root = open_tree(AT_FDCWD, r, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  CK(root);
  int base = root; /* where new mounts are attached: the detached clone itself ... */
  if (!detached) { /* ... or, in attach mode, the clone attached at r (cwd) */
    CK(move_mount(root, "", AT_FDCWD, r, MOVE_MOUNT_F_EMPTY_PATH));
    CK(chdir(r)); base = AT_FDCWD;
  }
  static const char *const procopt[] = { NULL };
  attach(newfs("proc", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, procopt), base, "proc");
  static const char *const devopt[] = { "mode", "755", NULL };
  int dev = newfs("tmpfs", MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME, devopt);
  struct { const char *n; int ma, mi; } d[] = {{"null",1,3},{"zero",1,5},{"full",1,7},{"random",1,8},{"urandom",1,9},{"tty",5,0}};
  for (int i = 0; i < 6; i++) CK(mknodat(dev, d[i].n, S_IFCHR | 0666, makedev(d[i].ma, d[i].mi)));
  CK(mkdirat(dev, "pts", 0755));
  CK(symlinkat("pts/ptmx", dev, "ptmx"));
  CK(symlinkat("/proc/self/fd", dev, "fd"));
  CK(symlinkat("/proc/self/fd/0", dev, "stdin"));
  CK(symlinkat("/proc/self/fd/1", dev, "stdout"));
  CK(symlinkat("/proc/self/fd/2", dev, "stderr"));
  static const char *const ptsopt[] = { "newinstance", NULL, "ptmxmode", "0666", "mode", "620", NULL };
  int pts = newfs("devpts", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, ptsopt);
  if (detached) { attach(pts, dev, "pts"); attach(dev, base, "dev"); }
  else { attach(dev, base, "dev"); attach(pts, base, "dev/pts"); }
  static const char *const tmpopt[] = { "mode", "1777", NULL };
  int tmp = newfs("tmpfs", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, tmpopt);
  if (detached) { /* populate the detached /tmp with its N mounts first, then attach it once */
    for (int i = 0; i < n; i++) {
      snprintf(p, sizeof p, "m%d", i); CK(mkdirat(tmp, p, 0755));
      attach(newfs("tmpfs", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, NULL), tmp, p);
    }
    attach(tmp, base, "tmp");
  } else { /* like limit.c: attach /tmp, then mkdir + mount each tmp/mN below it */
    attach(tmp, base, "tmp");
    for (int i = 0; i < n; i++) {
      snprintf(p, sizeof p, "tmp/m%d", i); CK(mkdir(p, 0755));
      attach(newfs("tmpfs", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, NULL), AT_FDCWD, p);
    }
  }
  if (detached) {
    CK(move_mount(root, "", AT_FDCWD, r, MOVE_MOUNT_F_EMPTY_PATH));
    CK(chdir(r));
  }
  close(root);
  CK(syscall(SYS_pivot_root, ".", "."));
  CK(umount2(".", MNT_DETACH));
  CK(chdir("/"));
#ifdef CHECK /* gcc -DCHECK: show the resulting sandbox instead of running /bin/true */
  execl("/bin/sh", "sh", "-c", "cat /proc/self/mountinfo; ls -la /dev /dev/pts; echo pid $$", (char *)NULL);
#endif
  execl("/bin/true", "true", (char *)NULL);
  perror("exec"); return 127;
}
