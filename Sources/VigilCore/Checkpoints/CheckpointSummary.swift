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

/// What `vigil checkpoints summary` shows: how many there are and how big, the resume target, the best
/// one, each metric's range and trend across steps, and the gaps in the step sequence.
///
/// Counts, size and the step range cover every checkpoint; the resume target, the best one, the metric
/// statistics and the gaps cover the valid ones only (what can be resumed from). JSON comes from `Codable`.
public struct CheckpointSummary: Sendable, Equatable, Codable {
    /// All checkpoints, valid or not.
    public var count: Int
    public var validCount: Int
    public var invalidCount: Int
    /// Bytes, all checkpoints added up (sidecars not included).
    public var totalSize: Int
    /// The lowest and highest step of any checkpoint; nil when there are none.
    public var firstStep: Int?
    public var lastStep: Int?
    /// Path of the newest valid checkpoint (by `Checkpoint.byStep`), and its step.
    public var resumeTarget: String?
    public var resumeStep: Int?
    /// The rule the best one is picked by, when one was given.
    public var bestRule: RetentionRule.BestRule?
    /// The best valid checkpoint by `bestRule`; nil when no rule or no valid checkpoint has the metric.
    public var best: Best?
    /// One entry per metric found in a valid checkpoint's sidecar, by name.
    public var metrics: [MetricStats]
    /// The typical step interval: the median of the differences between consecutive distinct valid steps;
    /// nil with fewer than two distinct valid steps.
    public var interval: Double?
    /// Where consecutive valid steps are more than 1.5 × `interval` apart.
    public var gaps: [Gap]

    /// The best checkpoint by a metric.
    public struct Best: Sendable, Equatable, Codable {
        public var metric: String
        public var order: RetentionRule.Order
        public var step: Int
        public var value: Double
        public var path: String
    }

    /// A metric's values across the valid checkpoints that have it, in step order.
    public struct MetricStats: Sendable, Equatable, Codable {
        public var name: String
        /// How many valid checkpoints have a finite value.
        public var count: Int
        /// How many have NaN or an infinite value (left out of everything else).
        public var nonFinite: Int
        public var min: Double
        public var max: Double
        /// Value at the lowest and at the highest step.
        public var first: Double
        public var last: Double
        public var firstStep: Int
        public var lastStep: Int
        /// Least-squares slope of value over step (per step); 0 with fewer than two distinct steps.
        public var slope: Double
        /// The fitted change from `firstStep` to `lastStep` relative to the larger of the fitted end values'
        /// magnitudes (0.25 = 25 %); 0 when there is no trend to fit.
        public var change: Double
        public var trend: Trend
    }

    /// Which way a metric moves: `improving`/`worsening` for the best rule's metric (by its order),
    /// `rising`/`falling` for the others, `flat` when the relative change is under 1 %.
    public enum Trend: String, Sendable, Equatable, Codable {
        case improving, worsening, rising, falling, flat
    }

    /// No valid checkpoint strictly between `after` and `before`, though one was expected every `interval`.
    public struct Gap: Sendable, Equatable, Codable, CustomStringConvertible {
        public var after: Int
        public var before: Int
        public var interval: Double
        /// How many checkpoints the interval suggests are missing (at least 1).
        public var missing: Int

        /// `no checkpoint between steps 40 and 60: expected every 10, about 1 missing`.
        public var description: String {
            "no checkpoint between steps \(after) and \(before): expected every "
                + "\(CheckpointSummary.number(interval)), about \(missing) missing"
        }
    }

    /// The relative change under which a trend is `flat`.
    public static let flatThreshold = 0.01

    /// Summarizes `checkpoints`; `bestMetric` picks the best one and turns its metric's trend into
    /// `improving`/`worsening`.
    public init(_ checkpoints: [Checkpoint], bestMetric: RetentionRule.BestRule?) {
        let valid = checkpoints.filter(\.isValid).sorted(by: RetentionPlan.ordered)
        count = checkpoints.count
        validCount = valid.count
        invalidCount = checkpoints.count - valid.count
        totalSize = checkpoints.reduce(0) { $0 + $1.size }
        firstStep = checkpoints.map(\.step).min()
        lastStep = checkpoints.map(\.step).max()
        resumeTarget = valid.last?.path
        resumeStep = valid.last?.step
        bestRule = bestMetric
        if let rule = bestMetric, let top = rule.ranked(valid).first {
            best = Best(
                metric: rule.metric, order: rule.order, step: top.checkpoint.step, value: top.value,
                path: top.checkpoint.path)
        } else {
            best = nil
        }

        let names = Set(valid.flatMap(\.metrics.keys)).sorted()
        metrics = names.compactMap { name in
            Self.stats(name, valid, order: bestMetric?.metric == name ? bestMetric?.order : nil)
        }

        let steps = Array(Set(valid.map(\.step))).sorted()
        let differences = zip(steps.dropFirst(), steps).map { Double($0 - $1) }
        if let median = Self.median(differences) {
            interval = median
            gaps = zip(steps, steps.dropFirst()).compactMap { after, before in
                let difference = Double(before - after)
                guard difference > 1.5 * median else { return nil }
                let missing = Swift.max(1, Int((difference / median).rounded()) - 1)
                return Gap(after: after, before: before, interval: median, missing: missing)
            }
        } else {
            interval = nil
            gaps = []
        }
    }

    static func stats(_ name: String, _ valid: [Checkpoint], order: RetentionRule.Order?) -> MetricStats? {
        let all = valid.compactMap { c in c.metrics[name].map { (step: c.step, value: $0) } }
        let points = all.filter(\.value.isFinite)
        guard let first = points.first, let last = points.last else { return nil }
        let values = points.map(\.value)

        var slope = 0.0
        var change = 0.0
        let n = Double(points.count)
        let meanX = points.reduce(0.0) { $0 + Double($1.step) } / n
        let meanY = values.reduce(0, +) / n
        let sxx = points.reduce(0.0) { $0 + (Double($1.step) - meanX) * (Double($1.step) - meanX) }
        if sxx > 0 {
            let sxy = points.reduce(0.0) { $0 + (Double($1.step) - meanX) * ($1.value - meanY) }
            slope = sxy / sxx
            let fittedFirst = meanY + slope * (Double(first.step) - meanX)
            let fittedLast = meanY + slope * (Double(last.step) - meanX)
            let scale = Swift.max(abs(fittedFirst), abs(fittedLast))
            if scale > 0 { change = (fittedLast - fittedFirst) / scale }
        }
        let trend: Trend
        if abs(change) < flatThreshold || !change.isFinite {
            trend = .flat
        } else if let order {
            trend = (change > 0) == (order == .max) ? .improving : .worsening
        } else {
            trend = change > 0 ? .rising : .falling
        }
        return MetricStats(
            name: name, count: points.count, nonFinite: all.count - points.count,
            min: values.min()!, max: values.max()!, first: first.value, last: last.value,
            firstStep: first.step, lastStep: last.step, slope: slope,
            change: change.isFinite ? change : 0, trend: trend)
    }

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// A compact human text, a few lines:
    ///
    ///     60 checkpoints (59 valid, 1 invalid), 1.2 GB, steps 10–600
    ///     resume target: step 600 (/runs/a/checkpoints/model_600.pt)
    ///     best total_profit (max): 53.2 at step 420
    ///     total_profit: 3.1 → 50.4 (min 3.1, max 53.2, 59 values), improving
    ///     every 10 steps; no checkpoint between steps 40 and 60: expected every 10, about 1 missing
    public func rendered() -> String {
        guard count > 0 else { return "no checkpoints" }
        var lines: [String] = []
        var head = "\(count) checkpoint\(count == 1 ? "" : "s")"
        head += invalidCount > 0 ? " (\(validCount) valid, \(invalidCount) invalid)" : " (all valid)"
        head += ", \(Self.bytes(totalSize))"
        if let firstStep, let lastStep {
            head += firstStep == lastStep ? ", step \(firstStep)" : ", steps \(firstStep)–\(lastStep)"
        }
        lines.append(head)
        if let resumeTarget, let resumeStep {
            lines.append("resume target: step \(resumeStep) (\(resumeTarget))")
        } else {
            lines.append("resume target: none (no valid checkpoint)")
        }
        if let bestRule {
            if let best {
                let value = Self.number(best.value)
                lines.append("best \(best.metric) (\(best.order.rawValue)): \(value) at step \(best.step)")
            } else {
                lines.append("best \(bestRule.metric) (\(bestRule.order.rawValue)): no valid checkpoint has it")
            }
        }
        for stats in metrics {
            var line = "\(stats.name): \(Self.number(stats.first)) → \(Self.number(stats.last)) "
            line += "(min \(Self.number(stats.min)), max \(Self.number(stats.max)), "
            line += "\(stats.count) value\(stats.count == 1 ? "" : "s")"
            if stats.nonFinite > 0 { line += ", \(stats.nonFinite) not finite" }
            line += "), \(stats.trend.rawValue)"
            lines.append(line)
        }
        if let interval {
            var line = "every \(Self.number(interval)) steps"
            if gaps.isEmpty {
                line += ", no gaps"
            } else {
                line += "; " + gaps.map(\.description).joined(separator: "; ")
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// Up to 6 significant digits, no trailing zeros: `53.2`, `0.30000000000000004` → `0.3`, `1e+06`.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return String(cFormat: "%.6g", value)
    }

    /// `512 B`, `1.5 KB`, `1.2 GB` (powers of 1024).
    static func bytes(_ count: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(count) B" }
        return String(cFormat: value < 10 ? "%.1f" : "%.0f", value) + " " + units[unit]
    }
}
