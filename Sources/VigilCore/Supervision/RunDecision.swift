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

/// What the run does next, as a value: restart after a delay, or finish with a state, an exit code
/// and a reason. Decided before any report or hook, so the attempt's record is complete once, and
/// reports and hooks are made from it.
public struct RunDecision: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// Start the next attempt after `delay` seconds.
        case restart(after: Double)
        /// The run (this invocation) ends.
        case finish(Journal.RunState, ExitCode, String)
    }

    public var action: Action
    /// Consecutive failures counting against the budget, after this attempt.
    public var consecutiveFailures: Int
    /// Whether this attempt used up one retry (nil: not a failure that could).
    public var countedAgainstBudget: Bool?

    /// What is known when an attempt has ended.
    public struct AfterAttempt: Sendable {
        public var verdict: Verdict
        /// The stop that was vigil's own, if any.
        public var stop: VigilStop?
        public var attempt: Int
        public var duration: Double
        public var madeProgress: Bool?
        /// Stop signals vigil has received (the attempt's included).
        public var stopSignals: [Signal]
        public var consecutiveFailures: Int

        public init(
            verdict: Verdict, stop: VigilStop?, attempt: Int, duration: Double, madeProgress: Bool?,
            stopSignals: [Signal], consecutiveFailures: Int
        ) {
            self.verdict = verdict
            self.stop = stop
            self.attempt = attempt
            self.duration = duration
            self.madeProgress = madeProgress
            self.stopSignals = stopSignals
            self.consecutiveFailures = consecutiveFailures
        }
    }

    static let again = "; run the same command again to continue"

    /// The decision after an attempt. `randomUnit` (0 ..< 1) is the jitter's draw; `timeLeft` says
    /// why another attempt would not fit before the runtime deadline once the delay has passed (nil: it fits).
    public static func after(
        _ attempt: AfterAttempt, policy: Policy, randomUnit: Double, timeLeft: (Double) -> String?
    ) -> RunDecision {
        var failures = attempt.consecutiveFailures
        func finish(_ state: Journal.RunState, _ code: ExitCode, _ reason: String, counted: Bool? = nil) -> RunDecision
        {
            RunDecision(
                action: .finish(state, code, reason), consecutiveFailures: failures, countedAgainstBudget: counted)
        }
        let verdict = attempt.verdict
        if let signal = attempt.stopSignals.first, verdict.verdict != .success {
            let why = attempt.stop.map { stop in
                stop.reason.contains("vigil received \(signal)")
                    ? stop.reason : "\(stop.reason), and vigil received \(signal)"
            }
            return finish(.stopped, .resumable, (why ?? "vigil received \(signal)") + again)
        }
        switch attempt.stop?.cause {
        case .signal?, .runtimeLimit?:
            return finish(.stopped, .resumable, (attempt.stop?.reason ?? "stopped") + again)
        case .totalBudget?:
            return finish(.gaveUp, .retriesExhausted, attempt.stop?.reason ?? "the run's total compute budget is spent")
        default:
            break
        }
        let counted: Bool
        switch verdict.verdict {
        case .success:
            return finish(.succeeded, .success, "the trainer finished successfully (attempt \(attempt.attempt))")
        case .unrecoverable:
            return finish(
                .failed, .unrecoverable, "unrecoverable failure in attempt \(attempt.attempt): \(verdict.reason)")
        case .ignore:
            counted = false
        case .recoverable:
            // A healthy stretch, or a new checkpoint, starts a fresh series of failures.
            if attempt.duration >= policy.restart.healthyAfter { failures = 0 }
            if policy.restart.resetOnProgress, attempt.madeProgress == true { failures = 0 }
            // Saturating: the count comes from the journal, which a person may have edited.
            failures = failures < Int.max ? failures + 1 : failures
            counted = true
            if failures > policy.restart.maxRetries {
                return finish(
                    .gaveUp, .retriesExhausted,
                    "gave up after \(failures) consecutive failures (max-retries \(policy.restart.maxRetries)); last: \(verdict.reason)",
                    counted: true)
            }
        }
        let delay = Backoff(policy.restart).delay(afterFailure: max(1, failures), unit: randomUnit)
        if let short = timeLeft(delay) {
            return finish(
                .stopped, .resumable,
                "not enough time left before the runtime deadline for another attempt (\(short))" + again,
                counted: counted)
        }
        return RunDecision(action: .restart(after: delay), consecutiveFailures: failures, countedAgainstBudget: counted)
    }

    /// Whether the run ends before an attempt starts: a stop signal came, the total budget is spent,
    /// or too little time is left (`timeLeft` says why). Nil: start it.
    public static func beforeAttempt(
        stopSignals: [Signal], policy: Policy, computeSeconds: Double, consecutiveFailures: Int,
        timeLeft: String?
    ) -> RunDecision? {
        func finish(_ state: Journal.RunState, _ code: ExitCode, _ reason: String) -> RunDecision {
            RunDecision(action: .finish(state, code, reason), consecutiveFailures: consecutiveFailures)
        }
        if let signal = stopSignals.first {
            return finish(.stopped, .resumable, "stopped by \(signal) before the next attempt" + again)
        }
        if let total = policy.limits.total, computeSeconds >= total {
            return finish(
                .gaveUp, .retriesExhausted,
                "the run's total compute budget (\(DurationFormat.string(from: total))) is spent")
        }
        if let short = timeLeft { return finish(.stopped, .resumable, short + again) }
        return nil
    }
}
