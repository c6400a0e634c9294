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

/// The drill's judgement, a pure function of what was recorded: the plan, what the drill did, the
/// interrupted run's journal and `metrics.jsonl`, the reference's metrics and the file comparisons.
/// Tested with made-up journals; the driver only gathers its inputs.
public struct DrillAnalysis: Sendable {
    public var plan: DrillPlan
    public var delivered: [DeliveredInterruption]
    /// The interrupted run's journal (nil when it never wrote one).
    public var journal: Journal?
    public var points: [MetricPoint]
    public var referencePoints: [MetricPoint]
    public var comparisons: [FileComparison]
    /// `--metric`: the final value to compare; nil compares every metric the reference recorded.
    public var metric: String?
    public var tolerance: Double
    /// `vigil run`'s exit code for the interrupted run (its last invocation).
    public var runExitCode: Int32?
    /// The drill gave up waiting, or was itself interrupted.
    public var timedOut = false
    public var interrupted = false

    public init(
        plan: DrillPlan, delivered: [DeliveredInterruption], journal: Journal?, points: [MetricPoint],
        referencePoints: [MetricPoint], comparisons: [FileComparison], metric: String?, tolerance: Double,
        runExitCode: Int32?
    ) {
        self.plan = plan
        self.delivered = delivered
        self.journal = journal
        self.points = points
        self.referencePoints = referencePoints
        self.comparisons = comparisons
        self.metric = metric
        self.tolerance = tolerance
        self.runExitCode = runExitCode
    }

    /// Checkpoint quarantines that are no sign of a resume bug: a temporary file the kill left (the
    /// atomic-save idiom working), a checkpoint poisoned by a divergence.
    static func isHarmless(_ reason: String) -> Bool {
        reason.hasPrefix("temporary or partial name") || reason.contains("poisoned")
    }

    // MARK: - Each interruption

    /// Each attempt's progress points, in time order. When an attempt's lines carry metrics, its lines
    /// without any are left out: `resumed from step 500` or `stopping at step 512` is a trainer saying
    /// where it is, not a step it trained (the first trained step tells where it began).
    static func progress(_ points: [MetricPoint]) -> [Int: [MetricPoint]] {
        var byAttempt = Dictionary(grouping: points.filter { $0.step != nil }, by: \.attempt)
        for (attempt, own) in byAttempt {
            let sorted = own.sorted { $0.time < $1.time }
            let trained = sorted.filter { !$0.values.isEmpty }
            byAttempt[attempt] = trained.isEmpty ? sorted : trained
        }
        return byAttempt
    }

    /// One verdict per planned interruption, in order.
    public func verdicts() -> [InterruptionVerdict] {
        let attempts = journal?.attempts ?? []
        let byAttempt = DrillAnalysis.progress(points)
        let interruptedAttempts = delivered.compactMap { $0.isDelivered ? $0.attempt : nil }
        var reported = Set<String>()
        return plan.interruptions.map { planned in
            let done = delivered.first { $0.number == planned.number }
            var verdict = InterruptionVerdict(
                number: planned.number, kind: planned.kind, trigger: planned.trigger, plannedStep: planned.step,
                observed: done?.observed ?? "not reached", attempt: done?.attempt, outcome: .notDelivered,
                tornCheckpoints: [], crashes: [], actions: done?.actions ?? [], note: done?.note)
            guard let done, done.isDelivered, let number = done.attempt,
                let interrupted = attempts.first(where: { $0.number == number })
            else { return verdict }
            verdict.endedAs = InterruptionVerdict.describeEnd(interrupted)
            verdict.interruptedAtStep = byAttempt[number]?.compactMap(\.step).max()
            if case .exited(0)? = interrupted.exit, interrupted.verdict?.verdict == .success {
                verdict.note = "the trainer finished before the interruption took effect"
                return verdict
            }
            // The attempts until the next interruption's: the first of them that printed progress carried on.
            let nextInterrupted = interruptedAttempts.first { $0 > number } ?? Int.max
            let later = attempts.filter { $0.number > number && $0.number <= nextInterrupted }
            guard let carrying = later.first(where: { byAttempt[$0.number] != nil }) else {
                verdict.outcome = .notResumed
                verdict.crashes = crashes(in: later, byAttempt)
                verdict.tornCheckpoints = torn(in: [interrupted] + later, reported: &reported)
                return verdict
            }
            let before = later.prefix { $0.number < carrying.number }
            verdict.crashes = crashes(in: Array(before), byAttempt)
            // A kill's torn checkpoint is quarantined when its attempt is judged, so it is recorded under that
            // attempt (or one that crashed on it); the carrying attempt's own record holds later kills' too.
            verdict.tornCheckpoints = torn(in: [interrupted] + before, reported: &reported)
            judgeResume(&verdict, carrying: carrying, at: done.at, byAttempt)
            return verdict
        }
    }

    /// Where `carrying` began against where vigil resumed it, what was redone, and the metrics after.
    private func judgeResume(
        _ verdict: inout InterruptionVerdict, carrying: Journal.Attempt, at: Date?, _ byAttempt: [Int: [MetricPoint]]
    ) {
        let own = byAttempt[carrying.number] ?? []
        verdict.resumedBy = carrying.number
        verdict.resumeFrom = carrying.resumeFrom.map { Path.lastComponent($0) }
        verdict.resumeStep = carrying.resumeStep
        let began = (own.first?.step ?? 1) - 1
        verdict.restartedAtStep = began
        let expected = carrying.resumeFrom == nil ? 0 : (carrying.resumeStep ?? 0)
        if began == expected {
            verdict.outcome = expected == 0 ? .startedFresh : .resumed
        } else if began == 0 {
            verdict.outcome = .restartedFromZero
        } else {
            verdict.outcome = .resumedElsewhere
        }
        if let reached = verdict.interruptedAtStep {
            verdict.stepsRedone = max(0, reached - began)
            if let at,
                let back = points.filter({ $0.attempt >= carrying.number && ($0.step ?? -1) >= reached })
                    .min(by: { $0.time < $1.time })
            {
                verdict.secondsLost = max(0, back.time.timeIntervalSince(at))
            }
        }
        (verdict.continuesReference, verdict.deviation) = continuation(of: own)
    }

    /// Whether `own`'s values equal the reference's at the same steps; the first that does not.
    func continuation(of own: [MetricPoint]) -> (Bool?, String?) {
        var reference: [Int: [String: Double]] = [:]
        for point in referencePoints {
            guard let step = point.step else { continue }
            reference[step, default: [:]].merge(point.values) { _, new in new }
        }
        var compared = 0
        for point in own {
            guard let step = point.step, let expected = reference[step] else { continue }
            for name in point.values.keys.sorted() {
                guard let value = point.values[name], let wanted = expected[name] else { continue }
                compared += 1
                if !Tolerance.equal(value, wanted, within: tolerance) {
                    return (
                        false,
                        "step \(step): \(name) \(DrillAnalysis.number(value)), the reference had "
                            + DrillAnalysis.number(wanted)
                    )
                }
            }
        }
        return compared == 0 ? (nil, nil) : (true, nil)
    }

    /// The attempts among `attempts` that failed without printing any progress.
    private func crashes(in attempts: [Journal.Attempt], _ byAttempt: [Int: [MetricPoint]]) -> [String] {
        attempts.compactMap { attempt in
            guard byAttempt[attempt.number] == nil, attempt.endedAt != nil, attempt.verdict?.rule != "orphaned",
                attempt.verdict?.verdict != .success
            else { return nil }
            var text = "attempt \(attempt.number): \(InterruptionVerdict.describeEnd(attempt))"
            if let exception = attempt.verdict?.exception {
                text += " (\(exception.type)\(exception.message.isEmpty ? "" : ": " + exception.message.prefix(120)))"
            } else if let reason = attempt.verdict?.reason {
                text += " (\(reason.prefix(160)))"
            }
            if let from = attempt.resumeFrom { text += " after resuming from \(Path.lastComponent(from))" }
            return text
        }
    }

    /// Quarantines in `attempts` that a resume bug explains, each reported once.
    private func torn(in attempts: [Journal.Attempt], reported: inout Set<String>) -> [String] {
        var found: [String] = []
        for attempt in attempts {
            for entry in attempt.quarantined ?? [] where !DrillAnalysis.isHarmless(entry.reason) {
                let text = "\(entry.name): \(entry.reason)"
                if reported.insert(text).inserted { found.append(text) }
            }
        }
        return found
    }

    // MARK: - The results

    /// The final `--metric` (or every metric of the reference) against the reference's final value.
    public func metricComparisons() -> [MetricComparison] {
        func finals(_ points: [MetricPoint]) -> [String: Double] {
            var last: [String: Double] = [:]
            for point in points.sorted(by: { $0.time < $1.time }) {
                for (name, value) in point.values where value.isFinite { last[name] = value }
            }
            return last
        }
        let mine = finals(points)
        let theirs = finals(referencePoints)
        let names = metric.map { [$0] } ?? theirs.keys.sorted()
        return names.map { name in
            let matches = mine[name].flatMap { value in
                theirs[name].map { Tolerance.equal(value, $0, within: tolerance) }
            }
            return MetricComparison(name: name, value: mine[name], reference: theirs[name], matches: matches ?? false)
        }
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(cFormat: "%.6g", value)
    }
}

extension InterruptionVerdict {
    /// `killed by SIGKILL`, `exit 143`, `orphaned: …`.
    static func describeEnd(_ attempt: Journal.Attempt) -> String {
        if attempt.verdict?.rule == "orphaned" {
            return "orphaned (its vigil was killed); the next vigil "
                + (attempt.stopReason?.contains("was stopped") == true
                    ? "stopped it" : "found it gone")
        }
        switch attempt.exit {
        case .signaled(let signal)?: return "killed by \(signal)"
        case .exited(let code)?: return "exit \(code)"
        case nil: return attempt.isOpen ? "still running" : "ended"
        }
    }
}
