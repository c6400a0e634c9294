import VigilCLI
import VigilCore

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

/// `vigil`: wiring and printing. The command line is declared and parsed in VigilCLI, behaviour lives
/// in VigilCore.
let version = vigilVersion

func printError(_ text: String) {
    writeOut(Data((text + "\n").utf8), to: 2)
}

/// Writes to stdout (1) or stderr (2) with `write(2)`, whatever becomes of it. Never
/// `FileHandle.write`: it traps when the reader is gone (EPIPE), and a `vigil run` whose terminal or
/// queue runner went away must go on supervising (SIGPIPE is ignored; the bytes are just lost).
func writeOut(_ data: Data, to fd: Int32) {
    data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
        guard var base = buffer.baseAddress else { return }
        var left = buffer.count
        while left > 0 {
            let written = write(fd, base, left)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            base += written
            left -= written
        }
    }
}

func main() -> Int32 {
    // A parent may have started us with signals blocked (a Dispatch thread, some CI runners): the
    // stop signals must reach us, and every thread we start inherits this mask.
    SignalRelay.unblockAllSignals()
    do {
        switch try VigilCommandLine.resolve(Array(CommandLine.arguments.dropFirst())) {
        case .help(let text):
            print(text)
            return 0
        case .version:
            print("vigil \(version)")
            return 0
        case .command(let command, let arguments):
            return try execute(command, arguments)
        }
    } catch let error as VigilError {
        printError("vigil: \(error)")
        if error.code == .usage { printError(VigilCommandLine.usage) }
        if error.code == .usage, CommandLine.arguments.dropFirst().first == "run" {
            // The command line did not parse, so no --termination-log is known: Kubernetes' default only.
            let path = TerminationLog.path(flag: nil, environment: ProcessInfo.processInfo.environment)
            writeTerminationLog(to: path, code: error.exitCode.rawValue, error: error.description, supervisor: nil)
        }
        return error.exitCode.rawValue
    } catch {
        printError("vigil: \(error)")
        return ExitCode.unrecoverable.rawValue
    }
}

/// Runs a parsed command; its exit code.
func execute(_ command: VigilCommand, _ arguments: ParsedArguments) throws -> Int32 {
    switch command {
    case .run: return try runCommand(arguments)
    case .initialize: return try initCommand(arguments)
    case .status: return try statusCommand(arguments)
    case .report: return try reportCommand(arguments)
    case .stop: return try stopCommand(arguments)
    case .checkpointsList, .checkpointsPrune, .checkpointsSummary: return try checkpointsCommand(command, arguments)
    case .configCheck: return try configCommand(arguments)
    case .policyCheck: return try policyCheckCommand(arguments)
    case .policyExplain: return try explainCommand(arguments)
    case .queueAdd, .queueList, .queueRun, .queueShow, .queueRetry, .queueRemove, .queueClear:
        return try queueCommand(command, arguments)
    case .drill: return try drillCommand(arguments)
    case .checkpointsExport: return try exportCommand(arguments)
    case .checkpointsVerify: return try verifyCommand(arguments)
    }
}

func loader() -> PolicyLoader {
    PolicyLoader.standard(
        environment: ProcessInfo.processInfo.environment,
        workingDirectory: FileManager.default.currentDirectoryPath)
}

/// `vigil run`, and the line for `--termination-log` (or Kubernetes' default) however it ends.
func runCommand(_ arguments: ParsedArguments) throws -> Int32 {
    let path = TerminationLog.path(
        flag: arguments.text(RunCommand.terminationLog), environment: ProcessInfo.processInfo.environment)
    var supervisor: Supervisor?
    do {
        let code = try supervise(arguments) { supervisor = $0 }
        writeTerminationLog(to: path, code: code, error: nil, supervisor: supervisor)
        return code
    } catch let error as VigilError {
        writeTerminationLog(to: path, code: error.exitCode.rawValue, error: error.description, supervisor: supervisor)
        throw error
    } catch {
        writeTerminationLog(to: path, code: ExitCode.unrecoverable.rawValue, error: "\(error)", supervisor: supervisor)
        throw error
    }
}

/// Writes the one line of `vigil run`'s end to `path` (nil: nowhere), redacted as the supervisor's
/// reports are (before there is one: the environment's secrets).
func writeTerminationLog(to path: String?, code: Int32, error: String?, supervisor: Supervisor?) {
    guard let path else { return }
    let redactor =
        supervisor?.redactorForReports
        ?? (try? Redactor(environment: ProcessInfo.processInfo.environment, extraPatterns: [])) ?? Redactor.namesOnly
    let line = TerminationLog.line(exitCode: code, journal: supervisor?.record, error: error, redactor: redactor)
    do {
        try TerminationLog.write(line, to: path)
    } catch {
        printError("vigil: warning: \(error)")
    }
}

/// `vigil run`: the policy with the flags applied, then the supervisor (handed to `started` first).
func supervise(_ arguments: ParsedArguments, started: (Supervisor) -> Void) throws -> Int32 {
    typealias Option = RunCommand
    let policy = try runPolicy(arguments)
    let cwd = FileManager.default.currentDirectoryPath
    let logDirectory = arguments.text(Option.logDirectory) ?? "logs"
    let logPath = Paths.absolute(logDirectory, in: cwd)
    var request = RunRequest(
        command: arguments.trainerCommand, policy: policy, logDirectory: logPath, workingDirectory: cwd,
        environment: ProcessInfo.processInfo.environment)
    request.name = arguments.text(Option.name)
    request.fresh = arguments.flag(Option.fresh)
    request.statusLine = true  // drawn only when stderr is a terminal

    let events = EventQueue<SupervisorEvent>()
    // Descendants that escape the trainer's process group (setsid, a double fork) are reparented to
    // vigil rather than init, so vigil can find and stop them when the attempt ends.
    Supervisor.becomeSubreaper()
    SignalRelay.ignoreBrokenPipes()
    SignalRelay.install([.interrupt, .terminate, .hangup, .user1]) { events.post(.signal($0)) }
    let supervisor = Supervisor(request: request, events: events, note: { printError($0) })
    started(supervisor)
    return try supervisor.run().rawValue
}

/// The policy `vigil run` supervises with: the file's (or the embedded one), the flags on top.
/// - Throws: `.usage` for flags that contradict each other or a limit too short to work.
func runPolicy(_ arguments: ParsedArguments) throws -> Policy {
    typealias Option = RunCommand
    let resumeArgs = arguments.texts(Option.resumeArgument)
    let noResume = arguments.flag(Option.noResumeArgument)
    if noResume && !resumeArgs.isEmpty {
        throw VigilError(.usage, "--no-resume-arg and --resume-arg contradict each other")
    }
    let deadline = try arguments.text(Option.deadline).map(parseDeadline)
    var policy = try loader().load(arguments.text(Option.policy))
    if let maxRetries = arguments.integer(Option.maxRetries) { policy.restart.maxRetries = maxRetries }
    if let backoff = arguments.duration(Option.backoff) { policy.restart.backoffInitial = backoff }
    if let backoffMax = arguments.duration(Option.backoffMax) { policy.restart.backoffMax = backoffMax }
    if !resumeArgs.isEmpty { policy.resume.args = resumeArgs }
    if noResume { policy.resume.when = .never }
    if let checkpointDir = arguments.text(Option.checkpointDirectory) { policy.checkpoints.dir = checkpointDir }
    if let configFile = arguments.text(Option.config) { policy.config.path = configFile }
    if let termGrace = arguments.duration(Option.termGrace) { policy.stop.termGrace = termGrace }
    if arguments.flag(Option.quiet) { policy.output.passthrough = false }
    if let timeLimit = arguments.duration(Option.timeLimit) { policy.limits.runtime = timeLimit }
    if let deadline { policy.limits.deadline = deadline }
    if let attemptLimit = arguments.duration(Option.attemptLimit) { policy.limits.attempt = attemptLimit }
    if let stallTimeout = arguments.duration(Option.stallTimeout) { policy.limits.stall = stallTimeout }
    if arguments.flag(Option.requeue) { policy.slurm.requeue = true }
    if let maxRequeues = arguments.integer(Option.maxRequeues) { policy.slurm.maxRequeues = maxRequeues }
    if let problem = policy.limitThatCannotWork {
        // A limit given on the command line is a usage error; one from the policy file, the file's.
        let flag = problem.key == "limits.runtime" ? Option.timeLimit : Option.attemptLimit
        if arguments.isGiven(flag) {
            throw VigilError(.usage, "\(flag.spelling) \(problem.message)")
        }
        throw VigilError(.invalidPolicy, file: policy.sources.last, key: problem.key, problem.message)
    }
    return policy
}

/// `--deadline`: Unix seconds, an ISO 8601 UTC time, or HH:MM local (the next such time); not more
/// than the longest duration (10 years) from now.
func parseDeadline(_ text: String) throws -> Double {
    let now = Date()
    let deadline =
        unixSeconds(text) ?? Journal.date(fromTimestamp: text)?.timeIntervalSince1970 ?? nextTime(text, after: now)
    guard let deadline else {
        throw VigilError(
            .usage, "--deadline expects Unix seconds, a time like 2026-11-23T18:00:00Z, or HH:MM; got '\(text)'")
    }
    guard deadline <= now.timeIntervalSince1970 + ValueKind.longestDuration else {
        throw VigilError(.usage, "--deadline is more than \(ValueKind.longestDurationText) away: '\(text)'")
    }
    return deadline
}

/// `1767225600` or `1767225600.5`: decimal digits, and after 2001-09-09 (1e9) as it always was.
private func unixSeconds(_ text: String) -> Double? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { ("0"..."9").contains($0) } }),
        let seconds = Double(text), seconds.isFinite, seconds > 1_000_000_000
    else { return nil }
    return seconds
}

/// `HH:MM`: the next time the local clock shows it.
private func nextTime(_ text: String, after now: Date) -> Double? {
    let parts = text.split(separator: ":")
    guard parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour),
        (0..<60).contains(minute)
    else { return nil }
    let calendar = Calendar.current
    var when = calendar.date(bySettingHour: hour, minute: minute, second: 0, of: now)!
    if when <= now { when = calendar.date(byAdding: .day, value: 1, to: when)! }
    return when.timeIntervalSince1970
}

/// `vigil init -- COMMAND`: guesses, writes the starter policy (checked to load), says what to check.
func initCommand(_ arguments: ParsedArguments) throws -> Int32 {
    let cwd = FileManager.default.currentDirectoryPath
    let command = arguments.trainerCommand
    let starter = StarterPolicy.guess(command: command, workingDirectory: cwd)
    let text = starter.text(command: command)
    let shown = arguments.text(InitCommand.output) ?? "vigil.json5"
    let path = Paths.absolute(shown, in: cwd)
    if arguments.flag(InitCommand.printOnly) {
        print(text, terminator: "")
        return 0
    }
    if FileManager.default.fileExists(atPath: path), !arguments.flag(InitCommand.force) {
        throw VigilError(.usage, file: path, "exists; use --force to overwrite it, or --output for another file")
    }
    // What is written must load (a starter that does not is vigil's bug, not the user's): tried first
    // under a temporary name beside it.
    let trial = Path.parent(path) + "/.vigil-init-\(getpid()).json5"
    try AtomicFile.write(Data(text.utf8), to: trial, permissions: 0o644)
    defer { unlink(trial) }
    _ = try loader().load(trial)
    try AtomicFile.write(Data(text.utf8), to: path, permissions: 0o644)
    print("vigil: wrote \(shown), extending '\(starter.extends)'\(starter.framework.map { " (\($0.title))" } ?? "")")
    for line in starter.evidence { print("  guessed: \(line)") }
    for line in starter.checks { print("  check:   \(line)") }
    let words = command.map(StarterPolicy.shellWord).joined(separator: " ")
    print("then: vigil run --policy \(StarterPolicy.shellWord(shown.contains("/") ? shown : "./" + shown)) -- \(words)")
    return 0
}

/// `vigil policy check FILE|NAME`.
func policyCheckCommand(_ arguments: ParsedArguments) throws -> Int32 {
    let policy = try loader().load(arguments.positional(PolicyCommand.policyArgument))
    print(
        "// \(policy.name): valid. Resolved from \(policy.sources.joined(separator: " → ")), \(policy.rules.count) rules."
    )
    print(policy.resolvedTree.rendered())
    return 0
}

/// `vigil policy explain`: the verdict `vigil run` would give a saved failure.
func explainCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = PolicyCommand
    guard let logFile = arguments.text(Option.log) else {
        throw VigilError(.usage, "vigil policy explain: --log FILE is required")
    }
    let policy = try loader().load(arguments.text(Option.policy))
    let outcome = try PolicyExplainer.outcome(
        logFile: logFile, status: try explainedStatus(arguments) ?? .exited(1), tailBytes: policy.output.tailBytes,
        errorFile: arguments.text(Option.errorFile), signalSentByVigil: arguments.flag(Option.sentByVigil),
        resumeArguments: arguments.texts(Option.resumeArgument), policy: policy)
    let verdict = Classifier(policy: policy).classify(outcome)
    print("class:  \(verdict.verdict.rawValue)")
    print("rule:   \(verdict.rule)")
    print("reason: \(verdict.reason)")
    if let exception = verdict.exception {
        print("exception: \(exception.type)\(exception.message.isEmpty ? "" : ": " + exception.message.prefix(200))")
    }
    return 0
}

/// `--exit-code N` or `--signal SIG`: whichever comes last on the command line.
private func explainedStatus(_ arguments: ParsedArguments) throws -> Termination? {
    typealias Option = PolicyCommand
    if let name = arguments.text(Option.signal), Signal(name: name) == nil {
        throw VigilError(.usage, "--signal: '\(name)' is not a signal name")
    }
    switch arguments.lastGiven(of: [Option.exitCode, Option.signal]) {
    case Option.exitCode?: return arguments.integer(Option.exitCode).map { .exited(Int32($0)) }
    case Option.signal?: return arguments.text(Option.signal).flatMap(Signal.init(name:)).map { .signaled($0) }
    default: return nil
    }
}

exit(main())
