#define _GNU_SOURCE
#include "cvigil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <fcntl.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <unistd.h>

#if defined(__linux__)
#include <link.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#endif
#include <sys/wait.h>

static int spawn_with_posix_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                                  int stdin_fd, int stdout_fd, int stderr_fd, const char *cwd) {
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    int rc = posix_spawnattr_init(&attr);
    if (rc != 0) return rc;
    rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) { posix_spawnattr_destroy(&attr); return rc; }

    // The child must not inherit the spawning thread's mask (swift-corelibs-foundation#4772)
    // nor any SIG_IGN of ours (SIGPIPE; SIGINT/SIGQUIT under a non-interactive `&`).
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP;
    if ((rc = posix_spawnattr_setsigmask(&attr, &empty)) != 0) goto done;
    if ((rc = posix_spawnattr_setsigdefault(&attr, &all)) != 0) goto done;
    if ((rc = posix_spawnattr_setpgroup(&attr, 0)) != 0) goto done;
    if ((rc = posix_spawnattr_setflags(&attr, flags)) != 0) goto done;

    if ((rc = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0)) != 0) goto done;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1)) != 0) goto done;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2)) != 0) goto done;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // Nothing of Vigil's (run lock, log files, other pipes) leaks into the trainer.
    if ((rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) != 0) goto done;
#endif
    if (cwd != NULL) {
#if (defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))) || defined(__APPLE__)
        if ((rc = posix_spawn_file_actions_addchdir_np(&actions, cwd)) != 0) goto done;
#else
        rc = ENOSYS;
        goto done;
#endif
    }
    rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
done:
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc;
}

#if defined(__linux__)
/// Closes every descriptor from `low` up, but `keep`. Async-signal-safe (for a forked child).
static void close_from(int low, int keep) {
#if defined(SYS_close_range)
    if (keep > low) syscall(SYS_close_range, (unsigned)low, (unsigned)(keep - 1), 0);
    if (syscall(SYS_close_range, (unsigned)(keep >= low ? keep + 1 : low), ~0U, 0) == 0) return;
#endif
    struct rlimit limit;
    long top = (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 65536) ? (long)limit.rlim_cur : 65536;
    for (long fd = low; fd < top; fd++) {
        if (fd != keep) close((int)fd);
    }
}

/// fork + exec for a child that must join a cgroup before it runs a single instruction of the
/// trainer: it writes "0" (itself) into the cgroup's `cgroup.procs`, then does what
/// spawn_with_posix_spawn asks posix_spawn to do. Only async-signal-safe calls in the child.
static int spawn_into_cgroup(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                             int stdin_fd, int stdout_fd, int stderr_fd, int cgroup_procs_fd, const char *cwd) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);  // no handler of ours may run in the child
    pid_t child = fork();
    if (child < 0) {
        int error = errno;
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        close(report[0]);
        close(report[1]);
        return error;
    }
    if (child == 0) {
        for (int sig = 1; sig < NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
        }
        int error = 0;
        if (write(cgroup_procs_fd, "0", 1) != 1) error = errno;
        if (error == 0 && setpgid(0, 0) != 0) error = errno;
        if (error == 0 && dup2(stdin_fd, 0) < 0) error = errno;
        if (error == 0 && dup2(stdout_fd, 1) < 0) error = errno;
        if (error == 0 && dup2(stderr_fd, 2) < 0) error = errno;
        if (error == 0 && cwd != NULL && chdir(cwd) != 0) error = errno;
        if (error == 0) {
            close_from(3, report[1]);
            sigset_t empty;
            sigemptyset(&empty);
            sigprocmask(SIG_SETMASK, &empty, NULL);
            execve(path, argv, envp);
            error = errno;
        }
        ssize_t ignored = write(report[1], &error, sizeof error);
        (void)ignored;
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(report[1]);
    int error = 0;
    ssize_t got;
    do {
        got = read(report[0], &error, sizeof error);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    *pid = child;
    return got == (ssize_t)sizeof error ? error : 0;
}
#endif

int cvigil_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 int stdin_fd, int stdout_fd, int stderr_fd, int cgroup_procs_fd, const char *cwd) {
#if defined(__linux__)
    if (cgroup_procs_fd >= 0) {
        return spawn_into_cgroup(pid, path, argv, envp, stdin_fd, stdout_fd, stderr_fd, cgroup_procs_fd, cwd);
    }
#endif
    (void)cgroup_procs_fd;
    return spawn_with_posix_spawn(pid, path, argv, envp, stdin_fd, stdout_fd, stderr_fd, cwd);
}

pid_t cvigil_wait_any_nowait(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) != 0) return -errno;
    return info.si_pid;
}

int cvigil_become_child_subreaper(void) {
#if defined(__linux__) && defined(PR_SET_CHILD_SUBREAPER)
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : errno;
#else
    return ENOSYS;
#endif
}

int cvigil_pidfd_open(pid_t pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? (int)fd : -errno;
#else
    (void)pid;
    return -ENOSYS;
#endif
}

int cvigil_pidfd_send_signal(int pidfd, int signo) {
#if defined(__linux__) && defined(SYS_pidfd_send_signal)
    return syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0) == 0 ? 0 : errno;
#else
    (void)pidfd;
    (void)signo;
    return ENOSYS;
#endif
}

static volatile int relay_fd = -1;

static void relay_handler(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    if (relay_fd >= 0) {
        ssize_t ignored = write(relay_fd, &byte, 1);
        (void)ignored;
    }
    errno = saved;
}

int cvigil_relay_signal(int signo, int fd) {
    relay_fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = relay_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    return sigaction(signo, &action, NULL) == 0 ? 0 : errno;
}

int cvigil_ignore_signal(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_IGN;
    sigemptyset(&action.sa_mask);
    return sigaction(signo, &action, NULL) == 0 ? 0 : errno;
}

int cvigil_unblock_all_signals(void) {
    sigset_t empty;
    sigemptyset(&empty);
    return pthread_sigmask(SIG_SETMASK, &empty, NULL);
}

int cvigil_pipe_cloexec(int fds[2]) {
#if defined(__linux__)
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
#else
    if (pipe(fds) != 0) return errno;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

const void *cvigil_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}

#if defined(__linux__)
/// For every object loaded (the program first, then the C and C++ libraries and the dynamic loader):
/// drops its resident pages that are never written. Start-up touched most of them (the kernel maps
/// 64 KiB around every fault); what the long run needs comes back from the page cache.
static int drop_read_only_pages(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    // The vDSO is the kernel's, not a file: nothing to drop, nothing to re-read.
    if (info->dlpi_name != NULL && strstr(info->dlpi_name, "linux-vdso") != NULL) return 0;
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        // Code and read-only data only: a writable segment (RELRO included, made read-only after
        // relocation) holds what was written at start-up, which dropping would lose.
        if (segment->p_type != PT_LOAD || (segment->p_flags & PF_W)) continue;
        uintptr_t start = (info->dlpi_addr + segment->p_vaddr) & ~(uintptr_t)(page - 1);
        uintptr_t end = (info->dlpi_addr + segment->p_vaddr + segment->p_memsz + page - 1) & ~(uintptr_t)(page - 1);
        madvise((void *)start, end - start, MADV_DONTNEED);
    }
    return 0;
}
#endif

void cvigil_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
#if defined(__linux__)
    dl_iterate_phdr(drop_read_only_pages, NULL);
#endif
}

void cvigil_name_thread(const char *name) {
#if defined(__linux__)
    pthread_setname_np(pthread_self(), name);
#elif defined(__APPLE__)
    pthread_setname_np(name);
#endif
}

int cvigil_file_system_type(const char *path, long long *type) {
#if defined(__linux__)
    struct statfs info;
    if (statfs(path, &info) != 0) return errno;
    *type = (long long)info.f_type;
    return 0;
#else
    (void)path;
    (void)type;
    return ENOSYS;
#endif
}

int cvigil_set_pipe_size(int fd, int bytes) {
#if defined(__linux__)
    return fcntl(fd, F_SETPIPE_SZ, bytes) < 0 ? errno : 0;
#else
    (void)fd;
    (void)bytes;
    return ENOSYS;
#endif
}
