#ifndef CVIGIL_H
#define CVIGIL_H

#include <stddef.h>
#include <sys/types.h>

/// Starts `path` with `argv`/`envp` as the leader of a new process group, with an empty
/// signal mask, every signal at its default disposition, stdin/stdout/stderr taken from the
/// three descriptors and every other descriptor closed. Returns 0 and sets `*pid`, or an errno.
int cvigil_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 int stdin_fd, int stdout_fd, int stderr_fd);

/// Installs a handler for `signo` that writes the signal number as one byte to `fd`
/// (async-signal-safe, SA_RESTART). `fd` should be the non-blocking write end of a pipe.
int cvigil_relay_signal(int signo, int fd);

/// Sets `signo` to SIG_IGN (used for SIGPIPE only; children get defaults back at spawn).
int cvigil_ignore_signal(int signo);

/// Empties the calling thread's signal mask.
int cvigil_unblock_all_signals(void);

/// pipe2(O_CLOEXEC) where it exists (pipe + FD_CLOEXEC elsewhere). Returns 0 or an errno.
int cvigil_pipe_cloexec(int fds[2]);

/// memmem(3): the first occurrence of `needle` in `haystack`, or NULL.
const void *cvigil_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);

/// Returns free heap memory to the system where the C library can (glibc's malloc_trim).
void cvigil_release_free_memory(void);

#endif
