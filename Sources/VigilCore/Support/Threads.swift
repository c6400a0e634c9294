import CVigil

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A mutual-exclusion lock (a `pthread_mutex_t`): what Foundation's `NSLock` was, without Foundation.
public final class Lock: @unchecked Sendable {
    // @unchecked: the mutex is the synchronisation.
    fileprivate let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A lock with a condition variable whose timed waits run on the monotonic clock, so a step of the wall
/// clock neither shortens nor lengthens them.
public final class Condition: @unchecked Sendable {
    // @unchecked: the mutex is the synchronisation.
    private let mutex = Lock()
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        #if os(Linux)
            var attributes = pthread_condattr_t()
            pthread_condattr_init(&attributes)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
            pthread_cond_init(condition, &attributes)
            pthread_condattr_destroy(&attributes)
        #else
            pthread_cond_init(condition, nil)
        #endif
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    public func lock() { mutex.lock() }
    public func unlock() { mutex.unlock() }

    public func withLock<R>(_ body: () throws -> R) rethrows -> R { try mutex.withLock(body) }

    /// Wakes one waiter; call with the lock held.
    public func signal() { pthread_cond_signal(condition) }
    /// Wakes every waiter; call with the lock held.
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// Waits until woken; call with the lock held (it is released while waiting).
    public func wait() { pthread_cond_wait(condition, mutex.mutex) }

    /// Waits until woken or the monotonic `deadline` passes; false when it has passed. Call with the lock held.
    @discardableResult
    public func wait(until deadline: Instant) -> Bool {
        let left = deadline.since(SystemClock.monotonicNow())
        guard left > 0 else { return false }
        let seconds = min(left, 86_400 * 365)
        #if os(Linux)
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + seconds
            var until = timespec()
            until.tv_sec = Int(total.rounded(.down))
            until.tv_nsec = Int((total - total.rounded(.down)) * 1e9)
            _ = pthread_cond_timedwait(condition, mutex.mutex, &until)
        #else
            var relative = timespec()
            relative.tv_sec = Int(seconds.rounded(.down))
            relative.tv_nsec = Int((seconds - seconds.rounded(.down)) * 1e9)
            _ = pthread_cond_timedwait_relative_np(condition, mutex.mutex, &relative)
        #endif
        return SystemClock.monotonicNow() < deadline
    }
}

/// What a new thread runs, kept alive across `pthread_create`.
private final class ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(_ name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    func run() {
        cvigil_name_thread(name)
        body()
    }
}

/// Starts a dedicated, detached thread (not a Dispatch worker) for blocking syscalls, named `name` (the
/// first 15 bytes: what `ps -L` and /proc show) with a 512 KiB stack.
func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    let context = Unmanaged.passRetained(ThreadBody(String(decoding: name.utf8.prefix(15), as: UTF8.self), body))
        .toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, 512 * 1024)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    #if os(Linux)
        var thread = pthread_t()
        let started = pthread_create(
            &thread, &attributes,
            { context in
                let body = Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue()
                body.run()
                return nil
            }, context)
    #else
        var thread: pthread_t?
        let started = pthread_create(
            &thread, &attributes,
            { context in
                let body = Unmanaged<ThreadBody>.fromOpaque(context).takeRetainedValue()
                body.run()
                return nil
            }, context)
    #endif
    precondition(started == 0, "cannot start the thread \(name): error \(started)")
}
