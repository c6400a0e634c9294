import Foundation
import VigilCLI
import VigilCore

/// `vigil status --check`: exit code for a stale live run.
let statusStaleExitCode: Int32 = 3

func statusCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = StatusCommand
    let run = arguments.positional(Option.run)
    let logDirectory = arguments.text(Option.logDirectory) ?? "logs"
    let json = arguments.flag(Option.json)
    let check = arguments.flag(Option.check)
    let staleAfter = arguments.duration(Option.staleAfter)
    if staleAfter != nil && !check {
        throw VigilError(.usage, "--stale-after only applies with --check")
    }
    let now = Date()

    guard let run else {
        let statuses = RunStatus.list(logDirectory: logDirectory, now: now)
        if check {
            guard let newest = statuses.first else {
                throw VigilError(.notFound, file: logDirectory, "no runs here to check")
            }
            return try report(newest, json: json, check: true, staleAfter: staleAfter)
        }
        if json {
            let redactor = displayRedactor(policy: nil)
            FileHandle.standardOutput.write(try RunStatus.encoded(statuses.map { $0.redacted(by: redactor) }))
        } else if statuses.isEmpty {
            print("no runs under \(logDirectory)")
        } else {
            printRunList(statuses, now: now)
        }
        return 0
    }
    let status = try RunStatus.read(runDirectory: try locateRun(run, logDirectory: logDirectory), now: now)
    return try report(status, json: json, check: check, staleAfter: staleAfter)
}

/// The directory of RUN: a path when it contains a `/`, else a name under the log directory.
/// - Throws: `.notFound` (exit 66) naming the runs that do exist.
func locateRun(_ run: String, logDirectory: String) throws -> String {
    let directory = run.contains("/") ? run : logDirectory + "/" + run
    if FileManager.default.fileExists(atPath: directory + "/journal.json") { return directory }
    var message = "no run '\(run)' (no \(directory)/journal.json)"
    if !run.contains("/") {
        let names = RunStatus.list(logDirectory: logDirectory, now: Date()).map {
            ($0.directory as NSString).lastPathComponent
        }
        if let near = Spelling.nearest(run, in: names) {
            message += "; did you mean '\(near)'?"
        } else if names.isEmpty {
            message += "; there are no runs under \(logDirectory) (use --log-dir?)"
        } else {
            message += "; runs there: " + names.prefix(8).joined(separator: ", ")
            if names.count > 8 { message += ", …" }
        }
    }
    throw VigilError(.notFound, message)
}

/// What status and report output is redacted with: secret-looking names, the secret values of this
/// environment (usually the one the run was started from), and the run's policy `redact` patterns
/// when that policy still loads.
func displayRedactor(policy name: String?, patterns recorded: [String]? = nil) -> Redactor {
    // The patterns the run recorded in its journal; else its policy's, looked up by name.
    let patterns = recorded ?? name.flatMap { try? loader().load($0) }?.redact ?? []
    return (try? Redactor(environment: ProcessInfo.processInfo.environment, extraPatterns: patterns)) ?? .namesOnly
}

/// JSON with every string in it redacted (arrays of strings as command lines, so the value after
/// `--api-key` goes too). Done on the parsed value: a replacement can never break the JSON.
func redactedJSON(_ data: Data, _ redactor: Redactor) -> Data {
    func walk(_ value: Any) -> Any {
        switch value {
        case let text as String: return redactor.redact(text)
        case let strings as [String]: return redactor.redact(argv: strings)
        case let array as [Any]: return array.map(walk)
        case let object as [String: Any]: return object.mapValues(walk)
        default: return value
        }
    }
    guard let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
        var out = try? JSONSerialization.data(
            withJSONObject: walk(parsed), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    else { return Data("{\"error\": \"cannot redact\"}\n".utf8) }
    out.append(0x0A)
    return out
}

private func report(_ status: RunStatus, json: Bool, check: Bool, staleAfter: Double?) throws -> Int32 {
    let recorded = (try? Journal.read(from: status.directory + "/journal.json"))??.redactPatterns
    let redactor = displayRedactor(policy: status.policy, patterns: recorded)
    if json {
        FileHandle.standardOutput.write(try status.redacted(by: redactor).encoded())
    } else if !check {
        printStatusBlock(status.redacted(by: redactor))
    }
    guard check else { return 0 }
    let (health, reason) = status.health(staleAfter: staleAfter)
    let line = "\((status.directory as NSString).lastPathComponent): \(redactor.redact(reason))"
    if json {
        printError(line)
    } else {
        print(line)
    }
    switch health {
    case .ok: return 0
    case .failed: return ExitCode.unrecoverable.rawValue
    case .stale: return statusStaleExitCode
    }
}

private func printRunList(_ statuses: [RunStatus], now: Date) {
    var rows = [["RUN", "STATE", "ATTEMPTS", "LAST VERDICT", "ACTIVE"]]
    for status in statuses {
        // Rule names and states only: nothing here carries a secret.
        let verdict = status.lastVerdict.map { "\($0.verdict.rawValue) (\($0.rule))" } ?? "—"
        let attempts = status.liveAttempt.map { "\(status.attempts) (#\($0.number) live)" } ?? String(status.attempts)
        rows.append([
            (status.directory as NSString).lastPathComponent, status.state.rawValue, attempts, verdict,
            RunStatus.age(now.timeIntervalSince(status.lastActivityAt)),
        ])
    }
    let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
        let cells = row.enumerated().map { column, cell in
            column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}

private func printStatusBlock(_ status: RunStatus) {
    let now = status.checkedAt
    func ago(_ date: Date) -> String { RunStatus.age(now.timeIntervalSince(date)) }
    var lines: [(String, String)] = []
    var state = status.state.rawValue
    if let supervisor = status.supervisor {
        switch (status.state, supervisor.alive) {
        case (.running, _), (.backingOff, _):
            state +=
                " — vigil pid \(supervisor.pid) on \(supervisor.host)"
                + (supervisor.alive == nil ? " (another host: not verified)" : "")
        case (.interrupted, _):
            state += " — its supervisor (vigil pid \(supervisor.pid) on \(supervisor.host)) is gone"
            if let orphan = status.orphanedTrainerPID { state += "; the trainer (pid \(orphan)) is still running" }
        default: break
        }
    }
    lines.append(("run", "\(status.run)  (id \(status.runID))"))
    lines.append(("state", state))
    if let outcome = status.outcome, status.state != .running, status.state != .backingOff {
        lines.append(("outcome", "\(outcome.reason) (exit \(outcome.exitCode))"))
    }
    if let live = status.liveAttempt {
        lines.append(
            (
                "live attempt",
                "#\(live.number)" + (live.pid.map { ", pid \($0)" } ?? "")
                    + ", running for \(DurationFormat.string(from: live.runningSeconds.rounded(.down)))"
            ))
        lines.append(("argv", live.argv.joined(separator: " ")))
        if let stopping = live.stopping { lines.append(("stopping", stopping)) }
    }
    if let next = status.nextAttemptAt {
        let seconds = next.timeIntervalSince(now)
        lines.append(
            (
                "next attempt",
                seconds > 0 ? "in \(DurationFormat.string(from: seconds.rounded(.up)))" : "due (\(ago(next)))"
            ))
    }
    var attempts = String(status.attempts)
    attempts +=
        " · consecutive failures \(status.consecutiveFailures)" + (status.maxRetries.map { "/\($0)" } ?? "")
    lines.append(("attempts", attempts))
    if let verdict = status.lastVerdict {
        let attempt = status.lastVerdictAttempt.map { "attempt \($0): " } ?? ""
        lines.append(("last verdict", "\(attempt)\(verdict.verdict.rawValue) (\(verdict.rule)): \(verdict.reason)"))
    }
    if let failure = status.lastFailure {
        var text = "attempt \(failure.attempt)"
        if let ended = failure.endedAt { text += ", ended \(ago(ended))" }
        if failure.attempt != status.lastVerdictAttempt, let verdict = failure.verdict {
            text += ": \(verdict.verdict.rawValue) (\(verdict.rule)) \(verdict.reason)"
        }
        let how = [failure.exit, failure.stopReason.map { "stopped: \($0)" }].compactMap { $0 }
        if !how.isEmpty { text += " [\(how.joined(separator: "; "))]" }
        lines.append(("last failure", text))
    }
    lines.append(("time used", DurationFormat.string(from: status.computeSeconds.rounded(.down))))
    if let goodput = status.goodput {
        lines.append(("goodput", goodput.line.replacingOccurrences(of: "goodput ", with: "")))
    }
    if let output = status.lastOutputAt { lines.append(("last output", ago(output))) }
    if let checkpoint = status.lastCheckpoint {
        let age = checkpoint.modifiedAt.map { ago($0) } ?? "file gone"
        lines.append(("checkpoint", "\(checkpoint.path) (after attempt \(checkpoint.attempt), \(age))"))
    }
    lines.append(("directory", status.directory))
    let width = lines.map(\.0.count).max() ?? 0
    for (name, value) in lines {
        print((name + ":").padding(toLength: width + 2, withPad: " ", startingAt: 0) + value)
    }
}
