import Foundation

/// The run loop: an attempt, the decision, the record, the report and hook, the backoff — again.
extension Supervisor {
    static let stopSignalSet: Set<Signal> = [.interrupt, .terminate, .hangup]

    func superviseAttempts(executable: String) throws -> ExitCode {
        let policy = request.policy
        while true {
            let timeLeft = runtimeDeadline.flatMap { tooLittleTime(before: $0, from: clock.now()) }
            if let early = RunDecision.beforeAttempt(
                stopSignals: stopSignals, policy: policy, computeSeconds: journal.computeSeconds,
                consecutiveFailures: journal.consecutiveFailures, timeLeft: timeLeft)
            {
                return finish(early)
            }
            let result = try runAttempt(executable: executable)
            let record = journal.attempts[result.index]
            let decision = RunDecision.after(
                RunDecision.AfterAttempt(
                    verdict: record.verdict!, stop: result.stop, attempt: record.number, duration: record.duration ?? 0,
                    madeProgress: record.madeProgress, stopSignals: stopSignals,
                    consecutiveFailures: journal.consecutiveFailures),
                policy: policy, randomUnit: Double.random(in: 0..<1),
                timeLeft: { delay in
                    self.runtimeDeadline.flatMap { self.tooLittleTime(before: $0, from: self.clock.now() + delay) }
                })
            // The decision is in the record before any report or hook is made from it.
            journal.consecutiveFailures = decision.consecutiveFailures
            if let counted = decision.countedAgainstBudget {
                journal.attempts[result.index].countedAgainstBudget = counted
            }
            if case .restart(let delay) = decision.action {
                journal.attempts[result.index].backoffSeconds = delay
                journal.state = .backingOff
            }
            save()
            let verdict = record.verdict!
            var hookRunning = false
            if verdict.verdict != .success, verdict.rule != "stopped-by-vigil" {
                hookRunning = reportFailure(result.index, tail: result.tail)
            }
            switch decision.action {
            case .finish:
                if hookRunning { attachHook(awaitHook(), to: result.index) }
                return finish(decision)
            case .restart(let delay):
                let budget =
                    verdict.verdict == .ignore
                    ? "not counted" : "\(journal.consecutiveFailures)/\(policy.restart.maxRetries)"
                note("vigil: restarting in \(DurationFormat.string(from: delay)) (retry \(budget))")
                if let signal = waitForBackoff(until: clock.now() + delay, hook: hookRunning, attempt: result.index) {
                    return finish(
                        RunDecision(
                            action: .finish(
                                .stopped, .resumable,
                                "stopped by \(signal) while waiting to restart" + RunDecision.again),
                            consecutiveFailures: journal.consecutiveFailures))
                }
                journal.state = .running
            }
        }
    }

    private func attachHook(_ run: Journal.HookRun?, to index: Int) {
        guard let run else { return }
        journal.attempts[index].hooks = (journal.attempts[index].hooks ?? []) + [run]
        save()
    }

    /// Waits out a backoff delay (and the failure's hook, if one runs); returns the stop signal that
    /// came instead, if one did (the hook is let finish first).
    private func waitForBackoff(until deadline: Instant, hook: Bool, attempt index: Int) -> Signal? {
        var hookRunning = hook
        while clock.now() < deadline || hookRunning {
            let event = events.next(until: hookRunning ? nil : deadline)
            switch event {
            case .hookFinished(let run)?:
                hookRunning = false
                attachHook(run, to: index)
            case .signal(let signal)? where Supervisor.stopSignalSet.contains(signal) || signal == .user1:
                stopSignals.append(signal)
                if hookRunning { attachHook(awaitHook(), to: index) }
                return signal
            case nil:
                if !hookRunning { return nil }
            default:
                continue
            }
        }
        return nil
    }

    private func finish(_ decision: RunDecision) -> ExitCode {
        guard case .finish(let state, let code, let reason) = decision.action else { return .success }
        journal.consecutiveFailures = decision.consecutiveFailures
        journal.state = state
        journal.outcome = Journal.RunOutcome(exitCode: code.rawValue, reason: redactor.redact(reason))
        save()
        finishedRun()
        note("vigil: \(reason) (exit \(code.rawValue))")
        return code
    }

    /// The checkpoint lead the next attempt runs with (`stop.checkpointLead`, measured when `auto`).
    func leadInForce() -> LeadInForce {
        CheckpointLead.inForce(request.policy.stop, saves: journal.saveTimings ?? [])
    }

    /// How often the trainer saved on its own, measured: the median gap between its recent saves
    /// that vigil did not ask for; nil with fewer than two.
    func measuredCheckpointInterval() -> Double? {
        let own = (journal.saveTimings ?? []).filter { $0.from == .firstWrite }.map(\.at).sorted()
        let gaps = zip(own, own.dropFirst()).map { $1.timeIntervalSince($0) }.filter { $0 > 0 }.sorted()
        guard !gaps.isEmpty else { return nil }
        return gaps[gaps.count / 2]
    }

    /// Why an attempt starting at `start` cannot usefully run before `deadline`: less than
    /// `limits.minAttempt` left, or no more than the stop sequence needs (`checkpointLead` +
    /// `termGrace`: the stop would begin as the trainer starts). Nil when there is time.
    func tooLittleTime(before deadline: Instant, from start: Instant) -> String? {
        let left = deadline.since(start)
        let limits = request.policy.limits
        let stop = request.policy.stop
        if left < max(limits.minAttempt, 0.001) {
            return left <= 0
                ? "the runtime deadline has passed"
                : "less than limits.minAttempt (\(DurationFormat.string(from: limits.minAttempt))) is left before the runtime deadline"
        }
        let lead = leadInForce()
        let needed = lead.seconds + stop.termGrace
        if left <= needed {
            return
                "\(DurationFormat.string(from: left)) is left before the runtime deadline, no more than the stop sequence needs "
                + "(the checkpoint lead \(DurationFormat.string(from: lead.seconds)), \(lead.why), + stop.termGrace \(DurationFormat.string(from: stop.termGrace)))"
        }
        return nil
    }
}
