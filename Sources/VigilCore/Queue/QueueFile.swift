import Foundation

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
        var text = "{\n  \"version\": \(version),\n  \"nextSequence\": \(nextSequence),\n  \"jobs\": ["
        text.reserveCapacity(jobs.count * 400)
        for (index, job) in jobs.enumerated() {
            text += index == 0 ? "\n    " : ",\n    "
            var writer = QueueJSON.Writer()
            QueueFile.write(job, to: &writer)
            text += writer.text
        }
        text += jobs.isEmpty ? "]\n}\n" : "\n  ]\n}\n"
        return Data(text.utf8)
    }

    static func write(_ job: QueueJob, to writer: inout QueueJSON.Writer) {
        writer.object { member in
            member.string("name", job.name)
            member.integer("sequence", job.sequence)
            member.strings("command", job.command)
            member.string("workingDirectory", job.workingDirectory)
            member.string("policy", job.policy)
            member.strings("runArguments", job.runArguments.isEmpty ? nil : job.runArguments)
            if !job.matrix.isEmpty {
                member.raw("matrix") { nested in
                    nested.object { pairs in for item in job.matrix { pairs.string(item.key, item.value) } }
                }
            }
            member.strings("after", job.after.isEmpty ? nil : job.after)
            member.integer("priority", job.priority == 0 ? nil : job.priority)
            member.number("retrainAfter", job.retrainAfter)
            member.time("addedAt", job.addedAt)
            member.string("state", job.state.rawValue)
            member.bool("fresh", job.fresh ? true : nil)
            member.bool("retraining", job.retraining ? true : nil)
            member.integer("attempts", job.attempts == 0 ? nil : job.attempts)
            member.integer("runs", job.runs == 0 ? nil : job.runs)
            if let verdict = job.lastVerdict {
                member.raw("lastVerdict") { nested in
                    nested.object { v in
                        v.string("verdict", verdict.verdict)
                        v.string("rule", verdict.rule)
                        v.string("reason", verdict.reason)
                    }
                }
            }
            member.integer("lastExitCode", job.lastExitCode.map(Int.init))
            member.string("reason", job.reason)
            member.time("lastSucceededAt", job.lastSucceededAt)
            member.time("lastStartedAt", job.lastStartedAt)
            member.time("lastEndedAt", job.lastEndedAt)
            member.number(
                "timeUsedSeconds", job.timeUsedSeconds == 0 ? nil : (job.timeUsedSeconds * 1000).rounded() / 1000)
            if let claim = job.claim {
                member.raw("claim") { nested in write(claim, to: &nested) }
            }
        }
    }

    static func write(_ claim: QueueJob.Claim, to writer: inout QueueJSON.Writer) {
        writer.object { member in
            member.integer("runnerPID", Int(claim.runner.pid))
            member.number("runnerStartTime", claim.runner.startTime.map { Double($0) })
            member.string("host", claim.host)
            member.integer("vigilPID", claim.vigil.map { Int($0.pid) })
            member.number("vigilStartTime", claim.vigil?.startTime.map { Double($0) })
            member.string("slot", claim.slot)
            member.time("at", claim.at)
            member.bool("retrain", claim.retrain ? true : nil)
        }
    }

    // MARK: - Reading

    /// Parses a queue file.
    /// - Throws: `QueueJSON.Problem` with the line and column of the first thing wrong.
    public static func decode(_ data: Data) throws -> QueueFile {
        var reader = QueueJSON.Reader(Array(data))
        var file = QueueFile()
        var sawVersion = false
        var sawJobs = false
        reader.skipSpace()
        try reader.object("the queue") { reader, key in
            switch key {
            case "version":
                let at = reader.offset
                file.version = try reader.integer("version")
                guard file.version == currentVersion else {
                    throw reader.problem(
                        at: at,
                        "version \(file.version) is not one this vigil reads (\(currentVersion)); a newer vigil wrote it?"
                    )
                }
                sawVersion = true
            case "nextSequence": file.nextSequence = try reader.integer("nextSequence")
            case "jobs":
                sawJobs = true
                try reader.array("jobs") { reader, index in file.jobs.append(try job(&reader, "jobs[\(index)]")) }
            default: throw unknownKey(key, in: "the queue", at: reader, known: ["version", "nextSequence", "jobs"])
            }
        }
        try reader.end()
        guard sawVersion, sawJobs else {
            throw QueueJSON.Problem(
                line: 1, column: 1, message: "not a queue file: it has no \"version\" or no \"jobs\"")
        }
        try checkNames(file)
        file.nextSequence = max(file.nextSequence, (file.jobs.map(\.sequence).max() ?? 0) + 1)
        return file
    }

    static let jobKeys = [
        "name", "sequence", "command", "workingDirectory", "policy", "runArguments", "matrix", "after", "priority",
        "retrainAfter", "addedAt", "state", "fresh", "retraining", "attempts", "runs", "lastVerdict", "lastExitCode",
        "reason",
        "lastSucceededAt", "lastStartedAt", "lastEndedAt", "timeUsedSeconds", "claim",
    ]

    private static func job(_ reader: inout QueueJSON.Reader, _ path: String) throws -> QueueJob {
        var job = QueueJob(
            name: "", sequence: 0, command: [], workingDirectory: "", addedAt: Date(timeIntervalSince1970: 0))
        let start = reader.offset
        var required: Set<String> = ["name", "command", "workingDirectory"]
        try reader.object(path) { reader, key in
            required.remove(key)
            try field(key, of: &job, &reader, path)
        }
        if let missing = required.sorted().first {
            throw reader.problem(at: start, "\(path) has no \"\(missing)\"")
        }
        if job.command.isEmpty { throw reader.problem(at: start, "\(path): the command is empty") }
        return job
    }

    private static func field(_ key: String, of job: inout QueueJob, _ r: inout QueueJSON.Reader, _ path: String) throws
    {
        let what = "\(path).\(key)"
        switch key {
        case "name": job.name = try r.string(what)
        case "sequence": job.sequence = try r.integer(what)
        case "command": job.command = try r.strings(what)
        case "workingDirectory": job.workingDirectory = try r.string(what)
        case "policy": job.policy = r.null() ? nil : try r.string(what)
        case "runArguments": job.runArguments = try r.strings(what)
        case "matrix": job.matrix = try r.stringPairs(what).map { QueueJob.MatrixValue(key: $0.0, value: $0.1) }
        case "after": job.after = try r.strings(what)
        case "priority": job.priority = try r.integer(what)
        case "retrainAfter": job.retrainAfter = r.null() ? nil : try r.number(what)
        case "addedAt": job.addedAt = try r.time(what)
        case "state":
            let at = r.offset
            let text = try r.string(what)
            guard let state = QueueJob.State(rawValue: text) else {
                let names = QueueJob.State.allCases.map(\.rawValue)
                throw r.problem(at: at, "\(what): '\(text)' is not a state (\(names.joined(separator: ", ")))")
            }
            job.state = state
        case "fresh": job.fresh = try r.bool(what)
        case "retraining": job.retraining = try r.bool(what)
        case "attempts": job.attempts = try r.integer(what)
        case "runs": job.runs = try r.integer(what)
        case "lastVerdict": job.lastVerdict = r.null() ? nil : try verdict(&r, what)
        case "lastExitCode": job.lastExitCode = r.null() ? nil : Int32(clamping: try r.integer(what))
        case "reason": job.reason = r.null() ? nil : try r.string(what)
        case "lastSucceededAt": job.lastSucceededAt = r.null() ? nil : try r.time(what)
        case "lastStartedAt": job.lastStartedAt = r.null() ? nil : try r.time(what)
        case "lastEndedAt": job.lastEndedAt = r.null() ? nil : try r.time(what)
        case "timeUsedSeconds": job.timeUsedSeconds = try r.number(what)
        case "claim": job.claim = r.null() ? nil : try claim(&r, what)
        default: throw unknownKey(key, in: path, at: r, known: jobKeys)
        }
    }

    private static func verdict(_ reader: inout QueueJSON.Reader, _ path: String) throws -> QueueJob.LastVerdict {
        var verdict = QueueJob.LastVerdict(verdict: "", rule: "", reason: "")
        try reader.object(path) { reader, key in
            switch key {
            case "verdict": verdict.verdict = try reader.string("\(path).verdict")
            case "rule": verdict.rule = try reader.string("\(path).rule")
            case "reason": verdict.reason = try reader.string("\(path).reason")
            default: throw unknownKey(key, in: path, at: reader, known: ["verdict", "rule", "reason"])
            }
        }
        return verdict
    }

    private static func claim(_ reader: inout QueueJSON.Reader, _ path: String) throws -> QueueJob.Claim {
        var claim = QueueJob.Claim(
            runner: .init(pid: 0, startTime: nil), host: "", vigil: nil, slot: nil, at: Date(timeIntervalSince1970: 0))
        var vigilPID: Int32?
        var vigilStart: UInt64?
        try reader.object(path) { r, key in
            let what = "\(path).\(key)"
            switch key {
            case "runnerPID": claim.runner.pid = Int32(clamping: try r.integer(what))
            case "runnerStartTime": claim.runner.startTime = UInt64(exactly: try r.number(what))
            case "host": claim.host = try r.string(what)
            case "vigilPID": vigilPID = Int32(clamping: try r.integer(what))
            case "vigilStartTime": vigilStart = UInt64(exactly: try r.number(what))
            case "slot": claim.slot = r.null() ? nil : try r.string(what)
            case "at": claim.at = try r.time(what)
            case "retrain": claim.retrain = try r.bool(what)
            default:
                let known = [
                    "runnerPID", "runnerStartTime", "host", "vigilPID", "vigilStartTime", "slot", "at", "retrain",
                ]
                throw unknownKey(key, in: path, at: r, known: known)
            }
        }
        claim.vigil = vigilPID.map { QueueJob.ProcessIdentity(pid: $0, startTime: vigilStart) }
        return claim
    }

    private static func unknownKey(
        _ key: String, in path: String, at reader: QueueJSON.Reader, known: [String]
    )
        -> QueueJSON.Problem
    {
        let suggestion = Spelling.nearest(key, in: known).map { " (did you mean '\($0)'?)" } ?? ""
        // The reader stands at the value; the key is just before it.
        return reader.problem(at: reader.offset, "unknown key '\(key)' in \(path)\(suggestion)")
    }

    /// Every job's name is a valid run name, and no two jobs share one.
    private static func checkNames(_ file: QueueFile) throws {
        var seen = Set<String>()
        for (index, job) in file.jobs.enumerated() {
            do {
                try RunDirectory.validate(name: job.name)
            } catch let error as VigilError {
                throw QueueJSON.Problem(line: 0, column: 0, message: "jobs[\(index)]: \(error.message)")
            }
            guard seen.insert(job.name).inserted else {
                throw QueueJSON.Problem(line: 0, column: 0, message: "two jobs are called '\(job.name)'")
            }
        }
    }
}
