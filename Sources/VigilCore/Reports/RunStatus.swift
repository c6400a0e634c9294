import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a run stands right now, for `vigil status`: its journal, checked against the system (is the
/// supervisor that wrote it still alive?) and against the run directory's files (when did the trainer
/// last print?). Reading it never takes the run's lock, so it works from another terminal while the
/// run is live; the journal is replaced by rename, so a read sees one whole version of it.
public struct RunStatus: Codable, Sendable, Equatable {
    /// The run's state as a person should read it: the journal's, except that a journal stuck at
    /// `running` or `backing-off` whose supervisor is gone is `interrupted`.
    public typealias State = Journal.RunState

    /// The outcome of `health(staleAfter:)`, one per `vigil status --check` exit code.
    public enum Health: String, Codable, Sendable {
        case ok
        /// Failed, gave up, or interrupted.
        case failed
        /// Live, but neither output nor a checkpoint for longer than the allowed age.
        case stale
    }

    /// The `vigil run` process of the last invocation.
    public struct SupervisorProcess: Codable, Sendable, Equatable {
        public var pid: Int32
        public var host: String
        public var startedAt: Date
        /// Whether it is still alive: its pid exists with the recorded start time. Nil when it ran on
        /// another host, where this machine cannot look.
        public var alive: Bool?
    }

    /// The attempt the supervisor is running now.
    public struct LiveAttempt: Codable, Sendable, Equatable {
        public var number: Int
        public var pid: Int32?
        public var startedAt: Date
        /// Seconds since it started.
        public var runningSeconds: Double
        public var argv: [String]
        /// Its log file, relative to the run directory.
        public var log: String
        /// Why vigil is stopping it, while a stop is under way (journaled before each step is taken).
        public var stopping: String?
    }

    /// The newest attempt that did not succeed.
    public struct Failure: Codable, Sendable, Equatable {
        public var attempt: Int
        public var endedAt: Date?
        /// `exit code 1`, `killed by SIGKILL`.
        public var exit: String?
        public var verdict: Verdict?
        public var stopReason: String?
    }

    /// The newest checkpoint the journal knows of.
    public struct CheckpointInfo: Codable, Sendable, Equatable {
        public var path: String
        /// The attempt after which it was the newest valid one.
        public var attempt: Int
        /// Its modification time; nil when the file is gone (pruned, quarantined, moved).
        public var modifiedAt: Date?
    }

    /// The name recorded in the journal.
    public var run: String
    public var runID: String
    /// The run directory that was read.
    public var directory: String
    public var policy: String
    public var command: [String]
    public var state: State
    /// The state as the journal records it.
    public var recordedState: Journal.RunState
    public var supervisor: SupervisorProcess?
    public var liveAttempt: LiveAttempt?
    /// The trainer of an interrupted run's open attempt, when it outlived its supervisor.
    public var orphanedTrainerPID: Int32?
    /// How many attempts were started.
    public var attempts: Int
    public var lastVerdict: Verdict?
    /// The attempt `lastVerdict` is about.
    public var lastVerdictAttempt: Int?
    public var lastFailure: Failure?
    /// Consecutive failures counted against the retry budget.
    public var consecutiveFailures: Int
    /// The budget (`restart.maxRetries`) of the run's latest invocation.
    public var maxRetries: Int?
    /// Wall-clock seconds of all attempts, the live one included so far.
    public var computeSeconds: Double
    /// When the newest attempt's log was last written.
    public var lastOutputAt: Date?
    public var lastCheckpoint: CheckpointInfo?
    /// While backing off: when the next attempt starts.
    public var nextAttemptAt: Date?
    public var outcome: Journal.RunOutcome?
    public var createdAt: Date
    public var updatedAt: Date
    /// The moment this status describes (ages are relative to it).
    public var checkedAt: Date
    /// Why the journal could not be read, when the state is `corrupt`.
    public var problem: String?
    /// Where the run's wall time went, so far.
    public var goodput: Goodput?

    /// The most recent sign of activity: the journal's last change or the last output.
    public var lastActivityAt: Date { max(updatedAt, lastOutputAt ?? updatedAt) }

    // MARK: - Reading

    /// Reads the status of the run in `runDirectory` (`logs/<run>`).
    /// - Parameter maxRetries: the retry budget, to show `consecutive failures k/n`; the journal does
    ///   not record it.
    /// A journal that cannot be read is a `corrupt` run, not an error: a monitor must see it.
    /// - Throws: `VigilError(.notFound)` when there is no journal.
    public static func read(runDirectory: String, now: Date, maxRetries: Int? = nil) throws -> RunStatus {
        let path = runDirectory + "/journal.json"
        let journal: Journal?
        do {
            journal = try Journal.read(from: path)
        } catch let error as VigilError {
            return RunStatus(corrupt: runDirectory, problem: error.message, now: now)
        }
        guard let journal else {
            throw VigilError(.notFound, file: runDirectory, "no run here (no journal.json)")
        }
        return RunStatus(
            journal: journal, runDirectory: runDirectory, now: now, maxRetries: maxRetries ?? journal.maxRetries)
    }

    /// The status of a run whose journal cannot be read.
    init(corrupt runDirectory: String, problem: String, now: Date) {
        let name = (runDirectory as NSString).lastPathComponent
        let modified = RunStatus.modificationDate(runDirectory + "/journal.json") ?? now
        self.init(
            journal: Journal(run: name, runID: "", command: [], workingDirectory: "", policy: "", now: modified),
            runDirectory: runDirectory, now: now)
        self.problem = problem
        state = .corrupt
        recordedState = .corrupt
        supervisor = nil
        attempts = 0
    }

    /// The status of every run under `logDirectory` (each subdirectory with a journal.json), most
    /// recently active first. A run whose journal cannot be read is listed as `corrupt`.
    public static func list(logDirectory: String, now: Date) -> [RunStatus] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: logDirectory) else { return [] }
        var found: [RunStatus] = []
        for entry in entries where !entry.hasPrefix(".") {
            let directory = logDirectory + "/" + entry
            guard FileManager.default.fileExists(atPath: directory + "/journal.json"),
                let status = try? read(runDirectory: directory, now: now)
            else { continue }
            found.append(status)
        }
        return found.sorted {
            $0.lastActivityAt != $1.lastActivityAt
                ? $0.lastActivityAt > $1.lastActivityAt : $0.directory < $1.directory
        }
    }

    /// Computes the status from a journal already read.
    public init(journal: Journal, runDirectory: String, now: Date, maxRetries: Int? = nil) {
        run = journal.run
        runID = journal.runID
        directory = runDirectory
        policy = journal.policy
        command = journal.command
        recordedState = journal.state
        attempts = journal.attempts.count
        consecutiveFailures = journal.consecutiveFailures
        self.maxRetries = maxRetries
        outcome = journal.outcome
        createdAt = journal.createdAt
        updatedAt = journal.updatedAt
        checkedAt = now

        let localHost = ProcessInfo.processInfo.hostName
        if let invocation = journal.invocations.last {
            let local = invocation.host == localHost
            supervisor = SupervisorProcess(
                pid: invocation.pid, host: invocation.host, startedAt: invocation.startedAt,
                alive: local ? ProcessTable.isAlive(invocation.pid, startTime: invocation.processStartTime) : nil)
        }

        state = journal.state
        // Only the supervisor can move the journal on: if it is gone, so is the run.
        if state == .running || state == .backingOff, supervisor?.alive == false || supervisor == nil {
            state = .interrupted
        }

        let last = journal.attempts.last
        computeSeconds = journal.computeSeconds
        if let last, last.isOpen {
            if state == .running {
                let running = max(0, now.timeIntervalSince(last.startedAt))
                liveAttempt = LiveAttempt(
                    number: last.number, pid: last.pid, startedAt: last.startedAt, runningSeconds: running,
                    argv: last.argv, log: last.log, stopping: last.stopReason)
                computeSeconds += running
            } else if state == .interrupted, supervisor?.host == localHost, let pid = last.pid,
                ProcessTable.isAlive(pid, startTime: last.processStartTime)
            {
                orphanedTrainerPID = pid
            }
        }
        if state == .backingOff, let last, let ended = last.endedAt, let delay = last.backoffSeconds {
            nextAttemptAt = ended.addingTimeInterval(delay)
        }
        if let last { lastOutputAt = RunStatus.modificationDate(runDirectory + "/" + last.log) }

        goodput = journal.invocations.isEmpty ? nil : Goodput(journal: journal, now: now)
        let judged = journal.attempts.last { $0.verdict != nil }
        lastVerdict = judged?.verdict
        lastVerdictAttempt = judged?.number
        if let failed = journal.attempts.last(where: { $0.verdict.map { $0.verdict != .success } ?? false }) {
            lastFailure = Failure(
                attempt: failed.number, endedAt: failed.endedAt, exit: failed.exit?.description,
                verdict: failed.verdict, stopReason: failed.stopReason)
        }
        if let attempt = journal.attempts.last(where: { $0.checkpointAfter != nil }), let path = attempt.checkpointAfter
        {
            let absolute = Paths.absolute(path, in: journal.workingDirectory)
            lastCheckpoint = CheckpointInfo(
                path: path, attempt: attempt.number, modifiedAt: RunStatus.modificationDate(absolute))
        }
    }

    // MARK: - Checking

    /// Whether the run needs attention, for `vigil status --check`: `failed` when it failed, gave up
    /// or was interrupted; `stale` when it is live, `staleAfter` is given, and both its last output
    /// and its newest checkpoint are older than that; else `ok`. The reason is one line for a person.
    public func health(staleAfter: Double?) -> (health: Health, reason: String) {
        switch state {
        case .failed, .gaveUp:
            return (.failed, "\(state.rawValue): \(outcome?.reason ?? "no reason recorded")")
        case .corrupt:
            return (.failed, "corrupt: \(problem ?? "the journal cannot be read")")
        case .interrupted:
            var reason = "interrupted: the journal says \(recordedState.rawValue) but its supervisor"
            if let supervisor {
                reason += " (vigil pid \(supervisor.pid) on \(supervisor.host))"
            }
            reason += " is gone"
            if let orphanedTrainerPID {
                reason += "; its trainer (pid \(orphanedTrainerPID)) is still running"
            }
            return (.failed, reason + "; run the same command again to continue")
        case .succeeded, .stopped:
            return (.ok, "\(state.rawValue): \(outcome?.reason ?? "no reason recorded")")
        case .backingOff:
            var reason = "backing off after attempt \(attempts)"
            if let nextAttemptAt { reason += ", next attempt \(RunStatus.relative(nextAttemptAt, from: checkedAt))" }
            return (.ok, reason)
        case .running:
            guard let live = liveAttempt else { return (.ok, "running, between attempts") }
            // No log yet counts as output at the attempt's start: a fresh attempt is not stale.
            let output = lastOutputAt ?? live.startedAt
            let outputAge = checkedAt.timeIntervalSince(output)
            let checkpointAge = lastCheckpoint?.modifiedAt.map { checkedAt.timeIntervalSince($0) }
            let ages =
                "last output \(RunStatus.age(outputAge))"
                + (checkpointAge.map { ", newest checkpoint \(RunStatus.age($0))" } ?? ", no checkpoint yet")
            if let staleAfter, outputAge > staleAfter, (checkpointAge ?? .infinity) > staleAfter {
                return (
                    .stale,
                    "stale: attempt \(live.number) is running but printed nothing and wrote no checkpoint for more than \(DurationFormat.string(from: staleAfter)) (\(ages))"
                )
            }
            return (.ok, "running: attempt \(live.number), \(ages)")
        }
    }

    /// `health(staleAfter:)` as ok or not.
    public func check(staleAfter: Double?) -> (ok: Bool, reason: String) {
        let result = health(staleAfter: staleAfter)
        return (result.health == .ok, result.reason)
    }

    /// A copy with every free text (argv, reasons, exceptions) passed through `redactor`, for display.
    public func redacted(by redactor: Redactor) -> RunStatus {
        var copy = self
        copy.command = redactor.redact(argv: command)
        if let argv = liveAttempt?.argv { copy.liveAttempt?.argv = redactor.redact(argv: argv) }
        copy.liveAttempt?.stopping = liveAttempt?.stopping.map { redactor.redact($0) }
        copy.outcome?.reason = redactor.redact(outcome?.reason ?? "")
        copy.lastVerdict = lastVerdict.map { RunStatus.redact($0, redactor) }
        copy.lastFailure?.verdict = lastFailure?.verdict.map { RunStatus.redact($0, redactor) }
        copy.lastFailure?.stopReason = lastFailure?.stopReason.map { redactor.redact($0) }
        return copy
    }

    private static func redact(_ verdict: Verdict, _ redactor: Redactor) -> Verdict {
        var copy = verdict
        copy.reason = redactor.redact(verdict.reason)
        copy.exception?.message = redactor.redact(verdict.exception?.message ?? "")
        copy.exception?.traceback = verdict.exception?.traceback.map { redactor.redact($0) }
        return copy
    }

    /// The status as pretty-printed JSON, timestamps as in the journal.
    public func encoded() throws -> Data {
        var data = try Journal.encoder.encode(self)
        data.append(0x0A)
        return data
    }

    /// A list of statuses as a JSON array.
    public static func encoded(_ statuses: [RunStatus]) throws -> Data {
        var data = try Journal.encoder.encode(statuses)
        data.append(0x0A)
        return data
    }

    // MARK: - Helpers

    static func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    /// `12s ago`, `3h5m ago`.
    public static func age(_ seconds: Double) -> String {
        seconds < 1 ? "just now" : "\(DurationFormat.string(from: seconds.rounded(.down))) ago"
    }

    /// `in 20s` or `20s ago`.
    static func relative(_ date: Date, from now: Date) -> String {
        let seconds = date.timeIntervalSince(now)
        return seconds >= 0 ? "in \(DurationFormat.string(from: seconds.rounded(.up)))" : age(-seconds)
    }
}
