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

/// The error report of one attempt: `logs/<run>/attempt-NNN.report.json` and `.md`.
///
/// Made from the journal's record of the attempt and its output tail; every text that came from
/// the trainer or its command line has gone through a ``Redactor``.
public struct AttemptReport: Codable, Sendable, Equatable {
    /// How the trainer ended.
    public struct Exit: Codable, Sendable, Equatable {
        /// The exit code, when it exited.
        public var code: Int32?
        /// The signal's short name (`KILL`), when a signal ended it.
        public var signal: String?
        /// Whether vigil sent that signal (a stop, a limit) rather than the kernel or someone else.
        public var signalSentByVigil: Bool
        /// `exit code 1`, `killed by SIGKILL (sent by vigil)`.
        public var description: String
    }

    /// The classifier's decision.
    public struct VerdictSummary: Codable, Sendable, Equatable {
        public var verdict: VerdictClass
        public var rule: String
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case verdict = "class", rule, reason
        }
    }

    /// The last Python exception (redacted).
    public struct Exception: Codable, Sendable, Equatable {
        public var type: String
        public var message: String
        public var traceback: String?
    }

    /// The end of the attempt's output (redacted).
    public struct Tail: Codable, Sendable, Equatable {
        /// How many lines of each stream were asked for.
        public var lines: Int
        public var stderr: [String]
        public var stdout: [String]
    }

    /// A checkpoint moved to quarantine.
    public struct QuarantinedCheckpoint: Codable, Sendable, Equatable {
        public var name: String
        public var reason: String
    }

    /// A signal vigil sent to the trainer's group.
    public struct SentSignal: Codable, Sendable, Equatable {
        public var signal: String
        public var at: Date
        public var reason: String
    }

    public var run: String
    public var runID: String
    public var attempt: Int
    /// The command line of this attempt (with resume arguments), redacted.
    public var argv: [String]
    public var workingDirectory: String
    public var host: String
    public var vigilVersion: String
    public var startedAt: Date
    public var endedAt: Date?
    public var durationSeconds: Double?
    public var exit: Exit?
    public var verdict: VerdictSummary?
    public var exception: Exception?
    public var outputTail: Tail
    /// The stack dump a hung trainer printed when asked, redacted.
    public var stackDump: String?
    /// Changes made because of this attempt's failure: `training.batch_size: 64 → 32`.
    public var repairs: [String]
    public var resumeFrom: String?
    public var resumeStep: Int?
    /// The newest valid checkpoint after the attempt.
    public var checkpointAfter: String?
    public var madeProgress: Bool?
    public var quarantined: [QuarantinedCheckpoint]
    public var signalsSent: [SentSignal]
    /// Each step of the stop sequence, in order.
    public var stopEvents: [Journal.StopEvent]
    public var stopReason: String?
    public var stopCause: String?
    /// The wait before the next attempt.
    public var backoffSeconds: Double?
    /// Processes that outlived the trainer and were stopped (escaped its group, left in it).
    public var leftovers: [LeftoverProcess] = []
    /// The checkpoints the attempt wrote, with what proved each complete or why not.
    public var checkpointsWritten: [Journal.WrittenCheckpoint] = []
    /// What vigil could not (or would not) quarantine, preserve or remove.
    public var checkpointFailures: [String] = []
    /// The attempt's full log, relative to the run directory.
    public var log: String

    /// Builds the report of `attempt` (one of `journal.attempts`).
    /// - Parameters:
    ///   - tail: the attempt's output tail; only its last `tailLines` lines per stream are kept.
    ///   - host: the machine's name; `version`: vigil's version.
    public static func make(
        journal: Journal, attempt: Journal.Attempt, tail: OutputTail, tailLines: Int, host: String, version: String,
        redactor: Redactor
    ) -> AttemptReport {
        let keep = max(0, tailLines)
        let exit = attempt.exit.map { termination -> Exit in
            switch termination {
            case .exited(let code):
                return Exit(code: code, signal: nil, signalSentByVigil: false, description: termination.description)
            case .signaled(let signal):
                let byVigil = attempt.signalsSent.contains { Signal(name: $0.signal) == signal }
                return Exit(
                    code: nil, signal: signal.name, signalSentByVigil: byVigil,
                    description: termination.description + (byVigil ? " (sent by vigil)" : ""))
            }
        }
        let found =
            attempt.verdict?.exception ?? PythonException.last(in: tail.stderr) ?? PythonException.last(in: tail.stdout)
        return AttemptReport(
            run: journal.run, runID: journal.runID, attempt: attempt.number, argv: redactor.redact(argv: attempt.argv),
            workingDirectory: journal.workingDirectory, host: host, vigilVersion: version,
            startedAt: attempt.startedAt, endedAt: attempt.endedAt, durationSeconds: attempt.duration, exit: exit,
            verdict: attempt.verdict.map {
                VerdictSummary(verdict: $0.verdict, rule: $0.rule, reason: redactor.redact($0.reason))
            },
            exception: found.map {
                Exception(
                    type: $0.type, message: redactor.redact($0.message), traceback: $0.traceback.map(redactor.redact))
            },
            outputTail: Tail(
                lines: keep, stderr: redactor.redact(Array(tail.stderr.suffix(keep))),
                stdout: redactor.redact(Array(tail.stdout.suffix(keep)))),
            stackDump: attempt.stackDump.map(redactor.redact),
            repairs: (attempt.repairs ?? []).map { redactor.redact($0.line) },
            resumeFrom: attempt.resumeFrom, resumeStep: attempt.resumeStep, checkpointAfter: attempt.checkpointAfter,
            madeProgress: attempt.madeProgress,
            quarantined: (attempt.quarantined ?? []).map { QuarantinedCheckpoint(name: $0.name, reason: $0.reason) },
            signalsSent: attempt.signalsSent.map {
                SentSignal(signal: $0.signal, at: $0.at, reason: redactor.redact($0.reason))
            },
            stopEvents: (attempt.stopEvents ?? []).map {
                Journal.StopEvent(at: $0.at, event: redactor.redact($0.event))
            },
            stopReason: attempt.stopReason.map(redactor.redact), stopCause: attempt.stopCause,
            backoffSeconds: attempt.backoffSeconds,
            leftovers: (attempt.leftovers ?? []).map { process in
                var shown = process
                shown.command = redactor.redact(process.command)
                return shown
            },
            checkpointsWritten: attempt.checkpointsWritten ?? [],
            checkpointFailures: (attempt.checkpointFailures ?? []).map { redactor.redact($0.description) },
            log: attempt.log)
    }

    /// The file names of attempt `number`'s report: `attempt-003.report.json`, `attempt-003.report.md`.
    public static func fileNames(attempt number: Int) -> (json: String, markdown: String) {
        let base = "attempt-\(Format.padded(number, 3)).report"
        return (base + ".json", base + ".md")
    }

    /// The report as JSON: sorted keys, pretty, timestamps as in the journal.
    public func encoded() throws -> Data {
        var data = try Journal.encoder.encode(self)
        data.append(0x0A)
        return data
    }

    /// Writes `attempt-NNN.report.json` and `.md` into `directory`, each atomically, created with
    /// `permissions` (never through a symbolic link: the temp file is opened `O_NOFOLLOW|O_EXCL` and
    /// renamed over the name).
    public func write(to directory: String, permissions: mode_t = 0o600) throws {
        let names = AttemptReport.fileNames(attempt: attempt)
        try AtomicFile.write(try encoded(), to: directory + "/" + names.json, permissions: permissions)
        try AtomicFile.write(Data(markdown().utf8), to: directory + "/" + names.markdown, permissions: permissions)
    }

    /// One line: `recoverable (oom-killed)`, or `no verdict yet` for a live attempt.
    public var headline: String {
        guard let verdict else { return endedAt == nil ? "still running" : "no verdict" }
        return "\(verdict.verdict.rawValue) (\(verdict.rule))"
    }

    /// A one-page Markdown report: headline, facts, exception, what Vigil did, output tail.
    public func markdown() -> String {
        var out = "# Attempt \(attempt) of `\(run)`: \(headline)\n\n"
        if let verdict { out += "> \(Format.singleLine(verdict.reason))\n\n" }
        var facts: [(String, String)] = [
            ("Run", "`\(run)` (id `\(runID)`)"),
            ("Command", Format.inlineCode(argv.joined(separator: " "))),
            ("Working directory", Format.inlineCode(workingDirectory)),
            ("Host", host),
            ("Vigil", vigilVersion),
            ("Started", Journal.timestamp(startedAt)),
            ("Ended", endedAt.map(Journal.timestamp) ?? "still running"),
            ("Duration", durationSeconds.map(Format.duration) ?? "—"),
            ("Exit", exit?.description ?? "—"),
        ]
        if let verdict {
            facts.append(("Verdict", "\(verdict.verdict.rawValue), rule `\(verdict.rule)`"))
        }
        facts.append(("Log", Format.inlineCode(log)))
        out += "| | |\n| --- | --- |\n"
        for (name, value) in facts { out += "| \(name) | \(Format.tableCell(value)) |\n" }
        out += "\n"

        if let exception {
            out += "## Exception\n\n"
            let message = exception.message.isEmpty ? "" : ": " + exception.message
            out += "**\(Format.singleLine(exception.type))**\(Format.singleLine(message))\n\n"
            if let traceback = exception.traceback { out += Format.codeBlock(traceback) + "\n" }
        }

        out += "## What Vigil did\n\n"
        var actions: [String] = []
        if let resumeFrom {
            actions.append("Resumed from `\(resumeFrom)`" + (resumeStep.map { " (step \($0))" } ?? "") + ".")
        } else {
            actions.append("Started without a checkpoint to resume from.")
        }
        for sent in signalsSent {
            let why = sent.reason.isEmpty ? "" : " (\(Format.singleLine(sent.reason)))"
            actions.append("Sent SIG\(sent.signal) at \(Journal.timestamp(sent.at))\(why).")
        }
        if let stopReason {
            actions.append(
                "Stopped the attempt: \(Format.singleLine(stopReason))" + (stopCause.map { " [\($0)]" } ?? ""))
        }
        for event in stopEvents {
            actions.append("\(Journal.timestamp(event.at)): \(Format.singleLine(event.event))")
        }
        for item in checkpointsWritten {
            let judged = item.evidence.map { "complete (\($0))" } ?? "invalid: \(item.invalidReason ?? "?")"
            actions.append("Saw `\(item.name)` (step \(item.step)) written: \(Format.singleLine(judged)).")
        }
        for item in quarantined {
            actions.append("Quarantined `\(item.name)`: \(Format.singleLine(item.reason)).")
        }
        for failure in checkpointFailures { actions.append("Warning: \(Format.singleLine(failure)).") }
        for process in leftovers {
            actions.append(
                "Stopped pid \(process.pid) (\(Format.singleLine(String(process.command.prefix(120)))), "
                    + "found by \(process.foundBy)): \(process.ended).")
        }
        for repair in repairs { actions.append("Repaired \(Format.singleLine(repair)).") }
        if let checkpointAfter {
            let progress = madeProgress == true ? " (new)" : madeProgress == false ? " (no new checkpoint)" : ""
            actions.append("Newest valid checkpoint after the attempt: `\(checkpointAfter)`\(progress).")
        } else if endedAt != nil {
            actions.append("No valid checkpoint after the attempt.")
        }
        if let backoffSeconds { actions.append("Waited \(Format.duration(backoffSeconds)) before the next attempt.") }
        out += actions.map { "- " + $0 }.joined(separator: "\n") + "\n\n"

        if let stackDump, !stackDump.isEmpty {
            out += "## Stack dump\n\n" + Format.codeBlock(stackDump) + "\n"
        }

        out += "## Output tail\n\n"
        for (name, lines) in [("stderr", outputTail.stderr), ("stdout", outputTail.stdout)] {
            if lines.isEmpty {
                out += "### \(name)\n\n(empty)\n\n"
            } else {
                out += "### \(name) (last \(lines.count) lines)\n\n" + Format.codeBlock(lines.joined(separator: "\n"))
                out += "\n"
            }
        }
        while out.hasSuffix("\n\n") { out.removeLast() }
        return out
    }
}

extension AttemptReport {
    /// Text helpers shared by the reports.
    enum Format {
        static func padded(_ number: Int, _ width: Int) -> String {
            let text = String(number)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }

        /// `0.4s`, `42s`, `12m03s`, `2h05m07s`.
        static func duration(_ seconds: Double) -> String {
            guard seconds.isFinite else { return "—" }
            if seconds < 10 {
                return String(Double((max(0, seconds) * 10).rounded()) / 10) + "s"
            }
            let total = Int(seconds.rounded())
            let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60)
            if hours > 0 { return "\(hours)h\(padded(minutes, 2))m\(padded(secs, 2))s" }
            if minutes > 0 { return "\(minutes)m\(padded(secs, 2))s" }
            return "\(secs)s"
        }

        /// A fenced code block whose fence is longer than any backtick run inside `text`.
        static func codeBlock(_ text: String) -> String {
            var longest = 0
            var run = 0
            for character in text {
                run = character == "`" ? run + 1 : 0
                longest = max(longest, run)
            }
            let fence = String(repeating: "`", count: max(3, longest + 1))
            let body = text.hasSuffix("\n") ? text : text + "\n"
            return fence + "text\n" + body + fence + "\n"
        }

        /// Inline code that survives backticks in the text.
        static func inlineCode(_ text: String) -> String {
            let line = singleLine(text)
            if !line.contains("`") { return "`\(line)`" }
            return "`` \(line) ``"
        }

        /// One line, harmless in a terminal and in Markdown: line breaks become spaces, other control
        /// characters escapes.
        static func singleLine(_ text: String) -> String {
            TerminalText.line(text.replacing("\r", with: " ").replacing("\n", with: " "))
        }

        static func tableCell(_ text: String) -> String {
            singleLine(text).replacing("|", with: "\\|")
        }
    }
}
