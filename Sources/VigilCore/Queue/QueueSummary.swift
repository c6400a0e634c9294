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

/// The end of a `queue run`, across its jobs: what was trained, what failed and why, what was
/// skipped and what is still pending, with the time each job used. Printed on stderr, written to
/// `queue-report.md`, and given to `hooks.onQueueDone` as counts. A pure function of the queue as
/// it ended and of what the runner recorded.
public struct QueueSummary: Sendable, Equatable {
    /// A job this queue run started (or waited for), as it ended.
    public struct Entry: Sendable, Equatable {
        public var name: String
        /// Its vigil runs in this queue run.
        public var runs = 0
        /// Wall-clock seconds of those.
        public var seconds = 0.0
        public var state = QueueJob.State.pending
        public var reason: String?
        /// Its run's attempts so far (its journal).
        public var attempts = 0
        public var verdict: QueueJob.LastVerdict?
        public var exitCode: Int32?
        public var retrained = false
        public var endedAt = Date(timeIntervalSince1970: 0)
        /// Where the wall time of the job's run went, from its journal as it ended (every vigil
        /// invocation of the run, those of an earlier queue run that was cut off included).
        public var goodput: Goodput?

        public init(name: String) { self.name = name }

        /// One more ended vigil run of the job.
        mutating func record(_ job: QueueJob, seconds: Double, retrain: Bool = false, goodput: Goodput? = nil) {
            if let goodput { self.goodput = goodput }
            runs += 1
            self.seconds += max(0, seconds)
            state = job.state
            reason = job.reason
            attempts = job.attempts
            verdict = job.lastVerdict
            exitCode = job.lastExitCode
            retrained = retrained || retrain
            endedAt = job.lastEndedAt ?? Date()
        }
    }

    /// A selected job this run did not finish, and why.
    public struct Left: Sendable, Equatable {
        public var name: String
        public var why: String
    }

    public var queue: String
    public var startedAt: Date
    public var endedAt: Date
    public var exitCode: Int32
    public var outcome: String
    /// The jobs this run started or waited for, in the order they ended.
    public var entries: [Entry]
    /// Selected jobs that are done and were not run (not due).
    public var skipped: [String]
    /// Selected jobs blocked by an `--after` job that did not succeed.
    public var blocked: [Left]
    /// Selected jobs left to do: pending, waiting, stopped-resumable, due.
    public var pending: [Left]
    /// Selected jobs that were failed or gave up before this run and were not retried.
    public var stillFailed: [Left]

    public init(
        queue: String, view: QueueView, selection: QueueSelection, entries: [Entry], startedAt: Date, endedAt: Date,
        exitCode: ExitCode, outcome: String
    ) {
        self.queue = queue
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.exitCode = exitCode.rawValue
        self.outcome = outcome
        self.entries = entries.sorted { $0.endedAt != $1.endedAt ? $0.endedAt < $1.endedAt : $0.name < $1.name }
        let touched = Set(entries.map(\.name))
        var skipped: [String] = []
        var blocked: [Left] = []
        var pending: [Left] = []
        var stillFailed: [Left] = []
        let plan = QueuePlan(view: view, selection: selection)
        let runnable = Dictionary(plan.candidates.map { ($0.index, $0.reason) }, uniquingKeysWith: { a, _ in a })
        for row in view.rows {
            let job = view.queue.jobs[row.index]
            guard selection.selects(job.name) else { continue }
            if row.shown == .blocked {
                blocked.append(Left(name: job.name, why: "after \(row.blockedBy.joined(separator: ", "))"))
            } else if let reason = runnable[row.index] {
                pending.append(Left(name: job.name, why: QueuePlan.text(reason)))
            } else if row.shown == .pending || row.shown == .stopped {
                let why =
                    row.waitingFor.isEmpty
                    ? row.shown.rawValue : "waiting for \(row.waitingFor.joined(separator: ", "))"
                pending.append(Left(name: job.name, why: why))
            } else if !touched.contains(job.name) {
                switch row.shown {
                case .done: skipped.append(job.name)
                case .failed, .gaveUp:
                    stillFailed.append(Left(name: job.name, why: "\(row.shown.rawValue): \(job.reason ?? "")"))
                default: break
                }
            }
        }
        self.skipped = skipped
        self.blocked = blocked
        self.pending = pending
        self.stillFailed = stillFailed
    }

    /// The exit code of a queue run that ended with `view`, and why: 75 when it stopped early (a
    /// signal, the time limit) with work left, or a job is stopped-resumable; else 1 when a selected
    /// job failed, gave up or is blocked; else 0.
    public static func outcome(
        view: QueueView, selection: QueueSelection, stopSignals: [Signal], timeUp: Bool
    )
        -> (code: ExitCode, reason: String)
    {
        let rows = view.rows.filter { selection.selects(view.queue.jobs[$0.index].name) }
        let left = QueuePlan(view: view, selection: selection).candidates.filter { $0.reason != .watch }.count
        let stopped = rows.filter { $0.shown == .stopped }.count
        let failed = rows.filter { [.failed, .gaveUp, .blocked].contains($0.shown) }.count
        let why = stopSignals.first.map { "stopped by \($0)" } ?? (timeUp ? "the time limit was reached" : nil)
        if let why, left > 0 {
            return (.resumable, "\(why) with \(left) job\(left == 1 ? "" : "s") left; run the queue again to continue")
        }
        if stopped > 0 {
            return (
                .resumable,
                "\(stopped) job\(stopped == 1 ? " is" : "s are") stopped-resumable; run the queue again to continue"
            )
        }
        if failed > 0 {
            return (
                .unrecoverable,
                "\(failed) job\(failed == 1 ? "" : "s") failed, gave up or \(failed == 1 ? "is" : "are") blocked"
            )
        }
        return (.success, left > 0 ? "\(left) job(s) left" : "every job is done")
    }

    // MARK: - Counts

    public var trained: [Entry] { entries.filter { $0.state == .done } }

    /// The goodput of every job this queue run ran, added up (their runs' wall times and parts).
    public var goodput: Goodput { QueueSummary.total(entries.compactMap(\.goodput)) }

    static func total(_ parts: [Goodput]) -> Goodput {
        var sum = Goodput()
        for part in parts {
            sum.wallSeconds += part.wallSeconds
            sum.productiveSeconds += part.productiveSeconds
            sum.startupSeconds += part.startupSeconds
            sum.redoneSeconds += part.redoneSeconds
            sum.lostSeconds += part.lostSeconds
            sum.backoffSeconds += part.backoffSeconds
            sum.stoppingSeconds += part.stoppingSeconds
            sum.gpuWaitSeconds += part.gpuWaitSeconds
            sum.overheadSeconds += part.overheadSeconds
        }
        return sum
    }

    /// `87%`: a goodput's productive share, as the summary's lines and table show it.
    static func percent(_ goodput: Goodput?) -> String? {
        guard let goodput, goodput.wallSeconds > 0 else { return nil }
        return "\(Int((goodput.ratio * 100).rounded()))%"
    }
    public var failed: [Entry] { entries.filter { $0.state == .failed } }
    public var gaveUp: [Entry] { entries.filter { $0.state == .gaveUp } }

    /// What `hooks.onQueueDone` gets: `VIGIL_QUEUE_TRAINED=3` and so on.
    public var environment: [String: String] {
        [
            "VIGIL_QUEUE_EXIT": String(exitCode),
            "VIGIL_QUEUE_OUTCOME": outcome,
            "VIGIL_QUEUE_TRAINED": String(trained.count),
            "VIGIL_QUEUE_FAILED": String(failed.count),
            "VIGIL_QUEUE_GAVE_UP": String(gaveUp.count),
            "VIGIL_QUEUE_BLOCKED": String(blocked.count),
            "VIGIL_QUEUE_PENDING": String(pending.count),
            "VIGIL_QUEUE_SKIPPED": String(skipped.count),
            "VIGIL_QUEUE_STILL_FAILED": String(stillFailed.count),
            "VIGIL_QUEUE_GOODPUT_PERCENT": String(Int((goodput.ratio * 100).rounded())),
        ]
    }

    // MARK: - Text

    /// The summary for the terminal.
    public func text() -> String {
        var lines = [
            "vigil queue: \(outcome) (exit \(exitCode)) after \(QueueSummary.duration(endedAt.timeIntervalSince(startedAt)))"
        ]
        lines.append("  " + countsLine())
        if goodput.wallSeconds > 0 { lines.append("  " + goodput.line + " (all jobs run)") }
        for entry in entries { lines.append("  " + QueueSummary.line(entry)) }
        for left in blocked { lines.append("  blocked      \(left.name): \(left.why)") }
        for left in pending.prefix(20) { lines.append("  pending      \(left.name): \(left.why)") }
        if pending.count > 20 { lines.append("  … and \(pending.count - 20) more pending") }
        if !stillFailed.isEmpty {
            lines.append(
                "  still failed from before: \(stillFailed.map(\.name).joined(separator: ", ")) (vigil queue retry)")
        }
        return lines.joined(separator: "\n")
    }

    func countsLine() -> String {
        "\(trained.count) trained, \(failed.count) failed, \(gaveUp.count) gave up, \(blocked.count) blocked, "
            + "\(skipped.count) skipped (done), \(pending.count) still pending"
    }

    static func line(_ entry: Entry) -> String {
        let state = entry.state == .done ? (entry.retrained ? "retrained" : "trained") : entry.state.rawValue
        var text = state.padded(to: 12) + " \(entry.name)"
        text += "  \(duration(entry.seconds)), \(entry.attempts) attempt\(entry.attempts == 1 ? "" : "s")"
        if entry.runs > 1 { text += " in \(entry.runs) vigil runs" }
        if let percent = percent(entry.goodput) { text += ", goodput \(percent)" }
        if entry.state != .done, let reason = entry.reason { text += ": \(reason)" }
        return text
    }

    static func duration(_ seconds: Double) -> String { DurationFormat.string(from: max(0, seconds).rounded()) }

    /// `queue-report.md`.
    public func markdown() -> String {
        var out = "# Queue run: \(outcome)\n\n"
        out += "- queue: `\(queue)`\n"
        out += "- from \(QueueSummary.stamp(startedAt)) to \(QueueSummary.stamp(endedAt)) "
        out += "(\(QueueSummary.duration(endedAt.timeIntervalSince(startedAt))))\n"
        out += "- exit code: \(exitCode)\n- \(countsLine())\n"
        if goodput.wallSeconds > 0 { out += "- \(goodput.line) (all jobs run)\n" }
        out += "\n"
        if !entries.isEmpty {
            out += "## Jobs run\n\n| job | result | time used | attempts | goodput | why |\n"
            out += "| --- | --- | --- | --- | --- | --- |\n"
            for entry in entries {
                let result = entry.state == .done ? (entry.retrained ? "retrained" : "trained") : entry.state.rawValue
                let why = entry.state == .done ? (entry.verdict?.rule ?? "") : (entry.reason ?? "")
                out += "| \(QueueSummary.cell(entry.name)) | \(result) | \(QueueSummary.duration(entry.seconds)) | "
                out += "\(entry.attempts) | \(QueueSummary.goodputCell(entry.goodput)) | \(QueueSummary.cell(why)) |\n"
            }
            out += "\n"
        }
        for (title, items) in [
            ("Blocked", blocked), ("Still pending", pending), ("Still failed from before", stillFailed),
        ]
        where !items.isEmpty {
            out += "## \(title)\n\n"
            for item in items { out += "- \(QueueSummary.cell(item.name)): \(QueueSummary.cell(item.why))\n" }
            out += "\n"
        }
        if !skipped.isEmpty {
            out +=
                "## Skipped (done, not due)\n\n" + skipped.map { "- \(QueueSummary.cell($0))" }.joined(separator: "\n")
            out += "\n"
        }
        return out
    }

    /// `87% of 3m 10s (start-up 12s, redone 8s)`: the job's goodput and its largest losses.
    static func goodputCell(_ goodput: Goodput?) -> String {
        guard let goodput, let percent = percent(goodput) else { return "" }
        typealias Format = AttemptReport.Format
        let losses = goodput.losses.filter { $0.seconds >= 0.5 }.sorted { $0.seconds > $1.seconds }.prefix(2)
        let detail = losses.map { "\($0.name) \(Format.duration($0.seconds))" }.joined(separator: ", ")
        return "\(percent) of \(Format.duration(goodput.wallSeconds))" + (detail.isEmpty ? "" : " (\(detail))")
    }

    static func stamp(_ date: Date) -> String { QueuePlan.display(date) }

    /// A table cell: one line, no `|`.
    static func cell(_ text: String) -> String {
        text.replacing("|", with: "\\|").replacing("\n", with: " ")
    }
}
