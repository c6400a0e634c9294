import CVigil
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What reaches the supervisor while it waits: every wait is on one of these, never a sleep.
public enum SupervisorEvent: Sendable {
    /// The trainer of attempt `attempt` exited (already reaped).
    case childExited(attempt: Int, Termination)
    /// Both output streams of attempt `attempt` reached EOF (or were cancelled).
    case outputClosed(attempt: Int)
    /// A signal was sent to vigil.
    case signal(Signal)
    /// A file or directory named like a checkpoint was finished (closed after writing, renamed in).
    case checkpointFinished(attempt: Int, name: String)
    /// A live rule matched an output line. Checkpoints modified after `poisonedAfter` may hold
    /// the poisoned state.
    case liveMatch(attempt: Int, rule: String, line: String, poisonedAfter: Date)
    /// The log volume fell below `output.keepFree` (logs paused) or has room again, with the free bytes.
    case logSpace(attempt: Int, suspended: Bool, free: Int)
}

/// What `vigil run` was asked to do.
public struct RunRequest: Sendable {
    /// The trainer command, argv[0] first.
    public var command: [String]
    public var policy: Policy
    /// `--name`; nil = the stable default from the command.
    public var name: String?
    /// `--fresh`: move an existing run aside and start over.
    public var fresh = false
    /// Show a live status line on stderr when it is a terminal.
    public var statusLine = false
    public var logDirectory: String
    public var workingDirectory: String
    /// The environment the trainer inherits (vigil's own, usually).
    public var environment: [String: String]

    public init(
        command: [String], policy: Policy, logDirectory: String, workingDirectory: String,
        environment: [String: String]
    ) {
        self.command = command
        self.policy = policy
        self.logDirectory = logDirectory
        self.workingDirectory = workingDirectory
        self.environment = environment
    }
}

/// Drives a run: starts attempts, classifies how each ended, restarts with the resume arguments
/// within the budget, and keeps the journal true at every step. Decides; other types do the work.
public final class Supervisor: @unchecked Sendable {
    public let request: RunRequest
    public let events: EventQueue<SupervisorEvent>
    /// Where vigil's own messages go (stderr in the CLI).
    let note: @Sendable (String) -> Void
    let classifier: Classifier
    let oomCounter = OOMKillCounter()
    var checkpointStore: CheckpointStore?
    let statusLine: StatusLine?
    /// Built once (its patterns compiled once), on the first report.
    var redactorCache: Redactor?
    /// When this invocation must be done: `limits.runtime` from its start, `--deadline`, or the
    /// SLURM job's end; nil when unlimited.
    var runtimeDeadline: Date?
    var journal: Journal!
    var directory: RunDirectory!
    var lock: RunLock?
    /// Signals that asked vigil to stop, in order (a second one escalates).
    var stopSignals: [Signal] = []
    /// Why attempts get no cgroup of their own on this machine (noted once per invocation).
    var cgroupUnavailable: String?
    var cgroupUnavailableNoted = false
    /// The first journal write that failed and has not been followed by a successful one.
    var unsavedJournalError: String?

    public init(
        request: RunRequest, events: EventQueue<SupervisorEvent> = EventQueue(),
        note: @escaping @Sendable (String) -> Void
    ) {
        self.request = request
        self.events = events
        let line = request.statusLine ? StatusLine(environment: request.environment) : nil
        self.statusLine = line
        self.note = { text in
            line?.clear()
            note(text)
        }
        self.classifier = Classifier(policy: request.policy)
    }

    /// Runs until the trainer succeeds, fails for good, the budget is spent or vigil is stopped.
    /// Returns the exit code for `vigil run`; errors of vigil itself (usage, missing command,
    /// unwritable directory) throw.
    public func run() throws -> ExitCode {
        if let problem = request.policy.limitThatCannotWork {
            throw VigilError(.invalidPolicy, key: problem.key, problem.message)
        }
        runtimeDeadline = Supervisor.runtimeDeadline(
            request.policy.limits, environment: request.environment, start: Date())
        let executable = try CommandResolver.resolve(
            request.command[0], path: request.environment["PATH"], workingDirectory: request.workingDirectory)
        let name =
            request.name
            ?? RunDirectory.defaultName(command: request.command, workingDirectory: request.workingDirectory)
        if request.name != nil { try RunDirectory.validate(name: name) }
        checkpointStore = try CheckpointStore(
            settings: request.policy.checkpoints, workingDirectory: request.workingDirectory)
        directory = RunDirectory(logDirectory: request.logDirectory, name: name)
        try directory.create(privateFiles: request.policy.output.privateFiles)
        lock = try takeLock()

        var existing = try Journal.read(from: directory.journalPath)
        if let old = existing, request.fresh {
            let archived = try directory.archive(now: Date())
            note(
                "vigil: --fresh: moved the previous run (\(old.attempts.count) attempts, \(old.state.rawValue)) to \(archived)"
            )
            lock = nil
            try directory.create(privateFiles: request.policy.output.privateFiles)
            lock = try takeLock()
            existing = nil
        }
        if let old = existing, old.state.isFinished {
            let code = old.outcome?.exitCode ?? 0
            note(
                "vigil: run '\(name)' already finished: \(old.outcome?.reason ?? old.state.rawValue). Nothing to do; use --fresh to start over."
            )
            return ExitCode(rawValue: code) ?? .success
        }
        let now = Date()
        journal =
            existing
            ?? Journal(
                run: name, runID: UUID().uuidString.lowercased(), command: request.command,
                workingDirectory: request.workingDirectory, policy: request.policy.name, now: now)
        if existing != nil {
            note(
                "vigil: continuing run '\(name)' (\(journal.attempts.count) attempt\(journal.attempts.count == 1 ? "" : "s") so far)"
            )
            recoverOrphan()
        }
        closeDeadInvocations()
        try validateConfig()
        journal.invocations.append(
            Journal.Invocation(
                pid: getpid(), processStartTime: ProcessTable.startTime(of: getpid()),
                host: ProcessInfo.processInfo.hostName, startedAt: now))
        journal.state = .running
        journal.maxRetries = request.policy.restart.maxRetries
        journal.redactPatterns = request.policy.redact.isEmpty ? nil : request.policy.redact
        try saveOrThrow()
        // Loading the policy and the journal left freed heap behind; give it back before the long run.
        cvigil_release_free_memory()

        let exitCode: ExitCode
        do {
            exitCode = try superviseAttempts(executable: executable)
        } catch let error as VigilError {
            // e.g. config.onChange: refuse — the invocation ends with the error's code; the run can go on.
            journal.state = .stopped
            journal.invocations[journal.invocations.count - 1].endedAt = Date()
            journal.invocations[journal.invocations.count - 1].exitCode = error.exitCode.rawValue
            saveFinal()
            throw error
        }
        journal.invocations[journal.invocations.count - 1].endedAt = Date()
        journal.invocations[journal.invocations.count - 1].exitCode = exitCode.rawValue
        journal.invocations[journal.invocations.count - 1].peakMemoryKiB = Supervisor.peakMemoryKiB()
        saveFinal()
        return exitCode
    }

    private func takeLock() throws -> RunLock {
        if let lock = try RunLock.acquire(directory.lockPath) { return lock }
        var holder = ""
        if let other = try? Journal.read(from: directory.journalPath), let invocation = other.invocations.last {
            holder =
                " by vigil pid \(invocation.pid) on \(invocation.host), started \(Journal.timestamp(invocation.startedAt))"
        }
        throw VigilError(
            .runBusy, file: directory.path,
            "run '\(directory.name)' is already being supervised\(holder); wait for it, stop it (SIGTERM to that pid), or pick another --name"
        )
    }

    // MARK: - The attempt loop

    private func superviseAttempts(executable: String) throws -> ExitCode {
        let policy = request.policy
        let backoff = Backoff(policy.restart)
        while true {
            if let signal = stopSignals.first {
                return try finish(
                    .stopped, .resumable,
                    "stopped by \(signal) before the next attempt; run the same command again to continue")
            }
            if let total = policy.limits.total, journal.computeSeconds >= total {
                return try finish(
                    .gaveUp, .retriesExhausted,
                    "the run's total compute budget (\(DurationFormat.string(from: total))) is spent")
            }
            if let deadline = runtimeDeadline, let short = tooLittleTime(before: deadline, from: Date()) {
                return try finish(.stopped, .resumable, "\(short); run the same command again to continue")
            }
            let result = try runAttempt(executable: executable)
            let record = result.record
            let verdict = record.verdict!
            let index = journal.attempts.count - 1
            if !stopSignals.isEmpty, verdict.verdict != .success {
                let why =
                    record.stopReason.map { "\($0), and vigil received \(stopSignals[0])" }
                    ?? "vigil received \(stopSignals[0])"
                return try finish(.stopped, .resumable, "\(why); run the same command again to continue")
            }
            switch result.cause {
            case .signal?:
                return try finish(
                    .stopped, .resumable, "\(record.stopReason ?? "stopped"); run the same command again to continue")
            case .runtimeLimit?:
                return try finish(
                    .stopped, .resumable,
                    "\(record.stopReason ?? "runtime limit"); run the same command again to continue")
            case .totalBudget?:
                return try finish(
                    .gaveUp, .retriesExhausted, "\(record.stopReason ?? "the run's total compute budget is spent")")
            default:
                break
            }
            switch verdict.verdict {
            case .success:
                return try finish(.succeeded, .success, "the trainer finished successfully (attempt \(record.number))")
            case .unrecoverable:
                return try finish(
                    .failed, .unrecoverable, "unrecoverable failure in attempt \(record.number): \(verdict.reason)")
            case .ignore:
                journal.attempts[index].countedAgainstBudget = false
            case .recoverable:
                if let duration = record.duration, duration >= policy.restart.healthyAfter {
                    journal.consecutiveFailures = 0  // it ran healthily for a while: a fresh series
                }
                if policy.restart.resetOnProgress, record.madeProgress == true {
                    journal.consecutiveFailures = 0  // it wrote a new checkpoint: a fresh series
                }
                journal.consecutiveFailures += 1
                journal.attempts[index].countedAgainstBudget = true
                if journal.consecutiveFailures > policy.restart.maxRetries {
                    let retries = policy.restart.maxRetries
                    return try finish(
                        .gaveUp, .retriesExhausted,
                        "gave up after \(journal.consecutiveFailures) consecutive failures (max-retries \(retries)); last: \(verdict.reason)"
                    )
                }
            }
            let delay = backoff.delay(afterFailure: max(1, journal.consecutiveFailures), unit: Double.random(in: 0..<1))
            journal.attempts[index].backoffSeconds = delay
            journal.state = .backingOff
            save()
            let budget =
                verdict.verdict == .ignore
                ? "not counted" : "\(journal.consecutiveFailures)/\(policy.restart.maxRetries)"
            let restartAt = Date().addingTimeInterval(delay)
            if let deadline = runtimeDeadline, let short = tooLittleTime(before: deadline, from: restartAt) {
                return try finish(
                    .stopped, .resumable,
                    "not enough time left before the runtime deadline for another attempt (\(short)); run the same command again to continue"
                )
            }
            note("vigil: restarting in \(DurationFormat.string(from: delay)) (retry \(budget))")
            if waitForBackoff(until: restartAt) {
                return try finish(
                    .stopped, .resumable,
                    "stopped by \(stopSignals[0]) while waiting to restart; run the same command again to continue")
            }
            journal.state = .running
        }
    }

    /// Waits out a backoff delay; returns true when a stop signal arrived instead.
    private func waitForBackoff(until deadline: Date) -> Bool {
        while Date() < deadline {
            guard let event = events.next(until: deadline) else { break }
            if case .signal(let signal) = event, Supervisor.stopSignalSet.contains(signal) || signal == .user1 {
                stopSignals.append(signal)
                return true
            }
        }
        return false
    }

    static let stopSignalSet: Set<Signal> = [.interrupt, .terminate, .hangup]

    /// Why an attempt starting at `start` cannot usefully run before `deadline`: less than
    /// `limits.minAttempt` left, or no more than the stop sequence needs (`checkpointLead` +
    /// `termGrace`: the stop would begin as the trainer starts). Nil when there is time.
    func tooLittleTime(before deadline: Date, from start: Date) -> String? {
        let left = deadline.timeIntervalSince(start)
        let limits = request.policy.limits
        let stop = request.policy.stop
        if left < max(limits.minAttempt, 0.001) {
            return left <= 0
                ? "the runtime deadline has passed"
                : "less than limits.minAttempt (\(DurationFormat.string(from: limits.minAttempt))) is left before the runtime deadline"
        }
        let needed = stop.checkpointLead + stop.termGrace
        if left <= needed {
            return
                "\(DurationFormat.string(from: left)) is left before the runtime deadline, no more than the stop sequence needs "
                + "(stop.checkpointLead \(DurationFormat.string(from: stop.checkpointLead)) + stop.termGrace \(DurationFormat.string(from: stop.termGrace)))"
        }
        return nil
    }

    private func finish(_ state: Journal.RunState, _ code: ExitCode, _ reason: String) throws -> ExitCode {
        journal.state = state
        journal.outcome = Journal.RunOutcome(exitCode: code.rawValue, reason: reason)
        save()
        finishedRun()
        note("vigil: \(reason) (exit \(code.rawValue))")
        return code
    }

    /// Writes the journal. A write that fails (a full disk) never ends the run: it is said once, and
    /// retried at the next change, which writes the whole state again.
    func save() {
        do {
            try saveOrThrow()
            if let error = unsavedJournalError {
                unsavedJournalError = nil
                note("vigil: the journal is written again (after: \(error))")
            }
        } catch {
            if unsavedJournalError == nil {
                unsavedJournalError = "\(error)"
                note("vigil: warning: cannot write the journal: \(error); retrying at the next change")
                if !journal.invocations.isEmpty, journal.invocations[journal.invocations.count - 1].journalError == nil
                {
                    journal.invocations[journal.invocations.count - 1].journalError =
                        "\(Journal.timestamp(Date())): \(error)"
                }
            }
        }
    }

    /// Writes the journal or throws (the first write of an invocation: no record, no run).
    func saveOrThrow() throws {
        journal.updatedAt = Date()
        try journal.write(to: directory.journalPath, permissions: filePermissions)
    }

    /// The last write of an invocation: retried (for a while, as space may come back) until it lands.
    func saveFinal() {
        save()
        var waited = 0.0
        while unsavedJournalError != nil, waited < 30 {
            _ = events.next(until: Date().addingTimeInterval(1))
            waited += 1
            save()
        }
        if unsavedJournalError != nil {
            note("vigil: error: the journal's final state could not be written: \(unsavedJournalError!)")
        }
    }

    /// The child's environment: vigil's, plus the trainer protocol's variables (DESIGN §4).
    func environment(forAttempt number: Int, resumeFrom: Checkpoint?, deadline: Date?) -> [String: String] {
        var environment = request.environment
        let policy = request.policy
        let checkpointDir =
            policy.checkpoints.dir.hasPrefix("/")
            ? policy.checkpoints.dir : request.workingDirectory + "/" + policy.checkpoints.dir
        environment["VIGIL_RUN_ID"] = journal.runID
        environment["VIGIL_RUN_NAME"] = journal.run
        environment["VIGIL_ATTEMPT"] = String(number)
        environment["VIGIL_MAX_ATTEMPTS"] = String(number - journal.consecutiveFailures + policy.restart.maxRetries)
        environment["VIGIL_RESUME_FROM"] = resumeFrom?.path ?? ""
        environment["VIGIL_CHECKPOINT_DIR"] = checkpointDir
        environment["VIGIL_ERROR_FILE"] = directory.errorFilePath(number)
        environment["VIGIL_CHECKPOINT_SIGNAL"] = policy.stop.checkpointSignal?.name ?? ""
        if let deadline { environment["VIGIL_DEADLINE"] = String(Int(deadline.timeIntervalSince1970)) }
        for (name, value) in journal.environmentOverrides ?? [:] { environment[name] = value }
        if environment["PYTHONUNBUFFERED"] == nil { environment["PYTHONUNBUFFERED"] = "1" }
        // A hung trainer is asked for its stacks with SIGABRT, which Python's faulthandler answers.
        if policy.limits.stall != nil, environment["PYTHONFAULTHANDLER"] == nil {
            environment["PYTHONFAULTHANDLER"] = "1"
        }
        return environment
    }

    /// Makes this process the reaper of the trainers' escaped descendants (Linux); see `ProcessReaper`.
    @discardableResult
    public static func becomeSubreaper() -> Bool {
        ProcessReaper.becomeSubreaper()
    }

    /// The invocation's deadline: the earliest of `limits.deadline` and start + `limits.runtime`;
    /// with neither, a SLURM job's end (`SLURM_JOB_END_TIME`).
    static func runtimeDeadline(_ limits: Policy.Limits, environment: [String: String], start: Date) -> Date? {
        var candidates: [Date] = []
        if let runtime = limits.runtime { candidates.append(start.addingTimeInterval(runtime)) }
        if let deadline = limits.deadline { candidates.append(Date(timeIntervalSince1970: deadline)) }
        if candidates.isEmpty, let end = environment["SLURM_JOB_END_TIME"].flatMap(Double.init), end > 0 {
            candidates.append(Date(timeIntervalSince1970: end))
        }
        return candidates.min()
    }

    /// Peak resident set size of this process (getrusage), in KiB.
    static func peakMemoryKiB() -> Int {
        var usage = rusage()
        #if os(Linux)
            getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
            getrusage(RUSAGE_SELF, &usage)
        #endif
        #if os(Linux)
            return Int(usage.ru_maxrss)
        #else
            return Int(usage.ru_maxrss) / 1024  // bytes on Darwin
        #endif
    }

    private func closeDeadInvocations() {
        for index in journal.invocations.indices where journal.invocations[index].endedAt == nil {
            journal.invocations[index].endedAt = Date()  // it died without saying so
        }
    }
}
