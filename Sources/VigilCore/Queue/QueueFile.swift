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

/// The queue as `logs/queue.json` holds it: its jobs, in insertion order. Written one job per line
/// (valid JSON, readable, and a change to one job is a change to one line); times are Unix seconds.
public struct QueueFile: Sendable, Equatable {
    public static let currentVersion = 1

    public var version = QueueFile.currentVersion
    /// The sequence number the next job gets.
    public var nextSequence = 1
    public var jobs: [QueueJob] = []

    public init(jobs: [QueueJob] = []) {
        self.jobs = jobs
        nextSequence = (jobs.map(\.sequence).max() ?? 0) + 1
    }

    /// The index of the job called `name`.
    public func index(of name: String) -> Int? { jobs.firstIndex { $0.name == name } }

    /// Every job by name.
    public var byName: [String: Int] {
        var map: [String: Int] = [:]
        map.reserveCapacity(jobs.count)
        for (index, job) in jobs.enumerated() { map[job.name] = index }
        return map
    }

    // MARK: - Writing

    public func encoded() -> Data {
        var writer = JSONTextWriter(capacity: 200 + jobs.count * 400)
        writer.raw("{\n  \"version\": \(version),\n  \"nextSequence\": \(nextSequence),\n  \"jobs\": [")
        for (index, job) in jobs.enumerated() {
            writer.raw(index == 0 ? "\n    " : ",\n    ")
            QueueFile.write(job, to: &writer)
        }
        writer.raw(jobs.isEmpty ? "]\n}\n" : "\n  ]\n}\n")
        return Data(writer.bytes)
    }

    static func write(_ job: QueueJob, to w: inout JSONTextWriter) {
        w.beginObject()
        w.string("name", job.name)
        w.integer("sequence", job.sequence)
        w.strings("command", job.command)
        w.string("workingDirectory", job.workingDirectory)
        w.string("policy", job.policy)
        w.strings("runArguments", job.runArguments.isEmpty ? nil : job.runArguments)
        if !job.matrix.isEmpty {
            w.key("matrix")
            w.beginObject()
            for item in job.matrix { w.string(item.key, item.value) }
            w.endObject()
        }
        w.strings("after", job.after.isEmpty ? nil : job.after)
        w.integer("priority", job.priority == 0 ? nil : job.priority)
        w.number("retrainAfter", job.retrainAfter)
        w.time("addedAt", job.addedAt)
        w.string("state", job.state.rawValue)
        w.bool("fresh", job.fresh ? true : nil)
        w.bool("retraining", job.retraining ? true : nil)
        w.integer("attempts", job.attempts == 0 ? nil : job.attempts)
        w.integer("runs", job.runs == 0 ? nil : job.runs)
        if let verdict = job.lastVerdict {
            w.key("lastVerdict")
            write(verdict, to: &w)
        }
        w.integer("lastExitCode", job.lastExitCode.map(Int.init))
        w.string("reason", job.reason)
        w.time("lastSucceededAt", job.lastSucceededAt)
        w.time("lastStartedAt", job.lastStartedAt)
        w.time("lastEndedAt", job.lastEndedAt)
        w.number("timeUsedSeconds", job.timeUsedSeconds == 0 ? nil : (job.timeUsedSeconds * 1000).rounded() / 1000)
        if let claim = job.claim {
            w.key("claim")
            write(claim, to: &w)
        }
        w.endObject()
    }

    static func write(_ verdict: QueueJob.LastVerdict, to w: inout JSONTextWriter) {
        w.beginObject()
        w.string("verdict", verdict.verdict)
        w.string("rule", verdict.rule)
        w.string("reason", verdict.reason)
        w.endObject()
    }

    static func write(_ claim: QueueJob.Claim, to w: inout JSONTextWriter) {
        w.beginObject()
        w.integer("runnerPID", Int(claim.runner.pid))
        w.number("runnerStartTime", claim.runner.startTime.map { Double($0) })
        w.string("host", claim.host)
        w.integer("vigilPID", claim.vigil.map { Int($0.pid) })
        w.number("vigilStartTime", claim.vigil?.startTime.map { Double($0) })
        w.string("slot", claim.slot)
        w.time("at", claim.at)
        w.bool("retrain", claim.retrain ? true : nil)
        w.endObject()
    }

    // MARK: - Reading

    /// Parses a queue file.
    /// - Throws: `QueueJSON.Problem` with the line and column of the first thing wrong.
    public static func decode(_ data: Data) throws -> QueueFile {
        var file = try QueueJSON.Reader.read(data) { reader in try decode(&reader) }
        try checkNames(file)
        file.nextSequence = max(file.nextSequence, (file.jobs.map(\.sequence).max() ?? 0) + 1)
        return file
    }

    private static func decode(_ reader: inout QueueJSON.Reader) throws -> QueueFile {
        var file = QueueFile()
        var sawVersion = false
        var sawJobs = false
        reader.skipSpace()
        try reader.object("the queue", keys: topKeys) { reader, key in
            switch key {
            case .version:
                let at = reader.offset
                file.version = try reader.integer("version")
                guard file.version == currentVersion else {
                    throw reader.problem(
                        at: at,
                        "version \(file.version) is not one this vigil reads (\(currentVersion)); a newer vigil wrote it?"
                    )
                }
                sawVersion = true
            case .nextSequence: file.nextSequence = try reader.integer("nextSequence")
            case .jobs:
                sawJobs = true
                try reader.array("jobs") { reader, index in file.jobs.append(try job(&reader, index)) }
            }
        }
        try reader.end()
        guard sawVersion, sawJobs else {
            throw QueueJSON.Problem(
                line: 1, column: 1, message: "not a queue file: it has no \"version\" or no \"jobs\"")
        }
        return file
    }

    private enum TopKey: String, CaseIterable { case version, nextSequence, jobs }
    private static let topKeys = QueueJSON.Keys<TopKey>()

    /// A job's keys, in the order `write` writes them (the order `Keys` looks them up in).
    enum JobKey: String, CaseIterable {
        case name, sequence, command, workingDirectory, policy, runArguments, matrix, after, priority, retrainAfter
        case addedAt, state, fresh, retraining, attempts, runs, lastVerdict, lastExitCode, reason, lastSucceededAt
        case lastStartedAt, lastEndedAt, timeUsedSeconds, claim
    }
    private static let jobKeys = QueueJSON.Keys<JobKey>()

    private enum VerdictKey: String, CaseIterable { case verdict, rule, reason }
    private static let verdictKeys = QueueJSON.Keys<VerdictKey>()

    private enum ClaimKey: String, CaseIterable {
        case runnerPID, runnerStartTime, host, vigilPID, vigilStartTime, slot, at, retrain
    }
    private static let claimKeys = QueueJSON.Keys<ClaimKey>()

    /// `jobs[index]`.
    private static func job(_ reader: inout QueueJSON.Reader, _ index: Int) throws -> QueueJob {
        func path() -> String { "jobs[\(index)]" }
        var job = QueueJob(
            name: "", sequence: 0, command: [], workingDirectory: "", addedAt: Date(timeIntervalSince1970: 0))
        let start = reader.offset
        var seen = (name: false, command: false, directory: false)
        try reader.object(path(), keys: jobKeys) { reader, key in
            switch key {
            case .name: seen.name = true
            case .command: seen.command = true
            case .workingDirectory: seen.directory = true
            default: break
            }
            try field(key, of: &job, &reader, path)
        }
        let missing = [(seen.command, "command"), (seen.name, "name"), (seen.directory, "workingDirectory")]
        if let (_, key) = missing.first(where: { !$0.0 }) {
            throw reader.problem(at: start, "\(path()) has no \"\(key)\"")
        }
        if job.command.isEmpty { throw reader.problem(at: start, "\(path()): the command is empty") }
        return job
    }

    private static func field(
        _ key: JobKey, of job: inout QueueJob, _ r: inout QueueJSON.Reader, _ path: () -> String
    ) throws {
        func what() -> String { "\(path()).\(key.rawValue)" }
        switch key {
        case .name: job.name = try r.string(what())
        case .sequence: job.sequence = try r.integer(what())
        case .command: job.command = try r.strings(what())
        case .workingDirectory: job.workingDirectory = try r.string(what())
        case .policy: job.policy = r.null() ? nil : try r.string(what())
        case .runArguments: job.runArguments = try r.strings(what())
        case .matrix: job.matrix = try r.stringPairs(what()).map { QueueJob.MatrixValue(key: $0.0, value: $0.1) }
        case .after: job.after = try r.strings(what())
        case .priority: job.priority = try r.integer(what())
        case .retrainAfter: job.retrainAfter = r.null() ? nil : try r.number(what())
        case .addedAt: job.addedAt = try r.time(what())
        case .state:
            let at = r.offset
            let text = try r.string(what())
            guard let state = QueueJob.State(rawValue: text) else {
                let names = QueueJob.State.allCases.map(\.rawValue)
                throw r.problem(at: at, "\(what()): '\(text)' is not a state (\(names.joined(separator: ", ")))")
            }
            job.state = state
        case .fresh: job.fresh = try r.bool(what())
        case .retraining: job.retraining = try r.bool(what())
        case .attempts: job.attempts = try r.integer(what())
        case .runs: job.runs = try r.integer(what())
        case .lastVerdict: job.lastVerdict = r.null() ? nil : try verdict(&r, what())
        case .lastExitCode: job.lastExitCode = r.null() ? nil : Int32(clamping: try r.integer(what()))
        case .reason: job.reason = r.null() ? nil : try r.string(what())
        case .lastSucceededAt: job.lastSucceededAt = r.null() ? nil : try r.time(what())
        case .lastStartedAt: job.lastStartedAt = r.null() ? nil : try r.time(what())
        case .lastEndedAt: job.lastEndedAt = r.null() ? nil : try r.time(what())
        case .timeUsedSeconds: job.timeUsedSeconds = try r.number(what())
        case .claim: job.claim = r.null() ? nil : try claim(&r, what())
        }
    }

    private static func verdict(
        _ reader: inout QueueJSON.Reader, _ path: @autoclosure () -> String
    ) throws
        -> QueueJob.LastVerdict
    {
        var verdict = QueueJob.LastVerdict(verdict: "", rule: "", reason: "")
        try reader.object(path(), keys: verdictKeys) { reader, key in
            switch key {
            case .verdict: verdict.verdict = try reader.string("\(path()).verdict")
            case .rule: verdict.rule = try reader.string("\(path()).rule")
            case .reason: verdict.reason = try reader.string("\(path()).reason")
            }
        }
        return verdict
    }

    private static func claim(
        _ reader: inout QueueJSON.Reader, _ path: @autoclosure () -> String
    ) throws
        -> QueueJob.Claim
    {
        var claim = QueueJob.Claim(
            runner: .init(pid: 0, startTime: nil), host: "", vigil: nil, slot: nil, at: Date(timeIntervalSince1970: 0))
        var vigilPID: Int32?
        var vigilStart: UInt64?
        try reader.object(path(), keys: claimKeys) { r, key in
            func what() -> String { "\(path()).\(key.rawValue)" }
            switch key {
            case .runnerPID: claim.runner.pid = Int32(clamping: try r.integer(what()))
            case .runnerStartTime: claim.runner.startTime = UInt64(exactly: try r.number(what()))
            case .host: claim.host = try r.string(what())
            case .vigilPID: vigilPID = Int32(clamping: try r.integer(what()))
            case .vigilStartTime: vigilStart = UInt64(exactly: try r.number(what()))
            case .slot: claim.slot = r.null() ? nil : try r.string(what())
            case .at: claim.at = try r.time(what())
            case .retrain: claim.retrain = try r.bool(what())
            }
        }
        claim.vigil = vigilPID.map { QueueJob.ProcessIdentity(pid: $0, startTime: vigilStart) }
        return claim
    }

    /// Every job's name is a valid run name, and no two jobs share one.
    private static func checkNames(_ file: QueueFile) throws {
        var seen = Set<String>()
        for (index, job) in file.jobs.enumerated() {
            do {
                if !QueueFile.isPlainName(job.name) { try RunDirectory.validate(name: job.name) }
            } catch let error as VigilError {
                throw QueueJSON.Problem(line: 0, column: 0, message: "jobs[\(index)]: \(error.message)")
            }
            guard seen.insert(job.name).inserted else {
                throw QueueJSON.Problem(line: 0, column: 0, message: "two jobs are called '\(job.name)'")
            }
        }
    }

    /// An ASCII name `RunDirectory.validate` accepts, checked byte by byte (10,000 names are read per
    /// `queue list`; the full check, with Unicode letters, runs for any other name).
    static func isPlainName(_ name: String) -> Bool {
        var count = 0
        for byte in name.utf8 {
            let ok =
                (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2D || byte == 0x5F || (byte == 0x2E && count > 0)
            guard ok else { return false }
            count += 1
        }
        return count > 0
    }
}
