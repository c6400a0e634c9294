import Foundation
import Testing

@testable import VigilCore

/// What the run does after an attempt, and before one: plain values in, a decision out.
@Suite("Run decisions")
struct RunDecisionTests {
    static func policy(maxRetries: Int = 3, initial: Double = 1, factor: Double = 2, max: Double = 60) -> Policy {
        var policy = Policy(name: "test")
        policy.restart.maxRetries = maxRetries
        policy.restart.backoffInitial = initial
        policy.restart.backoffFactor = factor
        policy.restart.backoffMax = max
        policy.restart.backoffJitter = 0.1
        policy.restart.healthyAfter = 600
        return policy
    }

    static func after(
        _ verdict: VerdictClass, rule: String = "any-failure", stop: VigilStop? = nil, failures: Int = 0,
        duration: Double = 10, progress: Bool? = false, signals: [Signal] = [], policy: Policy = policy(),
        unit: Double = 0.5, timeLeft: String? = nil
    ) -> RunDecision {
        RunDecision.after(
            RunDecision.AfterAttempt(
                verdict: Verdict(verdict: verdict, rule: rule, reason: "why"), stop: stop, attempt: 4,
                duration: duration, madeProgress: progress, stopSignals: signals, consecutiveFailures: failures),
            policy: policy, randomUnit: unit, timeLeft: { _ in timeLeft })
    }

    @Test("success ends the run: succeeded, 0")
    func success() {
        #expect(
            Self.after(.success).action
                == .finish(.succeeded, .success, "the trainer finished successfully (attempt 4)"))
    }

    @Test("an unrecoverable failure ends it: failed, 1")
    func unrecoverable() {
        #expect(
            Self.after(.unrecoverable).action
                == .finish(.failed, .unrecoverable, "unrecoverable failure in attempt 4: why"))
    }

    @Test("a recoverable failure restarts after the first backoff and counts against the budget")
    func recoverable() {
        let decision = Self.after(.recoverable)
        #expect(decision.action == .restart(after: 1))
        #expect(decision.consecutiveFailures == 1)
        #expect(decision.countedAgainstBudget == true)
    }

    @Test(
        "consecutive failures grow the backoff, capped",
        arguments: [(0, 1.0), (1, 2.0), (2, 4.0), (5, 32.0), (7, 60.0)])
    func backoffGrows(failures: Int, delay: Double) {
        let decision = Self.after(.recoverable, failures: failures, policy: Self.policy(maxRetries: 100))
        #expect(decision.action == .restart(after: delay))
    }

    @Test("jitter stays within ±jitter of the base delay", arguments: [0.0, 0.999])
    func jitter(unit: Double) {
        guard case .restart(let delay) = Self.after(.recoverable, failures: 2, unit: unit).action else {
            Issue.record("expected a restart")
            return
        }
        #expect(delay >= 4 * 0.9 - 1e-9 && delay <= 4 * 1.1 + 1e-9, "\(delay)")
    }

    @Test("past maxRetries it gives up: gave-up, 2, with the count and the last reason")
    func givesUp() {
        let decision = Self.after(.recoverable, failures: 3)
        #expect(
            decision.action
                == .finish(
                    .gaveUp, .retriesExhausted, "gave up after 4 consecutive failures (max-retries 3); last: why"))
        #expect(decision.countedAgainstBudget == true)
    }

    @Test("a new checkpoint refills the budget: the series starts again at 1")
    func progressResets() {
        let decision = Self.after(.recoverable, failures: 3, progress: true)
        #expect(decision.consecutiveFailures == 1)
        #expect(decision.action == .restart(after: 1))
    }

    @Test("with resetOnProgress off, a new checkpoint does not refill the budget")
    func progressDoesNotReset() {
        var policy = Self.policy()
        policy.restart.resetOnProgress = false
        let decision = Self.after(.recoverable, failures: 3, progress: true, policy: policy)
        #expect(
            decision.action
                == .finish(
                    .gaveUp, .retriesExhausted, "gave up after 4 consecutive failures (max-retries 3); last: why"))
    }

    @Test("a healthy stretch (restart.healthyAfter) starts a fresh series")
    func healthyResets() {
        let decision = Self.after(.recoverable, failures: 3, duration: 601)
        #expect(decision.consecutiveFailures == 1)
    }

    @Test("an ignored failure restarts without using the budget")
    func ignored() {
        let decision = Self.after(.ignore, failures: 2)
        #expect(decision.consecutiveFailures == 2)
        #expect(decision.countedAgainstBudget == false)
        #expect(decision.action == .restart(after: 2), "the delay of the series it is in")
    }

    @Test("a signal to vigil ends the run resumable (75), the reason said once")
    func stoppedBySignal() {
        let stop = VigilStop(cause: .signal(.terminate), reason: "vigil received SIGTERM; checkpoint a saved")
        let decision = Self.after(.ignore, rule: "stopped-by-vigil", stop: stop, signals: [.terminate])
        #expect(
            decision.action
                == .finish(
                    .stopped, .resumable,
                    "vigil received SIGTERM; checkpoint a saved; run the same command again to continue"))
    }

    @Test("a signal during another stop names both")
    func signalDuringOtherStop() {
        let stop = VigilStop(cause: .attemptLimit, reason: "the attempt time limit (1h) is reached")
        let decision = Self.after(.recoverable, rule: "attempt-time-limit", stop: stop, signals: [.interrupt])
        #expect(
            decision.action
                == .finish(
                    .stopped, .resumable,
                    "the attempt time limit (1h) is reached, and vigil received SIGINT; run the same command again to continue"
                ))
    }

    @Test("a trainer that finished although vigil was asked to stop: success, 0")
    func successDespiteSignal() {
        #expect(
            Self.after(.success, signals: [.terminate]).action
                == .finish(.succeeded, .success, "the trainer finished successfully (attempt 4)"))
    }

    @Test("the runtime deadline ends the run resumable (75)")
    func runtimeLimit() {
        let stop = VigilStop(cause: .runtimeLimit, reason: "the runtime limit ends at X")
        #expect(
            Self.after(.ignore, stop: stop).action
                == .finish(.stopped, .resumable, "the runtime limit ends at X; run the same command again to continue"))
    }

    @Test("the total budget spent ends the run: gave-up, 2")
    func totalBudget() {
        let stop = VigilStop(cause: .totalBudget, reason: "spent")
        #expect(Self.after(.ignore, stop: stop).action == .finish(.gaveUp, .retriesExhausted, "spent"))
    }

    @Test("not enough time left for another attempt: stopped, 75, saying why")
    func noTimeForAnother() {
        let decision = Self.after(.recoverable, timeLeft: "2s is left")
        #expect(
            decision.action
                == .finish(
                    .stopped, .resumable,
                    "not enough time left before the runtime deadline for another attempt (2s is left); run the same command again to continue"
                ))
    }

    @Test("before an attempt: a stop signal, a spent total, too little time each end the run; otherwise it starts")
    func beforeAttempt() {
        var policy = Self.policy()
        #expect(
            RunDecision.beforeAttempt(
                stopSignals: [], policy: policy, computeSeconds: 0, consecutiveFailures: 0, timeLeft: nil) == nil)
        #expect(
            RunDecision.beforeAttempt(
                stopSignals: [.hangup], policy: policy, computeSeconds: 0, consecutiveFailures: 0, timeLeft: nil)?
                .action
                == .finish(
                    .stopped, .resumable,
                    "stopped by SIGHUP before the next attempt; run the same command again to continue"))
        policy.limits.total = 10
        #expect(
            RunDecision.beforeAttempt(
                stopSignals: [], policy: policy, computeSeconds: 10, consecutiveFailures: 2, timeLeft: nil)?.action
                == .finish(.gaveUp, .retriesExhausted, "the run's total compute budget (10s) is spent"))
        #expect(
            RunDecision.beforeAttempt(
                stopSignals: [], policy: policy, computeSeconds: 0, consecutiveFailures: 0,
                timeLeft: "the runtime deadline has passed")?.action
                == .finish(
                    .stopped, .resumable, "the runtime deadline has passed; run the same command again to continue"))
    }
}

/// The classifier is the one place a verdict is made, vigil's own stops and exhausted repairs included.
@Suite("Built-in verdicts")
struct BuiltInVerdictTests {
    static let classifier: Classifier = {
        var timeout = Rule(name: "timeout", verdict: .recoverable, reason: "too slow")
        timeout.timedOut = true
        var nan = Rule(name: "nan-loss", verdict: .recoverable, reason: "the loss went NaN")
        nan.exitCodes = ExitCodeSet([99...99])
        return Classifier(rules: [
            nan, timeout,
            Rule(name: "any-failure", verdict: .recoverable, reason: "failed"),
        ])
    }()

    @Test(
        "vigil's own stops are not the trainer's failures: stopped-by-vigil, ignore",
        arguments: [StopCause.signal(.terminate), .runtimeLimit, .totalBudget])
    func stoppedByVigil(cause: StopCause) {
        let outcome = AttemptOutcome(status: .signaled(.terminate), stop: VigilStop(cause: cause, reason: "stopped"))
        let verdict = Self.classifier.classify(outcome)
        #expect(verdict.rule == "stopped-by-vigil")
        #expect(verdict.verdict == .ignore)
        #expect(verdict.reason == "stopped")
    }

    @Test("a live rule's stop gets that rule's class and says what matched")
    func liveRule() {
        let outcome = AttemptOutcome(
            status: .signaled(.terminate),
            stop: VigilStop(cause: .liveRule(rule: "nan-loss", line: " loss=nan"), reason: "x"))
        let verdict = Self.classifier.classify(outcome)
        #expect(
            verdict == Verdict(verdict: .recoverable, rule: "nan-loss", reason: "the loss went NaN (live: loss=nan)"))
    }

    @Test("the attempt time limit is classified, with the rules about it first")
    func attemptLimit() {
        let outcome = AttemptOutcome(
            status: .exited(0), stop: VigilStop(cause: .attemptLimit, reason: "the attempt time limit is reached"))
        let verdict = Self.classifier.classify(outcome)
        #expect(verdict.rule == "timeout", "an exit 0 after the time limit is not a success")
    }

    @Test("a repair that cannot go on makes the failure unrecoverable, under the rule that asked for it")
    func repairExhausted() {
        var outcome = AttemptOutcome(status: .exited(1))
        outcome.repairExhausted = RepairExhausted(key: "training.lr", reason: "0 would cross its bound min 1e-07")
        let verdict = Self.classifier.classify(outcome)
        #expect(verdict.verdict == .unrecoverable)
        #expect(verdict.rule == "any-failure")
        #expect(
            verdict.reason
                == "repair exhausted: training.lr: 0 would cross its bound min 1e-07 (after: failed (exit code 1))")
    }
}
