import Foundation

/// Why vigil stops an attempt.
public enum StopCause: Sendable, Equatable {
    /// A signal to vigil (SIGINT/SIGTERM/SIGHUP, or a scheduler's SIGUSR1).
    case signal(Signal)
    /// This invocation's runtime limit or deadline.
    case runtimeLimit
    /// The attempt's own time limit.
    case attemptLimit
    /// The run's total compute budget.
    case totalBudget
    /// No output and no new checkpoint for `limits.stall`.
    case stall
    /// A live rule matched an output line.
    case liveRule(rule: String, line: String)
    /// The trainer exited and left processes behind (in its group, escaped from it, in its cgroup).
    case leftovers

    /// The name recorded in the journal.
    public var name: String {
        switch self {
        case .signal: return "signal"
        case .runtimeLimit: return "runtime-limit"
        case .attemptLimit: return "attempt-limit"
        case .totalBudget: return "total-budget"
        case .stall: return "stall"
        case .liveRule: return "live-rule"
        case .leftovers: return "leftovers"
        }
    }

    var isSignal: Bool {
        if case .signal = self { return true }
        return false
    }

    /// Stops for a deadline: they ask for a checkpoint first, and a live rule may pre-empt them.
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

/// The steps that stop an attempt: a value, walked one step at a time by the attempt machine.
public struct StopSequence: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        /// Send the checkpoint signal to the processes of the group that handle it (skipped when the
        /// trainer does not), wait (up to `timeout`) for a new valid checkpoint.
        case checkpoint(Signal, timeout: Double)
        /// Send nothing; let the trainer run on until `until` (a deadline minus `termGrace`): it may
        /// finish the job, or save again, in the time it was given.
        case hold(until: Instant)
        /// Send a signal to the trainer alone (a stack dump request), wait for it to end.
        case signalLeader(Signal, wait: Double)
        /// Send a signal to the whole group, wait for it to end.
        case signalGroup(Signal, wait: Double)

        /// When the step is over if nothing ends it sooner, for a step begun at `now`.
        public func ends(startingAt now: Instant) -> Instant {
            switch self {
            case .checkpoint(_, let timeout): return now + timeout
            case .hold(let until): return max(now, until)
            case .signalLeader(_, let wait), .signalGroup(_, let wait): return now + wait
            }
        }
    }

    public var steps: [Step]

    public init(steps: [Step]) {
        self.steps = steps
    }

    /// Checkpoint signal (when `checkpoint` and the policy has one) → wait → SIGTERM → grace → SIGKILL.
    /// Without a way to see the new checkpoint (no `checkpoints.pattern`), the sequence starts at
    /// SIGTERM, which the trainer protocol defines as "save if you can and exit". For a stop before a
    /// `deadline` (begun `checkpointLead + termGrace` before it), the checkpoint wait ends by
    /// `deadline − termGrace` at the latest, and the trainer then runs on until that moment (it may
    /// finish), so that SIGTERM goes out `termGrace` before the deadline and SIGKILL, if it comes, at it.
    public static func graceful(
        _ stop: Policy.Stop, checkpoint: Bool, canSeeCheckpoints: Bool = true, deadline: Instant? = nil,
        now: Instant = Instant(seconds: 0)
    ) -> StopSequence {
        var steps: [Step] = []
        let termAt = deadline.map { $0 - stop.termGrace }
        if checkpoint, canSeeCheckpoints, let signal = stop.checkpointSignal {
            let left = termAt.map { max(0, $0.since(now)) } ?? .infinity
            steps.append(.checkpoint(signal, timeout: min(stop.checkpointTimeout, left)))
        }
        if checkpoint, let termAt, termAt > now { steps.append(.hold(until: termAt)) }
        steps += [.signalGroup(.terminate, wait: stop.termGrace), .signalGroup(.kill, wait: 10)]
        return StopSequence(steps: steps)
    }

    /// For a hung trainer: the dump signal to the trainer (faulthandler prints every thread's stack
    /// and exits), then SIGTERM and SIGKILL to whatever is left.
    public static func hung(_ stop: Policy.Stop) -> StopSequence {
        var steps: [Step] = []
        if let dump = stop.dumpSignal { steps.append(.signalLeader(dump, wait: min(stop.termGrace, 5))) }
        steps += [.signalGroup(.terminate, wait: stop.termGrace), .signalGroup(.kill, wait: 10)]
        return StopSequence(steps: steps)
    }

    /// SIGKILL at once (a second Ctrl-C).
    public static let kill = StopSequence(steps: [.signalGroup(.kill, wait: 10)])
}

/// A stop in progress: why, which sequence, which step, and when the step is over.
public struct StopProgress: Sendable, Equatable {
    public var cause: StopCause
    public var reason: String
    public var sequence: StopSequence
    public var step = 0
    /// When the current step is over.
    public var deadline: Instant
    public var stepStarted: Instant
    /// Past the last step: SIGKILL again every second while anything is left.
    public var repeatingKill = false
    /// SIGTERM waits for a save under way to finish (until `deadline` at most).
    public var awaitingSave = false
    /// The wait for a save was made (once per stop).
    public var waitedForSave = false

    public var currentStep: StopSequence.Step { sequence.steps[step] }

    public var isAtCheckpointStep: Bool {
        if case .checkpoint = currentStep { return true }
        return false
    }
}
