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

/// How an attempt ended, as plain values: what the Classifier reads.
public struct AttemptOutcome: Sendable, Equatable {
    /// The exit status of the trainer.
    public var status: Termination
    /// Whether Vigil itself sent the signal that killed it (a stop, a limit), as opposed to the
    /// kernel or someone else.
    public var signalSentByVigil: Bool
    /// How long the attempt lived, in seconds.
    public var duration: Double
    /// The end of its output.
    public var tail: OutputTail
    /// What the trainer wrote to `VIGIL_ERROR_FILE`, if anything.
    public var errorFile: TrainerErrorFile?
    /// How many OOM kills the kernel recorded in our cgroup during the attempt (nil: unknown).
    public var oomKills: Int?
    /// Where that count was read (`memory.events of the attempt's cgroup`), for the verdict's reason.
    public var oomKillSource: String?
    /// Stopped because it used up its attempt time limit.
    public var timedOut: Bool
    /// Stopped because it printed nothing and wrote no checkpoint for too long.
    public var stalled: Bool
    /// The resume arguments it was started with (empty for a fresh start).
    public var resumeArguments: [String]
    /// The stop vigil made of the attempt, if any: for the stops that are vigil's own (a signal to
    /// vigil, the runtime deadline, the total budget, a live rule), it decides before any rule.
    public var stop: VigilStop?
    /// The matched rule's repair cannot go on: the failure is unrecoverable.
    public var repairExhausted: RepairExhausted?
    /// The attempt's first live match (it decides even when the trainer exited 0 after it).
    public var liveMatch: LiveMatch?
    /// A watched metric diverged during the attempt (for `diverged` rules).
    public var divergence: Divergence?

    public init(
        status: Termination, signalSentByVigil: Bool = false, duration: Double = 0, tail: OutputTail = OutputTail(),
        errorFile: TrainerErrorFile? = nil, oomKills: Int? = nil, timedOut: Bool = false, stalled: Bool = false,
        resumeArguments: [String] = [], stop: VigilStop? = nil, repairExhausted: RepairExhausted? = nil
    ) {
        self.status = status
        self.signalSentByVigil = signalSentByVigil
        self.duration = duration
        self.tail = tail
        self.errorFile = errorFile
        self.oomKills = oomKills
        self.timedOut = timedOut
        self.stalled = stalled
        self.resumeArguments = resumeArguments
        self.stop = stop
        self.repairExhausted = repairExhausted
        if stop?.cause == .attemptLimit { self.timedOut = true }
        if stop?.cause == .stall { self.stalled = true }
    }

    /// The last Python exception: from the error file first, else the last traceback on stderr,
    /// else on stdout.
    public var exception: PythonException? {
        errorFile?.exception ?? PythonException.last(in: tail.stderr) ?? PythonException.last(in: tail.stdout)
    }
}

/// A stop vigil made of an attempt: why, in words and as a cause.
public struct VigilStop: Sendable, Equatable {
    public var cause: StopCause
    public var reason: String

    public init(cause: StopCause, reason: String) {
        self.cause = cause
        self.reason = reason
    }
}

/// The decision about one attempt.
public struct Verdict: Sendable, Equatable, Codable {
    public var verdict: VerdictClass
    /// The rule that matched (`exit-0` for success, `resume-rejected` for the built-in check).
    public var rule: String
    /// One line a person reads: why this class, with the evidence.
    public var reason: String
    /// The exception the classifier saw, if any.
    public var exception: PythonException?

    public init(verdict: VerdictClass, rule: String, reason: String, exception: PythonException? = nil) {
        self.verdict = verdict
        self.rule = rule
        self.reason = reason
        self.exception = exception
    }

    enum CodingKeys: String, CodingKey {
        case verdict = "class", rule, reason, exception
    }
}
