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

extension DrillAnalysis {
    /// The verdict and its findings in plain words, the most telling first. A resume bug shows in many
    /// ways at once (a restart at step 0 also redoes work; state not restored also changes the final
    /// model): each finding names the cause a person should look at, not every symptom.
    public func diagnose(
        _ verdicts: [InterruptionVerdict], _ metrics: [MetricComparison]
    )
        -> (DrillReport.Verdict, [DrillDiagnosis])
    {
        if interrupted {
            return (.inconclusive, [DrillDiagnosis("interrupted", "the drill was interrupted; nothing was concluded")])
        }
        var found: [DrillDiagnosis] = []
        let run = runFinding()
        let delivered = verdicts.filter { $0.outcome != .notDelivered }
        if delivered.isEmpty {
            found.append(
                DrillDiagnosis(
                    "nothing-tested",
                    "no interruption reached the trainer (the run finished first): nothing was tested; give the "
                        + "trainer more steps or ask for fewer --kills"))
            return (.inconclusive, (run.map { [$0] } ?? []) + found)
        }
        found += resumeFindings(delivered)
        // A run that did not finish has no results to compare: its failure is the finding.
        if run == nil { found += resultFindings(delivered, metrics) }
        if let run { found.insert(run, at: 0) }
        if timedOut { return (.inconclusive, found) }
        if found.isEmpty {
            let resumed = delivered.filter { $0.outcome == .resumed }.count
            return (
                .passed,
                [
                    DrillDiagnosis(
                        "passed",
                        "every interruption was survived: "
                            + (resumed == delivered.count
                                ? "each resumed from its checkpoint where it left off"
                                : "\(resumed) of \(delivered.count) resumed from a checkpoint where it left off (the "
                                    + "others came before the first checkpoint and rightly started over)")
                            + ", the metrics continued the uninterrupted run's and the results match it")
                ]
            )
        }
        return (.failed, found)
    }

    /// The run did not end in success (or the drill gave up waiting for it).
    private func runFinding() -> DrillDiagnosis? {
        if timedOut {
            return DrillDiagnosis(
                "timed-out", "the interrupted run did not finish in time (--timeout); vigil was stopped")
        }
        guard let journal else {
            return DrillDiagnosis(
                "run-failed", "the interrupted run wrote no journal (vigil run exit \(runExitCode ?? -1))")
        }
        guard journal.state != .succeeded else { return nil }
        let reason = journal.outcome?.reason ?? journal.state.rawValue
        return DrillDiagnosis(
            "run-failed",
            "the interrupted run did not finish: \(reason) (vigil run exit \(runExitCode.map(String.init) ?? "?"))")
    }

    /// What the resumes themselves got wrong.
    private func resumeFindings(_ delivered: [InterruptionVerdict]) -> [DrillDiagnosis] {
        var found: [DrillDiagnosis] = []
        let withCheckpoint = delivered.filter { ($0.resumeStep ?? 0) > 0 && $0.resumeFrom != nil }
        let fromZero = delivered.filter { $0.outcome == .restartedFromZero }
        if !fromZero.isEmpty {
            let example = fromZero[0]
            let passed =
                "vigil resumed attempt \(example.resumedBy ?? 0) from \(example.resumeFrom ?? "?") (step "
                + "\(example.resumeStep ?? 0)) and the trainer printed step 1 again"
            let text =
                fromZero.count == withCheckpoint.count
                ? "every resume started from step 0: resume arguments are not reaching the trainer (\(passed)); "
                    + "check resume.args (--resume-arg) and that the trainer loads the checkpoint it is given"
                : "\(fromZero.count) of \(withCheckpoint.count) resumes started from step 0 although vigil passed a "
                    + "checkpoint (\(passed)): the trainer does not always load what it is given"
            found.append(DrillDiagnosis("resume-ignored", text))
        }
        for verdict in delivered where verdict.outcome == .resumedElsewhere {
            found.append(
                DrillDiagnosis(
                    "resumed-elsewhere",
                    "after interruption \(verdict.number) the trainer began at step \(verdict.restartedAtStep ?? 0), "
                        + "not at step \(verdict.resumeStep ?? 0) of \(verdict.resumeFrom ?? "the checkpoint") vigil "
                        + "passed: it picks its own checkpoint, or its step counter is off by \(abs((verdict.restartedAtStep ?? 0) - (verdict.resumeStep ?? 0)))"
                ))
        }
        let torn = delivered.flatMap(\.tornCheckpoints)
        let crashes = delivered.flatMap(\.crashes)
        if !torn.isEmpty {
            found.append(
                DrillDiagnosis(
                    "torn-checkpoint",
                    "a kill during a save left a torn checkpoint (\(torn[0])"
                        + (torn.count > 1 ? "; \(torn.count - 1) more" : "")
                        + "): the trainer does not save atomically; write to a temporary file and rename it into place "
                        + "(os.replace), so that a kill leaves the old checkpoint or the new one, never half of one"
                        + (crashes.isEmpty ? "" : "; and the trainer crashed loading one (\(crashes[0]))")))
        } else if !crashes.isEmpty {
            found.append(
                DrillDiagnosis(
                    "crash-on-resume",
                    "the trainer crashed on resuming after an interruption (\(crashes[0])): it cannot load the "
                        + "checkpoint it saved, or fails on what a resume changes"))
        }
        return found
    }

    /// Whether the results match, and what that means given how the resumes went.
    private func resultFindings(
        _ delivered: [InterruptionVerdict], _ metrics: [MetricComparison]
    ) -> [DrillDiagnosis] {
        var found: [DrillDiagnosis] = []
        let missing = comparisons.filter { $0.result == .missing }
        for file in missing {
            found.append(DrillDiagnosis("missing-output", "\(file.file): \(file.detail ?? "missing")"))
        }
        let differing = comparisons.filter { $0.result == .differs }
        let metricsOff = metrics.filter { !$0.matches }
        let deviation = delivered.first { $0.continuesReference == false }
        let clean = delivered.allSatisfy {
            [.resumed, .startedFresh].contains($0.outcome) && $0.tornCheckpoints.isEmpty && $0.crashes.isEmpty
        }
        guard !differing.isEmpty || !metricsOff.isEmpty || deviation != nil else { return found }
        var evidence: [String] = differing.map { "\($0.file): \($0.detail ?? "differs")" }
        evidence += metricsOff.map {
            "final \($0.name) \($0.value.map(DrillAnalysis.number) ?? "not recorded"), the reference's "
                + ($0.reference.map(DrillAnalysis.number) ?? "not recorded")
        }
        if let deviation {
            evidence.append(
                "the metrics left the reference curve right after resuming from \(deviation.resumeFrom ?? "step 0") — "
                    + (deviation.deviation ?? ""))
        }
        let what = differing.isEmpty ? "the results differ" : "final model differs"
        if clean {
            found.append(
                DrillDiagnosis(
                    "state-not-restored",
                    "\(what) although every resume succeeded: the trainer does not restore its RNG/optimizer state "
                        + "(or its data-loader position, or saves the checkpoint before the step it claims) — "
                        + evidence.joined(separator: "; ")))
        } else {
            found.append(
                DrillDiagnosis(
                    "result-differs", "\(what) from the uninterrupted run: " + evidence.joined(separator: "; ")))
        }
        return found
    }
}
