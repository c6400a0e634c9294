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

/// What retention keeps: policy `checkpoints.keepLast`, `keepEvery`, `keepBest`.
///
/// The rules add up: a checkpoint is kept when any of them keeps it. No rule at all keeps everything.
public struct RetentionRule: Sendable, Equatable, Codable {
    /// The N highest steps among valid checkpoints (by `Checkpoint.byStep`, each file counted separately).
    public var keepLast: Int?
    /// Every valid checkpoint whose step is a multiple of K.
    public var keepEvery: Int?
    /// The `count` best valid checkpoints by a metric from their metadata sidecar.
    public var keepBest: BestRule?

    /// `keepBest`: which metric, which direction is better, how many to keep.
    public struct BestRule: Sendable, Equatable, Codable {
        /// The name of the metric in the metadata sidecar (`total_profit`, `eval_loss`).
        public var metric: String
        /// Whether a higher (`max`) or a lower (`min`) value is better.
        public var order: Order
        /// How many of the best to keep.
        public var count: Int

        /// A rule keeping the `count` best checkpoints by `metric`.
        public init(metric: String, order: Order = .max, count: Int = 1) {
            self.metric = metric
            self.order = order
            self.count = count
        }

        /// The valid checkpoints that have a finite value of `metric`, best first.
        ///
        /// Equal values rank the newer checkpoint (by `Checkpoint.byStep`) first; a checkpoint lacking
        /// the metric, or whose value is NaN or infinite, is not eligible.
        public func ranked(_ checkpoints: [Checkpoint]) -> [(checkpoint: Checkpoint, value: Double)] {
            let eligible = checkpoints.compactMap { checkpoint -> (checkpoint: Checkpoint, value: Double)? in
                guard checkpoint.isValid, let value = checkpoint.metrics[metric], value.isFinite else { return nil }
                return (checkpoint, value)
            }
            return eligible.sorted { a, b in
                if a.value != b.value { return order.prefers(a.value, over: b.value) }
                return RetentionPlan.ordered(b.checkpoint, a.checkpoint)
            }
        }
    }

    /// Which direction of a metric is better.
    public enum Order: String, Sendable, CaseIterable, Codable {
        case max, min

        /// Whether `a` is strictly better than `b`.
        public func prefers(_ a: Double, over b: Double) -> Bool {
            self == .max ? a > b : a < b
        }
    }

    /// A rule; all nil keeps everything.
    public init(keepLast: Int? = nil, keepEvery: Int? = nil, keepBest: BestRule? = nil) {
        self.keepLast = keepLast
        self.keepEvery = keepEvery
        self.keepBest = keepBest
    }

    /// No rule set → keep everything.
    public var isEmpty: Bool { keepLast == nil && keepEvery == nil && keepBest == nil }
}

/// Which checkpoints retention keeps and which it removes, and why each kept one is kept.
public struct RetentionPlan: Sendable, Equatable {
    /// Valid checkpoints that stay, ordered by step (`Checkpoint.byStep`, then path).
    public var keep: [Checkpoint]
    /// Valid checkpoints to delete, ordered by step (`Checkpoint.byStep`, then path).
    public var remove: [Checkpoint]
    /// Path → why it is kept, e.g. `["resume target", "last 5", "best total_profit", "every 100"]`.
    ///
    /// Reasons appear in this order: `resume target`, `protected`, `last N`, `best METRIC`, `every K`,
    /// or only `no retention rule` when the rule is empty.
    public var reasons: [String: [String]]

    /// A plan from its parts, as given.
    public init(keep: [Checkpoint], remove: [Checkpoint], reasons: [String: [String]]) {
        self.keep = keep
        self.remove = remove
        self.reasons = reasons
    }

    /// Plans retention over `checkpoints`.
    ///
    /// Only valid checkpoints are planned for: invalid ones are in neither `keep` nor `remove` (they are
    /// quarantined elsewhere, never deleted), so `keep` and `remove` split the valid ones. `resumeTarget`
    /// (a path) is never removed, nor is a best one, nor a `protected` path (e.g. still being written).
    /// Checkpoints with the same step are separate files, ordered by `Checkpoint.byStep`. A checkpoint
    /// lacking the `keepBest` metric is not eligible for "best". When `rule.isEmpty` nothing is removed.
    /// A path listed twice is planned for once (its first occurrence).
    public static func make(
        _ checkpoints: [Checkpoint], rule: RetentionRule, resumeTarget: String?,
        protected: Set<String> = []
    ) -> RetentionPlan {
        var seen = Set<String>()
        let valid = checkpoints.filter { $0.isValid && seen.insert($0.path).inserted }.sorted(by: ordered)
        var reasons: [String: [String]] = [:]
        func add(_ reason: String, _ path: String) { reasons[path, default: []].append(reason) }

        if rule.isEmpty {
            for checkpoint in valid { add("no retention rule", checkpoint.path) }
            return RetentionPlan(keep: valid, remove: [], reasons: reasons)
        }
        let paths = Set(valid.map(\.path))
        if let resumeTarget, paths.contains(resumeTarget) { add("resume target", resumeTarget) }
        for path in protected.sorted() where paths.contains(path) { add("protected", path) }
        if let last = rule.keepLast {
            for checkpoint in valid.suffix(max(0, last)) { add("last \(last)", checkpoint.path) }
        }
        if let best = rule.keepBest {
            for entry in best.ranked(valid).prefix(max(0, best.count)) {
                add("best \(best.metric)", entry.checkpoint.path)
            }
        }
        if let every = rule.keepEvery, every > 0 {
            for checkpoint in valid where checkpoint.step % every == 0 { add("every \(every)", checkpoint.path) }
        }
        let keep = valid.filter { reasons[$0.path] != nil }
        let remove = valid.filter { reasons[$0.path] == nil }
        return RetentionPlan(keep: keep, remove: remove, reasons: reasons)
    }

    /// `Checkpoint.byStep`, then by path so that the order is total.
    static func ordered(_ a: Checkpoint, _ b: Checkpoint) -> Bool {
        if Checkpoint.byStep(a, b) { return true }
        if Checkpoint.byStep(b, a) { return false }
        return a.path < b.path
    }
}
