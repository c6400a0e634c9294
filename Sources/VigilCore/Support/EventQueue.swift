import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A blocking multi-producer queue: threads post events, one consumer waits for the next one until
/// a monotonic deadline. This is how the Supervisor waits — on events, never by polling. The wait
/// is timed on the monotonic clock (a condition variable on `CLOCK_MONOTONIC`), so a step of the
/// wall clock neither shortens nor lengthens it.
public final class EventQueue<Event: Sendable>: @unchecked Sendable {
    // @unchecked: `events` is read and written only with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var events: [Event] = []

    public init() {
        pthread_mutex_init(mutex, nil)
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
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func post(_ event: Event) {
        pthread_mutex_lock(mutex)
        events.append(event)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// The next event, or nil when the monotonic `deadline` passes first (nil = wait forever).
    public func next(until deadline: Instant?) -> Event? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while events.isEmpty {
            guard let deadline else {
                pthread_cond_wait(condition, mutex)
                continue
            }
            let left = deadline.since(SystemClock.monotonicNow())
            if left <= 0 { return nil }
            wait(seconds: left)
        }
        return events.removeFirst()
    }

    /// The next event, or nil when `deadline` (wall clock, turned into a monotonic deadline now) passes.
    public func next(until deadline: Date?) -> Event? {
        next(until: deadline.map { SystemClock().instant(at: $0) })
    }

    /// Waits on the condition for at most `seconds` (the mutex held).
    private func wait(seconds: Double) {
        let whole = min(seconds, 86_400 * 365)
        #if os(Linux)
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            var until = timespec()
            let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + whole
            until.tv_sec = Int(total.rounded(.down))
            until.tv_nsec = Int((total - total.rounded(.down)) * 1e9)
            _ = pthread_cond_timedwait(condition, mutex, &until)
        #else
            var relative = timespec()
            relative.tv_sec = Int(whole.rounded(.down))
            relative.tv_nsec = Int((whole - whole.rounded(.down)) * 1e9)
            _ = pthread_cond_timedwait_relative_np(condition, mutex, &relative)
        #endif
    }
}

/// A value guarded by a lock, for state that threads share.
public final class Locked<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `value` is only touched with `lock` held.
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    public var current: Value { withLock { $0 } }
}

/// Starts a dedicated thread (not a Dispatch worker) for blocking syscalls.
func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.name = name
    thread.stackSize = 512 * 1024
    thread.start()
}
