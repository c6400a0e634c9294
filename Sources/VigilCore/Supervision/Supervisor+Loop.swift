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

    /// Waits out a backoff delay (and the failure's hook, if one runs, and the GPUs' release of the
    /// attempt's memory); returns the stop signal that came instead, if one did (the hook is let
    /// finish first).
    private func waitForBackoff(until deadline: Instant, hook: Bool, attempt index: Int) -> Signal? {
        var hookRunning = hook
        var gpu = GPUWaiter(supervisor: self, attempt: journal.attempts[index], now: clock.now())
        defer {
            if let record = gpu?.record(now: clock.now()) {
                journal.attempts[index].gpuWait = record
                save()
            }
        }
        while clock.now() < deadline || hookRunning || gpu?.waiting == true {
            if gpu?.waiting == true { gpu?.look(now: clock.now()) }
            var until = hookRunning ? nil : deadline
            if let next = gpu?.nextLook, gpu?.waiting == true { until = min(until ?? next, next) }
            let event = events.next(until: until)
            switch event {
            case .hookFinished(let run)?:
                hookRunning = false
                attachHook(run, to: index)
            case .signal(let signal)? where Supervisor.stopSignalSet.contains(signal) || signal == .user1:
                stopSignals.append(signal)
                if hookRunning { attachHook(awaitHook(), to: index) }
                return signal
            case nil:
                if !hookRunning, gpu?.waiting != true, clock.now() >= deadline { return nil }
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

/// The wait before a retry for the GPUs to release the last attempt's memory: `nvidia-smi` asked
/// every 250 ms, at most `limits.gpuRelease`. Nil (no wait) without `nvidia-smi` on the PATH, or
/// with `gpuRelease: 0`.
struct GPUWaiter {
    let nvidiaSMI: String
    let devices: String?
    let environment: [String: String]
    let attemptPIDs: Set<Int32>
    let started: Instant
    let bound: Double
    let note: (@Sendable (String) -> Void)?
    private(set) var waiting = true
    private(set) var nextLook: Instant
    private(set) var firstHolders: [GPUMemory.Holder]?
    private(set) var released = false
    private(set) var ended: Instant?

    init?(supervisor: Supervisor, attempt: Journal.Attempt, now: Instant) {
        let request = supervisor.request
        bound = request.policy.limits.gpuRelease
        guard bound > 0,
            let path = try? CommandResolver.resolve(
                "nvidia-smi", path: request.environment["PATH"], workingDirectory: request.workingDirectory)
        else { return nil }
        nvidiaSMI = path
        devices = request.environment["CUDA_VISIBLE_DEVICES"]
        environment = request.environment
        attemptPIDs = Set([attempt.pid].compactMap { $0 } + (attempt.leftovers ?? []).map(\.pid))
        started = now
        nextLook = now
        note = supervisor.note
    }

    /// Asks `nvidia-smi` once; stops waiting when nothing of the attempt holds memory, or at the bound.
    mutating func look(now: Instant) {
        guard waiting, now >= nextLook else { return }
        nextLook = now + 0.25
        guard let holders = GPUMemory.query(nvidiaSMI: nvidiaSMI, devices: devices, environment: environment) else {
            waiting = false  // it cannot tell: nothing to wait for
            ended = now
            return
        }
        let left = GPUMemory.leftBehind(holders, attemptPIDs: attemptPIDs)
        if firstHolders == nil {
            firstHolders = left
            if !left.isEmpty {
                let what = left.map(\.description).joined(separator: ", ")
                note?(
                    "vigil: waiting for the GPUs to release the last attempt's memory (\(what)), at most \(DurationFormat.string(from: bound))"
                )
            }
        }
        if left.isEmpty {
            waiting = false
            released = true
            ended = now
        } else if now.since(started) >= bound {
            waiting = false
            ended = now
            note?(
                "vigil: warning: GPU memory still held after \(DurationFormat.string(from: bound)) (limits.gpuRelease); starting anyway"
            )
        }
    }

    /// What the journal keeps: only a wait that found memory held.
    func record(now: Instant) -> Journal.GPUWait? {
        guard let firstHolders, !firstHolders.isEmpty else { return nil }
        return Journal.GPUWait(
            seconds: (ended ?? now).since(started), released: released, holders: firstHolders.map(\.description))
    }
}
