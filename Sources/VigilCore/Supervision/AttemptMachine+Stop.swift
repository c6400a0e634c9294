import Foundation

/// The stop sequence: when a stop begins, each step, and what changes its course.
extension AttemptMachine {
    static let stopSignals: Set<Signal> = [.interrupt, .terminate, .hangup, .user1]

    mutating func tick(_ now: Instant) -> [AttemptEffect] {
        switch phase {
        case .running: return runningTick(now)
        case .sweeping: return look(now)
        case .draining: return drainTick(now)
        case .done: return []
        }
    }

    private mutating func runningTick(_ now: Instant) -> [AttemptEffect] {
        if var current = stop {
            if current.awaitingSave, now >= current.deadline {
                current.awaitingSave = false
                stop = current
                let text = "the save of \(save?.name ?? "a checkpoint") did not finish in time; going on with the stop"
                return [.record(.event(text))] + perform(now)
            }
            if now >= current.deadline {
                var effects: [AttemptEffect] = []
                if case .checkpoint(_, let timeout) = current.currentStep {
                    effects.append(.record(.event("no new checkpoint within \(DurationFormat.string(from: timeout))")))
                    effects += secondChance(now)
                }
                return effects + advance(now)
            }
            if current.isAtCheckpointStep, now >= lastRescan + configuration.rescanEvery {
                lastRescan = now  // the watch does not see everything (no inotify off Linux)
                return [.lookForCheckpoint(name: nil)]
            }
            return []
        }
        if let stall = configuration.stall, now.since(max(lastActivity, lastCheckpoint)) >= stall,
            !saveKeepsAlive(now)
        {
            let quiet = DurationFormat.string(from: stall)
            return begin(
                .stall, "stalled: no output and no new checkpoint for \(quiet)", .hung(configuration.stop), now)
        }
        if let trigger, now >= trigger, let deadline = configuration.deadline,
            let cause = configuration.deadlineCause
        {
            let sequence = StopSequence.graceful(
                configuration.stop, checkpoint: true, canSeeCheckpoints: configuration.canSeeCheckpoints,
                deadline: deadline, now: now)
            return begin(cause, configuration.deadlineReason, sequence, now)
        }
        return []
    }

    /// A signal to vigil: INT/TERM/HUP/USR1 start the stop sequence (checkpoint first); during a
    /// `hold` one ends the hold; a second INT/TERM/HUP kills at once.
    mutating func received(_ signal: Signal, _ now: Instant) -> [AttemptEffect] {
        guard AttemptMachine.stopSignals.contains(signal) else { return [] }
        stopSignals.append(signal)
        switch phase {
        case .running: break
        case .sweeping:
            guard signal != .user1 else { return [] }
            sweep?.leftovers.escalate(now: now)
            return look(now)
        case .draining, .done: return []
        }
        guard let current = stop else {
            let checkpointFirst = configuration.stop.checkpointSignal != nil && configuration.canSeeCheckpoints
            let note =
                "vigil: got \(signal); "
                + (checkpointFirst ? "asking the trainer to checkpoint, then stopping it" : "stopping the trainer")
                + " (a second Ctrl-C kills it at once)"
            let sequence = StopSequence.graceful(
                configuration.stop, checkpoint: true, canSeeCheckpoints: configuration.canSeeCheckpoints)
            return [.note(note)] + begin(.signal(signal), "vigil received \(signal)", sequence, now)
        }
        let interrupts = stopSignals.filter { $0 != .user1 }.count
        if case .hold = current.currentStep {
            let text = "got \(signal.name) while the trainer was given time before the deadline; stopping it now"
            return [.record(.event(text))] + advance(now)
        }
        if signal != .user1, interrupts >= 2, current.sequence != .kill {
            return [.note("vigil: got \(signal) again; killing the trainer's process group now")]
                + begin(current.cause, current.reason + ", then \(signal) twice", .kill, now)
        }
        return [
            .record(.event("got \(signal.name) during the stop; vigil exits 75 after it")),
            .note(
                "vigil: got \(signal); already stopping the trainer (\(current.reason)); vigil will exit 75 after it"),
        ]
    }

    /// Starts (or replaces) the stop: its cause and reason are journaled before the first step acts.
    mutating func begin(
        _ cause: StopCause, _ reason: String, _ sequence: StopSequence, _ now: Instant
    )
        -> [AttemptEffect]
    {
        let first = sequence.steps[0]
        stop = StopProgress(
            cause: cause, reason: reason, sequence: sequence, deadline: first.ends(startingAt: now), stepStarted: now)
        return [.record(.stop(cause, reason: reason)), .record(.event("stop: \(reason)"))] + perform(now)
    }

    /// Carries out the current step: journal first, then its signal.
    mutating func perform(_ now: Instant) -> [AttemptEffect] {
        guard var progress = stop else { return [] }
        progress.stepStarted = now
        progress.deadline = progress.currentStep.ends(startingAt: now)
        stop = progress
        switch progress.currentStep {
        case .checkpoint(let signal, _):
            lastRescan = now
            return [.checkListeners(signal)]
        case .hold(let until):
            guard until > now else { return advance(now) }
            let when = "\(DurationFormat.string(from: until.since(now))) more"
            return [.record(.event("letting the trainer run \(when), until termGrace before the deadline"))]
        case .signalLeader(let signal, _):
            sentTerminatingSignal = true
            return [
                .record(.signal(signal, reason: progress.reason)),
                .record(.event("sent \(signal.name) to the trainer: dump its stacks")), .signalLeader(signal),
            ]
        case .signalGroup(.terminate, _) where waitsForSave(progress, now):
            progress.awaitingSave = true
            progress.waitedForSave = true
            var until = now + configuration.stop.checkpointTimeout
            if progress.cause.isGracefulStop, let deadline = configuration.deadline { until = min(until, deadline) }
            progress.deadline = until
            stop = progress
            let wait = DurationFormat.string(from: until.since(now))
            return [
                .record(.event("a save is under way (\(save!.name)): waiting for it, at most \(wait), before SIGTERM"))
            ]
        case .signalGroup(let signal, _):
            sentTerminatingSignal = true
            return [
                .record(.signal(signal, reason: progress.reason)), .record(.event("sent \(signal.name) to the group")),
                .signalGroup(signal),
            ]
        }
    }

    /// The trainer did not answer the checkpoint signal: when it saves on its own often enough that
    /// its next periodic checkpoint is due before SIGTERM, the journal says so (it is the last chance
    /// to keep the work since its last one).
    func secondChance(_ now: Instant) -> [AttemptEffect] {
        guard let every = configuration.checkpointInterval, let deadline = configuration.deadline,
            stop?.cause.isGracefulStop == true
        else { return [] }
        let due = (lastCheckpointSeen ?? configuration.started) + every
        let termAt = deadline - configuration.stop.termGrace
        guard due > now, due < termAt else { return [] }
        let text =
            "the trainer's own periodic checkpoint (every \(DurationFormat.string(from: every))) is due in "
            + "\(DurationFormat.string(from: due.since(now))), before SIGTERM: the last chance to keep the work since its last one"
        return [.record(.event(text))]
    }

    /// Whether SIGTERM should wait: a save is under way, the stop is vigil's own for a deadline or a
    /// signal (not a hang, a live rule or leftovers), and it has not waited yet; a deadline that has
    /// come leaves no time to wait.
    func waitsForSave(_ progress: StopProgress, _ now: Instant) -> Bool {
        guard save != nil, !progress.waitedForSave, progress.cause.isGracefulStop || progress.cause.isSignal else {
            return false
        }
        if progress.cause.isGracefulStop, let deadline = configuration.deadline, now >= deadline { return false }
        return true
    }

    /// The save SIGTERM waited for finished: SIGTERM now.
    mutating func saveEnded(_ now: Instant) -> [AttemptEffect] {
        guard var current = stop, current.awaitingSave else { return [] }
        current.awaitingSave = false
        stop = current
        return [.record(.event("the save finished; going on with the stop"))] + perform(now)
    }

    /// The next step, or SIGKILL again a second after the last (a process may have joined the group).
    mutating func advance(_ now: Instant) -> [AttemptEffect] {
        guard var progress = stop else { return [] }
        if progress.step + 1 < progress.sequence.steps.count {
            progress.step += 1
            stop = progress
            return perform(now)
        }
        progress.deadline = now + 1
        progress.repeatingKill = true
        stop = progress
        return [.signalGroup(.kill)]
    }

    /// A signal of the stop went out now: the current step's wait is measured from now.
    mutating func signalSent(_ signal: Signal, _ now: Instant) {
        if phase == .sweeping {
            sweep?.leftovers.sent(signal, now: now)
            return
        }
        guard phase == .running, var current = stop else { return }
        switch current.currentStep {
        case .checkpoint(let sent, _) where sent == signal: break
        case .signalGroup(let sent, _) where sent == signal: break
        case .signalLeader(let sent, _) where sent == signal: break
        default: return
        }
        current.stepStarted = now
        current.deadline = current.repeatingKill ? now + 1 : current.currentStep.ends(startingAt: now)
        stop = current
    }

    /// The trainer does (or does not) handle the checkpoint signal: send it, or go on without it.
    mutating func listenersAnswered(
        _ listens: Bool, _ why: String, _ deaf: Int, _ now: Instant
    )
        -> [AttemptEffect]
    {
        guard phase == .running, let current = stop, case .checkpoint(let signal, _) = current.currentStep else {
            return []
        }
        guard listens else {
            return [
                .record(.event("skipped the checkpoint signal: \(why)")),
                .note("vigil: not sending \(signal): \(why); going on with the stop"),
            ] + secondChance(now) + advance(now)
        }
        let skipped = deaf == 0 ? "" : "; not to \(deaf) process(es) of the group that do not handle it"
        return [
            .record(.signal(signal, reason: current.reason)),
            .record(.event("sent \(signal.name) to the group: save a checkpoint\(skipped)")),
            .sendCheckpointSignal(signal),
        ]
    }

    /// A look for the new checkpoint came back: found, the checkpoint step is over.
    mutating func checkpointLooked(_ found: NewCheckpoint?, _ now: Instant) -> [AttemptEffect] {
        guard phase == .running, let found, var current = stop, current.isAtCheckpointStep else { return [] }
        let after = DurationFormat.string(from: now.since(current.stepStarted))
        current.reason += "; checkpoint \(found.name) saved"
        stop = current
        return [
            .record(.stopReason(current.reason)),
            .record(.event("the trainer saved \(found.name) (\(found.evidence))")),
            .note("vigil: the trainer saved \(found.name) (step \(found.step)) \(after) after the checkpoint signal"),
        ] + advance(now)
    }
}
