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

/// The wait before restarting after the k-th consecutive failure: capped exponential with jitter.
public struct Backoff: Sendable, Equatable {
    public var initial: Double
    public var factor: Double
    public var maximum: Double
    /// Fraction of the delay randomised either way (0.1 = ±10 %).
    public var jitter: Double

    public init(initial: Double, factor: Double, maximum: Double, jitter: Double) {
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self.jitter = jitter
    }

    public init(_ restart: Policy.Restart) {
        self.init(
            initial: restart.backoffInitial, factor: restart.backoffFactor,
            maximum: restart.backoffMax, jitter: restart.backoffJitter)
    }

    /// The delay before restart number `failure` (1-based) without jitter: min(maximum, initial × factor^(failure−1)).
    ///
    /// Computed in closed form, so that no failure count makes it loop long; a power that overflows is infinite and
    /// the maximum caps it. With the policy's ranges (finite durations, a factor from 1 to 100) it is finite and not
    /// negative; anything else (NaN included) gives 0.
    public func baseDelay(afterFailure failure: Int) -> Double {
        guard failure > 0, initial > 0 else { return 0 }
        let delay = min(initial * pow(factor, Double(failure - 1)), maximum)
        return delay >= 0 && delay.isFinite ? delay : 0
    }

    /// The delay with jitter; `unit` is a random number in 0 ..< 1 (passed in so tests can fix it).
    public func delay(afterFailure failure: Int, unit: Double) -> Double {
        let base = baseDelay(afterFailure: failure)
        return max(0, base * (1 + jitter * (2 * unit - 1)))
    }
}
