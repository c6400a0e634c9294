import Foundation
import Testing

@testable import VigilCore

/// The drill's judgement on made-up runs: what each interruption did, and the plain-words diagnosis.
@Suite("Drill analysis")
struct DrillAnalysisTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A trainer whose loss at step s is 1/s (the reference), or 1/s + offset after a resume.
    static func points(attempt: Int, steps: ClosedRange<Int>, offset: Double = 0, at time: Double) -> [MetricPoint] {
        steps.enumerated().map { index, step in
            MetricPoint(
                attempt: attempt, time: start.addingTimeInterval(time + Double(index) * 0.1), step: step, total: 40,
                values: ["loss": 1 / Double(step) + offset])
        }
    }

    static let reference = points(attempt: 1, steps: 1...40, at: 0)

    static func attempt(
        _ number: Int, resumeStep: Int? = nil, exit: Termination?, rule: String = "killed-from-outside",
        quarantined: [CheckpointStore.Quarantined] = []
    ) -> Journal.Attempt {
        var attempt = Journal.Attempt(
            number: number, argv: ["train"], startedAt: start.addingTimeInterval(Double(number) * 10),
            supervisorPID: 1, log: "attempt-00\(number).log")
        attempt.pid = 100 + Int32(number)
        attempt.endedAt = attempt.startedAt.addingTimeInterval(5)
        attempt.exit = exit
        attempt.resumeStep = resumeStep
        attempt.resumeFrom = resumeStep.map { "/w/checkpoints/model_step\($0).json" }
        attempt.quarantined = quarantined.isEmpty ? nil : quarantined
        let success = exit == .exited(0)
        attempt.verdict = Verdict(
            verdict: success ? .success : .recoverable, rule: success ? "exit-0" : rule, reason: "because")
        return attempt
    }

    static func journal(_ attempts: [Journal.Attempt], succeeded: Bool = true) -> Journal {
        var journal = Journal(
            run: "drill", runID: "id", command: ["train"], workingDirectory: "/w", policy: "p", now: start)
        journal.attempts = attempts
        journal.state = succeeded ? .succeeded : .gaveUp
        journal.outcome = Journal.RunOutcome(exitCode: succeeded ? 0 : 2, reason: succeeded ? "done" : "gave up")
        return journal
    }

    static let plan = DrillPlan(
        seed: 1,
        interruptions: [
            PlannedInterruption(number: 1, kind: .kill, trigger: .afterCheckpoint, step: 10, delaySteps: 0.2),
            PlannedInterruption(number: 2, kind: .terminate, trigger: .atStep, step: 25, delaySteps: 0.5),
        ])

    static func delivered(_ number: Int, attempt: Int, at time: Double) -> DeliveredInterruption {
        var done = DeliveredInterruption(
            number: number, kind: plan.interruptions[number - 1].kind, trigger: plan.interruptions[number - 1].trigger,
            observed: "step")
        done.attempt = attempt
        done.at = start.addingTimeInterval(time)
        done.actions = ["SIGKILL"]
        return done
    }

    func analyse(
        _ journal: Journal, _ points: [MetricPoint], comparisons: [FileComparison] = [],
        delivered: [DeliveredInterruption] = [delivered(1, attempt: 1, at: 2), delivered(2, attempt: 2, at: 22)]
    ) -> (DrillReport.Verdict, [DrillDiagnosis], [InterruptionVerdict]) {
        let analysis = DrillAnalysis(
            plan: Self.plan, delivered: delivered, journal: journal, points: points,
            referencePoints: Self.reference, comparisons: comparisons, metric: "loss", tolerance: 1e-6,
            runExitCode: journal.outcome?.exitCode)
        let verdicts = analysis.verdicts()
        let (verdict, diagnoses) = analysis.diagnose(verdicts, analysis.metricComparisons())
        return (verdict, diagnoses, verdicts)
    }

    @Test("resumed where each checkpoint left off, on the reference curve: passed, with the work redone measured")
    func passes() {
        let journal = Self.journal([
            Self.attempt(1, exit: .signaled(.kill)), Self.attempt(2, resumeStep: 10, exit: .exited(143)),
            Self.attempt(3, resumeStep: 25, exit: .exited(0)),
        ])
        let points =
            Self.points(attempt: 1, steps: 1...12, at: 0) + Self.points(attempt: 2, steps: 11...26, at: 10)
            + Self.points(attempt: 3, steps: 26...40, at: 20)
        let (verdict, diagnoses, interruptions) = analyse(journal, points)
        #expect(verdict == .passed, "\(diagnoses)")
        #expect(diagnoses.map(\.code) == ["passed"])
        #expect(interruptions[0].outcome == .resumed && interruptions[0].resumeFrom == "model_step10.json")
        #expect(interruptions[0].interruptedAtStep == 12 && interruptions[0].restartedAtStep == 10)
        #expect(interruptions[0].stepsRedone == 2 && interruptions[0].continuesReference == true)
        #expect(interruptions[0].secondsLost != nil)
        #expect(interruptions[1].stepsRedone == 1)
        #expect(interruptions[0].endedAs == "killed by SIGKILL" && interruptions[1].endedAs == "exit 143")
    }

    @Test("a trainer that starts at step 1 although vigil resumed it: every resume started from step 0")
    func resumeIgnored() {
        let journal = Self.journal([
            Self.attempt(1, exit: .signaled(.kill)), Self.attempt(2, resumeStep: 10, exit: .exited(143)),
            Self.attempt(3, resumeStep: 20, exit: .exited(0)),
        ])
        let points =
            Self.points(attempt: 1, steps: 1...12, at: 0) + Self.points(attempt: 2, steps: 1...26, at: 10)
            + Self.points(attempt: 3, steps: 1...40, at: 20)
        let (verdict, diagnoses, interruptions) = analyse(journal, points)
        #expect(verdict == .failed)
        #expect(diagnoses.map(\.code) == ["resume-ignored"])
        #expect(
            diagnoses[0].text.hasPrefix(
                "every resume started from step 0: resume arguments are not reaching the trainer"))
        #expect(interruptions.allSatisfy { $0.outcome == .restartedFromZero && $0.stepsRedone! > 10 })
    }

    @Test("resumed at the right steps, but the curve and the model differ: the state is not restored")
    func stateNotRestored() {
        let journal = Self.journal([
            Self.attempt(1, exit: .signaled(.kill)), Self.attempt(2, resumeStep: 10, exit: .exited(143)),
            Self.attempt(3, resumeStep: 25, exit: .exited(0)),
        ])
        let points =
            Self.points(attempt: 1, steps: 1...12, at: 0)
            + Self.points(attempt: 2, steps: 11...26, offset: 0.01, at: 10)
            + Self.points(attempt: 3, steps: 26...40, offset: 0.02, at: 20)
        let differing = FileComparison(file: "model.json", result: .differs, detail: "weights[0]: 1 vs 2")
        let (verdict, diagnoses, interruptions) = analyse(journal, points, comparisons: [differing])
        #expect(verdict == .failed)
        #expect(diagnoses.map(\.code) == ["state-not-restored"])
        #expect(
            diagnoses[0].text.hasPrefix(
                "final model differs although every resume succeeded: the trainer does not restore its RNG/optimizer state"
            ))
        #expect(diagnoses[0].text.contains("model.json: weights[0]") && diagnoses[0].text.contains("step 11"))
        #expect(
            interruptions[0].continuesReference == false && interruptions[0].deviation?.hasPrefix("step 11") == true)
    }

    @Test("a checkpoint quarantined as torn after a kill: the saves are not atomic; a temporary name left is no sign")
    func torn() {
        let torn = CheckpointStore.Quarantined(
            name: "model_step15.json", step: 15, reason: "JSON does not parse (cut short at byte 100)", movedTo: "q")
        let temporary = CheckpointStore.Quarantined(
            name: "model_step10.json.tmp", step: 10, reason: "temporary or partial name ('.tmp')", movedTo: "q")
        let journal = Self.journal([
            Self.attempt(1, exit: .signaled(.kill), quarantined: [torn, temporary]),
            Self.attempt(2, resumeStep: 10, exit: .exited(143)), Self.attempt(3, resumeStep: 25, exit: .exited(0)),
        ])
        let points =
            Self.points(attempt: 1, steps: 1...15, at: 0) + Self.points(attempt: 2, steps: 11...26, at: 10)
            + Self.points(attempt: 3, steps: 26...40, at: 20)
        let (verdict, diagnoses, interruptions) = analyse(journal, points)
        #expect(verdict == .failed)
        #expect(diagnoses.map(\.code) == ["torn-checkpoint"])
        #expect(
            diagnoses[0].text.contains("model_step15.json") && diagnoses[0].text.contains("does not save atomically"))
        #expect(interruptions[0].tornCheckpoints == ["model_step15.json: JSON does not parse (cut short at byte 100)"])
        #expect(interruptions[1].tornCheckpoints.isEmpty)
    }

    @Test("an attempt that crashes loading its checkpoint before any progress is named, and the run's failure first")
    func crashOnResume() {
        var crashed = Self.attempt(2, resumeStep: 10, exit: .exited(1), rule: "data-error")
        crashed.verdict?.exception = PythonException(type: "json.decoder.JSONDecodeError", message: "Expecting value")
        let journal = Self.journal(
            [Self.attempt(1, exit: .signaled(.kill)), crashed, Self.attempt(3, resumeStep: 10, exit: .exited(1))],
            succeeded: false)
        let points = Self.points(attempt: 1, steps: 1...12, at: 0)
        let (verdict, diagnoses, interruptions) = analyse(
            journal, points, delivered: [Self.delivered(1, attempt: 1, at: 2)])
        #expect(verdict == .failed)
        #expect(diagnoses.map(\.code) == ["run-failed", "crash-on-resume"])
        #expect(interruptions[0].outcome == .notResumed)
        #expect(interruptions[0].crashes.first?.contains("JSONDecodeError") == true)
        #expect(interruptions[1].outcome == .notDelivered)
    }

    @Test("nothing delivered is inconclusive; an announcement line without metrics is not where the trainer began")
    func inconclusiveAndAnnouncements() {
        let journal = Self.journal([Self.attempt(1, exit: .exited(0))])
        let (verdict, diagnoses, _) = analyse(journal, Self.points(attempt: 1, steps: 1...40, at: 0), delivered: [])
        #expect(verdict == .inconclusive && diagnoses.map(\.code) == ["nothing-tested"])

        let announced = [MetricPoint(attempt: 2, time: Self.start.addingTimeInterval(9.5), step: 10, values: [:])]
        let progress = DrillAnalysis.progress(Self.points(attempt: 2, steps: 11...12, at: 10) + announced)
        #expect(progress[2]?.first?.step == 11)
    }
}
