import Foundation
import VigilCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `vigil`: argument parsing, wiring and printing. Behaviour lives in VigilCore.
let version = vigilVersion

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

let usage = """
    usage: vigil run [OPTIONS] -- COMMAND [ARGS...]     supervise a training run
           vigil status [RUN] [--json] [--check [--stale-after DUR]]
                                                        where runs stand; works while they run
           vigil report [RUN] [--json | --html FILE]     what happened: attempts, verdicts, metrics
           vigil stop [RUN]                              checkpoint, stop the trainer, the run exits 75
           vigil checkpoints list|prune|summary [...]   what is in a checkpoint directory
           vigil config check [--policy P] [--config F] [--repair]
                                                        validate the trainer config against the schema
           vigil policy check FILE|NAME                  validate a policy, print it resolved
           vigil policy explain --policy P --log FILE [--exit-code N | --signal SIG]
                                                        what vigil would decide for this failure
           vigil --version | --help | COMMAND --help
    """

let runHelp = """
    usage: vigil run [OPTIONS] -- COMMAND [ARGS...]

    Starts COMMAND (an argv, never run through a shell) in its own process group, copies its
    output to logs/<run>/attempt-NNN.log and to this terminal, classifies every failure with the
    policy's rules and restarts it with the resume arguments, within the retry budget.

    options:
      --policy NAME|PATH     policy to use (default: the embedded 'default'); names are looked up in
                             $VIGIL_POLICY_PATH, ./policies, then the shipped ones
      --name NAME            run name (default: derived from the command and directory, so the
                             same command continues the same run)
      --fresh                move an existing run of that name aside and start over
      --log-dir DIR          where run directories go (default: ./logs)
      --max-retries N        consecutive recoverable failures before giving up (restart.maxRetries)
      --backoff DURATION     first restart delay (restart.backoff.initial), e.g. 0s, 2s
      --backoff-max DURATION longest restart delay (restart.backoff.max)
      --resume-arg ARG       argument(s) appended when resuming, repeatable (resume.args);
                             write --resume-arg=--resume for a value starting with '-'
      --no-resume-arg        restart without resume arguments
      --checkpoint-dir DIR   where the trainer writes checkpoints (checkpoints.dir)
      --config FILE          the trainer's config file (config.path; default: the value of the
                             trainer's own --config argument): validated against config.schema,
                             repaired by rules, fingerprinted per attempt
      --time-limit DURATION  this invocation's wall-clock budget, e.g. 6h (limits.runtime):
                             stop.checkpointLead + stop.termGrace before its end the checkpoint
                             signal, SIGTERM termGrace before it, exit 75 — run the same command to
                             continue. Not longer than checkpointLead + termGrace: refused (64)
      --deadline TIME        an absolute end instead: Unix seconds, 2026-11-23T18:00:00Z, or HH:MM
                             (local, next occurrence). Inside SLURM, SLURM_JOB_END_TIME is used
                             when neither is given
      --attempt-limit DUR    one attempt's wall clock (limits.attempt); it is then stopped and
                             classified timedOut
      --stall-timeout DUR    no output and no new checkpoint this long = hung (limits.stall)
      --term-grace DURATION  SIGTERM → SIGKILL grace when stopping (stop.termGrace)
      --quiet                do not copy the trainer's output to this terminal (it is still logged)

    exit codes: 0 success · 1 unrecoverable failure (or "repair exhausted") · 2 retries exhausted or
                limits.total spent · 75 stopped, resumable (run the same command again) · 64 usage ·
                66 command/policy/config not found · 69 the run is supervised by another live vigil ·
                78 invalid policy, or a trainer config that fails config.schema or changed (onChange: refuse)

    signals: SIGINT, SIGTERM, SIGHUP or SIGUSR1 (a scheduler's warning) run the stop sequence —
             checkpoint signal (stop.checkpointSignal, USR1; only to a trainer that handles it) and a
             wait for the new checkpoint (when checkpoints.pattern lets vigil see it), then SIGTERM,
             grace, SIGKILL, to the trainer's process group and whatever escaped it — and exit 75.
             A second Ctrl-C kills at once.
    """

let policyHelp = """
    usage: vigil policy check FILE|NAME
           vigil policy explain --policy P --log FILE [--exit-code N | --signal SIG] [--error-file F]
                                [--sent-by-vigil] [--resume-arg ARG]

    check    validates a policy (and what it extends) and prints it fully resolved.
    explain  classifies a failure from a saved log exactly as `vigil run` would: prints the class,
             the rule that matched and why. The log is treated as the trainer's stderr.
    """

func main() -> Int32 {
    // A parent may have started us with signals blocked (a Dispatch thread, some CI runners): the
    // stop signals must reach us, and every thread we start inherits this mask.
    SignalRelay.unblockAllSignals()
    var arguments = Arguments(Array(CommandLine.arguments.dropFirst()))
    guard let command = arguments.next() else {
        printError(usage)
        return ExitCode.usage.rawValue
    }
    do {
        switch command {
        case "run":
            return try runCommand(&arguments)
        case "policy":
            return try policyCommand(&arguments)
        case "checkpoints":
            return try checkpointsCommand(&arguments)
        case "config":
            return try configCommand(&arguments)
        case "stop":
            return try stopCommand(&arguments)
        case "status":
            return try statusCommand(&arguments)
        case "report":
            return try reportCommand(&arguments)
        case "--version", "version":
            print("vigil \(version)")
            return 0
        case "--help", "-h", "help":
            print(usage)
            return 0
        default:
            throw VigilError(
                .usage,
                "unknown command '\(command)'"
                    + (Spelling.nearest(
                        command, in: ["run", "policy", "checkpoints", "config", "stop", "status", "report"]
                    ).map {
                        " (did you mean '\($0)'?)"
                    } ?? ""))
        }
    } catch let error as VigilError {
        printError("vigil: \(error)")
        if error.code == .usage { printError(usage) }
        return error.exitCode.rawValue
    } catch {
        printError("vigil: \(error)")
        return ExitCode.unrecoverable.rawValue
    }
}

func loader() -> PolicyLoader {
    PolicyLoader.standard(
        environment: ProcessInfo.processInfo.environment,
        workingDirectory: FileManager.default.currentDirectoryPath)
}

func runCommand(_ arguments: inout Arguments) throws -> Int32 {
    var policyName: String?
    var name: String?
    var fresh = false
    var logDirectory = "logs"
    var maxRetries: Int?
    var backoff: Double?
    var backoffMax: Double?
    var resumeArgs: [String]?
    var noResume = false
    var checkpointDir: String?
    var configFile: String?
    var termGrace: Double?
    var timeLimit: Double?
    var deadline: Double?
    var attemptLimit: Double?
    var stallTimeout: Double?
    var quiet = false
    var trainer: [String] = []
    let known = [
        "--policy", "--name", "--fresh", "--log-dir", "--max-retries", "--backoff", "--backoff-max",
        "--resume-arg", "--no-resume-arg", "--checkpoint-dir", "--config", "--term-grace", "--time-limit", "--deadline",
        "--attempt-limit", "--stall-timeout", "--quiet", "--help",
    ]
    while let argument = arguments.next() {
        if argument == "--" {
            trainer = arguments.remaining
            break
        }
        if !argument.hasPrefix("-") {
            trainer = [argument] + arguments.remaining
            break
        }
        let (option, inline) = Arguments.split(argument)
        switch option {
        case "--help", "-h":
            print(runHelp)
            return 0
        case "--policy": policyName = try arguments.value(for: option, inline: inline)
        case "--name": name = try arguments.value(for: option, inline: inline)
        case "--fresh": fresh = true
        case "--log-dir": logDirectory = try arguments.value(for: option, inline: inline)
        case "--max-retries":
            maxRetries = try Arguments.int(arguments.value(for: option, inline: inline), option: option)
        case "--backoff": backoff = try Arguments.duration(arguments.value(for: option, inline: inline), option: option)
        case "--backoff-max":
            backoffMax = try Arguments.duration(arguments.value(for: option, inline: inline), option: option)
        case "--resume-arg": resumeArgs = (resumeArgs ?? []) + [try arguments.value(for: option, inline: inline)]
        case "--no-resume-arg": noResume = true
        case "--checkpoint-dir": checkpointDir = try arguments.value(for: option, inline: inline)
        case "--config": configFile = try arguments.value(for: option, inline: inline)
        case "--term-grace":
            termGrace = try Arguments.duration(arguments.value(for: option, inline: inline), option: option)
        case "--quiet", "-q": quiet = true
        case "--time-limit":
            timeLimit = try Arguments.duration(arguments.value(for: option, inline: inline), option: option)
        case "--attempt-limit":
            attemptLimit = try Arguments.duration(arguments.value(for: option, inline: inline), option: option)
        case "--stall-timeout":
            stallTimeout = try Arguments.duration(arguments.value(for: option, inline: inline), option: option)
        case "--deadline": deadline = try parseDeadline(arguments.value(for: option, inline: inline))
        default: throw Arguments.unknown(option, known: known)
        }
    }
    guard !trainer.isEmpty else {
        throw VigilError(.usage, "no trainer command given: vigil run [OPTIONS] -- COMMAND [ARGS...]")
    }
    if noResume && resumeArgs != nil {
        throw VigilError(.usage, "--no-resume-arg and --resume-arg contradict each other")
    }

    var policy = try loader().load(policyName)
    if let maxRetries { policy.restart.maxRetries = maxRetries }
    if let backoff { policy.restart.backoffInitial = backoff }
    if let backoffMax { policy.restart.backoffMax = backoffMax }
    if let resumeArgs { policy.resume.args = resumeArgs }
    if noResume { policy.resume.when = .never }
    if let checkpointDir { policy.checkpoints.dir = checkpointDir }
    if let configFile { policy.config.path = configFile }
    if let termGrace { policy.stop.termGrace = termGrace }
    if quiet { policy.output.passthrough = false }
    if let timeLimit { policy.limits.runtime = timeLimit }
    if let deadline { policy.limits.deadline = deadline }
    if let attemptLimit { policy.limits.attempt = attemptLimit }
    if let stallTimeout { policy.limits.stall = stallTimeout }
    if let problem = policy.limitThatCannotWork {
        // A limit given on the command line is a usage error; one from the policy file, the file's.
        let flag =
            problem.key == "limits.runtime"
            ? (timeLimit != nil ? "--time-limit" : nil) : (attemptLimit != nil ? "--attempt-limit" : nil)
        if let flag {
            throw VigilError(.usage, "\(flag) \(problem.message)")
        }
        throw VigilError(.invalidPolicy, file: policy.sources.last, key: problem.key, problem.message)
    }

    let cwd = FileManager.default.currentDirectoryPath
    let logPath = logDirectory.hasPrefix("/") ? logDirectory : cwd + "/" + logDirectory
    var request = RunRequest(
        command: trainer, policy: policy, logDirectory: logPath, workingDirectory: cwd,
        environment: ProcessInfo.processInfo.environment)
    request.name = name
    request.fresh = fresh
    request.statusLine = true  // drawn only when stderr is a terminal

    let events = EventQueue<SupervisorEvent>()
    // Descendants that escape the trainer's process group (setsid, a double fork) are reparented to
    // vigil rather than init, so vigil can find and stop them when the attempt ends.
    Supervisor.becomeSubreaper()
    SignalRelay.ignoreBrokenPipes()
    SignalRelay.install([.interrupt, .terminate, .hangup, .user1]) { events.post(.signal($0)) }
    let supervisor = Supervisor(request: request, events: events, note: { printError($0) })
    return try supervisor.run().rawValue
}

/// `--deadline`: Unix seconds, an ISO 8601 UTC time, or HH:MM local (the next such time).
func parseDeadline(_ text: String) throws -> Double {
    if let seconds = Double(text), seconds > 1_000_000_000 { return seconds }
    if let date = Journal.date(fromTimestamp: text) { return date.timeIntervalSince1970 }
    let parts = text.split(separator: ":")
    if parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour),
        (0..<60).contains(minute)
    {
        let calendar = Calendar.current
        let now = Date()
        var when = calendar.date(bySettingHour: hour, minute: minute, second: 0, of: now)!
        if when <= now { when = calendar.date(byAdding: .day, value: 1, to: when)! }
        return when.timeIntervalSince1970
    }
    throw VigilError(
        .usage, "--deadline expects Unix seconds, a time like 2026-11-23T18:00:00Z, or HH:MM; got '\(text)'")
}

func policyCommand(_ arguments: inout Arguments) throws -> Int32 {
    guard let sub = arguments.next() else { throw VigilError(.usage, "vigil policy: expected 'check' or 'explain'") }
    switch sub {
    case "--help", "-h":
        print(policyHelp)
        return 0
    case "check":
        guard let spec = arguments.next(), !spec.hasPrefix("-") else {
            if arguments.remaining.isEmpty {
                throw VigilError(.usage, "vigil policy check: expected a policy file or name")
            }
            print(policyHelp)
            return 0
        }
        if let extra = arguments.next() {
            throw VigilError(.usage, "vigil policy check: unexpected argument '\(extra)'")
        }
        let policy = try loader().load(spec)
        print(
            "// \(policy.name): valid. Resolved from \(policy.sources.joined(separator: " → ")), \(policy.rules.count) rules."
        )
        print(policy.resolvedTree.rendered())
        return 0
    case "explain":
        return try explainCommand(&arguments)
    default:
        throw VigilError(.usage, "vigil policy: unknown subcommand '\(sub)' (expected 'check' or 'explain')")
    }
}

func explainCommand(_ arguments: inout Arguments) throws -> Int32 {
    var policyName: String?
    var logFile: String?
    var status: Termination?
    var errorFile: String?
    var sentByVigil = false
    var resumeArgs: [String] = []
    let known = [
        "--policy", "--log", "--exit-code", "--signal", "--error-file", "--sent-by-vigil", "--resume-arg", "--help",
    ]
    while let argument = arguments.next() {
        let (option, inline) = Arguments.split(argument)
        switch option {
        case "--help", "-h":
            print(policyHelp)
            return 0
        case "--policy": policyName = try arguments.value(for: option, inline: inline)
        case "--log": logFile = try arguments.value(for: option, inline: inline)
        case "--exit-code":
            let text = try arguments.value(for: option, inline: inline)
            guard let code = Int32(text) else {
                throw VigilError(.usage, "--exit-code expects an integer, got '\(text)'")
            }
            status = .exited(code)
        case "--signal":
            let text = try arguments.value(for: option, inline: inline)
            guard let signal = Signal(name: text) else {
                throw VigilError(.usage, "--signal: '\(text)' is not a signal name")
            }
            status = .signaled(signal)
        case "--error-file": errorFile = try arguments.value(for: option, inline: inline)
        case "--sent-by-vigil": sentByVigil = true
        case "--resume-arg": resumeArgs.append(try arguments.value(for: option, inline: inline))
        default: throw Arguments.unknown(option, known: known)
        }
    }
    guard let logFile else { throw VigilError(.usage, "vigil policy explain: --log FILE is required") }
    let policy = try loader().load(policyName)
    let outcome = try PolicyExplainer.outcome(
        logFile: logFile, status: status ?? .exited(1), tailBytes: policy.output.tailBytes,
        errorFile: errorFile, signalSentByVigil: sentByVigil, resumeArguments: resumeArgs)
    let verdict = Classifier(policy: policy).classify(outcome)
    print("class:  \(verdict.verdict.rawValue)")
    print("rule:   \(verdict.rule)")
    print("reason: \(verdict.reason)")
    if let exception = verdict.exception {
        print("exception: \(exception.type)\(exception.message.isEmpty ? "" : ": " + exception.message.prefix(200))")
    }
    return 0
}

exit(main())
