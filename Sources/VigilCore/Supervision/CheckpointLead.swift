import Foundation

/// How long one save took, as vigil saw it: from the checkpoint signal it sent to the finished
/// checkpoint, or else from the first write it saw (the checkpoint's own, or an atomic save's
/// temporary file) to the finished checkpoint.
public struct SaveTiming: Codable, Sendable, Equatable {
    public enum Start: String, Codable, Sendable {
        case checkpointSignal = "checkpoint-signal"
        case firstWrite = "first-write"
    }

    public var name: String
    public var seconds: Double
    public var from: Start
    /// When it finished.
    public var at: Date

    public init(name: String, seconds: Double, from: Start, at: Date) {
        self.name = name
        self.seconds = seconds
        self.from = from
        self.at = at
    }
}

/// The checkpoint lead an attempt runs with, and why.
public struct LeadInForce: Codable, Sendable, Equatable {
    public var seconds: Double
    public var why: String

    public init(seconds: Double, why: String) {
        self.seconds = seconds
        self.why = why
    }
}

/// `stop.checkpointLead: "auto"`: the lead follows how long the trainer's saves take — the 95th
/// percentile of the run's recent saves, times a safety factor, plus a margin — and is never below
/// the policy's floor. A fixed lead is the policy's number.
public enum CheckpointLead {
    public static let safetyFactor = 1.5
    public static let margin = 2.0
    /// How many of the newest saves the journal keeps (and the percentile reads).
    public static let kept = 32

    public static func inForce(_ stop: Policy.Stop, saves: [SaveTiming]) -> LeadInForce {
        let floor = stop.checkpointLead
        guard stop.leadIsAuto else {
            return LeadInForce(seconds: floor, why: "stop.checkpointLead (\(DurationFormat.string(from: floor)))")
        }
        let durations = saves.suffix(kept).map(\.seconds)
        guard let p95 = percentile95(durations) else {
            return LeadInForce(
                seconds: floor, why: "auto: no save measured yet, the floor (\(DurationFormat.string(from: floor)))")
        }
        let measured = p95 * safetyFactor + margin
        let shown =
            "p95 of \(durations.count) save\(durations.count == 1 ? "" : "s") (\(DurationFormat.string(from: p95))) × "
            + "\(safetyFactor) + \(DurationFormat.string(from: margin))"
        guard measured > floor else {
            return LeadInForce(
                seconds: floor,
                why:
                    "auto: the floor (\(DurationFormat.string(from: floor))), above \(shown) = \(DurationFormat.string(from: measured))"
            )
        }
        return LeadInForce(seconds: measured, why: "auto: \(shown)")
    }

    /// The 95th percentile by nearest rank (the largest of fewer than 20 values); nil for none.
    public static func percentile95(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((0.95 * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count, rank) - 1)]
    }
}
