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

/// The drill's report for people: the table `vigil drill` prints and `drill-report.md`; and the JSON
/// coding of `drill-report.json` and the reference (timestamps as in the journal).
public enum DrillText {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Journal.timestamp(date))
        }
        return encoder
    }()

    static let decoder: JSONDecoder = Journal.decoder

    /// `drill-report.json`.
    public static func json(_ report: DrillReport) throws -> Data {
        var data = try encoder.encode(report)
        data.append(0x0A)
        return data
    }

    /// Reads a `drill-report.json`.
    public static func report(from data: Data) throws -> DrillReport {
        try decoder.decode(DrillReport.self, from: data)
    }

    /// `1 SIGKILL during a save from step 8 · 2 SIGTERM at a step from step 19 …`.
    public static func planSummary(_ plan: DrillPlan) -> String {
        guard !plan.interruptions.isEmpty else { return "nothing to interrupt" }
        return plan.interruptions.map { "\($0.number) \($0.kind.title) \($0.trigger.title) from step \($0.step)" }
            .joined(separator: " · ")
    }

    /// The interruptions as rows of cells, the header first.
    static func rows(_ report: DrillReport) -> [[String]] {
        var rows = [
            [
                "#", "interruption", "when", "attempt", "at step", "resumed from", "began at", "redone", "lost",
                "metrics", "result",
            ]
        ]
        for verdict in report.interruptions {
            let resumed = verdict.resumeFrom.map { "\($0) (\(verdict.resumeStep ?? 0))" } ?? "—"
            let curve: String
            switch verdict.continuesReference {
            case true?: curve = "continue"
            case false?: curve = "DEVIATE"
            case nil: curve = "—"
            }
            rows.append([
                String(verdict.number), verdict.kind.title, verdict.trigger.title,
                verdict.attempt.map(String.init) ?? "—", verdict.interruptedAtStep.map(String.init) ?? "—",
                verdict.outcome == .notDelivered ? "—" : resumed,
                verdict.restartedAtStep.map { "step \($0)" } ?? "—",
                verdict.stepsRedone.map { "\($0) step\($0 == 1 ? "" : "s")" } ?? "—",
                verdict.secondsLost.map { String(cFormat: "%.2f s", $0) } ?? "—", curve,
                verdict.outcome == .notDelivered ? "not delivered" : (verdict.isOK ? "ok" : outcomeWord(verdict)),
            ])
        }
        return rows
    }

    static func outcomeWord(_ verdict: InterruptionVerdict) -> String {
        if !verdict.tornCheckpoints.isEmpty { return "TORN CHECKPOINT" }
        if !verdict.crashes.isEmpty { return "CRASHED" }
        switch verdict.outcome {
        case .restartedFromZero: return "FROM STEP 0"
        case .resumedElsewhere: return "WRONG STEP"
        case .notResumed: return "NOT RESUMED"
        default: return verdict.continuesReference == false ? "DEVIATES" : "ok"
        }
    }

    /// Columns padded to their widest cell.
    static func columns(_ rows: [[String]], separator: String = "  ") -> [String] {
        guard let count = rows.map(\.count).max() else { return [] }
        let widths = (0..<count).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padded(to: widths[index])
            }.joined(separator: separator)
        }
    }

    /// What `vigil drill` prints at the end.
    public static func table(_ report: DrillReport) -> String {
        var lines = columns(rows(report))
        if !report.comparisons.isEmpty || !report.metrics.isEmpty { lines.append("") }
        for comparison in report.comparisons {
            lines.append(
                "compare  \(comparison.file): \(comparison.result.rawValue)"
                    + (comparison.detail.map { " (\($0))" } ?? ""))
        }
        for metric in report.metrics {
            lines.append(
                "metric   \(metric.name): \(metric.value.map(DrillAnalysis.number) ?? "not recorded") vs the "
                    + "reference's \(metric.reference.map(DrillAnalysis.number) ?? "not recorded")"
                    + (metric.matches ? "" : "  DIFFERS"))
        }
        lines.append("")
        lines.append("drill \(report.verdict.rawValue.uppercased()):")
        for diagnosis in report.diagnoses { lines.append("  - \(diagnosis.text)") }
        if let overhead = report.overhead {
            lines.append(
                String(
                    cFormat: "  (%.1f s in all; the trainer %.1f s", report.seconds,
                    report.trainerSeconds + (report.reusedReference ? 0 : report.reference.trainerSeconds))
                    + (report.reusedReference ? "" : " in both runs")
                    + String(cFormat: "; drill overhead %.1f %%; seed %llu)", overhead * 100, report.seed))
        }
        return lines.joined(separator: "\n")
    }

    /// `drill-report.md`.
    public static func markdown(_ report: DrillReport) -> String {
        var out = "# vigil drill: \(report.verdict.rawValue)\n\n"
        out += "`\(report.command.joined(separator: " "))` in `\(report.workingDirectory)`, policy `\(report.policy)`, "
        out += "seed \(report.seed), \(report.plan.interruptions.count) interruptions of "
        out += report.kinds.map(\.title).joined(separator: ", ") + ", tolerance \(report.tolerance).\n\n"
        out += "## Findings\n\n" + report.diagnoses.map { "- \($0.text)\n" }.joined() + "\n"
        out += "## Interruptions\n\n"
        let rows = rows(report)
        out += "| " + rows[0].joined(separator: " | ") + " |\n|" + rows[0].map { _ in " --- |" }.joined() + "\n"
        for row in rows.dropFirst() { out += "| " + row.map(markdownCell).joined(separator: " | ") + " |\n" }
        out += "\n"
        for verdict in report.interruptions {
            out += "\(verdict.number). \(verdict.kind.title) \(verdict.trigger.title) (planned from step "
            out += "\(verdict.plannedStep)): \(verdict.observed)"
            if !verdict.actions.isEmpty { out += "; sent " + verdict.actions.joined(separator: ", ") }
            if let ended = verdict.endedAs { out += "; the attempt ended: \(ended)" }
            if let note = verdict.note { out += "; \(note)" }
            if let deviation = verdict.deviation { out += "; metrics after the resume: \(deviation)" }
            for torn in verdict.tornCheckpoints { out += "; torn: \(torn)" }
            for crash in verdict.crashes { out += "; crashed: \(crash)" }
            out += ".\n"
        }
        out += "\n## Results\n\n"
        if report.comparisons.isEmpty && report.metrics.isEmpty {
            out += "Nothing compared (no --compare, no metrics).\n"
        }
        for comparison in report.comparisons {
            out +=
                "- `\(comparison.file)`: \(comparison.result.rawValue)" + (comparison.detail.map { " — \($0)" } ?? "")
                + "\n"
        }
        for metric in report.metrics {
            out +=
                "- final \(metric.name): \(metric.value.map(DrillAnalysis.number) ?? "not recorded"), reference "
                + "\(metric.reference.map(DrillAnalysis.number) ?? "not recorded")\(metric.matches ? "" : " — differs")\n"
        }
        out += "\n## Runs\n\n"
        out +=
            "- reference: `\(report.reference.directory)`, \(String(cFormat: "%.1f", report.reference.trainerSeconds)) s, "
        out += "steps \(report.reference.firstStep ?? 0)…\(report.reference.lastStep ?? 0), checkpoints at "
        out += report.reference.checkpointSteps.map(String.init).joined(separator: ", ") + "\n"
        out += "- interrupted: `\(report.directory)`, \(report.attempts) attempts, "
        out += String(cFormat: "%.1f s of training", report.trainerSeconds)
        out += ", vigil run exit \(report.runExitCode.map(String.init) ?? "—")"
        out += report.outcome.map { " (\($0))" } ?? ""
        out += "\n- the drill: " + String(cFormat: "%.1f s", report.seconds)
        out += report.overhead.map { String(cFormat: ", overhead %.1f %% beyond the trainer's time", $0 * 100) } ?? ""
        out += "\n- plan: " + planSummary(report.plan) + "\n"
        return out
    }

    private static func markdownCell(_ text: String) -> String {
        text.replacing("|", with: "\\|")
    }
}
