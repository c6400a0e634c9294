import Foundation

/// What the attempt machine is told: everything that happens to an attempt, as plain values.
public enum AttemptEvent: Sendable, Equatable {
    /// Time passed: the machine's `nextWake` came. `lastOutput`: when the trainer last printed.
    case tick(lastOutput: Instant)
    /// The trainer (the process vigil started) exited; it is reaped.
    case childExited(Termination)
    /// Both output streams reached EOF (or were cancelled).
    case outputClosed
    /// A signal was sent to vigil.
    case signal(Signal)
    /// The watcher saw a checkpoint finished: closed after writing, or renamed in.
    case checkpointFinished(name: String)
    /// A live rule matched: an output line, or a metric that diverged.
    case liveMatch(LiveMatch)
    /// The answer to `checkListeners`: whether the trainer handles the checkpoint signal and, when it
    /// does not, why not; how many other processes of its group do not.
    case listeners(trainerListens: Bool, why: String, deafOthers: Int)
    /// The answer to `lookForCheckpoint`: the new valid checkpoint, if one is there.
    case checkpointLooked(NewCheckpoint?)
    /// The answer to `lookForLeftovers`: the pids of what is left of the attempt.
    case leftoversFound([Int32])
    /// The driver has just sent `signal` (after journaling it): the step's time runs from now, not
    /// from when the machine decided (the journal's writes in between may take a while).
    case signalSent(Signal)
    /// The save the watcher sees under way changed (nil: none is).
    case saveState(SaveUnderWay?)
    /// A save was measured and the checkpoint lead in force is now this (`checkpointLead: "auto"`);
    /// a stop already under way keeps its course.
    case lead(Double, minimumRun: Double)
}

/// A save under way: a checkpoint (or an atomic save's temporary file) written to and not finished.
public struct SaveUnderWay: Sendable, Equatable {
    public var name: String
    /// When it was last written to.
    public var lastWrite: Instant

    public init(name: String, lastWrite: Instant) {
        self.name = name
        self.lastWrite = lastWrite
    }
}

/// A live rule's match: the rule, the line, and from when checkpoints may hold the poisoned state.
public struct LiveMatch: Sendable, Equatable {
    public var rule: String
    public var line: String
    /// Checkpoints modified after this may hold what the line reports (vigil had not read it before).
    public var poisonedAfter: Date
    /// For a `diverged` rule: the metric, its value, and the onset.
    public var divergence: Divergence?

    public init(rule: String, line: String, poisonedAfter: Date, divergence: Divergence? = nil) {
        self.rule = rule
        self.line = line
        self.poisonedAfter = poisonedAfter
        self.divergence = divergence
    }
}

/// A new checkpoint found during the checkpoint step.
public struct NewCheckpoint: Sendable, Equatable {
    public var name: String
    public var step: Int
    /// What proved it complete.
    public var evidence: String

    public init(name: String, step: Int, evidence: String) {
        self.name = name
        self.step = step
        self.evidence = evidence
    }
}

/// What the attempt machine asks for; the driver carries it out, in order.
public enum AttemptEffect: Sendable, Equatable {
    /// Add to the attempt's journal record, durably, before any later effect acts.
    case record(AttemptRecord)
    /// A line for the person watching (stderr).
    case note(String)
    /// Find out who in the group handles `signal`; answer with `.listeners`.
    case checkListeners(Signal)
    /// Remember the valid checkpoints as they are now, then send `signal` to the processes of the
    /// group that handle it.
    case sendCheckpointSignal(Signal)
    case signalGroup(Signal)
    case signalLeader(Signal)
    /// Look for a new valid checkpoint since the checkpoint signal (named `name`, or any); answer
    /// with `.checkpointLooked`.
    case lookForCheckpoint(name: String?)
    /// Find what is left of the attempt (its group, what escaped it, its cgroup); answer with
    /// `.leftoversFound`.
    case lookForLeftovers
    /// Send `signal` to these leftover processes (SIGKILL: to the cgroup as well).
    case signalLeftovers(Signal, [Int32])
    /// Stop reading output that a process outside vigil's reach holds open.
    case cancelOutput
}

/// A change to the attempt's journal record.
public enum AttemptRecord: Sendable, Equatable {
    /// A stop began (or replaced another): its cause and reason.
    case stop(StopCause, reason: String)
    /// The stop's reason, updated (the checkpoint it saved).
    case stopReason(String)
    /// A step of the stop, in words.
    case event(String)
    /// A signal about to be sent, and why.
    case signal(Signal, reason: String)
}

/// How an attempt ended, for the classifier and the journal.
public struct AttemptEnd: Sendable, Equatable {
    public var status: Termination
    /// The stop that was under way (nil when the trainer ended by itself, or finished before vigil
    /// sent it anything but the checkpoint signal).
    public var stopCause: StopCause?
    public var stopReason: String?
    /// The attempt's first live match, whether or not it stopped the trainer (it may come while another
    /// stop is under way, or after the trainer exited): the classifier's to weigh.
    public var liveMatch: LiveMatch?
    /// The trainer exited 0 during a stop, before any terminating signal: it finished.
    public var finishedDuringStop: Bool
}

/// One attempt's decisions as a value, and nothing else: no processes, no files, no clock of its
/// own. `handle(_:at:)` takes an event and the monotonic time and returns what to do; `nextWake`
/// says when to call it with a `.tick` if nothing happens first. It walks the stop sequence (a
/// deadline's, a signal's, a stall's, a live rule's), then the sweep of what the trainer left, then
/// the wait for its output to close, and ends with `end`.
public struct AttemptMachine: Sendable {
    /// What the machine needs to know of the policy and the attempt.
    public struct Configuration: Sendable, Equatable {
        public var stop: Policy.Stop
        public var stall: Double?
        /// Whether vigil can see checkpoints (`checkpoints.pattern`): the checkpoint step needs it.
        public var canSeeCheckpoints: Bool
        public var started: Instant
        /// The attempt's earliest deadline and what it is.
        public var deadline: Instant?
        public var deadlineCause: StopCause?
        /// How the deadline reads in the journal (`the runtime limit ends at …`).
        public var deadlineReason: String = ""
        /// How long the checkpoint step re-scans between watcher events.
        public var rescanEvery = 0.25
        /// How often what is left of the attempt is looked for (membership has no event).
        public var sweepEvery = 0.05
        /// After SIGKILL, how long to wait for the last processes before giving up on them.
        public var killWait = 10.0
        /// How long to wait for the output to close once everything is gone, then after cancelling.
        public var drainWait = 2.0
        public var cancelWait = 5.0
        /// A deadline's checkpoint signal waits until the attempt has run this long (about one save:
        /// before, it has made nothing worth saving).
        public var minimumRunBeforeCheckpoint = 0.0
        /// How often the trainer saved on its own in the run (measured), for the journal's word when it
        /// does not answer the checkpoint signal.
        public var checkpointInterval: Double?

        public init(stop: Policy.Stop, stall: Double?, canSeeCheckpoints: Bool, started: Instant) {
            self.stop = stop
            self.stall = stall
            self.canSeeCheckpoints = canSeeCheckpoints
            self.started = started
        }
    }

    public enum Phase: Sendable, Equatable {
        /// The trainer runs (a stop may be under way).
        case running
        /// The trainer exited; what it left behind is being stopped.
        case sweeping
        /// Nothing is left; waiting for the output to close.
        case draining
        case done
    }

    public internal(set) var configuration: Configuration
    public internal(set) var phase = Phase.running
    public internal(set) var stop: StopProgress?
    public internal(set) var status: Termination?
    public internal(set) var outputClosed = false
    /// Stop signals (INT, TERM, HUP, USR1) vigil received during the attempt, in order.
    public internal(set) var stopSignals: [Signal] = []
    /// Whether vigil sent anything that ends a process (not the checkpoint signal).
    public internal(set) var sentTerminatingSignal = false
    var lastActivity: Instant
    var lastCheckpoint: Instant
    var liveMatch: LiveMatch?
    /// The save the watcher sees under way: a stall waits for it, and so does SIGTERM.
    public internal(set) var save: SaveUnderWay?
    /// When the trainer last finished a checkpoint in this attempt (nil: none yet).
    var lastCheckpointSeen: Instant?
    var lastRescan: Instant
    var sweep: Sweep?
    var drainEnds: Instant?
    var cancelled = false

    /// The stop of the trainer's leftovers, and when to look at them next.
    struct Sweep: Sendable, Equatable {
        var leftovers: LeftoverSweep
        var nextLook: Instant
        /// A look was asked for and has not come back yet.
        var looking = false
    }

    public init(_ configuration: Configuration) {
        self.configuration = configuration
        lastActivity = configuration.started
        lastCheckpoint = configuration.started
        lastRescan = configuration.started
    }

    public var isDone: Bool { phase == .done }

    /// When the deadline's stop begins: `checkpointLead + termGrace` before the deadline, so that
    /// SIGTERM goes out `termGrace` before it.
    /// Never before the attempt has run `minimumRunBeforeCheckpoint`, nor after `termGrace` before
    /// the deadline.
    public var trigger: Instant? {
        configuration.deadline.map { deadline in
            let stop = configuration.stop
            let normal = deadline - stop.checkpointLead - stop.termGrace
            let worth = configuration.started + configuration.minimumRunBeforeCheckpoint
            let latest = max(configuration.started, deadline - stop.termGrace)
            return min(max(configuration.started, normal, worth), latest)
        }
    }

    /// Whether a save under way keeps the trainer counted as active: it was written to within
    /// `stop.checkpointTimeout` (a save stuck longer than that does not hide a hang).
    func saveKeepsAlive(_ now: Instant) -> Bool {
        guard let save else { return false }
        return now.since(save.lastWrite) < configuration.stop.checkpointTimeout
    }

    /// When to call `handle(.tick(…))` if no event comes first; nil: wait for an event.
    public var nextWake: Instant? {
        switch phase {
        case .running:
            if let stop {
                if stop.isAtCheckpointStep { return min(stop.deadline, lastRescan + configuration.rescanEvery) }
                return stop.deadline
            }
            var stallAt = configuration.stall.map { max(lastActivity, lastCheckpoint) + $0 }
            if let at = stallAt, let save { stallAt = max(at, save.lastWrite + configuration.stop.checkpointTimeout) }
            return [trigger, stallAt].compactMap { $0 }.min()
        case .sweeping:
            guard let sweep, !sweep.looking else { return nil }
            return min(sweep.leftovers.phaseEnds, sweep.nextLook)
        case .draining:
            return drainEnds
        case .done:
            return nil
        }
    }

    /// How the attempt ended, once `isDone`.
    public var end: AttemptEnd? {
        guard phase == .done, let status else { return nil }
        let finished = status == .exited(0) && stop != nil && !sentTerminatingSignal
        return AttemptEnd(
            status: status, stopCause: finished ? nil : stop?.cause, stopReason: stop?.reason,
            liveMatch: liveMatch, finishedDuringStop: finished)
    }

    /// Takes `event` at `now`; returns what to do, in order.
    public mutating func handle(_ event: AttemptEvent, at now: Instant) -> [AttemptEffect] {
        switch event {
        case .tick(let lastOutput):
            lastActivity = max(lastActivity, lastOutput)
            return tick(now)
        case .childExited(let status):
            return childExited(status, now)
        case .outputClosed:
            outputClosed = true
            if phase == .draining { phase = .done }
            return []
        case .signal(let signal):
            return received(signal, now)
        case .checkpointFinished(let name):
            lastCheckpoint = now
            lastCheckpointSeen = now
            if save?.name == name { save = nil }
            guard phase == .running, let current = stop else { return [] }
            if current.awaitingSave { return saveEnded(now) }
            guard current.isAtCheckpointStep else { return [] }
            return [.lookForCheckpoint(name: name)]
        case .liveMatch(let match):
            guard liveMatch == nil else { return [] }
            liveMatch = match
            guard phase == .running, stop == nil || stop!.cause.isGracefulStop else { return [] }
            let shown = match.line.trimmingCharacters(in: .whitespaces)
            let what = match.divergence.map { "\($0.description) (\(shown))" } ?? shown
            return [.note("vigil: live rule '\(match.rule)' matched: \(what); stopping without a checkpoint")]
                + begin(
                    .liveRule(rule: match.rule, line: match.line), "live rule '\(match.rule)' matched",
                    .graceful(configuration.stop, checkpoint: false), now)
        case .listeners(let listens, let why, let deaf):
            return listenersAnswered(listens, why, deaf, now)
        case .checkpointLooked(let found):
            return checkpointLooked(found, now)
        case .leftoversFound(let pids):
            return leftoversFound(pids, now)
        case .signalSent(let signal):
            signalSent(signal, now)
            return []
        case .lead(let seconds, let minimumRun):
            configuration.stop.checkpointLead = seconds
            configuration.minimumRunBeforeCheckpoint = minimumRun
            return []
        case .saveState(let state):
            save = state
            guard state == nil, phase == .running, stop?.awaitingSave == true else { return [] }
            return saveEnded(now)
        }
    }
}
