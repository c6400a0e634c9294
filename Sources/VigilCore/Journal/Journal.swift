import Foundation

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
    public var attempts: [Attempt] = []
    public var invocations: [Invocation] = []
    /// Why the run ended, when it has.
    public var outcome: RunOutcome?

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
    public enum RunState: String, Codable, Sendable {
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

        /// Whether a rerun of the same command has nothing left to do.
        public var isFinished: Bool { self == .succeeded || self == .failed || self == .gaveUp }
    }

    /// One start of the trainer.
    public struct Attempt: Codable, Sendable, Equatable {
        public var number: Int
        public var argv: [String]
        public var resumeFrom: String?
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

    /// ISO 8601 with milliseconds, UTC: timings are compared at that resolution.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    public static func date(fromTimestamp text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
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
            throw VigilError(.io, file: path, "the journal is not valid (\(error)); move it away or use --fresh")
        }
    }

    public func write(to path: String) throws {
        try AtomicFile.write(try encoded(), to: path)
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
