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

/// The durable record of a run: `logs/<run>/journal.json`, rewritten atomically at every change.
/// `vigil status` and `vigil report` read it; a rerun continues from it.
public struct Journal: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public var version = Journal.currentVersion
    /// The run's directory name under the log directory.
    public var run: String
    /// A unique id, stable across attempts and invocations (`VIGIL_RUN_ID`).
    public var runID: String
    /// The trainer command as the user gave it (without resume arguments).
    public var command: [String]
    public var workingDirectory: String
    public var policy: String
    public var createdAt: Date
    public var updatedAt: Date
    public var state: RunState
    /// Consecutive failures that count against `restart.maxRetries`.
    public var consecutiveFailures = 0
    /// The policy's `redact` patterns, so `vigil status` and `vigil report` scrub what the run did.
    public var redactPatterns: [String]?
    /// `restart.maxRetries` of the latest invocation (for `vigil status`).
    public var maxRetries: Int?
    /// Wall-clock seconds of all attempts so far, across invocations (for `limits.total`).
    public var computeSeconds: Double = 0
    public var attempts: [Attempt] = []
    public var invocations: [Invocation] = []
    /// Why the run ended, when it has.
    public var outcome: RunOutcome?
    /// Set when the trainer's config changed and the policy said `fresh`: checkpoints older than
    /// this are not resumed from.
    public var freshSince: Date?
    /// Changes `config.schema` made to the config before the first attempt.
    public var schemaRepairs: [RepairRecord]?
    /// The config's SHA-256 after vigil's own last write of it: a different hash is the user's change.
    public var expectedConfigHash: String?
    /// Environment variables and trainer arguments set by repairs, applied to every later attempt.
    public var environmentOverrides: [String: String]?
    public var argumentOverrides: [String: String]?
    /// The highest step of any valid checkpoint the run has had: only a checkpoint past it is
    /// progress that refills the retry budget.
    public var highWaterStep: Int?
    /// Checkpoints proven complete by what Vigil observed while they were written (name → proof), so
    /// that later scans still count them; entries whose files are gone are dropped.
    public var checkpointProofs: [String: CheckpointProof]?
    /// How long the newest saves took (`CheckpointLead.kept` of them): what `checkpointLead: "auto"` reads.
    public var saveTimings: [SaveTiming]?

    public init(run: String, runID: String, command: [String], workingDirectory: String, policy: String, now: Date) {
        self.run = run
        self.runID = runID
        self.command = command
        self.workingDirectory = workingDirectory
        self.policy = policy
        self.createdAt = now
        self.updatedAt = now
        self.state = .running
    }

    /// Where a run stands.
    public enum RunState: String, Codable, Sendable, CaseIterable {
        /// A supervisor is (or was, if it died) driving it.
        case running
        /// Waiting before the next attempt.
        case backingOff = "backing-off"
        /// Stopped before completion, resumable (exit 75).
        case stopped
        /// The trainer finished (exit 0).
        case succeeded
        /// An unrecoverable failure (exit 1).
        case failed
        /// Recoverable failures used up the budget (exit 2).
        case gaveUp = "gave-up"
        /// Never written by a supervisor: what `vigil status` calls a journal that says `running` or
        /// `backing-off` whose supervisor died without recording an end (SIGKILL, a reboot, a lost
        /// node). Running the same command again continues the run.
        case interrupted
        /// Never written either: what `vigil status` calls a run whose journal cannot be read (cut
        /// short, not JSON, from another version). `vigil run --fresh` moves it aside.
        case corrupt

        /// Whether a rerun of the same command has nothing left to do.
        public var isFinished: Bool { self == .succeeded || self == .failed || self == .gaveUp }

        /// Failed, gave up, or interrupted: what a monitoring check reports as not ok.
        public var needsAttention: Bool {
            self == .failed || self == .gaveUp || self == .interrupted || self == .corrupt
        }
    }

    /// One start of the trainer.
    public struct Attempt: Codable, Sendable, Equatable {
        public var number: Int
        public var argv: [String]
        /// The checkpoint this attempt resumed from (its path), and its step.
        public var resumeFrom: String?
        public var resumeStep: Int?
        /// The newest valid checkpoint after the attempt.
        public var checkpointAfter: String?
        /// Whether the attempt wrote a new valid checkpoint.
        public var madeProgress: Bool?
        /// Checkpoints found invalid and moved to quarantine, before or after this attempt.
        public var quarantined: [CheckpointStore.Quarantined]?
        /// Checkpoints removed by retention after this attempt.
        public var pruned: [String]?
        /// Checkpoints hard-linked into preserved/ during this attempt.
        public var preserved: [String]?
        /// What Vigil could not (or would not) quarantine, preserve or remove, before or after this attempt.
        public var checkpointFailures: [CheckpointStore.Failure]?
        /// SHA-256 of the trainer's config file when the attempt started.
        public var configHash: String?
        /// Hooks run after this attempt, and how they ended.
        public var hooks: [HookRun]?
        /// Changes made because of this attempt's failure, before the next attempt.
        public var repairs: [RepairRecord]?
        public var startedAt: Date
        public var endedAt: Date?
        public var pid: Int32?
        /// The trainer's process start time (clock ticks since boot), to recognise it across pid reuse.
        public var processStartTime: UInt64?
        /// The pid of the vigil that started it.
        public var supervisorPID: Int32
        public var exit: Termination?
        /// Signals vigil sent to the trainer's group, in order.
        public var signalsSent: [SentSignal] = []
        public var verdict: Verdict?
        /// Whether this failure used up one retry of the budget.
        public var countedAgainstBudget: Bool?
        /// The wait before the next attempt, in seconds.
        public var backoffSeconds: Double?
        /// The attempt's log file, relative to the run directory.
        public var log: String
        /// Set when output could not be written to the log (e.g. a full disk); the trainer kept running.
        public var logError: String?
        public var logBytesDropped: Int?
        /// Why vigil stopped the attempt, when it did (`signal SIGTERM to vigil`, `orphaned`).
        public var stopReason: String?
        /// What stopped it: `signal`, `runtime-limit`, `attempt-limit`, `total-budget`, `stall`,
        /// `live-rule`, `leftovers`.
        public var stopCause: String?
        /// Each step of the stop sequence and what came of it, in order.
        public var stopEvents: [StopEvent]?
        /// The stack dump a hung trainer printed when asked (faulthandler).
        public var stackDump: String?
        /// The earliest deadline that applied to the attempt (`VIGIL_DEADLINE`).
        public var deadline: Date?
        /// The attempt's own cgroup (v2), when Vigil could make one: every process the trainer started
        /// is in it, so a later vigil can find them all should this one die.
        public var cgroup: String?
        /// Processes that outlived the trainer (left in its group, escaped it, in its cgroup) and were
        /// stopped after it exited.
        public var leftovers: [LeftoverProcess]?
        /// Checkpoints this attempt wrote (new, or changed), with what proved each complete or why not.
        public var checkpointsWritten: [WrittenCheckpoint]?
        /// The log stopped being written (too little free space, `output.keepFree`) and went on again.
        public var logEvents: [StopEvent]?
        /// A watched metric that diverged during the attempt, and where the divergence began.
        public var divergence: Divergence?
        /// What the attempt's failure rolled back: from where checkpoints were poisoned, and what the
        /// next attempt resumes from.
        public var rollback: Rollback?
        /// The checkpoint lead the attempt ran with, and why (`stop.checkpointLead`).
        public var checkpointLead: LeadInForce?
        /// When the attempt first showed progress: a line the progress or metrics patterns read (any
        /// output, when the policy has none), or a finished checkpoint. Before it: start-up.
        public var firstProgressAt: Date?
        /// After the attempt: how long vigil waited for the GPUs to release its memory.
        public var gpuWait: GPUWait?

        public init(number: Int, argv: [String], startedAt: Date, supervisorPID: Int32, log: String) {
            self.number = number
            self.argv = argv
            self.startedAt = startedAt
            self.supervisorPID = supervisorPID
            self.log = log
        }

        public var isOpen: Bool { endedAt == nil }
        public var duration: Double? { endedAt.map { $0.timeIntervalSince(startedAt) } }
    }

    /// A rollback after a failure that poisons the state (a divergence, a live rule): the checkpoints
    /// from its onset on were quarantined; `resumeTarget` is what the next attempt resumes from.
    public struct Rollback: Codable, Sendable, Equatable {
        /// Checkpoints of this step and later were poisoned (nil: decided by time).
        public var fromStep: Int?
        /// Else: checkpoints modified after this were.
        public var after: Date?
        /// The checkpoint the next attempt resumes from (nil: none is left; it starts fresh), and its
        /// modification time: a later checkpoint of the same name is another state.
        public var resumeTarget: String?
        public var resumeTargetModified: Date?

        public init(fromStep: Int?, after: Date?, resumeTarget: String?, resumeTargetModified: Date? = nil) {
            self.fromStep = fromStep
            self.after = after
            self.resumeTarget = resumeTarget
            self.resumeTargetModified = resumeTargetModified
        }
    }

    /// A checkpoint an attempt wrote, and the evidence that decided whether it counts.
    public struct WrittenCheckpoint: Codable, Sendable, Equatable {
        public var name: String
        public var step: Int
        /// What proved it complete (`renamed-in`, `closed-before-stop`, `format: …`, `sha256 sidecar`,
        /// `marker …`, `unproven`); nil when it is invalid.
        public var evidence: String?
        /// Why it cannot be resumed from, when it cannot.
        public var invalidReason: String?
        /// When it was finished: when vigil saw it closed or renamed in, else its modification time.
        public var at: Date?
    }

    /// The wait, after an attempt, for its GPU memory to be released (`nvidia-smi`).
    public struct GPUWait: Codable, Sendable, Equatable {
        public var seconds: Double
        /// Whether the memory was released within `limits.gpuRelease`.
        public var released: Bool
        /// The processes that held memory when the wait began (pid and MiB).
        public var holders: [String]
    }

    /// A hook that ran: which, its argv, and how it ended (`exit code 0`, `timed out after 60s`).
    public struct HookRun: Codable, Sendable, Equatable {
        public var hook: String
        public var argv: [String]
        public var startedAt: Date
        public var result: String
        public var ok: Bool
    }

    /// Hooks run when the run ended (onSuccess, onGiveUp).
    public var finalHooks: [HookRun]?

    /// One step of a stop sequence.
    public struct StopEvent: Codable, Sendable, Equatable {
        public var at: Date
        public var event: String
    }

    /// A signal vigil sent, and when.
    public struct SentSignal: Codable, Sendable, Equatable {
        public var signal: String
        public var at: Date
        public var reason: String
    }

    /// One run of `vigil run` on this run.
    public struct Invocation: Codable, Sendable, Equatable {
        public var pid: Int32
        public var processStartTime: UInt64?
        public var host: String
        public var startedAt: Date
        public var endedAt: Date?
        public var exitCode: Int32?
        /// vigil's own peak resident memory during this invocation, in KiB.
        public var peakMemoryKiB: Int?
        /// The first time this journal could not be written during the invocation (a full disk), and why;
        /// the writes were retried at every later change.
        public var journalError: String?
        /// Inside a SLURM job: the job (`123`, or `100_3` for a task of an array) and `SLURM_RESTART_COUNT`
        /// (0 on its first run, then one more after each requeue).
        public var slurmJob: String?
        public var slurmRestartCount: Int?
        /// The requeue of that job at the end of this invocation (`slurm.requeue`), or why there was none.
        public var requeue: Requeue?
    }

    /// `scontrol requeue` of the SLURM job, when an invocation ended stopped and resumable.
    public struct Requeue: Codable, Sendable, Equatable {
        /// The job as it was given to `scontrol requeue` (`123`, `100_3`).
        public var job: String
        public var at: Date
        /// Whether SLURM took the requeue: the job runs again, and continues this run.
        public var requeued: Bool
        /// What came of it: `requeued`, the tool's error, or why vigil did not requeue.
        public var result: String
        /// Whether it counts against `slurm.maxRequeues`: no attempt wrote a new checkpoint since the
        /// previous requeue.
        public var counted: Bool
        /// How many attempts the run had then: the next requeue looks for progress after them.
        public var attempts: Int

        public init(job: String, at: Date, requeued: Bool, result: String, counted: Bool, attempts: Int) {
            self.job = job
            self.at = at
            self.requeued = requeued
            self.result = result
            self.counted = counted
            self.attempts = attempts
        }
    }

    /// How the run (or this invocation) ended.
    public struct RunOutcome: Codable, Sendable, Equatable {
        public var exitCode: Int32
        public var reason: String
    }

    // MARK: - Reading and writing

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Journal.timestamp(date))
        }
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = Journal.date(fromTimestamp: text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a timestamp: \(text)")
            }
            return date
        }
        return decoder
    }()

    /// ISO 8601 with milliseconds, UTC (`2026-11-23T09:41:51.833Z`): timings are compared at that
    /// resolution. Formatted by hand: Foundation's ISO8601FormatStyle loads ICU calendars (~2.5 MiB).
    public static func timestamp(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let milliseconds = Int((totalMilliseconds % 1000 + 1000) % 1000)  // before 1970 too
        var seconds = time_t((totalMilliseconds - Int64(milliseconds)) / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // `2026-12-01T14:57:16.123Z`, digit by digit (a queue list writes 20,000 of these).
        var text: [UInt8] = Array("0000-00-00T00:00:00.000Z".utf8)
        func put(_ value: Int, _ width: Int, endingAt end: Int) {
            var rest = value
            for index in stride(from: end - 1, through: end - width, by: -1) {
                text[index] = UInt8(0x30 + rest % 10)
                rest /= 10
            }
        }
        let year = Int(parts.tm_year) + 1900
        put(min(max(year, 0), 9999), 4, endingAt: 4)
        put(Int(parts.tm_mon) + 1, 2, endingAt: 7)
        put(Int(parts.tm_mday), 2, endingAt: 10)
        put(Int(parts.tm_hour), 2, endingAt: 13)
        put(Int(parts.tm_min), 2, endingAt: 16)
        put(Int(parts.tm_sec), 2, endingAt: 19)
        put(milliseconds, 3, endingAt: 23)
        return String(decoding: text, as: UTF8.self)
    }

    /// Parses what `timestamp` writes (fractional seconds optional).
    public static func date(fromTimestamp text: String) -> Date? {
        let utf8 = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int32? {
            guard range.upperBound <= utf8.count else { return nil }
            var value: Int32 = 0
            for byte in utf8[range] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int32(byte - 0x30)
            }
            return value
        }
        guard utf8.count >= 20, utf8.last == UInt8(ascii: "Z"), let year = number(0..<4), let month = number(5..<7),
            let day = number(8..<10), let hour = number(11..<13), let minute = number(14..<16),
            let second = number(17..<19)
        else { return nil }
        var fraction = 0.0
        if utf8[19] == UInt8(ascii: ".") {
            let digits = utf8[20..<(utf8.count - 1)]
            guard !digits.isEmpty, let value = number(20..<(utf8.count - 1)) else { return nil }
            fraction = Double(value) / pow(10, Double(digits.count))
        }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Date(timeIntervalSince1970: Double(timegm(&parts)) + fraction)
    }

    public func encoded() throws -> Data {
        var data = try Journal.encoder.encode(self)
        data.append(0x0A)
        return data
    }

    /// Reads a journal; a missing file is nil, an unreadable one a clear error (never silently reset).
    public static func read(from path: String) throws -> Journal? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VigilError(.io, file: path, "cannot read the journal")
        }
        do {
            return try decoder.decode(Journal.self, from: data)
        } catch {
            throw VigilError(
                .io, file: path,
                "the journal is not valid (\(Journal.describe(error))); run with --fresh to move the run aside and start over"
            )
        }
    }

    /// A decoding error in a sentence (not the type's dump).
    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.typeMismatch(_, let context),
            DecodingError.valueNotFound(_, let context), DecodingError.keyNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).filter { !$0.isEmpty }.joined(separator: ".")
            let text = context.underlyingError.map { "\($0)" } ?? context.debugDescription
            return path.isEmpty ? text : "\(path): \(text)"
        default:
            return "\(error)"
        }
    }

    public func write(to path: String, permissions: mode_t = 0o600) throws {
        try AtomicFile.write(try encoded(), to: path, permissions: permissions)
    }
}

extension Termination: Codable {
    enum CodingKeys: String, CodingKey { case code, signal }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let code = try container.decodeIfPresent(Int32.self, forKey: .code) {
            self = .exited(code)
        } else {
            self = .signaled(try container.decode(Signal.self, forKey: .signal))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .exited(let code): try container.encode(code, forKey: .code)
        case .signaled(let signal): try container.encode(signal, forKey: .signal)
        }
    }
}
