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

/// A point on a monotonic clock, in seconds from an arbitrary origin (the machine's boot, or a
/// test's zero). Deadlines, stalls and every relative timer of Vigil are `Instant`s: a step of the
/// wall clock (NTP, a person with `date -s`) moves none of them. The journal still records wall
/// time (`Date`).
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var seconds: Double

    public init(seconds: Double) {
        self.seconds = seconds
    }

    public static func < (a: Instant, b: Instant) -> Bool { a.seconds < b.seconds }

    public static func + (instant: Instant, interval: Double) -> Instant {
        Instant(seconds: instant.seconds + interval)
    }

    public static func - (instant: Instant, interval: Double) -> Instant {
        Instant(seconds: instant.seconds - interval)
    }

    /// Seconds from `other` to this instant.
    public func since(_ other: Instant) -> Double { seconds - other.seconds }

    public var description: String { String(cFormat: "%.3fs", seconds) }
}

/// Where Vigil reads the time: the monotonic clock for every timer, the wall clock for the record.
/// Injected, so tests can drive time.
public protocol SupervisorClock: Sendable {
    /// Now, on the monotonic clock.
    func now() -> Instant
    /// Now, on the wall clock (for the journal, file times and absolute deadlines).
    func wallNow() -> Date
}

extension SupervisorClock {
    /// The instant at which the wall clock will read `date`, as the two clocks stand now. Absolute
    /// deadlines (`--deadline`, a SLURM job's end) are turned into instants once, at the start, so a
    /// later step of the wall clock does not move them.
    public func instant(at date: Date) -> Instant {
        now() + date.timeIntervalSince(wallNow())
    }

    /// The wall-clock time that `instant` corresponds to, as the two clocks stand now.
    public func date(at instant: Instant) -> Date {
        wallNow().addingTimeInterval(instant.since(now()))
    }
}

/// The system's clocks: `CLOCK_MONOTONIC` (it does not count time suspended: a trainer that did not
/// run did not stall) and `Date()`.
public struct SystemClock: SupervisorClock {
    public init() {}

    public func now() -> Instant { SystemClock.monotonicNow() }

    public func wallNow() -> Date { Date() }

    public static func monotonicNow() -> Instant {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Instant(seconds: Double(time.tv_sec) + Double(time.tv_nsec) / 1e9)
    }
}
