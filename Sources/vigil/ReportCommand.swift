import Foundation
import VigilCore

let reportHelp = """
    usage: vigil report [RUN] [--log-dir DIR] [--json | --html FILE]

    What happened in a run: every attempt with its verdict, the repairs, the time used and the
    metrics. RUN is a run name under the log directory or the path of a run directory (default: the
    most recently active run). Only reads; works while the run is live.

    options:
      --log-dir DIR          where run directories are (default: ./logs)
      --json                 the journal as recorded, plus a summary of metrics.jsonl
      --html FILE            write one self-contained HTML page (timeline of attempts coloured by
                             verdict, metric curves with restart markers, repairs, links to the
                             attempt logs and reports) to FILE, and print its path

    exit codes: 0 written · 64 usage · 66 no such run · 1 the file could not be written
    """

func reportCommand(_ arguments: inout Arguments) throws -> Int32 {
    var run: String?
    var logDirectory = "logs"
    var json = false
    var htmlPath: String?
    let known = ["--log-dir", "--json", "--html", "--help"]
    while let argument = arguments.next() {
        if !argument.hasPrefix("-") {
            guard run == nil else { throw VigilError(.usage, "vigil report: unexpected argument '\(argument)'") }
            run = argument
            continue
        }
        let (option, inline) = Arguments.split(argument)
        switch option {
        case "--help", "-h":
            print(reportHelp)
            return 0
        case "--log-dir": logDirectory = try arguments.value(for: option, inline: inline)
        case "--json": json = true
        case "--html": htmlPath = try arguments.value(for: option, inline: inline)
        default: throw Arguments.unknown(option, known: known)
        }
    }
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
    let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
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
