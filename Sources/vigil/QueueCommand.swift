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

/// The queue file and the log directory a queue command works on: `--queue FILE`, else
/// `queue.json` in `--log-dir` (default `./logs`); both absolute.
func queueLocation(_ arguments: ParsedArguments) -> (store: QueueStore, logDirectory: String) {
    let cwd = FileManager.default.currentDirectoryPath
    let logDirectory = Path.standardized(Paths.absolute(arguments.text(QueueCommand.logDirectory) ?? "logs", in: cwd))
    let path = arguments.text(QueueCommand.queueFile).map {
        Path.standardized(Paths.absolute($0, in: cwd))
    }
    return (QueueStore(path: path ?? logDirectory + "/queue.json"), logDirectory)
}

func queueCommand(_ command: VigilCommand, _ arguments: ParsedArguments) throws -> Int32 {
    switch command {
    case .queueAdd: return try queueAddCommand(arguments)
    case .queueList: return try queueListCommand(arguments)
    case .queueRun: return try queueRunCommand(arguments)
    case .queueShow: return try queueShowCommand(arguments)
    case .queueRetry: return try queueRetryCommand(arguments)
    case .queueRemove: return try queueRemoveCommand(arguments)
    case .queueClear: return try queueClearCommand(arguments)
    default: preconditionFailure("not a queue command: \(command)")
    }
}

/// `vigil queue add`: the matrix expanded, the policies checked, the jobs added under the lock.
func queueAddCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = QueueCommand
    let cwd = FileManager.default.currentDirectoryPath
    let (store, _) = queueLocation(arguments)
    var request = QueueAddRequest(command: arguments.trainerCommand, workingDirectory: cwd)
    request.name = arguments.text(Option.name)
    request.policy = arguments.text(Option.policy)
    for (option, value) in arguments.texts(inOrderOf: [Option.matrix, Option.matrixFile]) {
        request.matrix.append(
            option == Option.matrix
                ? try JobMatrix.parse(value) : try JobMatrix.read(file: value, workingDirectory: cwd))
    }
    request.after = arguments.texts(Option.after)
    request.priority = arguments.integer(Option.priority) ?? 0
    request.retrainAfter = arguments.duration(Option.retrainAfter)
    request.runArguments = queueRunArguments(arguments)
    let (jobs, warnings) = try JobMatrix.expand(request, now: Date())
    for warning in warnings { printError("vigil queue: warning: \(warning)") }
    try checkJobPolicies(jobs, givenCheckpointDirectory: arguments.isGiven(RunCommand.checkpointDirectory))
    if (try? CommandResolver.resolve(
        jobs[0].command[0], path: ProcessInfo.processInfo.environment["PATH"], workingDirectory: cwd)) == nil
    {
        printError(
            "vigil queue: warning: '\(jobs[0].command[0])' is not found or not executable here (PATH); "
                + "the jobs fail when queue run cannot find it either")
    }
    let replace = arguments.flag(Option.replace)
    let result = try store.modify { try QueueEdit.add(jobs, replace: replace, to: &$0) }
    printAdded(result, store: store)
    return 0
}

/// The `vigil run` options given to `queue add`, as `--option=value` for each job's vigil.
private func queueRunArguments(_ arguments: ParsedArguments) -> [String] {
    var out: [String] = []
    for option in [RunCommand.checkpointDirectory, RunCommand.config] {
        if let value = arguments.text(option) { out.append("\(option.spelling)=\(value)") }
    }
    if let retries = arguments.integer(RunCommand.maxRetries) { out.append("--max-retries=\(retries)") }
    for option in [RunCommand.attemptLimit, RunCommand.stallTimeout] {
        if let value = arguments.duration(option) {
            out.append("\(option.spelling)=\(DurationFormat.string(from: value))")
        }
    }
    for value in arguments.texts(RunCommand.resumeArgument) { out.append("--resume-arg=\(value)") }
    if arguments.flag(RunCommand.noResumeArgument) { out.append("--no-resume-arg") }
    return out
}

/// Every job's policy loads (exit 66 or 78 now rather than at night); and jobs of one matrix that
/// would share a checkpoint directory get a warning (one could resume from another's checkpoint).
private func checkJobPolicies(_ jobs: [QueueJob], givenCheckpointDirectory: Bool) throws {
    var loaded: [String: Policy] = [:]
    for job in jobs where loaded[job.policy ?? ""] == nil {
        loaded[job.policy ?? ""] = try loader().load(job.policy)
    }
    guard jobs.count > 1 else { return }
    let directories = Set(
        jobs.map { job in
            job.runArguments.first { $0.hasPrefix("--checkpoint-dir=") }
                ?? (loaded[job.policy ?? ""]?.checkpoints.dir ?? "")
        })
    let watched = jobs.contains { loaded[$0.policy ?? ""]?.checkpoints.pattern != nil }
    if directories.count == 1, watched {
        let directory = directories.first!.replacing("--checkpoint-dir=", with: "")
        printError(
            "vigil queue: warning: the \(jobs.count) jobs share the checkpoint directory '\(directory)'\(givenCheckpointDirectory ? "" : " (their policy's)"): "
                + "one job could resume from another's checkpoint; give --checkpoint-dir with a {KEY} placeholder")
    }
}

private func printAdded(_ result: QueueEdit.AddResult, store: QueueStore) {
    func names(_ list: [String]) -> String {
        list.count <= 8 ? list.joined(separator: ", ") : list.prefix(6).joined(separator: ", ") + ", … (\(list.count))"
    }
    var parts: [String] = []
    if !result.added.isEmpty { parts.append("added \(result.added.count): \(names(result.added))") }
    if !result.replaced.isEmpty {
        parts.append("replaced \(result.replaced.count) (they start over): \(names(result.replaced))")
    }
    if !result.updated.isEmpty {
        parts.append("updated \(result.updated.count) (same work, state kept): \(names(result.updated))")
    }
    if !result.existing.isEmpty {
        parts.append(
            "\(result.existing.count) already in the queue, left as they are (--replace to replace): \(names(result.existing))"
        )
    }
    print("vigil queue: " + parts.joined(separator: "; ") + " (\(store.path))")
}

/// `vigil queue list`.
func queueListCommand(_ arguments: ParsedArguments) throws -> Int32 {
    let (store, _) = queueLocation(arguments)
    let queue = try store.read() ?? QueueFile()
    let view = QueueView(
        queue: queue, now: Date(), liveness: QueueView.liveness(localHost: ProcessInfo.processInfo.hostName))
    let selection = QueueSelection(only: arguments.texts(QueueCommand.only))
    let rows = view.rows.filter { selection.selects(queue.jobs[$0.index].name) }
    let text =
        arguments.flag(QueueCommand.json) ? QueueListing.json(view, rows: rows) : QueueListing.text(view, rows: rows)
    writeOut(Data(text.utf8), to: 1)
    return 0
}

/// `vigil queue show NAME`: the job, then its run's status.
func queueShowCommand(_ arguments: ParsedArguments) throws -> Int32 {
    let (store, logDirectory) = queueLocation(arguments)
    let name = arguments.positional(QueueCommand.jobArgument)!
    let queue = try store.load()
    guard let index = queue.index(of: name) else { throw QueueEdit.unknownJob(name, in: queue) }
    let view = QueueView(
        queue: queue, now: Date(), liveness: QueueView.liveness(localHost: ProcessInfo.processInfo.hostName))
    let row = view.rows[index]
    let job = queue.jobs[index]
    let redactor = displayRedactor(policy: job.policy)
    let directory = RunDirectory(logDirectory: logDirectory, name: name).path
    let status = try? RunStatus.read(runDirectory: directory, now: Date())
    if arguments.flag(QueueCommand.json) {
        var text = "{\n  \"job\": " + QueueListing.jobJSON(view, row, redact: { redactor.redact(argv: $0) })
        text += ",\n  \"run\": "
        if let status {
            text += String(decoding: redactedJSON(try status.redacted(by: redactor).encoded(), redactor), as: UTF8.self)
        } else {
            text += "null\n"
        }
        writeOut(Data((text + "}\n").utf8), to: 1)
        return 0
    }
    printJob(job, row, view: view, redactor: redactor)
    if let status {
        print("")
        printStatusBlock(status.redacted(by: redactor))
    } else {
        print("run:        none yet (\(directory))")
    }
    return 0
}

private func printJob(_ job: QueueJob, _ row: QueueView.Row, view: QueueView, redactor: Redactor) {
    var lines: [(String, String)] = [("job", job.name), ("state", row.shown.rawValue)]
    if let reason = job.reason { lines.append(("reason", reason)) }
    lines.append(("command", redactor.redact(argv: job.command).map(shellWord).joined(separator: " ")))
    lines.append(("directory", job.workingDirectory))
    lines.append(("policy", job.policy ?? "default"))
    if !job.runArguments.isEmpty {
        lines.append(("options", redactor.redact(argv: job.runArguments).joined(separator: " ")))
    }
    if !job.matrix.isEmpty {
        lines.append(("matrix", job.matrix.map { "\($0.key)=\($0.value)" }.joined(separator: " ")))
    }
    if !job.after.isEmpty {
        var text = job.after.joined(separator: ", ")
        if !row.blockedBy.isEmpty { text += " (blocked by \(row.blockedBy.joined(separator: ", ")))" }
        if !row.waitingFor.isEmpty { text += " (waiting for \(row.waitingFor.joined(separator: ", ")))" }
        lines.append(("after", text))
    }
    lines.append(("priority", String(job.priority)))
    if let retrain = job.retrainAfter {
        var text = "after \(DurationFormat.string(from: retrain))"
        if let due = job.dueAt {
            text += row.due ? ", due since \(QueuePlan.display(due))" : ", due at \(QueuePlan.display(due))"
        }
        lines.append(("retrain", text))
    }
    lines.append(
        (
            "runs",
            "\(job.runs) (attempts \(job.attempts), time used \(DurationFormat.string(from: job.timeUsedSeconds.rounded())))"
        ))
    if let verdict = job.lastVerdict {
        lines.append(("last verdict", "\(verdict.verdict) (\(verdict.rule)): \(verdict.reason)"))
    }
    if let success = job.lastSucceededAt { lines.append(("last success", QueuePlan.display(success))) }
    if let claim = job.claim {
        var text = "queue runner pid \(claim.runner.pid) on \(claim.host)"
        if let vigil = claim.vigil { text += ", vigil pid \(vigil.pid)" }
        if let slot = claim.slot { text += ", slot \(slot)" }
        if let status = row.claim { text += " (\(status.rawValue))" }
        lines.append(("claim", text))
    }
    let width = lines.map(\.0.count).max() ?? 0
    for (name, value) in lines {
        print((name + ":").padded(to: width + 2) + redactor.redact(value))
    }
}

private func shellWord(_ word: String) -> String { StarterPolicy.shellWord(word) }

/// `vigil queue retry NAME...`.
func queueRetryCommand(_ arguments: ParsedArguments) throws -> Int32 {
    let (store, _) = queueLocation(arguments)
    let patterns = arguments.positionalValues(QueueCommand.jobsArgument)
    let (retried, left) = try store.modify { try QueueEdit.retry(patterns, in: &$0) }
    if !retried.isEmpty { print("vigil queue: back to pending (they start over): \(retried.joined(separator: ", "))") }
    for (name, why) in left { print("vigil queue: \(name) left as it is: \(why)") }
    return 0
}

/// `vigil queue remove NAME...`.
func queueRemoveCommand(_ arguments: ParsedArguments) throws -> Int32 {
    let (store, _) = queueLocation(arguments)
    let patterns = arguments.positionalValues(QueueCommand.jobsArgument)
    let removed = try store.modify { try QueueEdit.remove(patterns, from: &$0) }
    print("vigil queue: removed \(removed.count): \(removed.joined(separator: ", ")) (their run directories stay)")
    return 0
}

/// `vigil queue clear [--done | --fresh]`.
func queueClearCommand(_ arguments: ParsedArguments) throws -> Int32 {
    let (store, _) = queueLocation(arguments)
    let done = arguments.flag(QueueCommand.done)
    if arguments.flag(QueueCommand.fresh) {
        if done { throw VigilError(.usage, "--done and --fresh exclude each other") }
        guard let moved = try store.moveAside(now: Date()) else {
            print("vigil queue: no queue file at \(store.path); nothing to move")
            return 0
        }
        print("vigil queue: moved the queue file to \(moved); the queue is empty")
        return 0
    }
    let count = try store.modify { try QueueEdit.clear(onlyDone: done, in: &$0) }
    print("vigil queue: removed \(count) \(done ? "done " : "")job\(count == 1 ? "" : "s")")
    return 0
}
