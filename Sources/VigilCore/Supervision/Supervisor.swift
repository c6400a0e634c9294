import CVigil

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
    /// A live rule matched an output line, or a watched metric diverged.
    case liveMatch(attempt: Int, LiveMatch)
    /// The log volume fell below `output.keepFree` (logs paused) or has room again, with the free bytes.
    case logSpace(attempt: Int, suspended: Bool, free: Int)
    /// The worker looked for a new checkpoint during the checkpoint step.
    case checkpointLooked(attempt: Int, NewCheckpoint?)
    /// The worker looked for what is left of the attempt.
    case leftoversFound(attempt: Int, [AttemptProcesses.Member])
    /// The worker found out who in the trainer's group handles the checkpoint signal.
    case listenersChecked(attempt: Int, listens: Bool, why: String, deaf: Int)
    /// The worker sent the checkpoint signal (after noting the valid checkpoints then).
    case checkpointSignalSent(attempt: Int, Signal)
    /// A hook the worker ran has ended.
    case hookFinished(Journal.HookRun)
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

/// Drives a run: starts attempts, has each one's `AttemptMachine` carried out, classifies how it
/// ended, lets `RunDecision` say what comes next, and keeps the journal true at every step. The
/// threads that watch processes, output and files only post events; slow work runs on `worker`.
public final class Supervisor {
    public let request: RunRequest
    public let events: EventQueue<SupervisorEvent>
    /// Every timer's clock (monotonic) and the record's (wall).
    let clock: any SupervisorClock
    /// Where slow work goes: checkpoint and `/proc` scans during an attempt, hooks after one.
    let worker = BackgroundWorker()
    /// Where vigil's own messages go (stderr in the CLI), redacted and made safe for a terminal.
    let note: @Sendable (String) -> Void
    /// The same place, for text already redacted and escaped field by field (the run's summary,
    /// with its colours).
    let printFormatted: @Sendable (String) -> Void
    let classifier: Classifier
    let oomCounter = OOMKillCounter()
    /// The watched metrics' bests and streaks, across the attempts of this invocation.
    let divergenceWatch: DivergenceWatch
    var checkpointStore: CheckpointStore?
    let statusLine: StatusLine?
    /// Built once (its patterns compiled once), on the first report.
    var redactorCache: Redactor?
    /// When this invocation must be done: `limits.runtime` from its start, `--deadline`, or the
    /// SLURM job's end, on the monotonic clock; nil when unlimited.
    var runtimeDeadline: Instant?
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
    /// The SLURM job vigil runs in (`SLURM_JOB_ID` in the environment), if any.
    let slurmJob: SlurmJob?
    /// How many attempts the run had when this invocation began.
    var attemptsBeforeInvocation = 0

    public init(
        request: RunRequest, events: EventQueue<SupervisorEvent> = EventQueue(),
        clock: any SupervisorClock = SystemClock(), note: @escaping @Sendable (String) -> Void
    ) {
        self.request = request
        self.events = events
        self.clock = clock
        let line = request.statusLine ? StatusLine(environment: request.environment) : nil
        self.statusLine = line
        // Every line vigil prints goes through the reports' redactor, and cannot drive the terminal:
        // a message is one line, so a newline in a file name or an argument cannot fake another.
        let redactor =
            (try? Redactor(environment: request.environment, extraPatterns: request.policy.redact))
            ?? Redactor.namesOnly
        self.redactorCache = redactor
        self.note = { text in
            line?.clear()
            note(TerminalText.line(redactor.redact(text)))
        }
        self.printFormatted = { text in
            line?.clear()
            note(text)
        }
        self.classifier = Classifier(policy: request.policy)
        self.divergenceWatch = DivergenceWatch(request.policy.divergence)
        self.slurmJob = SlurmJob(environment: request.environment)
    }

    /// The run's journal as this invocation left it (nil before the run was opened): for the line
    /// `--termination-log` gets.
    public var record: Journal? { journal }

    /// The redactor of vigil's reports and messages (the environment's secrets, the policy's `redact`).
    public var redactorForReports: Redactor { redactor }

    /// Runs until the trainer succeeds, fails for good, the budget is spent or vigil is stopped.
    /// Returns the exit code for `vigil run`; errors of vigil itself (usage, missing command,
    /// unwritable directory) throw.
    public func run() throws -> ExitCode {
        if let problem = request.policy.limitThatCannotWork {
            throw VigilError(.invalidPolicy, key: problem.key, problem.message)
        }
        let start = clock.wallNow()
        let limit = Supervisor.runtimeDeadline(request.policy.limits, environment: request.environment, start: start)
        let executable = try CommandResolver.resolve(
            request.command[0], path: request.environment["PATH"], workingDirectory: request.workingDirectory)
        guard try openRun() else {
            return ExitCode(rawValue: journal.outcome?.exitCode ?? 0) ?? .success
        }
        // A SLURM job's end, when only scontrol knows it: asked once the run is open (and an orphan
        // dealt with), so what it says is measured from now.
        runtimeDeadline = (limit ?? slurmEnd(from: clock.wallNow())).map { clock.instant(at: $0) }
        try validateConfig()
        attemptsBeforeInvocation = journal.attempts.count
        journal.invocations.append(
            Journal.Invocation(
                pid: getpid(), processStartTime: ProcessTable.startTime(of: getpid()),
                host: ProcessInfo.processInfo.hostName, startedAt: clock.wallNow(), slurmJob: slurmJob?.id,
                slurmRestartCount: slurmJob?.restartCount))
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
            endInvocation(error.exitCode)
            throw error
        }
        if exitCode == .resumable { requeueIfAsked() }
        endInvocation(exitCode)
        return exitCode
    }

    private func endInvocation(_ code: ExitCode) {
        journal.invocations[journal.invocations.count - 1].endedAt = clock.wallNow()
        journal.invocations[journal.invocations.count - 1].exitCode = code.rawValue
        journal.invocations[journal.invocations.count - 1].peakMemoryKiB = Supervisor.peakMemoryKiB()
        saveFinal()
    }

    /// The run directory, its lock and its journal: a new run, or the one to continue (a dead
    /// supervisor's trainer dealt with). False when the run has already finished (nothing to do).
    private func openRun() throws -> Bool {
        let name =
            request.name
            ?? RunDirectory.defaultName(command: request.command, workingDirectory: request.workingDirectory)
        if request.name != nil { try RunDirectory.validate(name: name) }
        checkpointStore = try CheckpointStore(
            settings: request.policy.checkpoints, workingDirectory: request.workingDirectory)
        directory = RunDirectory(logDirectory: request.logDirectory, name: name)
        try directory.create(privateFiles: request.policy.output.privateFiles)
        noteNetworkFileSystem()
        lock = try takeLock()
        var existing: Journal?
        var unreadable: String?
        do {
            existing = try Journal.read(from: directory.journalPath)
        } catch let error as VigilError where request.fresh {
            unreadable = error.message  // --fresh moves even a run whose journal cannot be read
        }
        var startedOver = false
        if request.fresh, existing != nil || unreadable != nil {
            let archived = try directory.archive(now: clock.wallNow())
            let what =
                existing.map { "(\($0.attempts.count) attempts, \($0.state.rawValue))" }
                ?? "(its journal could not be read: \(unreadable ?? ""))"
            note("vigil: --fresh: moved the previous run \(what) to \(archived)")
            lock = nil
            try directory.create(privateFiles: request.policy.output.privateFiles)
            lock = try takeLock()
            existing = nil
            startedOver = true
        }
        if let old = existing, old.state.isFinished {
            journal = old
            note(
                "vigil: run '\(name)' already finished: \(old.outcome?.reason ?? old.state.rawValue). Nothing to do; use --fresh to start over."
            )
            return false
        }
        journal =
            existing
            ?? Journal(
                run: name, runID: UUID().uuidString.lowercased(), command: request.command,
                workingDirectory: request.workingDirectory, policy: request.policy.name, now: clock.wallNow())
        // Starting over means from scratch: the old run's checkpoints are never resumed from (a
        // retrained queue job that crashes must not pick up the previous model's last epoch).
        if startedOver { journal.freshSince = clock.wallNow() }
        if existing != nil {
            let count = journal.attempts.count
            note("vigil: continuing run '\(name)' (\(count) attempt\(count == 1 ? "" : "s") so far)")
            recoverOrphan()
        }
        for index in journal.invocations.indices where journal.invocations[index].endedAt == nil {
            journal.invocations[index].endedAt = clock.wallNow()  // it died without saying so
        }
        return true
    }

    private func takeLock() throws -> RunLock {
        if let lock = try RunLock.acquire(directory.lockPath) ?? waitForPreviousRunsLock() {
            if let why = lock.unsupported {
                note(
                    "vigil: warning: the file system of \(directory.path) cannot lock (\(why)): going on without the "
                        + "run's lock, so nothing keeps a second vigil off this run")
            }
            return lock
        }
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

    /// The child's environment: vigil's, plus the trainer protocol's variables (the table in the README).
    func environment(forAttempt number: Int, resumeFrom: Checkpoint?, deadline: Date?) -> [String: String] {
        var environment = request.environment
        let policy = request.policy
        let checkpointDir = Paths.absolute(policy.checkpoints.dir, in: request.workingDirectory)
        environment["VIGIL_RUN_ID"] = journal.runID
        environment["VIGIL_RUN_NAME"] = journal.run
        environment["VIGIL_ATTEMPT"] = String(number)
        environment["VIGIL_MAX_ATTEMPTS"] = String(
            policy.restart.lastAttempt(attempt: number, consecutiveFailures: journal.consecutiveFailures))
        environment["VIGIL_RESUME_FROM"] = resumeFrom?.path ?? ""
        environment["VIGIL_CHECKPOINT_DIR"] = checkpointDir
        environment["VIGIL_ERROR_FILE"] = directory.errorFilePath(number)
        // torchrun (@record on its main) copies the failed rank's error file there: its root cause.
        if environment["TORCHELASTIC_ERROR_FILE"] == nil {
            environment["TORCHELASTIC_ERROR_FILE"] = directory.errorFilePath(number)
        }
        environment["VIGIL_CHECKPOINT_SIGNAL"] = policy.stop.checkpointSignal?.name ?? ""
        if let deadline { environment["VIGIL_DEADLINE"] = String(Int(deadline.timeIntervalSince1970)) }
        environment["VIGIL_HEARTBEAT_FILE"] = directory.heartbeatPath(number)
        environment["VIGIL_OVERRIDES"] = overridesJSON()
        for (name, value) in journal.environmentOverrides ?? [:] { environment[name] = value }
        if environment["PYTHONUNBUFFERED"] == nil { environment["PYTHONUNBUFFERED"] = "1" }
        // A hung trainer is asked for its stacks with SIGABRT, which Python's faulthandler answers.
        if policy.limits.stall != nil, environment["PYTHONFAULTHANDLER"] == nil {
            environment["PYTHONFAULTHANDLER"] = "1"
        }
        return environment
    }

    /// `VIGIL_OVERRIDES`: every repair in effect, for a trainer that restores its optimizer and
    /// scheduler state from a checkpoint (which would undo a lowered learning rate) to apply after
    /// the restore: `{"config": PATH|null, "set": {key: value}, "roles": {role: value}}`, `{}` when
    /// nothing was repaired. Values are numbers, booleans or strings as written (a trainer argument's
    /// too: `"arg:--lr": 0.005`); environment variables are strings.
    func overridesJSON() -> String {
        var set: [String: JSONValue] = [:]
        for record in (journal.schemaRepairs ?? []) + journal.attempts.flatMap({ $0.repairs ?? [] })
        where !record.key.hasPrefix("env:") && !record.key.hasPrefix("arg:") {
            set[record.key] = Supervisor.jsonValue(ConfigValue(parsing: record.after))
        }
        for (name, value) in journal.environmentOverrides ?? [:] { set["env:" + name] = .string(value) }
        for (flag, value) in journal.argumentOverrides ?? [:] {
            set["arg:" + flag] = Supervisor.jsonValue(ConfigValue(parsing: value))
        }
        guard !set.isEmpty else { return "{}" }
        var roles: [String: JSONValue] = [:]
        for (role, key) in request.policy.config.roles { if let value = set[key] { roles[role] = value } }
        let object: JSONValue = .object([
            "config": configPath.map { .string($0) } ?? .null, "set": .object(set), "roles": .object(roles),
        ])
        return object.jsonText() ?? "{}"
    }

    private static func jsonValue(_ value: ConfigValue) -> JSONValue {
        switch value {
        case .int(let v): return .int(v)
        case .double(let v): return v.isFinite ? .double(v) : .string(String(v))
        case .bool(let v): return .bool(v)
        case .string(let v): return .string(v)
        }
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

    /// Peak resident set size of this process, in KiB: on Linux `VmHWM` of /proc/self/status, which
    /// starts afresh at exec. (`getrusage`'s `ru_maxrss` does not: exec carries the peak of the process
    /// that spawned vigil into it, so a test runner's or a scheduler's memory would show as vigil's.)
    static func peakMemoryKiB() -> Int {
        #if os(Linux)
            if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                let kib = Int(
                    line.dropFirst("VmHWM:".count).trimmingSpaces().split(separator: " ")[0])
            {
                return kib
            }
        #endif
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
}
