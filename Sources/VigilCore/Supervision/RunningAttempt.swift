import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A stop in progress: why, which sequence, which step, and when the step is over.
struct StopProgress {
    var cause: StopCause
    var reason: String
    var sequence: StopSequence
    var step = 0
    var deadline = Date()
    var stepStarted = Date()
    /// Valid checkpoints (name → modification time) when the checkpoint signal was sent: a new
    /// checkpoint is one not among them. (File times come from a coarse clock and may read a few
    /// milliseconds *before* the signal, so comparing times would miss a fast trainer.)
    var checkpointsBefore: [String: Date] = [:]

    var currentStep: StopSequence.Step { sequence.steps[step] }

    var isAtCheckpointStep: Bool {
        if case .checkpoint = currentStep { return true }
        return false
    }
}

/// One attempt while its trainer runs and until everything it started is gone: the event loop
/// (deadlines, stalls, live rules, signals to Vigil, the stop sequence) and the sweep of what the
/// trainer left behind. Every step of a stop is in the journal before its signal is sent.
final class RunningAttempt {
    unowned let supervisor: Supervisor
    let number: Int
    /// The attempt's index in the journal.
    let index: Int
    let child: ChildProcess
    let pump: OutputPump
    let watcher: CheckpointWatcher?
    let processes: AttemptProcesses
    /// The earliest deadline of the attempt and what it is, and when its stop begins.
    let earliest: (date: Date, cause: StopCause)?
    let trigger: Date?
    let started: Date

    var status: Termination?
    var outputClosed = false
    var stop: StopProgress?
    var lastCheckpoint: Date
    var lastCheckpointName: (String, Date)?
    var poisonedAfter: Date?
    var leftovers: [LeftoverProcess] = []
    private var nextRedraw = Date()
    private var firstStep: Int?
    private let metrics: MetricsRecorder?
    private let lastFailure: String?

    init(
        supervisor: Supervisor, number: Int, index: Int, child: ChildProcess, pump: OutputPump,
        watcher: CheckpointWatcher?, processes: AttemptProcesses, metrics: MetricsRecorder?,
        earliest: (date: Date, cause: StopCause)?, started: Date, resumeFrom: Checkpoint?
    ) {
        self.supervisor = supervisor
        self.number = number
        self.index = index
        self.child = child
        self.pump = pump
        self.watcher = watcher
        self.processes = processes
        self.metrics = metrics
        self.earliest = earliest
        self.started = started
        // The checkpoint is asked for checkpointLead before SIGTERM, which goes out termGrace before the
        // deadline: the whole stop fits before the deadline.
        let stop = supervisor.request.policy.stop
        self.trigger = earliest.map { max(started, $0.date.addingTimeInterval(-stop.checkpointLead - stop.termGrace)) }
        self.lastCheckpoint = started
        self.lastCheckpointName = resumeFrom.map { ($0.name, $0.modified) }
        self.lastFailure =
            supervisor.journal.attempts.dropLast().last { $0.verdict?.verdict != .success }?.verdict?.reason
    }

    var policy: Policy { supervisor.request.policy }
    var events: EventQueue<SupervisorEvent> { supervisor.events }

    // MARK: - 1. Until the trainer exits

    func superviseUntilExit() {
        while status == nil {
            guard let event = events.next(until: nextWake()) else {
                onTimer(Date())
                continue
            }
            switch event {
            case .childExited(let n, let s) where n == number:
                status = s
            case .outputClosed(let n) where n == number:
                outputClosed = true
            case .signal(let signal):
                handle(signal)
            case .checkpointFinished(let n, let name) where n == number:
                lastCheckpoint = Date()
                lastCheckpointName = (name, lastCheckpoint)
                if stop != nil, checkpointStepSatisfied(name: name) { advance() }
            case .liveMatch(let n, let rule, let line, let after) where n == number:
                if stop == nil || stop!.cause.isGracefulStop {
                    poisonedAfter = after
                    supervisor.note(
                        "vigil: live rule '\(rule)' matched: \(line.trimmingCharacters(in: .whitespaces)); stopping without a checkpoint"
                    )
                    begin(
                        .liveRule(rule: rule, line: line), "live rule '\(rule)' matched",
                        .graceful(policy.stop, checkpoint: false))
                }
            case .logSpace(let n, let suspended, let free) where n == number:
                supervisor.logSpaceChanged(attempt: index, suspended: suspended, free: free)
            default:
                break
            }
        }
        if stop != nil { record("trainer exited: \(status!)") }
        supervisor.statusLine?.clear()
    }

    private func nextWake() -> Date? {
        var wake: Date?
        if let stop {
            wake = stop.deadline
            if stop.isAtCheckpointStep { wake = min(stop.deadline, Date().addingTimeInterval(0.25)) }  // re-scan too
        } else {
            wake = [trigger, policy.limits.stall.map { max(pump.lastActivity, lastCheckpoint).addingTimeInterval($0) }]
                .compactMap { $0 }.min()
        }
        if supervisor.statusLine != nil { wake = min(wake ?? nextRedraw, nextRedraw) }
        return wake
    }

    private func onTimer(_ now: Date) {
        if supervisor.statusLine != nil && now >= nextRedraw { redraw() }
        if let current = stop {
            if checkpointStepSatisfied() {
                advance()
            } else if now >= current.deadline {
                if case .checkpoint(_, let timeout) = current.currentStep {
                    record("no new checkpoint within \(DurationFormat.string(from: timeout))")
                }
                advance()
            }
        } else if let stall = policy.limits.stall,
            now.timeIntervalSince(max(pump.lastActivity, lastCheckpoint)) >= stall
        {
            let quiet = DurationFormat.string(from: stall)
            begin(.stall, "stalled: no output and no new checkpoint for \(quiet)", .hung(policy.stop))
        } else if let trigger, now >= trigger, let earliest {
            begin(
                earliest.cause, deadlineReason(earliest),
                .graceful(
                    policy.stop, checkpoint: true, canSeeCheckpoints: supervisor.checkpointStore != nil,
                    deadline: earliest.date, now: now))
        }
    }

    private func deadlineReason(_ earliest: (date: Date, cause: StopCause)) -> String {
        switch earliest.cause {
        case .runtimeLimit: return "the runtime limit ends at \(Journal.timestamp(earliest.date))"
        case .attemptLimit:
            return "the attempt time limit (\(DurationFormat.string(from: policy.limits.attempt ?? 0))) is reached"
        default:
            return "the run's total compute budget (\(DurationFormat.string(from: policy.limits.total ?? 0))) is spent"
        }
    }

    private func redraw() {
        guard let statusLine = supervisor.statusLine else { return }
        let progress = metrics?.current
        if firstStep == nil, let step = progress?.step { firstStep = max(0, step - 1) }
        let journal = supervisor.journal!
        statusLine.draw(
            StatusLine.render(
                attempt: number, maxAttempts: number - journal.consecutiveFailures + policy.restart.maxRetries,
                step: progress?.step, total: progress?.total, firstStep: firstStep,
                attemptStarted: started, invocationStarted: journal.invocations.last?.startedAt ?? started,
                deadline: supervisor.runtimeDeadline,
                lastCheckpoint: lastCheckpointName.map { (name: $0.0, modified: $0.1) }, lastFailure: lastFailure,
                now: Date()))
        nextRedraw = Date().addingTimeInterval(1)
    }

    // MARK: - The stop sequence

    /// A signal to vigil: INT/TERM/HUP/USR1 start the stop sequence (checkpoint first); a second
    /// INT/TERM/HUP kills the group at once.
    func handle(_ signal: Signal) {
        guard Supervisor.stopSignalSet.contains(signal) || signal == .user1 else { return }
        supervisor.stopSignals.append(signal)
        guard let current = stop else {
            let checkpointFirst = policy.stop.checkpointSignal != nil && supervisor.checkpointStore != nil
            supervisor.note(
                "vigil: got \(signal); "
                    + (checkpointFirst ? "asking the trainer to checkpoint, then stopping it" : "stopping the trainer")
                    + " (a second Ctrl-C kills it at once)")
            begin(
                .signal(signal), "vigil received \(signal)",
                .graceful(policy.stop, checkpoint: true, canSeeCheckpoints: supervisor.checkpointStore != nil))
            return
        }
        let interrupts = supervisor.stopSignals.filter { $0 != .user1 }.count
        if case .hold = current.currentStep {
            // The checkpoint step is over; a stop asked for now need not wait for the deadline.
            record("got \(signal.name) while the trainer was given time before the deadline; stopping it now")
            advance()
        } else if signal != .user1, interrupts >= 2, current.sequence != .kill {
            supervisor.note("vigil: got \(signal) again; killing the trainer's process group now")
            begin(current.cause, current.reason + ", then \(signal) twice", .kill)
        } else {
            record("got \(signal.name) during the stop; vigil exits 75 after it")
            supervisor.note(
                "vigil: got \(signal); already stopping the trainer (\(current.reason)); vigil will exit 75 after it")
        }
    }

    /// Starts (or replaces) the stop: its cause and reason are in the journal before the first step acts.
    func begin(_ cause: StopCause, _ reason: String, _ sequence: StopSequence) {
        supervisor.journal.attempts[index].stopCause = cause.name
        supervisor.journal.attempts[index].stopReason = reason
        record("stop: \(reason)")
        stop = StopProgress(cause: cause, reason: reason, sequence: sequence)
        perform()
    }

    /// Carries out the current step: journal first, then its signal, and when it is over.
    private func perform() {
        guard var progress = stop else { return }
        progress.stepStarted = Date()
        progress.deadline = progress.stepStarted.addingTimeInterval(progress.currentStep.wait)
        stop = progress
        switch progress.currentStep {
        case .checkpoint(let signal, _):
            if let store = supervisor.checkpointStore {
                let valid = store.scan(.live(now: Date()), evidence: currentEvidence()).filter(\.isValid)
                stop?.checkpointsBefore = Dictionary(
                    valid.map { ($0.name, $0.modified) }, uniquingKeysWith: { a, _ in a })
            }
            if !sendCheckpointSignal(signal) { advance() }
        case .hold(let until):
            guard until > Date() else { return advance() }
            record("letting the trainer run until \(Journal.timestamp(until)) (the deadline minus stop.termGrace)")
        case .signalLeader(let signal, _):
            announce(signal, "sent \(signal.name) to the trainer: dump its stacks")
            child.signalLeader(signal)
        case .signalGroup(let signal, _):
            announce(signal, "sent \(signal.name) to the group")
            child.signalGroup(signal)
        }
    }

    /// Sends the checkpoint signal to the processes of the group that handle it; false (and
    /// journaled) when the trainer itself does not, so the stop goes on without it rather than
    /// kill the trainer by the signal's default action.
    private func sendCheckpointSignal(_ signal: Signal) -> Bool {
        let disposition = ProcessTable.disposition(of: signal, in: child.pid) ?? .caught
        guard disposition == .caught else {
            let why =
                disposition == .ignored
                ? "the trainer ignores \(signal)"
                : "the trainer does not handle \(signal) (its default action would kill it)"
            record("skipped the checkpoint signal: \(why)")
            supervisor.note("vigil: not sending \(signal): \(why); going on with the stop")
            return false
        }
        let members = processes.live().filter { $0.origin == .group }
        let deaf = members.filter { member in
            member.pid != child.pid && ProcessTable.disposition(of: signal, in: member.pid) == .default
        }
        let skipped = deaf.isEmpty ? "" : "; not to \(deaf.count) process(es) of the group that do not handle it"
        announce(signal, "sent \(signal.name) to the group: save a checkpoint\(skipped)")
        if deaf.isEmpty {
            child.signalGroup(signal)
        } else {
            child.noteSent(signal)
            for member in members where !deaf.contains(member) { AttemptProcesses.send(signal, to: member) }
        }
        return true
    }

    /// The next step, or SIGKILL again after the last (a process may have joined the group).
    func advance() {
        guard var progress = stop else { return }
        if progress.step + 1 < progress.sequence.steps.count {
            progress.step += 1
            stop = progress
            perform()
        } else {
            child.signalGroup(.kill)
            progress.deadline = Date().addingTimeInterval(1)
            stop = progress
        }
    }

    /// Whether the current step is the checkpoint step and a new valid checkpoint (named `name`, or
    /// any) is there; records it.
    private func checkpointStepSatisfied(name: String? = nil) -> Bool {
        guard let progress = stop, progress.isAtCheckpointStep, let store = supervisor.checkpointStore else {
            return false
        }
        // A name the watcher saw closed or renamed in counts at once; one found by the periodic
        // re-scan only once it has settled (it may still be being written).
        let found = store.scan(.live(now: Date()), evidence: currentEvidence())
        guard
            let fresh = found.last(where: { checkpoint in
                checkpoint.isValid && progress.checkpointsBefore[checkpoint.name] != checkpoint.modified
                    && (name == nil || checkpoint.name == name)
            })
        else { return false }
        let after = DurationFormat.string(from: Date().timeIntervalSince(progress.stepStarted))
        stop!.reason += "; checkpoint \(fresh.name) saved"
        supervisor.journal.attempts[index].stopReason = stop!.reason
        record("the trainer saved \(fresh.name) (\(fresh.evidence ?? "valid"))")
        supervisor.note(
            "vigil: the trainer saved \(fresh.name) (step \(fresh.step)) \(after) after the checkpoint signal")
        return true
    }

    func currentEvidence() -> CheckpointStore.Evidence {
        CheckpointStore.Evidence(
            observed: watcher?.observations() ?? [:], proven: supervisor.journal.checkpointProofs ?? [:])
    }

    // MARK: - Journal

    /// Appends a stop event to the journal, durably.
    func record(_ event: String) {
        supervisor.journal.attempts[index].stopEvents =
            (supervisor.journal.attempts[index].stopEvents ?? []) + [Journal.StopEvent(at: Date(), event: event)]
        supervisor.save()
    }

    /// Records a signal about to be sent (and why), durably, before it is sent.
    private func announce(_ signal: Signal, _ event: String) {
        supervisor.journal.attempts[index].signalsSent.append(
            Journal.SentSignal(signal: signal.name, at: Date(), reason: stop?.reason ?? ""))
        record(event)
    }

    // MARK: - 2. What the trainer left behind

    /// Stops every process of the attempt still alive after its trainer exited — left in its group,
    /// escaped it (`setsid`, a double fork), in its cgroup — with SIGTERM, a grace period and SIGKILL,
    /// answering signals to Vigil meanwhile (a second Ctrl-C goes straight to SIGKILL).
    func stopLeftovers() {
        var sweep = LeftoverSweep(processes: processes, grace: policy.stop.termGrace)
        if case .signalGroup(.kill, _)? = stop?.currentStep { sweep.escalate() }
        var announced = false
        while true {
            sweep.step { signal, members in
                if !announced, stop == nil {
                    announced = true
                    let reason = "the trainer exited and left \(members.count) process(es) running"
                    supervisor.journal.attempts[index].stopCause = StopCause.leftovers.name
                    supervisor.journal.attempts[index].stopReason = reason
                    stop = StopProgress(
                        cause: .leftovers, reason: reason, sequence: .graceful(policy.stop, checkpoint: false))
                    record("stop: \(reason)")
                }
                let pids = members.map { String($0.pid) }.joined(separator: ", ")
                announce(signal, "sent \(signal.name) to \(members.count) process(es) left by the trainer: \(pids)")
            }
            if sweep.isDone { break }
            guard let event = events.next(until: sweep.nextLook) else { continue }
            switch event {
            case .signal(let signal):
                guard Supervisor.stopSignalSet.contains(signal) || signal == .user1 else { break }
                supervisor.stopSignals.append(signal)
                if signal != .user1 { sweep.escalate() }
            case .outputClosed(let n) where n == number:
                outputClosed = true
            default:
                break
            }
        }
        leftovers = sweep.record
        let escaped = leftovers.filter { $0.foundBy != AttemptProcesses.Origin.group.rawValue }
        if !escaped.isEmpty {
            let list = escaped.map { process in
                let command = process.command.prefix(60).map { $0.isNewline || $0 == "\t" ? " " : String($0) }.joined()
                return "pid \(process.pid) (\(command), found by \(process.foundBy)): \(process.ended)"
            }
            supervisor.note(
                "vigil: stopped \(escaped.count) process(es) that escaped the trainer's group: "
                    + list.joined(separator: "; "))
        }
        processes.cgroup?.remove()
    }

    // MARK: - 3. The rest of the output

    /// Drains what is left in the pipes; a process outside Vigil's reach may hold them open forever,
    /// so this wait is bounded.
    func drainOutput() {
        guard !outputClosed else { return }
        let deadline = Date().addingTimeInterval(2)
        while !outputClosed, let event = events.next(until: deadline) {
            if case .outputClosed(let n) = event, n == number { outputClosed = true }
            if case .signal(let signal) = event, Supervisor.stopSignalSet.contains(signal) {
                supervisor.stopSignals.append(signal)
            }
        }
        guard !outputClosed else { return }
        supervisor.note(
            "vigil: a process outside the trainer's reach still holds its output open; no longer reading it")
        pump.cancel()
        while !outputClosed, let event = events.next(until: Date().addingTimeInterval(5)) {
            if case .outputClosed(let n) = event, n == number { outputClosed = true }
        }
    }
}

extension StopCause {
    var isSignal: Bool {
        if case .signal = self { return true }
        return false
    }

    /// Stops that ask for a checkpoint first (and that a live rule may pre-empt).
    var isGracefulStop: Bool {
        switch self {
        case .runtimeLimit, .attemptLimit, .totalBudget: return true
        default: return false
        }
    }

    var liveRuleName: String? {
        if case .liveRule(let rule, _) = self { return rule }
        return nil
    }
}
