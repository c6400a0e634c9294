#ifndef CVIGIL_H
#define CVIGIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Starts `path` with `argv`/`envp` as the leader of a new process group, with an empty
/// signal mask, every signal at its default disposition, stdin/stdout/stderr taken from the
/// three descriptors and every other descriptor closed. With `cgroup_procs_fd` >= 0 (an open
/// `cgroup.procs` of a cgroup v2, Linux only) the child joins that cgroup before it execs. With
/// `cwd` not NULL the child runs in that directory.
/// Returns 0 and sets `*pid`, or an errno; when exec itself failed, `*pid` is set too (the child
/// exits 127 and must still be reaped).
int cvigil_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 int stdin_fd, int stdout_fd, int stderr_fd, int cgroup_procs_fd, const char *cwd);

/// Blocks until a child of this process has exited and returns its pid without reaping it
/// (waitid(P_ALL, WEXITED | WNOWAIT)); -errno on failure (-ECHILD: no children at all).
pid_t cvigil_wait_any_nowait(void);

/// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to this process instead of
/// init. Returns 0, or an errno (ENOSYS off Linux).
int cvigil_become_child_subreaper(void);

/// pidfd_open(2): a descriptor that names one process for good (no pid reuse). Returns the
/// descriptor, or -errno (-ENOSYS where the system has none).
int cvigil_pidfd_open(pid_t pid);

/// pidfd_send_signal(2). Returns 0 or an errno.
int cvigil_pidfd_send_signal(int pidfd, int signo);

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

/// Returns free heap memory to the system where the C library can (glibc's malloc_trim), and (Linux)
/// drops the resident pages of every loaded object's never-written segments (code, read-only data:
/// the program's, the C and C++ libraries', the loader's): start-up touched most of them (the kernel
/// maps 64 KiB around each fault), the long run needs few, and those come back from the page cache.
void cvigil_release_free_memory(void);

/// Names the calling thread (the first 15 bytes: what `ps -L` and /proc show).
void cvigil_name_thread(const char *name);

/// statfs(2)'s `f_type` of the file system `path` is on (Linux: NFS_SUPER_MAGIC is 0x6969), in
/// `*type`. Returns 0 or an errno (ENOSYS off Linux). (Glibc's Swift module does not export statfs.)
int cvigil_file_system_type(const char *path, long long *type);

/// Runs SHA-256's compression over `blocks` 64-byte blocks with the CPU's SHA instructions (x86-64
/// SHA-NI), updating `state` (H0…H7). Returns 1, or 0 without touching anything where the CPU has
/// none (the caller then compresses in Swift).
int cvigil_sha256_blocks(uint32_t state[8], const void *data, size_t blocks);

/// CRC-32 as gzip and zip compute it (reflected 0xEDB88320), continuing from `crc` (0 to start).
uint32_t cvigil_crc32(uint32_t crc, const void *data, size_t length);

/// copy_file_range(2) from the current offsets: bytes copied, 0 at the end, or -errno (-ENOSYS off Linux).
long cvigil_copy_file_range(int in_fd, int out_fd, size_t length);

/// Sets the capacity of the pipe `fd` is an end of (Linux's F_SETPIPE_SZ). Returns 0 or an errno
/// (ENOSYS off Linux; EPERM above /proc/sys/fs/pipe-max-size for an unprivileged user).
int cvigil_set_pipe_size(int fd, int bytes);

/// ASCII-lowercases `length` bytes of `in` into `out` (skipped when `out` is NULL) and sets
/// `seen[a << 8 | b] = 1` for every adjacent pair of lowercased bytes `a`, `b` (`seen` has 65,536
/// bytes). The buffers must not overlap.
void cvigil_fold_pairs(const uint8_t *in, uint8_t *out, size_t length, uint8_t *seen);

/// Starts writeback of `length` bytes of `fd` from `offset` without waiting for it
/// (sync_file_range(2) with SYNC_FILE_RANGE_WRITE): a hint that makes a later fsync shorter, never a
/// guarantee of durability. Returns 0 or an errno (ENOSYS off Linux). (Glibc's Swift module does not
/// export sync_file_range.)
int cvigil_start_writeback(int fd, long long offset, long long length);

/// Waits for the writeback of `length` bytes of `fd` from `offset` (started before with
/// `cvigil_start_writeback`), then drops those pages from the page cache (posix_fadvise
/// POSIX_FADV_DONTNEED): a file written once and not read again stops filling the cache, and a
/// writer reuses the pages it freed. They are written, not durable: fsync still is. Returns 0 or an
/// errno (ENOSYS off Linux).
int cvigil_drop_written(int fd, long long offset, long long length);

#endif
