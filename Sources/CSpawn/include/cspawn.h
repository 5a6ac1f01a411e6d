#ifndef POSTAMT_CSPAWN_H
#define POSTAMT_CSPAWN_H
#include <sys/types.h>
#include <poll.h>

/*
 * fork/exec with an fd map and an optional identity change, done in C because the child
 * between fork and exec must only call async-signal-safe functions.
 *
 * fd_map holds pairs (target, source): in the child, source is dup'd onto target. Every other
 * fd above the highest target is closed. Sources may be -1 to mean "open /dev/null there".
 * When change_identity is non-zero the child does setgroups(groups), setgid(gid), setuid(uid),
 * and then checks that setuid(0) fails when uid != 0 (qmail's prot.c order).
 *
 * Returns 0 and the pid, or -1 with *err_out = errno and *step_out = the failing step
 * (1 pipe, 2 fork, 3 dup, 4 groups, 5 gid, 6 uid, 7 verify, 8 chdir, 9 exec, 10 setsid).
 */
int postamt_spawn(const char *path, char *const argv[], char *const envp[],
                  const int *fd_map, int fd_map_pairs,
                  int change_identity, uid_t uid, gid_t gid,
                  const gid_t *groups, int ngroups,
                  const char *cwd, int new_session,
                  pid_t *pid_out, int *err_out, int *step_out);

/* postamt_spawn without the exec: the child returns 0 (*pid_out 0) once its signals,
 * descriptors, identity and directory are set as for postamt_spawn and `envp` is its environment
 * (the array must stay allocated for the child's life); the parent gets the pid, or -1 with the
 * failed step as above. For a single-threaded caller only: the child runs on in this program. */
/* A parent's wait for a readable descriptor or a child's end: postamt_child_wait_setup installs a
 * SIGCHLD handler that does nothing and blocks SIGCHLD; postamt_poll_or_child then waits in
 * ppoll(2) with SIGCHLD unblocked, so a child that ends while the parent is busy still interrupts
 * the next wait (no lost wake-up). Returns poll's result: -1 with errno EINTR after a signal. */
int postamt_child_wait_setup(void);
/* sched_setscheduler(2) of this process to SCHED_BATCH (priority 0), which the processes it
 * starts inherit; 0, or -1 with errno. (SCHED_BATCH is a _GNU_SOURCE name Swift does not see.) */
int postamt_sched_batch(void);
int postamt_poll_or_child(int fd, int timeout_ms);
/* The same wait over several descriptors (their revents set as by poll(2)). */
int postamt_poll_many_or_child(struct pollfd *fds, int nfds, int timeout_ms);

int postamt_fork_prepared(char *const envp[],
                          const int *fd_map, int fd_map_pairs,
                          int change_identity, uid_t uid, gid_t gid,
                          const gid_t *groups, int ngroups,
                          const char *cwd,
                          pid_t *pid_out, int *err_out, int *step_out);

/* Drops to uid/gid with the given supplementary groups, then verifies root cannot return.
 * Returns 0, or -1 with errno set and *step_out as above. */
int postamt_drop_privileges(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, int *step_out);

/* pipe2(O_CLOEXEC): needs _GNU_SOURCE, which Swift does not define. */
int postamt_pipe_cloexec(int fds[2]);

/* One datagram plus up to 4 descriptors over a Unix socket (SCM_RIGHTS; CMSG_* are macros).
 * send returns 0 or -1/errno; recv returns the byte count (0 at EOF) or -1/errno, and stores the
 * received descriptors (made close-on-exec) in fds/nfds. */
int postamt_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
long postamt_recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds);

/* WIFEXITED & co are macros. */
/* statfs(2)'s f_type of the file system holding path, or -1 (sys/vfs.h is not in Glibc's module). */
long postamt_fs_type(const char *path);

int postamt_wifexited(int status);
int postamt_wexitstatus(int status);
int postamt_wifsignaled(int status);
int postamt_wtermsig(int status);

/// malloc_trim(0): free heap pages back to the system (glibc; <malloc.h> is not in Swift's Glibc module).
int postamt_malloc_trim(void);

/// memfd_create(name, MFD_CLOEXEC): an anonymous file in memory (<sys/mman.h>'s declaration
/// needs _GNU_SOURCE, which Swift's Glibc module does not set); -1 with errno when unavailable.
int postamt_memfd(const char *name);

/// renameat2(from, to, RENAME_NOREPLACE): rename unless `to` exists (EEXIST then); glibc
/// declares it only under _GNU_SOURCE. -1 with errno (EINVAL/ENOSYS where unsupported).
int postamt_rename_noreplace(const char *from, const char *to);

/// fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, length): the first `length`
/// bytes read as zeros from now on while their blocks stay allocated (marked unwritten; no
/// data written, no block freed). -1 with errno (EOPNOTSUPP where the file system cannot).
int postamt_zero_range(int fd, long long length);

/// open(directory, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode): a file with no name yet, in
/// `directory`'s file system, that goes away unless it is linked (O_TMPFILE is a _GNU_SOURCE
/// name). -1 with errno (EOPNOTSUPP, EISDIR or EINVAL where the file system or kernel cannot).
int postamt_open_unnamed(const char *directory, unsigned int mode);

/// linkat of the open file `fd` (one made by postamt_open_unnamed) to `path` through
/// /proc/self/fd, which needs no capability (AT_EMPTY_PATH does). -1 with errno: EEXIST when
/// `path` exists, ENOENT when /proc is not mounted.
int postamt_link_open_file(int fd, const char *path);

#endif
