#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
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
    // @unchecked: `events` is read and written only with `condition`'s lock held.
    private let condition = Condition()
    private var events: [Event] = []

    public init() {}

    public func post(_ event: Event) {
        condition.withLock {
            events.append(event)
            condition.signal()
        }
    }

    /// The next event, or nil when the monotonic `deadline` passes first (nil = wait forever).
    public func next(until deadline: Instant?) -> Event? {
        condition.lock()
        defer { condition.unlock() }
        while events.isEmpty {
            if let deadline {
                if !condition.wait(until: deadline) && events.isEmpty { return nil }
            } else {
                condition.wait()
            }
        }
        return events.removeFirst()
    }

    /// The next event, or nil when `deadline` (wall clock, turned into a monotonic deadline now) passes.
    public func next(until deadline: Date?) -> Event? {
        next(until: deadline.map { SystemClock().instant(at: $0) })
    }
}

/// A value guarded by a lock, for state that threads share.
public final class Locked<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `value` is only touched with `lock` held.
    private let lock = Lock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    public var current: Value { withLock { $0 } }
}
