#define _GNU_SOURCE
#include <sys/vfs.h>
#include "cspawn.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int postamt_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int postamt_sched_batch(void) {
    struct sched_param param = { .sched_priority = 0 };
    return sched_setscheduler(0, SCHED_BATCH, &param);
}

static void postamt_child_ended(int signo) { (void)signo; }

int postamt_child_wait_setup(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = postamt_child_ended;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGCHLD, &action, NULL) != 0) return -1;
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    return sigprocmask(SIG_BLOCK, &child, NULL);
}

int postamt_poll_many_or_child(struct pollfd *fds, int nfds, int timeout_ms) {
    sigset_t waiting;
    sigprocmask(SIG_SETMASK, NULL, &waiting);
    sigdelset(&waiting, SIGCHLD);
    struct timespec timeout = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };
    return ppoll(fds, (nfds_t)nfds, timeout_ms < 0 ? NULL : &timeout, &waiting);
}

int postamt_poll_or_child(int fd, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
    return postamt_poll_many_or_child(&p, 1, timeout_ms);
}

int postamt_wifexited(int status) { return WIFEXITED(status); }
int postamt_wexitstatus(int status) { return WEXITSTATUS(status); }
int postamt_wifsignaled(int status) { return WIFSIGNALED(status); }
int postamt_wtermsig(int status) { return WTERMSIG(status); }

static int drop(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, int *step) {
    *step = 4;
    if (setgroups((size_t)ngroups, groups) != 0) return -1;
    *step = 5;
    if (setgid(gid) != 0) return -1;
    *step = 6;
    if (setuid(uid) != 0) return -1;
    *step = 7;
    if (uid != 0 && (setuid(0) == 0 || geteuid() == 0 || getuid() == 0)) { errno = EPERM; return -1; }
    return 0;
}

int postamt_drop_privileges(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, int *step_out) {
    return drop(uid, gid, groups, ngroups, step_out);
}

static void child_fail(int fd, int step) {
    int report[2] = { errno, step };
    ssize_t ignored = write(fd, report, sizeof report);
    (void)ignored;
    _exit(127);
}

/* The common start of a child: signals reset, descriptors placed, identity dropped, directory
 * changed. `path` is NULL for a child that goes on in this program (postamt_fork_prepared):
 * it then closes the error pipe (EOF tells the parent it is ready) and takes `envp` as its
 * environment; otherwise it executes `path`. On any failure it reports the step and exits. */
static pid_t start_child(const char *path, char *const argv[], char *const envp[],
                         const int *fd_map, int fd_map_pairs,
                         int change_identity, uid_t uid, gid_t gid,
                         const gid_t *groups, int ngroups,
                         const char *cwd, int new_session,
                         int *err_out, int *step_out) {
    int errpipe[2];
    *err_out = 0; *step_out = 0;
    if (pipe2(errpipe, O_CLOEXEC) != 0) { *err_out = errno; *step_out = 1; return -1; }

    int highest = 2;
    for (int i = 0; i < fd_map_pairs; i++) if (fd_map[2 * i] > highest) highest = fd_map[2 * i];

    pid_t pid = fork();
    if (pid < 0) {
        *err_out = errno; *step_out = 2;
        close(errpipe[0]); close(errpipe[1]);
        return -1;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls from here on. */
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int s = 1; s < 32; s++) if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
        if (new_session) { if (setsid() < 0) child_fail(errpipe[1], 10); }

        /* Stage every source above the targets first, so that mapping 0<-1 and 1<-0 works,
           then park the error pipe at `base` and close everything above it. */
        int base = highest + 1;
        int staged[64];
        if (fd_map_pairs > 64) { errno = EINVAL; child_fail(errpipe[1], 3); }
        for (int i = 0; i < fd_map_pairs; i++) {
            int src = fd_map[2 * i + 1];
            int opened = -1;
            if (src < 0) {
                opened = src = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (src < 0) child_fail(errpipe[1], 3);
            }
            staged[i] = fcntl(src, F_DUPFD_CLOEXEC, base + 1);
            if (staged[i] < 0) child_fail(errpipe[1], 3);
            if (opened >= 0) close(opened);
        }
        if (errpipe[1] != base) {
            if (dup3(errpipe[1], base, O_CLOEXEC) < 0) child_fail(errpipe[1], 3);
            errpipe[1] = base;
        }
        for (int i = 0; i < fd_map_pairs; i++) {
            if (dup2(staged[i], fd_map[2 * i]) < 0) child_fail(errpipe[1], 3);
        }
        for (int fd = 0; fd <= highest; fd++) {
            int mapped = 0;
            for (int i = 0; i < fd_map_pairs; i++) if (fd_map[2 * i] == fd) mapped = 1;
            if (!mapped) close(fd);
        }
        if (syscall(SYS_close_range, (unsigned)(base + 1), ~0U, 0) != 0) {
            for (int fd = base + 1; fd < 65536; fd++) close(fd);
        }
        if (change_identity) {
            int step = 0;
            if (drop(uid, gid, groups, ngroups, &step) != 0) child_fail(errpipe[1], step);
        }
        if (cwd && chdir(cwd) != 0) child_fail(errpipe[1], 8);
        if (path == NULL) {
            environ = (char **)envp;
            close(errpipe[1]);
            return 0;
        }
        execve(path, argv, envp);
        child_fail(errpipe[1], 9);
    }
    close(errpipe[1]);
    int report[2];
    ssize_t n;
    do { n = read(errpipe[0], report, sizeof report); } while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof report) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *err_out = report[0]; *step_out = report[1];
        return -1;
    }
    return pid;
}

int postamt_spawn(const char *path, char *const argv[], char *const envp[],
                  const int *fd_map, int fd_map_pairs,
                  int change_identity, uid_t uid, gid_t gid,
                  const gid_t *groups, int ngroups,
                  const char *cwd, int new_session,
                  pid_t *pid_out, int *err_out, int *step_out) {
    pid_t pid = start_child(path, argv, envp, fd_map, fd_map_pairs, change_identity, uid, gid,
                            groups, ngroups, cwd, new_session, err_out, step_out);
    if (pid < 0) return -1;
    *pid_out = pid;
    return 0;
}

int postamt_fork_prepared(char *const envp[],
                          const int *fd_map, int fd_map_pairs,
                          int change_identity, uid_t uid, gid_t gid,
                          const gid_t *groups, int ngroups,
                          const char *cwd,
                          pid_t *pid_out, int *err_out, int *step_out) {
    pid_t pid = start_child(NULL, NULL, envp, fd_map, fd_map_pairs, change_identity, uid, gid,
                            groups, ngroups, cwd, 0, err_out, step_out);
    if (pid < 0) return -1;
    *pid_out = pid;
    return 0;
}

int postamt_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    if (nfds < 0 || nfds > 4) { errno = EINVAL; return -1; }
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union { char bytes[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
    }
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

long postamt_recv_with_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds) {
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    union { char bytes[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes, .msg_controllen = sizeof control.bytes };
    *nfds = 0;
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *received = (int *)CMSG_DATA(c);
            for (int i = 0; i < count; i++) {
                if (*nfds < maxfds) fds[(*nfds)++] = received[i];
                else close(received[i]);
            }
        }
    }
    return (long)n;
}

long postamt_fs_type(const char *path) {
    struct statfs fs;
    if (statfs(path, &fs) != 0) return -1;
    return (long)fs.f_type;
}

int postamt_malloc_trim(void) {
    return malloc_trim(0);
}

int postamt_memfd(const char *name) {
#ifdef SYS_memfd_create
    return (int)syscall(SYS_memfd_create, name, 1u /* MFD_CLOEXEC */);
#else
    (void)name;
    errno = ENOSYS;
    return -1;
#endif
}

int postamt_rename_noreplace(const char *from, const char *to) {
#ifdef RENAME_NOREPLACE
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
#else
    (void)from; (void)to;
    errno = ENOSYS;
    return -1;
#endif
}

int postamt_zero_range(int fd, long long length) {
#if defined(FALLOC_FL_ZERO_RANGE) && defined(FALLOC_FL_KEEP_SIZE)
    return fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, (off_t)length);
#else
    (void)fd; (void)length;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

int postamt_open_unnamed(const char *directory, unsigned int mode) {
#ifdef O_TMPFILE
    return open(directory, O_TMPFILE | O_WRONLY | O_CLOEXEC, (mode_t)mode);
#else
    (void)directory; (void)mode;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

int postamt_link_open_file(int fd, const char *path) {
    char name[64];
    snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, name, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}
