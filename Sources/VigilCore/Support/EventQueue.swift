import Foundation

/// A blocking multi-producer queue: threads post events, one consumer waits for the next one
/// with a deadline. This is how the Supervisor waits — on events, never by polling.
public final class EventQueue<Event: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var events: [Event] = []

    public init() {}

    public func post(_ event: Event) {
        condition.lock()
        events.append(event)
        condition.signal()
        condition.unlock()
    }

    /// The next event, or nil when `deadline` passes first (nil deadline = wait forever).
    public func next(until deadline: Date?) -> Event? {
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
}

/// A value guarded by a lock, for state that threads share.
public final class Locked<Value>: @unchecked Sendable {
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
