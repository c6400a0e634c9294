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

    /// The delay before restart number `failure` (1-based) without jitter.
    public func baseDelay(afterFailure failure: Int) -> Double {
        guard failure > 0, initial > 0 else { return 0 }
        var delay = initial
        for _ in 1..<failure {
            delay *= factor
            if delay >= maximum { break }
        }
        return min(delay, maximum)
    }

    /// The delay with jitter; `unit` is a random number in 0 ..< 1 (passed in so tests can fix it).
    public func delay(afterFailure failure: Int, unit: Double) -> Double {
        let base = baseDelay(afterFailure: failure)
        return max(0, base * (1 + jitter * (2 * unit - 1)))
    }
}
