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

/// `vigil queue list`: a table, or JSON, of the jobs of a `QueueView` (10,000 jobs in well under
/// 200 ms: the text is built in one pass per column, with no formatter).
public enum QueueListing {
    /// The table: one row per job, then a line of counts.
    public static func text(_ view: QueueView, rows: [QueueView.Row]) -> String {
        guard !rows.isEmpty else { return "no jobs in the queue\n" }
        var table: [[String]] = [["NAME", "STATE", "ATTEMPTS", "LAST VERDICT", "LAST SUCCESS", "RETRAIN", "NOTE"]]
        table.reserveCapacity(rows.count + 1)
        for row in rows {
            let job = view.queue.jobs[row.index]
            table.append([
                job.name, row.shown.rawValue, String(job.attempts),
                job.lastVerdict.map { "\($0.verdict) (\($0.rule))" } ?? "—",
                job.lastSucceededAt.map(QueuePlan.display) ?? "—", retrain(job, row, now: view.now), note(job, row),
            ])
        }
        let cellWidths = table.map { $0.map(width) }
        var widths = [Int](repeating: 0, count: table[0].count)
        for line in cellWidths {
            for (column, cell) in line.enumerated() where column < widths.count - 1 {
                widths[column] = min(max(widths[column], cell), 48)
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * 120)
        for (line, lineWidths) in zip(table, cellWidths) {
            for (column, cell) in line.enumerated() {
                out.append(contentsOf: cell.utf8)
                if column < line.count - 1 {
                    out.append(
                        contentsOf: repeatElement(
                            UInt8(ascii: " "), count: max(widths[column] - lineWidths[column], 0) + 2))
                }
            }
            while out.last == UInt8(ascii: " ") { out.removeLast() }
            out.append(UInt8(ascii: "\n"))
        }
        let counts = view.counts(rows).map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ")
        out.append(contentsOf: "\(rows.count) job\(rows.count == 1 ? "" : "s"): \(counts)\n".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// The columns a cell takes: its characters (counted one by one only when it is not all ASCII).
    static func width(_ cell: String) -> Int {
        var ascii = true
        for byte in cell.utf8 where byte >= 0x80 {
            ascii = false
            break
        }
        return ascii ? cell.utf8.count : cell.count
    }

    /// `due (since 2d)`, `in 28d`, `—`.
    static func retrain(_ job: QueueJob, _ row: QueueView.Row, now: Date) -> String {
        guard let retrainAfter = job.retrainAfter else { return "—" }
        guard let due = job.dueAt else { return "every \(DurationFormat.string(from: retrainAfter))" }
        let seconds = due.timeIntervalSince(now).rounded()
        return row.due
            ? "due (since \(DurationFormat.string(from: -seconds)))" : "in \(DurationFormat.string(from: seconds))"
    }

    /// What a person wants to know next to the state: what it waits for, why it failed.
    static func note(_ job: QueueJob, _ row: QueueView.Row) -> String {
        if !row.blockedBy.isEmpty { return "after \(row.blockedBy.joined(separator: ", ")), which did not succeed" }
        if !row.waitingFor.isEmpty { return "waits for \(row.waitingFor.joined(separator: ", "))" }
        switch (job.state, row.claim) {
        case (.running, .live?):
            let slot = job.claim?.slot.map { " on slot \($0)" } ?? ""
            return "queue runner pid \(job.claim?.runner.pid ?? 0)\(slot)"
        case (.running, .vigilOnly?):
            return "its queue runner died; vigil pid \(job.claim?.vigil?.pid ?? 0) still runs it"
        case (.running, _): return "its queue runner and vigil died; the next queue run continues it"
        case (.failed, _), (.gaveUp, _), (.stopped, _): return String((job.reason ?? "").prefix(120))
        default: return ""
        }
    }

    /// `[{"name": …, "state": …}, …]`: what the table shows, for machines.
    public static func json(_ view: QueueView, rows: [QueueView.Row]) -> String {
        var writer = JSONTextWriter(capacity: rows.count * 400 + 8)
        writer.raw("[")
        for (position, row) in rows.enumerated() {
            writer.raw(position == 0 ? "\n  " : ",\n  ")
            write(view, row, full: false, to: &writer)
        }
        writer.raw(rows.isEmpty ? "]\n" : "\n]\n")
        return writer.text
    }

    /// One job as JSON; `full` adds what it runs (the command redacted by `redact`).
    static func write(
        _ view: QueueView, _ row: QueueView.Row, full: Bool, redact: ([String]) -> [String] = { $0 },
        to w: inout JSONTextWriter
    ) {
        let job = view.queue.jobs[row.index]
        w.beginObject()
        w.string("name", job.name)
        w.string("state", row.shown.rawValue)
        w.string("recordedState", job.state.rawValue)
        w.integer("attempts", job.attempts)
        w.integer("runs", job.runs)
        if let verdict = job.lastVerdict {
            w.key("lastVerdict")
            QueueFile.write(verdict, to: &w)
        } else {
            w.null("lastVerdict")
        }
        w.integer("lastExitCode", job.lastExitCode.map(Int.init))
        w.string("reason", job.reason)
        w.string("lastSucceededAt", job.lastSucceededAt.map(Journal.timestamp))
        w.number("retrainAfterSeconds", job.retrainAfter)
        w.bool("due", row.due)
        w.string("dueAt", job.dueAt.map(Journal.timestamp))
        w.strings("blockedBy", row.blockedBy)
        w.strings("waitingFor", row.waitingFor)
        w.string("claim", row.claim?.rawValue)
        w.string("slot", job.claim?.slot)
        w.integer("priority", job.priority)
        w.number("timeUsedSeconds", (job.timeUsedSeconds * 1000).rounded() / 1000)
        w.string("key", job.key)
        if full {
            w.strings("command", redact(job.command))
            w.string("workingDirectory", job.workingDirectory)
            w.string("policy", job.policy)
            w.strings("runArguments", redact(job.runArguments))
            w.strings("after", job.after)
            w.key("matrix")
            w.beginObject()
            for item in job.matrix { w.string(item.key, item.value) }
            w.endObject()
            w.string("addedAt", Journal.timestamp(job.addedAt))
            w.string("lastStartedAt", job.lastStartedAt.map(Journal.timestamp))
            w.string("lastEndedAt", job.lastEndedAt.map(Journal.timestamp))
        }
        w.endObject()
    }

    /// `queue show`'s job part, as JSON.
    public static func jobJSON(_ view: QueueView, _ row: QueueView.Row, redact: ([String]) -> [String]) -> String {
        var writer = JSONTextWriter()
        write(view, row, full: true, redact: redact, to: &writer)
        return writer.text
    }
}
