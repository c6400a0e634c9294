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

/// The supervised run the drill interrupts: one child `vigil run` (another after each `VIGIL`
/// interruption), watched through its journal, `metrics.jsonl` and checkpoint directory, and
/// interrupted as the plan says. Signals go to the trainer's process group (the pid the journal
/// records for the live attempt, checked against its start time) or to vigil itself.
struct InterruptedRun {
    let runner: DrillRunner
    let copy: String
    let reference: DrillReference
    let plan: DrillPlan
    private let watch: RunWatch
    private var vigil: ChildVigil?
    private let deadline: Date
    private var interrupted = false

    /// How often the run is looked at: a progress line or a checkpoint is acted on this soon after it appears.
    static let pollInterval: useconds_t = 5_000

    struct Result {
        var delivered: [DeliveredInterruption]
        var exitCode: Int32?
        var timedOut: Bool
        var interrupted: Bool
    }

    init(runner: DrillRunner, copy: String, reference: DrillReference, plan: DrillPlan) {
        self.runner = runner
        self.copy = copy
        self.reference = reference
        self.plan = plan
        self.watch = RunWatch(
            runDirectory: runner.runDirectory(copy), checkpointDirectory: copy + "/" + runner.checkpointDirectory,
            pattern: runner.pattern)
        self.deadline = Date().addingTimeInterval(runner.options.timeout ?? (10 * reference.trainerSeconds + 60))
    }

    private var policy: Policy { runner.options.policy }

    mutating func run() throws -> Result {
        try start()
        var delivered: [DeliveredInterruption] = []
        for planned in plan.interruptions {
            let done = deliver(planned)
            if done.isDelivered {
                runner.note(
                    "drill: interruption \(planned.number)/\(plan.interruptions.count): \(planned.kind.title) "
                        + "\(planned.trigger.title) — attempt \(done.attempt ?? 0), \(done.observed)")
            }
            delivered.append(done)
            if interrupted { break }
        }
        let finished = poll(until: deadline) { _ in false } || vigil?.exitStatus != nil
        var timedOut = false
        if !finished || interrupted {
            timedOut = !interrupted
            stopEverything()
        }
        vigil?.waitForExit(until: Date().addingTimeInterval(5))
        _ = watch.refresh()
        return Result(delivered: delivered, exitCode: vigil?.exitCode, timedOut: timedOut, interrupted: interrupted)
    }

    private mutating func start() throws {
        let budget = plan.interruptions.count + 3
        vigil = try ChildVigil(
            runner.vigilArguments(copy: copy, maxRetries: budget), in: copy, environment: runner.options.environment,
            logPath: copy + "/\(DrillRunner.stateDirectory)/vigil.log")
    }

    /// Looks at the run every `pollInterval` until `condition` holds (true), or vigil has exited, the
    /// deadline passed or the drill was interrupted (false).
    private mutating func poll(until limit: Date, _ condition: ([RunWatch.Change]) -> Bool) -> Bool {
        while true {
            let changes = watch.refresh()
            if condition(changes) { return true }
            if runner.isInterrupted() { interrupted = true }
            if interrupted || vigil?.exitStatus != nil || Date() >= limit { return false }
            usleep(InterruptedRun.pollInterval)
        }
    }

    /// Waits for the planned moment, interrupts, and waits until the next attempt runs.
    private mutating func deliver(_ planned: PlannedInterruption) -> DeliveredInterruption {
        var done = DeliveredInterruption(
            number: planned.number, kind: planned.kind, trigger: planned.trigger, observed: "not reached")
        var target: Journal.Attempt?
        let watch = self.watch
        let reached = poll(until: deadline) { _ in
            guard let live = watch.liveAttempt, (watch.latestStep[live.number] ?? -1) >= planned.step else {
                return false
            }
            target = live
            return true
        }
        guard reached, let attempt = target else {
            done.observed = "the run ended before step \(planned.step)"
            return done
        }
        done.observed = "step \(watch.latestStep[attempt.number] ?? planned.step)"
        waitForTrigger(planned, attempt: attempt.number, &done)
        if planned.delaySteps > 0, let perStep = reference.secondsPerStep {
            let until = Date().addingTimeInterval(planned.delaySteps * perStep)
            _ = poll(until: min(until, deadline)) { _ in watch.liveAttempt?.number != attempt.number }
        }
        guard !interrupted, let live = watch.liveAttempt, live.number == attempt.number, let pid = live.pid, pid > 1,
            ProcessTable.isAlive(pid, startTime: live.processStartTime)
        else {
            done.note = "attempt \(attempt.number) ended before the interruption"
            return done
        }
        done.attempt = attempt.number
        done.pid = pid
        done.at = Date()
        done.stepSeen = watch.latestStep[attempt.number]
        act(planned.kind, on: live, pid: pid, &done)
        _ = poll(until: deadline) { _ in
            guard let last = watch.journal?.attempts.last else { return false }
            return last.number > attempt.number && last.pid != nil
        }
        return done
    }

    /// After the step: the first checkpoint to appear, or the first write in the checkpoint directory.
    private mutating func waitForTrigger(
        _ planned: PlannedInterruption, attempt: Int, _ done: inout DeliveredInterruption
    ) {
        guard planned.trigger != .atStep else { return }
        let watch = self.watch
        var seen: String?
        _ = poll(until: deadline) { changes in
            let change = planned.trigger == .afterCheckpoint ? changes.first(where: \.isCheckpoint) : changes.first
            if let change {
                seen = change.name
                return true
            }
            return watch.liveAttempt?.number != attempt
        }
        if let seen {
            done.observed +=
                planned.trigger == .afterCheckpoint ? ", then \(seen) appeared" : ", then a write to \(seen)"
        } else {
            done.observed += ", then no checkpoint before the attempt ended"
        }
    }

    /// Sends what `kind` means, recording each signal.
    private mutating func act(
        _ kind: InterruptionKind, on attempt: Journal.Attempt, pid: pid_t, _ done: inout DeliveredInterruption
    ) {
        let start = attempt.processStartTime
        switch kind {
        case .kill:
            ProcessGroup.send(.kill, to: pid)
            done.actions.append("SIGKILL to the trainer's process group (\(pid))")
        case .terminate:
            terminate(pid, startTime: start, &done)
        case .checkpoint:
            let signal = policy.stop.checkpointSignal ?? .user1
            if (ProcessTable.disposition(of: signal, in: pid) ?? .caught) == .caught {
                ProcessGroup.send(signal, to: pid)
                done.actions.append("\(signal) to the trainer's process group (\(pid))")
                let timeout = min(policy.stop.checkpointTimeout, 60)
                var saved: String?
                let watch = self.watch
                _ = poll(until: min(deadline, Date().addingTimeInterval(timeout))) { changes in
                    if let change = changes.first(where: \.isCheckpoint) {
                        saved = change.name
                        return true
                    }
                    return !ProcessTable.isAlive(pid, startTime: start) || watch.liveAttempt?.number != attempt.number
                }
                done.note = saved.map { "the trainer saved \($0)" } ?? "no new checkpoint within \(Int(timeout))s"
            } else {
                done.note = "the trainer does not handle \(signal): sent SIGTERM only"
            }
            if ProcessTable.isAlive(pid, startTime: start) { terminate(pid, startTime: start, &done) }
        case .vigil:
            killVigil(&done)
        }
    }

    /// SIGTERM to the group; SIGKILL when the trainer outlives `stop.termGrace` (it ignores SIGTERM).
    private mutating func terminate(_ pid: pid_t, startTime: UInt64?, _ done: inout DeliveredInterruption) {
        ProcessGroup.send(.terminate, to: pid)
        done.actions.append("SIGTERM to the trainer's process group (\(pid))")
        let grace = policy.stop.termGrace
        let gone = poll(until: Date().addingTimeInterval(grace)) { _ in !ProcessTable.isAlive(pid, startTime: startTime)
        }
        if !gone && ProcessTable.isAlive(pid, startTime: startTime) {
            ProcessGroup.send(.kill, to: pid)
            done.actions.append("SIGKILL after \(DurationFormat.string(from: grace)): the trainer outlived SIGTERM")
        }
    }

    /// SIGKILL to the supervising vigil, then `vigil run` again, as a user would after a crash.
    private mutating func killVigil(_ done: inout DeliveredInterruption) {
        guard let old = vigil else { return }
        old.send(.kill)
        done.actions.append("SIGKILL to vigil (\(old.pid))")
        old.waitForExit(until: Date().addingTimeInterval(10))
        do {
            try start()
            done.actions.append("vigil run again (\(vigil?.pid ?? 0)): the same command, the same run")
        } catch {
            done.note = "could not start vigil run again: \(error)"
        }
    }

    /// Stops the run (drill timed out or interrupted): SIGTERM to vigil, which stops the trainer
    /// gracefully; then SIGKILL to whatever is left.
    private mutating func stopEverything() {
        guard let vigil, vigil.exitStatus == nil else { return }
        let live = watch.liveAttempt
        vigil.send(.terminate)
        let grace = policy.stop.termGrace + min(policy.stop.checkpointTimeout, 60) + 10
        if vigil.waitForExit(until: Date().addingTimeInterval(grace)) == nil {
            vigil.send(.kill)
            if let pid = live?.pid, pid > 1, ProcessTable.isAlive(pid, startTime: live?.processStartTime) {
                ProcessGroup.send(.kill, to: pid)
            }
        }
    }
}
