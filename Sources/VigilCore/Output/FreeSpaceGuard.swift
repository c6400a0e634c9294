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

/// Keeps room on the log volume for the record: output stops being written to logs while the
/// volume has less than `keepFree` bytes free, and goes on once it has again, so that the journal
/// and the reports — small, and written with `AtomicFile` — always fit. The trainer is never
/// blocked: what is not written is counted.
///
/// Free space is read (`statvfs`) after every `keepFree / 4` bytes (at most 1 MiB) allowed, and
/// once a second while writing is suspended. Thread-safe.
public final class FreeSpaceGuard: @unchecked Sendable {
    // @unchecked: the mutable state is guarded by `lock`.
    public let path: String
    public let keepFree: Int
    private let checkEvery: Int
    private let onChange: @Sendable (_ suspended: Bool, _ free: Int) -> Void
    private let lock = Lock()
    private var sinceCheck = Int.max
    private var suspended = false
    private var lastLook = Date.distantPast

    /// Guards the volume holding `path` (a directory). `onChange` runs (on the writing thread) when
    /// writing is suspended or resumes, with the free bytes then.
    public init(path: String, keepFree: Int, onChange: @escaping @Sendable (_ suspended: Bool, _ free: Int) -> Void) {
        self.path = path
        self.keepFree = max(0, keepFree)
        self.checkEvery = max(4096, min(1 << 20, self.keepFree / 4))
        self.onChange = onChange
    }

    /// Whether `count` more bytes may be written now.
    public func allows(_ count: Int) -> Bool {
        guard keepFree > 0 else { return true }
        lock.lock()
        var change: (Bool, Int)?
        if suspended {
            let now = Date()
            if now.timeIntervalSince(lastLook) >= 1 {
                lastLook = now
                if let free = FreeSpaceGuard.freeBytes(at: path), free >= keepFree {
                    suspended = false
                    sinceCheck = 0
                    change = (false, free)
                }
            }
        } else if sinceCheck >= checkEvery {
            sinceCheck = 0
            if let free = FreeSpaceGuard.freeBytes(at: path), free - count < keepFree {
                suspended = true
                lastLook = Date()
                change = (true, free)
            }
        }
        let allowed = !suspended
        if allowed { sinceCheck += count }
        lock.unlock()
        if let change { onChange(change.0, change.1) }
        return allowed
    }

    /// Whether writing is suspended now.
    public var isSuspended: Bool { lock.withLock { suspended } }

    /// Bytes available to an unprivileged writer on the volume holding `path`.
    public static func freeBytes(at path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let (bytes, overflow) = Int(info.f_bavail).multipliedReportingOverflow(by: Int(info.f_frsize))
        return overflow ? Int.max : bytes
    }
}
