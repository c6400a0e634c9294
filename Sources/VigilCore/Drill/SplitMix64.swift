/// SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of Java's `SplittableRandom` and of
/// xoshiro): a tiny, fast pseudo-random generator whose output depends only on its seed, on every
/// platform and Swift version — unlike `SystemRandomNumberGenerator`, and unlike Swift's
/// `Int.random(in:using:)`, whose way of drawing from a generator is not promised to stay the same.
/// `vigil drill --seed S` draws its plan from it, so one seed gives one plan everywhere.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform number in [0, 1), from the top 53 bits (exactly representable as a Double).
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in `0..<bound` (bound > 0), by rejection so that no value is favoured.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "below(\(bound))")
        let limit = UInt64(bound)
        let threshold = (0 &- limit) % limit  // 2^64 mod bound: draws under it would bias the low values
        while true {
            let value = next()
            if value >= threshold { return Int(value % limit) }
        }
    }

    /// `items` in a random order (Fisher–Yates, drawing with `below`).
    public mutating func shuffled<T>(_ items: [T]) -> [T] {
        var result = items
        guard result.count > 1 else { return result }
        for index in stride(from: result.count - 1, to: 0, by: -1) {
            result.swapAt(index, below(index + 1))
        }
        return result
    }
}
