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

/// `vigil queue run`: the options checked, then the runner (or, with `--dry-run`, its plan).
func queueRunCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = QueueCommand
    let (store, logDirectory) = queueLocation(arguments)
    let cwd = FileManager.default.currentDirectoryPath
    let environment = ProcessInfo.processInfo.environment
    let slots = try arguments.text(Option.slots).map(parseSlots)
    let jobs = arguments.integer(Option.jobs) ?? slots?.count ?? 1
    if let slots, jobs > slots.count {
        throw VigilError(.usage, "--jobs \(jobs) with \(slots.count) slots: each running job needs a slot of its own")
    }
    if arguments.flag(Option.noRetrain) && arguments.flag(Option.retrainOnly) {
        throw VigilError(.usage, "--no-retrain and --retrain-only exclude each other")
    }
    let selection = QueueSelection(
        only: arguments.texts(Option.only),
        retrain: arguments.flag(Option.noRetrain) ? .skip : arguments.flag(Option.retrainOnly) ? .only : .include)
    var deadlines: [Date] = []
    if let limit = arguments.duration(Option.timeLimit) { deadlines.append(Date().addingTimeInterval(limit)) }
    if let text = arguments.text(Option.deadline) {
        deadlines.append(Date(timeIntervalSince1970: try parseDeadline(text)))
    }
    let hooks = try arguments.text(Option.runPolicy).map { try loader().load($0).hooks } ?? Policy.Hooks()

    if arguments.flag(Option.dryRun) { return try queueDryRun(store, selection: selection) }

    var request = QueueRunRequest(
        store: store, logDirectory: logDirectory, vigilExecutable: currentExecutable(), environment: environment,
        workingDirectory: cwd,
        policyLoader: { policy, directory in
            try? PolicyLoader.standard(environment: environment, workingDirectory: directory).load(policy)
        })
    request.jobs = jobs
    request.slots = slots
    request.deadline = deadlines.min()
    request.selection = selection
    request.trainerOutput = arguments.flag(Option.trainerOutput)
    request.hooks = hooks

    let events = EventQueue<QueueRunEvent>()
    // A trainer whose vigil run dies is reparented to the runner, not init: still in this tree.
    Supervisor.becomeSubreaper()
    SignalRelay.ignoreBrokenPipes()
    SignalRelay.install([.interrupt, .terminate, .hangup, .user1]) { events.post(.signal($0)) }
    let runner = QueueRunner(
        request: request, events: events, note: { printError($0) },
        relay: { stream, line in writeOut(Data((line + "\n").utf8), to: stream == .stdout ? 1 : 2) })
    return try runner.run().code.rawValue
}

/// `0,1,2,3`: distinct, non-empty values.
private func parseSlots(_ text: String) throws -> [String] {
    let slots = text.split(separator: ",", omittingEmptySubsequences: false).map {
        $0.trimmingSpaces()
    }
    guard !slots.contains(where: \.isEmpty), Set(slots).count == slots.count else {
        throw VigilError(.usage, "--slots expects distinct comma-separated values like 0,1,2,3; got '\(text)'")
    }
    return slots
}

/// This very binary (`/proc/self/exe`), which runs each queue job's and drill's `vigil run`.
func currentExecutable() -> String {
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
    let argv0 = CommandLine.arguments[0]
    return
        (try? CommandResolver.resolve(
            argv0, path: ProcessInfo.processInfo.environment["PATH"],
            workingDirectory: FileManager.default.currentDirectoryPath)) ?? argv0
}

/// `--dry-run`: what would run, in order, and why; the others and why not. Changes nothing.
private func queueDryRun(_ store: QueueStore, selection: QueueSelection) throws -> Int32 {
    guard let queue = try store.read() else {
        throw VigilError(.notFound, file: store.path, "no queue here; add jobs with `vigil queue add … -- COMMAND`")
    }
    let view = QueueView(
        queue: queue, now: Date(), liveness: QueueView.liveness(localHost: ProcessInfo.processInfo.hostName))
    let plan = QueuePlan(view: view, selection: selection)
    for line in plan.describe(view) { print(line) }
    let watch = plan.candidates.filter { $0.reason == .watch }.count
    print(
        "vigil queue: dry run: \(plan.candidates.count - watch) job(s) would run"
            + (watch > 0 ? ", \(watch) would be waited for" : "") + "; nothing was changed")
    return 0
}

/// `vigil report --queue`: the queue's jobs as text, JSON, or one HTML page (each job's own page
/// written into its run directory and linked).
func queueReportCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = ReportCommand
    let cwd = FileManager.default.currentDirectoryPath
    let logDirectory = Path.standardized(Paths.absolute(arguments.text(Option.logDirectory) ?? "logs", in: cwd))
    let path = arguments.text(Option.queueFile).map { Paths.absolute($0, in: cwd) } ?? logDirectory + "/queue.json"
    let store = QueueStore(path: Path.standardized(path))
    guard let queue = try store.read() else {
        throw VigilError(.notFound, file: store.path, "no queue here (use --log-dir or --queue-file)")
    }
    let view = QueueView(
        queue: queue, now: Date(), liveness: QueueView.liveness(localHost: ProcessInfo.processInfo.hostName))
    if arguments.flag(Option.json) {
        writeOut(Data(QueueListing.json(view, rows: view.rows).utf8), to: 1)
        return 0
    }
    guard let htmlPath = arguments.text(Option.html) else {
        writeOut(Data(QueueListing.text(view, rows: view.rows).utf8), to: 1)
        if let report = FileManager.default.contents(atPath: store.reportPath) {
            writeOut(Data("\nthe last queue run (\(store.reportPath)):\n\n".utf8) + report, to: 1)
        }
        return 0
    }
    let target = Path.standardized(Paths.absolute(htmlPath, in: cwd))
    let folder = Path.parent(target)
    var info = stat()
    guard stat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
        throw VigilError(.notFound, file: htmlPath, "cannot write the report: the directory \(folder) does not exist")
    }
    var runs: [String: QueueHTMLReport.JobRun] = [:]
    for job in queue.jobs {
        let directory = RunDirectory(logDirectory: logDirectory, name: job.name).path
        guard let journal = try? Journal.read(from: directory + "/journal.json") else { continue }
        let redactor = displayRedactor(policy: journal.policy, patterns: journal.redactPatterns)
        let page = HTMLReport.render(
            journal: journal, metrics: HTMLReport.readMetrics(directory + "/metrics.jsonl"), runDirectory: directory,
            redactor: redactor)
        let link = relativeLink(from: folder, to: directory + "/report.html")
        if (try? AtomicFile.write(Data(page.utf8), to: directory + "/report.html", permissions: 0o600)) != nil {
            runs[job.name] = QueueHTMLReport.JobRun(journal: journal, directory: directory, reportLink: link)
        } else {
            runs[job.name] = QueueHTMLReport.JobRun(journal: journal, directory: directory, reportLink: nil)
        }
    }
    let html = QueueHTMLReport.render(
        view: view, runs: runs, queuePath: store.path, redactor: displayRedactor(policy: nil))
    try AtomicFile.write(Data(html.utf8), to: target, permissions: 0o600)
    print(htmlPath)
    return 0
}

/// `to` as a link from the directory `from` (both absolute).
private func relativeLink(from: String, to: String) -> String {
    let source = from.split(separator: "/")
    let target = to.split(separator: "/")
    var common = 0
    while common < source.count, common < target.count - 1, source[common] == target[common] { common += 1 }
    return (Array(repeating: "..", count: source.count - common) + target[common...].map(String.init)).joined(
        separator: "/")
}
