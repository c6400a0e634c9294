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

/// One job of the queue (`logs/queue.json`): what to run — a trainer command under `vigil run`,
/// as one run named after the job — and where it stands.
public struct QueueJob: Sendable, Equatable {
    /// Where a job stands, as the queue file records it. `blocked` is not among them: it is what
    /// a pending job is while one of its `after` jobs failed (`QueueView`).
    public enum State: String, Sendable, CaseIterable {
        /// Waiting to run (never run, retried, or replaced).
        case pending
        /// Claimed by a `vigil queue run`, whose `vigil run` supervises it.
        case running
        /// Its run succeeded.
        case done
        /// Its run failed unrecoverably (exit 1), or `vigil run` refused it (64, 66, 78).
        case failed
        /// Its run used up its retry budget (exit 2).
        case gaveUp = "gave-up"
        /// Stopped before it finished, resumable (exit 75: the queue's time limit, a signal, `vigil
        /// stop`; or its `vigil run` died): the next `queue run` continues it first.
        case stopped = "stopped-resumable"
    }

    /// One value of the job's matrix: `symbol` = `BTCEUR`.
    public struct MatrixValue: Sendable, Equatable {
        public var key: String
        public var value: String

        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    /// The last verdict of the job's run (its journal's newest attempt with one).
    public struct LastVerdict: Sendable, Equatable {
        public var verdict: String
        public var rule: String
        public var reason: String

        public init(verdict: String, rule: String, reason: String) {
            self.verdict = verdict
            self.rule = rule
            self.reason = reason
        }
    }

    /// A process, recognised across pid reuse by its start time, on a host.
    public struct ProcessIdentity: Sendable, Equatable {
        public var pid: Int32
        public var startTime: UInt64?

        public init(pid: Int32, startTime: UInt64?) {
            self.pid = pid
            self.startTime = startTime
        }
    }

    /// A running job's claim: which `queue run` picked it, and the `vigil run` it started.
    public struct Claim: Sendable, Equatable {
        /// The `vigil queue run` that owns the job.
        public var runner: ProcessIdentity
        public var host: String
        /// The `vigil run` supervising the job, once started.
        public var vigil: ProcessIdentity?
        /// The slot (`--slots`) the job holds: its `VIGIL_SLOT` and `CUDA_VISIBLE_DEVICES`.
        public var slot: String?
        public var at: Date
        /// Started as a retraining (with `--fresh`).
        public var retrain = false

        public init(runner: ProcessIdentity, host: String, vigil: ProcessIdentity?, slot: String?, at: Date) {
            self.runner = runner
            self.host = host
            self.vigil = vigil
            self.slot = slot
            self.at = at
        }
    }

    /// The job's name, which is also its run's name under the log directory.
    public var name: String
    /// Insertion order: ties of priority run in this order.
    public var sequence: Int
    /// The trainer command (argv), placeholders replaced.
    public var command: [String]
    /// Where `queue add` was run: the job's `vigil run` runs there.
    public var workingDirectory: String
    /// `--policy` of its `vigil run`; nil = the embedded default.
    public var policy: String?
    /// Other options of its `vigil run` (`--checkpoint-dir=…`, `--max-retries=…`), as given.
    public var runArguments: [String] = []
    /// Its matrix values, in the order of `--matrix`; empty for a job added without one.
    public var matrix: [MatrixValue] = []
    /// Jobs that must be done before this one starts.
    public var after: [String] = []
    /// Higher runs first.
    public var priority = 0
    /// A done job becomes due for retraining this long after its last success.
    public var retrainAfter: Double?
    public var addedAt: Date
    public var state = State.pending
    /// The next run starts over (`vigil run --fresh`): after `queue retry` or `--replace`.
    public var fresh = false
    /// Its run is a retraining (started because it was due), until it is done.
    public var retraining = false
    /// Attempts of its run so far (from its journal).
    public var attempts = 0
    /// How many times a `queue run` started its `vigil run`.
    public var runs = 0
    public var lastVerdict: LastVerdict?
    /// The exit code of its last `vigil run`.
    public var lastExitCode: Int32?
    /// Why it is in its state: the run's outcome, or what vigil said when it refused the job.
    public var reason: String?
    public var lastSucceededAt: Date?
    public var lastStartedAt: Date?
    public var lastEndedAt: Date?
    /// Wall-clock seconds its `vigil run` took, over all queue runs.
    public var timeUsedSeconds = 0.0
    public var claim: Claim?

    public init(name: String, sequence: Int, command: [String], workingDirectory: String, addedAt: Date) {
        self.name = name
        self.sequence = sequence
        self.command = command
        self.workingDirectory = workingDirectory
        self.addedAt = addedAt
    }

    /// `BTCEUR-lightgbm`: the matrix values joined by `-` (`VIGIL_JOB_KEY`); empty without a matrix.
    public var key: String { matrix.map(\.value).joined(separator: "-") }

    /// When a done job with `retrainAfter` becomes (or became) due again.
    public var dueAt: Date? {
        guard state == .done, let retrainAfter, let last = lastSucceededAt else { return nil }
        return last.addingTimeInterval(retrainAfter)
    }

    /// Whether it is done and due for retraining at `now`.
    public func isDue(at now: Date) -> Bool { dueAt.map { now >= $0 } ?? false }

    /// The same work: everything that decides what runs (not its state or its history).
    public func definesSameWork(as other: QueueJob) -> Bool {
        command == other.command && workingDirectory == other.workingDirectory && policy == other.policy
            && runArguments == other.runArguments && matrix == other.matrix
    }
}
