/// The range of every number a policy holds, in one place: the decoder refuses a value outside its key's range
/// (exit 78, naming the file, the key and the range), docs/policy.md lists each key's, and the command-line
/// flags that set the same keys use the same ranges.
///
/// The ranges keep every value meaningful and every computation on it finite: a duration of ten years at most
/// fits any deadline (`Instant`, `Date`, `timespec`), a retry budget of 1000 keeps `VIGIL_MAX_ATTEMPTS` and the
/// failure count small, a backoff factor of 100 at most with a finite initial delay can only overflow to
/// infinity, which the maximum caps.
public enum PolicyRanges {
    /// Every duration: 0 to 3650 days (10 years), in seconds.
    public static let duration: ClosedRange<Double> = 0...(3650 * 86_400)
    /// `duration`'s upper bound as messages and the help write it.
    public static let longestDurationText = "3650d (10 years)"

    /// `restart.maxRetries` (and `--max-retries`).
    public static let maxRetries: ClosedRange<Int> = 0...1000
    /// `slurm.maxRequeues` (and `--max-requeues`).
    public static let maxRequeues: ClosedRange<Int> = 0...10_000
    /// `restart.backoff.factor`: the delay never shrinks, and grows at most a hundredfold per failure.
    public static let backoffFactor: ClosedRange<Double> = 1...100
    /// `restart.backoff.jitter`: a fraction of the delay.
    public static let backoffJitter: ClosedRange<Double> = 0...1

    /// `output.logMaxBytes` and `output.keepFree`: 0 (off) to 1 TiB.
    public static let volumeSize: ClosedRange<Int> = 0...(1 << 40)
    /// `output.tailBytes`: kept in memory twice (stdout and stderr), so at most 64 MiB; at least 1 KiB to classify.
    public static let tailBytes: ClosedRange<Int> = (1 << 10)...(64 << 20)
    /// `output.logBackups`: rotated files kept (each rotation renames all of them).
    public static let logBackups: ClosedRange<Int> = 0...1000

    /// `checkpoints.keepLast` and `checkpoints.keepBest.count`: how many checkpoints.
    public static let keepCount: ClosedRange<Int> = 1...1_000_000
    /// `checkpoints.keepEvery`: a step interval.
    public static let keepEvery: ClosedRange<Int> = 1...1_000_000_000

    /// A rule's `exitCodes` (and `vigil policy explain --exit-code`): what a process can exit with.
    public static let exitCode: ClosedRange<Int> = 0...255

    /// Numbers that stand for values of the trainer's config: `config.schema` `min`, `max` and `default`, a
    /// repair's `set`, `add`, `min` and `max`. ±10^15 keeps every integer among them exact in a `Double`
    /// (below 2^53) and convertible to an `Int`.
    public static let configNumber: ClosedRange<Double> = -1e15...1e15
    /// A repair's `scale`: a positive factor (zero or a negative factor is a `set`, not a repair that compounds).
    public static let repairScale: ClosedRange<Double> = 0.001...1000

    /// `divergence.band` and `divergence.spike`: 0 (off), or a factor above 1.
    public static let divergenceFactor: ClosedRange<Double> = 0...1e6

    /// `lower to upper` for an integer range: `0 to 1000`.
    static func text(_ range: ClosedRange<Int>) -> String {
        "\(range.lowerBound) to \(range.upperBound)"
    }

    /// `lower to upper` for a number range: `1 to 100`, `-1e15 to 1e15`.
    static func text(_ range: ClosedRange<Double>) -> String {
        "\(text(range.lowerBound)) to \(text(range.upperBound))"
    }

    /// `lower to upper` for a duration range: `0s to 3650d (10 years)`.
    static func durationText(_ range: ClosedRange<Double>) -> String {
        let upper =
            range.upperBound == duration.upperBound
            ? longestDurationText : DurationFormat.string(from: range.upperBound)
        return "\(DurationFormat.string(from: range.lowerBound)) to \(upper)"
    }

    /// `lower to upper` for a size range: `1KiB to 64MiB`, `0 to 1024GiB`.
    static func sizeText(_ range: ClosedRange<Int>) -> String {
        "\(ByteSizeFormat.string(from: range.lowerBound)) to \(ByteSizeFormat.string(from: range.upperBound))"
    }

    /// A number as a person writes it: `100`, `0.5`, `1e15`, `1e-7`, `NaN`, `Infinity`.
    static func text(_ number: Double) -> String {
        if number.isNaN { return "NaN" }
        if number.isInfinite { return number < 0 ? "-Infinity" : "Infinity" }
        guard number == number.rounded(), abs(number) < 0x1p63 else {
            return String(number).replacing("e+", with: "e").replacing("e-0", with: "e-")
        }
        // A whole number: its digits, or from 10^15 on with its trailing zeros as an exponent (Swift's own
        // description writes 1e15 as 1000000000000000.0).
        var mantissa = Int(number)
        var exponent = 0
        while abs(number) >= 1e15, mantissa != 0, mantissa % 10 == 0 {
            mantissa /= 10
            exponent += 1
        }
        return exponent >= 3 ? "\(mantissa)e\(exponent)" : String(Int(number))
    }
}
