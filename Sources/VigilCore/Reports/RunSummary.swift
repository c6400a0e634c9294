import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The end-of-run summary: printed to the terminal and written to `logs/<run>/report.md`.
///
/// **Time lost to failures** is the work a failure made Vigil redo, as far as the journal knows it:
/// - a failed attempt (verdict other than `success`) that wrote no new valid checkpoint
///   (`madeProgress != true`) is lost whole: the next attempt starts again from the same place;
/// - a failed attempt that did write one lost only the work after its last checkpoint, but the
///   journal does not record when that checkpoint was written, so that part is not guessed: such
///   attempts are counted in ``failedWithProgress`` and their whole duration in
///   ``failedWithProgressSeconds``, an upper bound on what else was lost.
///
/// Attempts still running count toward ``timeUsedSeconds`` up to the summary's `now`, and toward
/// neither kind of loss; nor do attempts vigil stopped on purpose (`stopped-by-vigil`) or found
/// orphaned (`orphaned`): they did not fail.
public struct RunSummary: Codable, Sendable, Equatable {
    /// One attempt's line in the table.
    public struct AttemptRow: Codable, Sendable, Equatable {
        public var number: Int
        public var startedAt: Date
        /// Nil while the attempt runs.
        public var durationSeconds: Double?
        /// `exit code 1`, `killed by SIGKILL (sent by vigil)`; nil while it runs.
        public var exit: String?
        public var verdict: VerdictClass?
        public var rule: String?
        /// The verdict's reason, redacted.
        public var reason: String?
        public var resumeFrom: String?
        public var checkpointAfter: String?
        public var madeProgress: Bool?
    }

    /// How the run ended, when it has.
    public struct Outcome: Codable, Sendable, Equatable {
        public var exitCode: Int32
        public var reason: String
    }

    public var run: String
    public var runID: String
    /// The trainer command, redacted.
    public var command: [String]
    public var state: Journal.RunState
    public var outcome: Outcome?
    public var attempts: [AttemptRow]
    /// Wall-clock seconds of all attempts.
    public var timeUsedSeconds: Double
    /// Whole durations of failed attempts that made no progress (see the type's documentation).
    public var timeLostSeconds: Double
    /// Rules of the verdicts that are no failure of the trainer's.
    static let notFailures: Set<String> = ["stopped-by-vigil", "orphaned"]
    /// Failed attempts that wrote a new checkpoint before failing.
    public var failedWithProgress: Int
    /// Their whole durations: an upper bound on the work lost after their last checkpoints.
    public var failedWithProgressSeconds: Double
    /// Every change Vigil made, in order: schema repairs first, then each attempt's.
    public var repairs: [String]
    /// The newest valid checkpoint after the last attempt that recorded one.
    public var latestCheckpoint: String?
    /// Checkpoints hard-linked into `preserved/` over the run.
    public var preserved: [String]
    /// Where the wall time went: productive training and the rest by cause.
    public var goodput: Goodput

    /// Summarises `journal`; `now` measures attempts still running.
    public init(journal: Journal, redactor: Redactor, now: Date = Date()) {
        run = journal.run
        runID = journal.runID
        command = redactor.redact(argv: journal.command)
        state = journal.state
        outcome = journal.outcome.map { Outcome(exitCode: $0.exitCode, reason: redactor.redact($0.reason)) }
        var used = 0.0
        var lost = 0.0
        var withProgress = 0
        var withProgressSeconds = 0.0
        var repairs = (journal.schemaRepairs ?? []).map { redactor.redact($0.line) }
        var preserved: [String] = []
        var rows: [AttemptRow] = []
        for attempt in journal.attempts {
            let duration = attempt.duration
            used += max(0, duration ?? now.timeIntervalSince(attempt.startedAt))
            // An attempt vigil stopped on purpose (a signal to vigil, the runtime deadline, the total
            // budget) or that ended as an orphan did not fail: its time is not lost to failures.
            if let duration, let verdict = attempt.verdict, verdict.verdict != .success,
                !RunSummary.notFailures.contains(verdict.rule)
            {
                if attempt.madeProgress == true {
                    withProgress += 1
                    withProgressSeconds += max(0, duration)
                } else {
                    lost += max(0, duration)
                }
            }
            repairs += (attempt.repairs ?? []).map { redactor.redact($0.line) }
            for name in attempt.preserved ?? [] where !preserved.contains(name) { preserved.append(name) }
            let exit = attempt.exit.map { termination -> String in
                if case .signaled(let signal) = termination,
                    attempt.signalsSent.contains(where: { Signal(name: $0.signal) == signal })
                {
                    return termination.description + " (sent by vigil)"
                }
                return termination.description
            }
            rows.append(
                AttemptRow(
                    number: attempt.number, startedAt: attempt.startedAt, durationSeconds: duration, exit: exit,
                    verdict: attempt.verdict?.verdict, rule: attempt.verdict?.rule,
                    reason: attempt.verdict.map { redactor.redact($0.reason) }, resumeFrom: attempt.resumeFrom,
                    checkpointAfter: attempt.checkpointAfter, madeProgress: attempt.madeProgress))
        }
        attempts = rows
        timeUsedSeconds = used
        timeLostSeconds = lost
        failedWithProgress = withProgress
        failedWithProgressSeconds = withProgressSeconds
        self.repairs = repairs
        latestCheckpoint = journal.attempts.last { $0.checkpointAfter != nil }?.checkpointAfter
        self.preserved = preserved
        goodput = Goodput(journal: journal, now: now)
    }

    /// `succeeded after 3 attempts (exit 0)`.
    public var headline: String {
        let count = attempts.count == 1 ? "1 attempt" : "\(attempts.count) attempts"
        let exit = outcome.map { " (exit \($0.exitCode))" } ?? ""
        switch state {
        case .running: return "running, \(count) so far"
        case .backingOff: return "waiting to retry, \(count) so far"
        case .stopped: return "stopped after \(count), resumable\(exit)"
        case .succeeded: return "succeeded after \(count)\(exit)"
        case .failed: return "failed after \(count)\(exit)"
        case .gaveUp: return "gave up after \(count)\(exit)"
        case .interrupted: return "interrupted after \(count): its supervisor died"
        case .corrupt: return "unreadable: its journal is corrupt"
        }
    }

    private var lostText: String {
        var text = AttemptReport.Format.duration(timeLostSeconds)
        if failedWithProgress > 0 {
            let attemptsText = failedWithProgress == 1 ? "1 failed attempt" : "\(failedWithProgress) failed attempts"
            text +=
                " (+ up to \(AttemptReport.Format.duration(failedWithProgressSeconds)) in \(attemptsText)"
                + " that saved a checkpoint)"
        }
        return text
    }

    /// The run's `report.md`.
    public func markdown() -> String {
        typealias Format = AttemptReport.Format
        var out = "# Run `\(run)`: \(headline)\n\n"
        if let outcome { out += "> \(Format.singleLine(outcome.reason))\n\n" }
        out += "| | |\n| --- | --- |\n"
        let facts: [(String, String)] = [
            ("Run id", "`\(runID)`"),
            ("Command", Format.inlineCode(command.joined(separator: " "))),
            ("State", state.rawValue),
            ("Time used", Format.duration(timeUsedSeconds)),
            ("Time lost to failures", lostText),
            ("Goodput", goodput.line.replacingOccurrences(of: "goodput ", with: "")),
            ("Latest checkpoint", latestCheckpoint.map(Format.inlineCode) ?? "none"),
        ]
        for (name, value) in facts { out += "| \(name) | \(Format.tableCell(value)) |\n" }
        out += "\n## Attempts\n\n"
        if attempts.isEmpty {
            out += "No attempt has started.\n\n"
        } else {
            out += "| # | Started | Duration | Exit | Verdict | Rule | Reason | Report |\n"
            out += "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
            for row in attempts {
                let report = AttemptReport.fileNames(attempt: row.number).markdown
                let cells = [
                    String(row.number), Journal.timestamp(row.startedAt),
                    row.durationSeconds.map(Format.duration) ?? "running", row.exit ?? "—",
                    row.verdict?.rawValue ?? "—", row.rule.map { "`\($0)`" } ?? "—", row.reason ?? "—",
                    row.verdict == nil || row.verdict == .success ? "—" : "[\(report)](\(report))",
                ]
                out += "| " + cells.map(Format.tableCell).joined(separator: " | ") + " |\n"
            }
            out += "\n"
        }
        out += "## Repairs\n\n"
        out +=
            repairs.isEmpty
            ? "None.\n\n" : repairs.map { "- \(Format.singleLine($0))" }.joined(separator: "\n") + "\n\n"
        out += "## Checkpoints kept\n\n"
        var kept: [String] = []
        if let latestCheckpoint { kept.append("- Latest valid: `\(latestCheckpoint)`") }
        for name in preserved { kept.append("- Preserved: `\(name)`") }
        out += kept.isEmpty ? "None.\n" : kept.joined(separator: "\n") + "\n"
        return out
    }

    /// A compact summary for the terminal; ANSI colours only when `color` is true.
    public func terminalText(color: Bool) -> String {
        typealias Format = AttemptReport.Format
        func paint(_ text: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        func colorCode(_ verdict: VerdictClass?) -> String {
            switch verdict {
            case .success?: return "32"
            case .recoverable?: return "33"
            case .unrecoverable?: return "31"
            case .ignore?, nil: return "2"
            }
        }
        let stateCode: String
        switch state {
        case .succeeded: stateCode = "1;32"
        case .failed: stateCode = "1;31"
        case .gaveUp, .interrupted, .corrupt: stateCode = "1;33"
        case .stopped, .running, .backingOff: stateCode = "1"
        }
        var lines = ["vigil: run \(Format.singleLine(run)) " + paint(headline, stateCode)]
        if let outcome { lines.append("  " + Format.singleLine(outcome.reason)) }
        for row in attempts {
            let verdict = row.verdict?.rawValue ?? "running"
            var line =
                "  #\(row.number)  " + (row.durationSeconds.map(Format.duration) ?? "…").paddedRight(8) + "  "
                + (row.exit ?? "—").paddedRight(14) + "  " + paint(verdict.paddedRight(13), colorCode(row.verdict))
            if let rule = row.rule { line += "  " + Format.singleLine(rule) }
            if let reason = row.reason, row.verdict != .success {
                line += ": " + Format.singleLine(reason).truncated(to: 100)
            }
            lines.append(line)
        }
        lines.append("  time used \(Format.duration(timeUsedSeconds)), lost to failures \(lostText)")
        lines.append("  " + goodput.line)
        for repair in repairs { lines.append("  repaired " + Format.singleLine(repair)) }
        if let latestCheckpoint { lines.append("  latest checkpoint " + Format.singleLine(latestCheckpoint)) }
        if !preserved.isEmpty { lines.append("  preserved " + Format.singleLine(preserved.joined(separator: ", "))) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The summary as JSON: sorted keys, pretty, timestamps as in the journal.
    public func encoded() throws -> Data {
        var data = try Journal.encoder.encode(self)
        data.append(0x0A)
        return data
    }

    /// Writes `report.md` into the run's directory atomically, created with `permissions`.
    public func write(to runDirectory: String, permissions: mode_t = 0o600) throws {
        try AtomicFile.write(Data(markdown().utf8), to: runDirectory + "/report.md", permissions: permissions)
    }
}

extension String {
    /// Padded with spaces on the right to `width` characters.
    fileprivate func paddedRight(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    /// Cut to `limit` characters, with an ellipsis when cut.
    fileprivate func truncated(to limit: Int) -> String {
        count <= limit ? self : String(prefix(limit - 1)) + "…"
    }
}
