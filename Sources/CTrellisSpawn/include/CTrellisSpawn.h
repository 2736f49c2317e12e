#ifndef CTRELLIS_SPAWN_H
#define CTRELLIS_SPAWN_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/types.h>

/// Starts `path` with `argv` and `envp` as the leader of a new process group, its signal mask empty and every
/// signal's disposition at its default, in `directory` when not NULL, with `stdin_fd`, `stdout_fd` and
/// `stderr_fd` as its descriptors 0, 1 and 2 and no other descriptor inherited. Uses `posix_spawn` (a vfork
/// under glibc: no copy of the caller's address space). Returns 0 with the child's pid in `pid`, or an errno
/// value, including a failure of the working directory or of the exec itself.
int trellis_spawn(
    pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *directory,
    int stdin_fd, int stdout_fd, int stderr_fd);

/// A pipe whose two ends are closed on exec (pipe2 with O_CLOEXEC), so no other child inherits them. Returns
/// 0, or -1 with errno set.
int trellis_pipe(int fds[2]);

/// A descriptor that becomes readable when `pid` ends (pidfd_open, Linux 5.3), or -1 with errno set.
int trellis_pidfd_open(pid_t pid);

/// Reaps `pid` without blocking. Returns 1 when it had ended, with either its exit code in `code` and -1 in
/// `signal`, or the signal that ended it in `signal` and -1 in `code`; 0 when it still runs; -1 on error.
int trellis_reap(pid_t pid, int *code, int *signal);

#endif
