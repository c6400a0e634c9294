import CVigil

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

/// Carries out one attempt's `AttemptMachine`: owns the trainer's process, its output pump, the
/// checkpoint watcher and the attempt's processes; turns what their threads report into events;
/// does what the machine asks — journal first, then signals — and hands slow work (checkpoint scans,
/// which may hash a file; `/proc` scans) to the worker thread, whose answers come back as events.
final class AttemptDriver {
    unowned let supervisor: Supervisor
    let number: Int
    /// The attempt's index in the journal.
    let index: Int
    let child: ChildProcess
    let pump: OutputPump
    let watcher: CheckpointWatcher?
    let processes: AttemptProcesses
    let clock: any SupervisorClock
    private(set) var machine: AttemptMachine
    /// The newest checkpoint the watcher reported (for the status line).
    private(set) var lastCheckpointName: (String, Date)?
    private(set) var recorder = LeftoverRecorder()
    /// The valid checkpoints when the checkpoint signal went out (nil before): what "new" is measured
    /// against. Written and read by jobs on the worker, in order.
    private let baseline = Locked<[String: Date]?>(nil)
    private let metrics: MetricsRecorder?
    private let lastFailure: String?
    private var nextRedraw: Instant
    /// When to give start-up's memory back: the heap it freed and the code pages only starting needed.
    /// As soon as the trainer is spawned and its output is being drained (the steady loop faults back
    /// the little it runs), then at 0.5 s and 2 s, after what an attempt's first seconds do once (its
    /// first output, checkpoint scans, status writes). Soonest first.
    private var memoryReleases: [Instant]
    private var firstStep: Int?
    /// The heartbeat file's modification time when last looked at, and when (monotonic) it changed.
    private var heartbeatSeen: Date?
    private var lastHeartbeat: Instant?
    /// The save under way the machine was last told of.
    private var reportedSave: SaveUnderWay?
    /// When the checkpoint signal went out (a save after it is timed from it), and when the
    /// trainer last finished a checkpoint.
    private var checkpointSignalAt: Date?
    private var lastFinishAt: Date?

    init(
        supervisor: Supervisor, number: Int, index: Int, child: ChildProcess, pump: OutputPump,
        watcher: CheckpointWatcher?, processes: AttemptProcesses, metrics: MetricsRecorder?,
        machine: AttemptMachine, resumeFrom: Checkpoint?
    ) {
        self.supervisor = supervisor
        self.number = number
        self.index = index
        self.child = child
        self.pump = pump
        self.watcher = watcher
        self.processes = processes
        self.metrics = metrics
        self.machine = machine
        self.clock = supervisor.clock
        self.nextRedraw = supervisor.clock.now()
        self.memoryReleases = [0, 0.5, 2].map { supervisor.clock.now() + $0 }
        self.lastCheckpointName = resumeFrom.map { ($0.name, $0.modified) }
        self.lastFailure =
            supervisor.journal.attempts.dropLast().last { $0.verdict?.verdict != .success }?.verdict?.reason
    }

    var policy: Policy { supervisor.request.policy }

    /// Runs the machine until the attempt is over: the trainer exited, nothing it started is left,
    /// its output is closed.
    func run() {
        while !machine.isDone {
            var wake = machine.nextWake
            if supervisor.statusLine != nil, machine.phase == .running { wake = min(wake ?? nextRedraw, nextRedraw) }
            if let release = memoryReleases.first { wake = min(wake ?? release, release) }
            let event = supervisor.events.next(until: wake).flatMap(translate)
            let now = clock.now()
            noteSave(now)
            noteFirstProgress()
            if supervisor.statusLine != nil, machine.phase == .running, now >= nextRedraw { redraw(now) }
            let effects = machine.handle(event ?? .tick(lastOutput: lastActivity(now)), at: now)
            for effect in effects { perform(effect) }
            if machine.phase != .running { supervisor.statusLine?.clear() }
            // Last, just before waiting again: what this turn ran is dropped with the rest, so only
            // what runs from now on (the output threads' loop, the next turn) comes back.
            if let release = memoryReleases.first, now >= release {
                cvigil_release_free_memory()
                memoryReleases.removeAll { $0 <= now }
            }
        }
        supervisor.stopSignals += machine.stopSignals
    }

    /// When the trainer last showed a sign of life: printed something, or touched its heartbeat file
    /// (`VIGIL_HEARTBEAT_FILE`: a change seen now counts as now, on the monotonic clock).
    private func lastActivity(_ now: Instant) -> Instant {
        let modified = RunStatus.modificationDate(supervisor.directory.heartbeatPath(number))
        if let modified, modified != heartbeatSeen {
            if heartbeatSeen != nil || modified > clock.date(at: machine.configuration.started) {
                lastHeartbeat = now
            }
            heartbeatSeen = modified
        }
        return max(pump.lastActivity, lastHeartbeat ?? pump.lastActivity)
    }

    /// The machine's view of what a thread reported; nil for what is not this attempt's.
    private func translate(_ event: SupervisorEvent) -> AttemptEvent? {
        switch event {
        case .childExited(let n, let status) where n == number: return .childExited(status)
        case .outputClosed(let n) where n == number: return .outputClosed
        case .signal(let signal): return .signal(signal)
        case .checkpointFinished(let n, let name) where n == number:
            lastCheckpointName = (name, clock.wallNow())
            timeSave(name)
            return .checkpointFinished(name: name)
        case .liveMatch(let n, let match) where n == number: return .liveMatch(match)
        case .logSpace(let n, let suspended, let free) where n == number:
            supervisor.logSpaceChanged(attempt: index, suspended: suspended, free: free)
            return nil
        case .checkpointLooked(let n, let found) where n == number: return .checkpointLooked(found)
        case .leftoversFound(let n, let members) where n == number:
            recorder.saw(members)
            return .leftoversFound(members.map(\.pid))
        case .listenersChecked(let n, let listens, let why, let deaf) where n == number:
            return .listeners(trainerListens: listens, why: why, deafOthers: deaf)
        case .checkpointSignalSent(let n, let signal) where n == number:
            checkpointSignalAt = clock.wallNow()
            return .signalSent(signal)
        default: return nil
        }
    }

    private func perform(_ effect: AttemptEffect) {
        switch effect {
        case .record(let record): supervisor.recordStop(record, attempt: index)
        case .note(let text): supervisor.note(text)
        case .checkListeners(let signal): checkListeners(signal)
        case .sendCheckpointSignal(let signal): sendCheckpointSignal(signal)
        case .signalGroup(let signal):
            child.signalGroup(signal)
            sent(signal)
        case .signalLeader(let signal):
            child.signalLeader(signal)
            sent(signal)
        case .lookForCheckpoint(let name): lookForCheckpoint(name)
        case .lookForLeftovers: lookForLeftovers()
        case .signalLeftovers(let signal, let pids):
            recorder.sent(signal, to: pids)
            if signal == .kill { processes.cgroup?.killAll() }
            for pid in pids { if let member = recorder.member(pid) { AttemptProcesses.send(signal, to: member) } }
            sent(signal)
        case .cancelOutput: pump.cancel()
        }
    }

    /// Tells the machine the signal is out: its wait runs from now.
    private func sent(_ signal: Signal) {
        _ = machine.handle(.signalSent(signal), at: clock.now())
    }

    // MARK: - The checkpoint signal

    /// On the worker: whether the trainer catches `signal` (`SigCgt`; off Linux: assumed), and how
    /// many others of its group would die of it; posted back.
    private func checkListeners(_ signal: Signal) {
        let (child, processes, events, number) = (self.child, self.processes, supervisor.events, self.number)
        supervisor.worker.run {
            let disposition = ProcessTable.disposition(of: signal, in: child.pid) ?? .caught
            if disposition == .default {
                // A launcher that leaves it alone (torchrun) while the processes it started, each in a
                // session of its own, handle it (the ranks): they get it, the launcher does not.
                let below = AttemptDriver.listeningDescendants(signal, processes: processes, leader: child.pid)
                if !below.isEmpty {
                    let why =
                        "the trainer does not handle \(signal), so it went to the \(below.count) process(es) it "
                        + "started that do (pid \(below.map { String($0.pid) }.joined(separator: ", ")))"
                    events.post(.listenersChecked(attempt: number, listens: true, why: why, deaf: 0))
                    return
                }
            }
            guard disposition == .caught else {
                let why =
                    disposition == .ignored
                    ? "the trainer ignores \(signal)"
                    : "the trainer does not handle \(signal) (its default action would kill it)"
                events.post(.listenersChecked(attempt: number, listens: false, why: why, deaf: 0))
                return
            }
            let deaf = AttemptDriver.deafMembers(signal, processes: processes, leader: child.pid)
            events.post(.listenersChecked(attempt: number, listens: true, why: "", deaf: deaf.count))
        }
    }

    /// The trainer's descendants and group members, but the trainer, that handle `signal`.
    static func listeningDescendants(
        _ signal: Signal, processes: AttemptProcesses, leader: Int32
    ) -> [AttemptProcesses.Member] {
        processes.live().filter { member in
            (member.origin == .group || member.origin == .descendant) && member.pid != leader
                && ProcessTable.disposition(of: signal, in: member.pid) == .caught
        }
    }

    /// Processes of the trainer's group, but the trainer, that would die of `signal` (no handler).
    static func deafMembers(
        _ signal: Signal, processes: AttemptProcesses, leader: Int32
    )
        -> [AttemptProcesses.Member]
    {
        processes.live().filter { member in
            member.origin == .group && member.pid != leader
                && ProcessTable.disposition(of: signal, in: member.pid) == .default
        }
    }

    /// On the worker: notes the valid checkpoints (the baseline for "new"), then signals the
    /// listeners; posted back, so the step's wait runs from the sending.
    private func sendCheckpointSignal(_ signal: Signal) {
        let (child, processes, events, number) = (self.child, self.processes, supervisor.events, self.number)
        let store = supervisor.checkpointStore
        let proven = supervisor.journal.checkpointProofs ?? [:]
        let watcher = self.watcher
        let baseline = self.baseline
        supervisor.worker.run {
            var before: [String: Date] = [:]
            if let store {
                let evidence = CheckpointStore.Evidence(observed: watcher?.observations() ?? [:], proven: proven)
                let valid = store.scan(.live(now: Date()), evidence: evidence).filter(\.isValid)
                before = Dictionary(valid.map { ($0.name, $0.modified) }, uniquingKeysWith: { a, _ in a })
            }
            let deaf = AttemptDriver.deafMembers(signal, processes: processes, leader: child.pid)
            if ProcessTable.disposition(of: signal, in: child.pid) == .default {
                child.noteSent(signal)
                for member in AttemptDriver.listeningDescendants(signal, processes: processes, leader: child.pid) {
                    AttemptProcesses.send(signal, to: member)
                }
            } else if deaf.isEmpty {
                child.signalGroup(signal)
            } else {
                child.noteSent(signal)
                for member in processes.live() where member.origin == .group && !deaf.contains(member) {
                    AttemptProcesses.send(signal, to: member)
                }
            }
            baseline.withLock { $0 = before }
            events.post(.checkpointSignalSent(attempt: number, signal))
        }
    }

    /// On the worker: a valid checkpoint not in the baseline (named `name`, or any), posted back.
    private func lookForCheckpoint(_ name: String?) {
        guard let store = supervisor.checkpointStore else { return }
        let baseline = self.baseline
        let proven = supervisor.journal.checkpointProofs ?? [:]
        let watcher = self.watcher
        let events = supervisor.events
        let number = self.number
        supervisor.worker.run {
            // Before the signal went out there is nothing to compare with, so nothing is new yet.
            guard let before = baseline.current else {
                events.post(.checkpointLooked(attempt: number, nil))
                return
            }
            // A name the watcher saw closed or renamed in counts at once; one found by the periodic
            // re-scan only once it has settled (it may still be being written).
            let evidence = CheckpointStore.Evidence(observed: watcher?.observations() ?? [:], proven: proven)
            let fresh = store.scan(.live(now: Date()), evidence: evidence).last { checkpoint in
                checkpoint.isValid && before[checkpoint.name] != checkpoint.modified
                    && (name == nil || checkpoint.name == name)
            }
            let found = fresh.map { NewCheckpoint(name: $0.name, step: $0.step, evidence: $0.evidence ?? "valid") }
            events.post(.checkpointLooked(attempt: number, found))
        }
    }

    /// On the worker: what is left of the attempt, posted back.
    private func lookForLeftovers() {
        let processes = self.processes
        let events = supervisor.events
        let number = self.number
        supervisor.worker.run {
            events.post(.leftoversFound(attempt: number, processes.live()))
        }
    }

    // MARK: - Saves and progress

    /// Tells the machine when the save the watcher sees under way changed.
    private func noteSave(_ now: Instant) {
        let seen = watcher?.saveInProgress().map { save in
            SaveUnderWay(name: save.name, lastWrite: clock.instant(at: save.lastWrite))
        }
        guard seen != reportedSave else { return }
        reportedSave = seen
        for effect in machine.handle(.saveState(seen), at: now) { perform(effect) }
    }

    /// How long the save of `name` took: from the checkpoint signal when vigil asked for it, else
    /// from the first write the watcher saw; kept in the journal (`checkpointLead: "auto"` reads it).
    private func timeSave(_ name: String) {
        let finished = watcher?.lastObservation(of: name)
        let at = finished?.at ?? clock.wallNow()
        defer { lastFinishAt = at }
        var timing: SaveTiming?
        if let sent = checkpointSignalAt, sent > (lastFinishAt ?? .distantPast) {
            timing = SaveTiming(
                name: name, seconds: max(0, at.timeIntervalSince(sent)), from: .checkpointSignal, at: at)
        } else if let started = finished?.writeStarted {
            timing = SaveTiming(name: name, seconds: max(0, at.timeIntervalSince(started)), from: .firstWrite, at: at)
        }
        if let timing {
            supervisor.journal.saveTimings = Array(
                ((supervisor.journal.saveTimings ?? []) + [timing]).suffix(CheckpointLead.kept))
            updateLead()
        }
        if supervisor.journal.attempts[index].firstProgressAt == nil {
            supervisor.journal.attempts[index].firstProgressAt = at
        }
    }

    /// A new measurement may change the lead (`checkpointLead: "auto"`): the machine and the journal
    /// follow, and the change is printed.
    private func updateLead() {
        guard policy.stop.leadIsAuto, machine.phase == .running, machine.stop == nil else { return }
        let lead = supervisor.leadInForce()
        guard abs(lead.seconds - machine.configuration.stop.checkpointLead) >= 0.001 else { return }
        let minimumRun = CheckpointLead.percentile95((supervisor.journal.saveTimings ?? []).map(\.seconds)) ?? 0
        _ = machine.handle(.lead(lead.seconds, minimumRun: minimumRun), at: clock.now())
        supervisor.journal.attempts[index].checkpointLead = lead
        supervisor.note("vigil: checkpoint lead now \(DurationFormat.string(from: lead.seconds)) (\(lead.why))")
    }

    /// The attempt's first sign of progress: a line the progress or metrics patterns read (any
    /// output, for a policy without them). A finished checkpoint counts too (`timeSave`).
    private func noteFirstProgress() {
        guard supervisor.journal.attempts[index].firstProgressAt == nil else { return }
        // The first line's time, not the newest: the loop wakes for events, not for each line.
        if let metrics {
            if let at = metrics.firstSeen { supervisor.journal.attempts[index].firstProgressAt = at }
        } else if let first = pump.firstOutput {
            supervisor.journal.attempts[index].firstProgressAt = clock.date(at: first)
        }
    }

    // MARK: - The status line

    private func redraw(_ now: Instant) {
        guard let statusLine = supervisor.statusLine else { return }
        let progress = metrics?.current
        if firstStep == nil, let step = progress?.step { firstStep = max(0, step - 1) }
        let journal = supervisor.journal!
        let started = clock.date(at: machine.configuration.started)
        statusLine.draw(
            supervisor.redactor.redact(
                StatusLine.render(
                    attempt: number,
                    maxAttempts: policy.restart.lastAttempt(
                        attempt: number, consecutiveFailures: journal.consecutiveFailures),
                    step: progress?.step, total: progress?.total, firstStep: firstStep, attemptStarted: started,
                    invocationStarted: journal.invocations.last?.startedAt ?? started,
                    deadline: supervisor.runtimeDeadline.map { clock.date(at: $0) },
                    lastCheckpoint: lastCheckpointName.map { (name: $0.0, modified: $0.1) }, lastFailure: lastFailure,
                    now: clock.wallNow(), lead: machine.configuration.stop.checkpointLead)))
        nextRedraw = now + 1
    }
}
