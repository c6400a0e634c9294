import Foundation
import VigilCLI
import VigilCore

func reportCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = ReportCommand
    let run = arguments.positional(Option.run)
    let logDirectory = arguments.text(Option.logDirectory) ?? "logs"
    let json = arguments.flag(Option.json)
    let htmlPath = arguments.text(Option.html)
    if json && htmlPath != nil { throw VigilError(.usage, "--json and --html exclude each other") }

    let directory: String
    if let run {
        directory = try locateRun(run, logDirectory: logDirectory)
    } else {
        guard let newest = RunStatus.list(logDirectory: logDirectory, now: Date()).first else {
            throw VigilError(.notFound, file: logDirectory, "no runs here to report on (use --log-dir?)")
        }
        directory = newest.directory
    }
    guard let journal = try Journal.read(from: directory + "/journal.json") else {
        throw VigilError(.notFound, file: directory, "no run here (no journal.json)")
    }
    let metrics = HTMLReport.readMetrics(directory + "/metrics.jsonl")
    let redactor = displayRedactor(policy: journal.policy, patterns: journal.redactPatterns)

    if json {
        let document = try ReportDocument(journal: journal, metrics: metrics).encoded()
        FileHandle.standardOutput.write(redactedJSON(document, redactor))
        return 0
    }
    if let htmlPath {
        let folder = (absolute(htmlPath) as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw VigilError(
                .notFound, file: htmlPath, "cannot write the report: the directory \(folder) does not exist")
        }
        let base = relativePath(from: folder, to: absolute(directory))
        let html = HTMLReport.render(
            journal: journal, metrics: metrics, runDirectory: directory, linkBase: base.isEmpty ? "" : base + "/",
            redactor: redactor)
        try AtomicFile.write(Data(html.utf8), to: htmlPath, permissions: 0o600)
        print(htmlPath)
        return 0
    }
    printReportSummary(journal, metrics: metrics, directory: directory, redactor: redactor)
    return 0
}

private func absolute(_ path: String) -> String {
    let full = Paths.absolute(path, in: FileManager.default.currentDirectoryPath)
    return (full as NSString).standardizingPath
}

/// `to` as seen from the directory `from` (both absolute): `../logs/run`, or empty when they are equal.
private func relativePath(from: String, to: String) -> String {
    let source = from.split(separator: "/")
    let target = to.split(separator: "/")
    var common = 0
    while common < source.count, common < target.count, source[common] == target[common] { common += 1 }
    let up = Array(repeating: "..", count: source.count - common)
    return (up + target[common...].map(String.init)).joined(separator: "/")
}

private func printReportSummary(_ journal: Journal, metrics: [MetricPoint], directory: String, redactor: Redactor) {
    let status = RunStatus(journal: journal, runDirectory: directory, now: Date())
    func print(_ line: String) { Swift.print(redactor.redact(line)) }
    print("run \(journal.run) (id \(journal.runID)): \(status.state.rawValue)")
    if let outcome = journal.outcome { print("  \(outcome.reason) (exit \(outcome.exitCode))") }
    print("command: \(redactor.redact(argv: journal.command).joined(separator: " "))")
    print(
        "policy \(journal.policy) · \(journal.attempts.count) attempts · time used \(duration(status.computeSeconds))")
    print(Goodput(journal: journal, now: status.checkedAt).line)
    if !journal.attempts.isEmpty { print("attempts:") }
    for (index, attempt) in journal.attempts.enumerated() {
        let live = status.liveAttempt?.number == attempt.number
        var length = attempt.duration ?? 0
        if attempt.isOpen {
            // Live: so far; abandoned: until its log was last written.
            let end = live ? status.checkedAt : (status.lastOutputAt ?? attempt.startedAt)
            length = max(0, end.timeIntervalSince(attempt.startedAt))
        }
        var line = "  #\(attempt.number)  \(Journal.timestamp(attempt.startedAt).prefix(19))Z  \(duration(length))"
        line += attempt.isOpen ? (live ? " so far" : "+") : ""
        if let exit = attempt.exit { line += "  \(exit)" }
        if let verdict = attempt.verdict {
            line += "  \(verdict.verdict.rawValue) (\(verdict.rule)): \(verdict.reason)"
        } else if attempt.isOpen {
            line += live ? "  running" : "  no verdict: its supervisor is gone (interrupted)"
        }
        print(line)
        if let stop = attempt.stopReason { print("      stopped: \(stop)") }
        if let from = attempt.resumeFrom {
            print("      resumed from \(from)" + (attempt.resumeStep.map { " (step \($0))" } ?? ""))
        }
        for repair in attempt.repairs ?? [] { print("      repair: \(repair.line) (\(repair.reason))") }
        if index == journal.attempts.count - 1, let after = attempt.checkpointAfter {
            print("      newest checkpoint: \(after)")
        }
    }
    for repair in journal.schemaRepairs ?? [] { print("schema repair: \(repair.line)") }
    let series = MetricSeries.summarize(metrics)
    if !series.isEmpty {
        print("metrics (\(metrics.count) points):")
        for metric in series {
            let first = String(format: "%.4g", metric.first)
            let last = String(format: "%.4g", metric.last)
            let attempts = metric.attempts.map(String.init).joined(separator: ",")
            print(
                "  \(metric.name): \(first) → \(last) (min \(String(format: "%.4g", metric.min)), attempts \(attempts))"
            )
        }
    }
    print("directory: \(directory)")
}

private func duration(_ seconds: Double) -> String { DurationFormat.string(from: seconds.rounded(.down)) }
