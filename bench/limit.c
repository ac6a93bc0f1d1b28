/* From ../shared/bench/limit.c, the project's reference floor (kept here so the benchmark is self-contained). */
/* The floor: the same setup done with raw syscalls and nothing else.
 * new mount+pid ns, / rslave, bind root, proc, tmpfs /dev with 6 nodes, devpts, ptmx and
 * stdio symlinks, tmpfs /tmp, pivot_root(".", "."), detach old root, exec /bin/true.
 * Extra N tmpfs mounts under /tmp/mN when argv[2] is given. Usage: limit ROOTFS [N] */
#define _GNU_SOURCE
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
#define CK(x) do { if ((x) < 0) { perror(#x); _exit(1); } } while (0)
int main(int argc, char **argv) {
  const char *r = argv[1]; int n = argc > 2 ? atoi(argv[2]) : 0; char p[4096];
  umask(0);  /* nodes get exactly the modes asked for (0666), whatever the caller's umask */
  CK(unshare(CLONE_NEWNS | CLONE_NEWPID));
  pid_t c = fork();
  if (c) { int st; waitpid(c, &st, 0); return WEXITSTATUS(st); }
  CK(mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL));
  CK(mount(r, r, NULL, MS_BIND | MS_REC, NULL));
  CK(chdir(r));
  CK(mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
  CK(mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755"));
  struct { const char *n; int ma, mi; } d[] = {{"dev/null",1,3},{"dev/zero",1,5},{"dev/full",1,7},{"dev/random",1,8},{"dev/urandom",1,9},{"dev/tty",5,0}};
  for (int i = 0; i < 6; i++) CK(mknod(d[i].n, S_IFCHR | 0666, makedev(d[i].ma, d[i].mi)));
  CK(mkdir("dev/pts", 0755));
  CK(mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"));
  CK(symlink("pts/ptmx", "dev/ptmx"));
  CK(symlink("/proc/self/fd", "dev/fd"));
  CK(symlink("/proc/self/fd/0", "dev/stdin"));
  CK(symlink("/proc/self/fd/1", "dev/stdout"));
  CK(symlink("/proc/self/fd/2", "dev/stderr"));
  CK(mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  for (int i = 0; i < n; i++) {
    snprintf(p, sizeof p, "tmp/m%d", i); CK(mkdir(p, 0755));
    CK(mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, NULL));
  }
  CK(syscall(SYS_pivot_root, ".", "."));
  CK(umount2(".", MNT_DETACH));
  CK(chdir("/"));
  execl("/bin/true", "true", (char *)NULL);
  perror("exec"); return 127;
}
