import Foundation
import Testing

@testable import VigilCore

/// `vigil drill` on the toy trainer `Tests/Fixtures/drill_trainer.py`: it passes when the trainer
/// resumes correctly, and names each planted bug. Each drill trains the toy twice (about 40 steps of
/// 20 ms, a checkpoint every 5), so a test takes a few seconds.
@Suite("vigil drill, end to end", .serialized, .timeLimit(.minutes(3)))
struct DrillEndToEndTests {
    let dir: String

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-drill")
        // The python policy reads `step N/T` and `loss=`; checkpoints in ./checkpoints, resumed by path.
        try """
        {
          extends: "python",
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { pattern: "model_step{step}.json", settle: "1s" },
          stop: { termGrace: "5s", checkpointTimeout: "10s" },
        }
        """.write(toFile: dir + "/drill.json5", atomically: true, encoding: .utf8)
    }

    /// Runs `vigil drill` in the test directory; its exit code and JSON report.
    func drill(
        _ options: [String], trainer: [String] = [], output: String = "out"
    ) throws -> (code: Int32?, report: DrillReport, process: TestProcess) {
        let process = try TestProcess.vigil(
            [
                "drill", "--policy", "drill.json5", "--scratch", dir + "/scratch", "--output", dir + "/" + output,
                "--compare", "model.json",
            ] + options + ["--", TestSupport.python, TestSupport.drillTrainer] + trainer,
            directory: dir)
        let code = process.exitCode(timeout: 120)
        let data = try #require(
            FileManager.default.contents(atPath: "\(dir)/\(output)/drill-report.json"), "\(process.output)")
        return (code, try DrillText.report(from: data), process)
    }

    @Test(
        "a trainer that resumes correctly passes every kind of interruption, vigil's own death included; the same seed gives the same plan"
    )
    func correctTrainerPasses() throws {
        defer { TestSupport.remove(dir) }
        let first = try drill([
            "--kills", "4", "--signals", "KILL,TERM,CHECKPOINT", "--vigil-kill", "--seed", "11", "--keep",
        ])
        #expect(first.code == 0, "\(first.process.output)")
        let report = first.report
        #expect(report.verdict == .passed, "\(report.diagnoses)")
        #expect(report.diagnoses.map(\.code) == ["passed"])
        #expect(Set(report.plan.interruptions.map(\.kind)) == Set(InterruptionKind.allCases))
        let delivered = report.interruptions.filter { $0.outcome != .notDelivered }
        #expect(delivered.count >= 3, "\(report.interruptions)")
        #expect(delivered.allSatisfy { [.resumed, .startedFresh].contains($0.outcome) && $0.isOK })
        #expect(delivered.contains { $0.kind == .vigil && $0.endedAs?.hasPrefix("orphaned") == true })
        #expect(delivered.contains { $0.outcome == .resumed && $0.resumeFrom?.hasPrefix("model_step") == true })
        #expect(report.comparisons.map(\.result) == [.identical])
        #expect(report.metrics.first?.matches == true)
        #expect(FileManager.default.fileExists(atPath: dir + "/out/drill-report.md"))
        #expect(TestSupport.read(dir + "/out/drill-report.md").contains("| # | interruption |"))
        #expect(first.process.stdout.contains("drill PASSED"))
        // The user's directory is untouched: the runs happened in copies.
        #expect(!FileManager.default.fileExists(atPath: dir + "/model.json"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/checkpoints"))

        // Again from the kept reference, with the same seed: the same plan, and it passes again.
        let again = try drill(
            [
                "--kills", "4", "--signals", "KILL,TERM,CHECKPOINT", "--vigil-kill", "--seed", "11", "--reference",
                report.reference.directory,
            ], output: "again")
        #expect(again.code == 0, "\(again.process.output)")
        #expect(again.report.plan == report.plan)
        #expect(again.report.reusedReference)
        let other = DrillPlan.make(
            seed: 12, count: 4, kinds: report.kinds, firstStep: report.reference.firstStep ?? 1,
            lastStep: report.reference.lastStep ?? 1, checkpointSteps: report.reference.checkpointSteps)
        #expect(other != report.plan)
    }

    @Test("a trainer that ignores --resume: every resume started from step 0")
    func ignoresResume() throws {
        defer { TestSupport.remove(dir) }
        let html = dir + "/out/drill.html"
        let result = try drill(
            ["--kills", "2", "--signals", "KILL", "--seed", "4", "--html", html], trainer: ["--ignore-resume"])
        #expect(result.code == 1, "\(result.process.output)")
        let codes = result.report.diagnoses.map(\.code)
        #expect(codes.contains("resume-ignored"), "\(result.report.diagnoses)")
        let text = try #require(result.report.diagnoses.first { $0.code == "resume-ignored" }?.text)
        #expect(
            text.hasPrefix("every resume started from step 0: resume arguments are not reaching the trainer"), "\(text)"
        )
        #expect(result.report.interruptions.contains { $0.outcome == .restartedFromZero })
        let page = TestSupport.read(html)
        #expect(
            page.hasPrefix("<!DOCTYPE html>") && page.contains("<h1>vigil drill: failed</h1>"), "\(page.prefix(400))")
        #expect(page.contains("resume arguments are not reaching the trainer"))
        #expect(result.process.stdout.contains("resume arguments are not reaching the trainer"))
    }

    @Test(
        "a trainer that restores its weights but not its optimizer (or its RNG): the final model differs although every resume succeeded",
        arguments: ["--no-optimizer-state", "--no-rng-state"])
    func stateNotRestored(bug: String) throws {
        defer { TestSupport.remove(dir) }
        let result = try drill(["--kills", "2", "--signals", "KILL,TERM", "--seed", "4"], trainer: [bug])
        #expect(result.code == 1, "\(result.process.output)")
        #expect(result.report.diagnoses.map(\.code) == ["state-not-restored"], "\(result.report.diagnoses)")
        #expect(
            result.report.diagnoses[0].text.hasPrefix(
                "final model differs although every resume succeeded: the trainer does not restore its RNG/optimizer state"
            ))
        #expect(result.report.comparisons.first?.result == .differs)
        #expect(result.report.interruptions.contains { $0.outcome == .resumed && $0.continuesReference == false })
    }

    @Test("a trainer that saves in place: a kill during a save leaves a torn checkpoint, and the drill says so")
    func nonAtomicSave() throws {
        defer { TestSupport.remove(dir) }
        let result = try drill(
            ["--kills", "3", "--signals", "KILL", "--seed", "3"], trainer: ["--non-atomic-save", "--save-time", "0.15"])
        #expect(result.code == 1, "\(result.process.output)")
        let torn = try #require(
            result.report.diagnoses.first { $0.code == "torn-checkpoint" }, "\(result.report.diagnoses)")
        #expect(torn.text.hasPrefix("a kill during a save left a torn checkpoint (model_step"))
        #expect(torn.text.contains("does not save atomically"))
        #expect(result.report.interruptions.contains { !$0.tornCheckpoints.isEmpty })
    }

    @Test("a policy without a checkpoint pattern or progress cannot be drilled: a usage error saying what is missing")
    func needsPatterns() throws {
        defer { TestSupport.remove(dir) }
        let process = try TestProcess.vigil(
            ["drill", "--", TestSupport.python, TestSupport.drillTrainer], directory: dir)
        #expect(process.exitCode() == 64)
        #expect(process.stderr.contains("needs checkpoints.pattern"))
        let bad = try TestProcess.vigil(
            [
                "drill", "--policy", "drill.json5", "--signals", "KILL,HUP", "--", TestSupport.python,
                TestSupport.drillTrainer,
            ],
            directory: dir)
        #expect(bad.exitCode() == 64)
        #expect(bad.stderr.contains("--signals takes KILL, TERM, CHECKPOINT or VIGIL"))
        let reference = try TestProcess.vigil(
            [
                "drill", "--policy", "drill.json5", "--reference", dir + "/nowhere", "--", TestSupport.python,
                TestSupport.drillTrainer,
            ],
            directory: dir)
        #expect(reference.exitCode() == 66)
        #expect(
            reference.stderr.contains("nowhere/.vigil-drill/reference.json: no drill reference here"),
            "\(reference.stderr)")
        let compare = try TestProcess.vigil(
            [
                "drill", "--policy", "drill.json5", "--compare", "../model.json", "--", TestSupport.python,
                TestSupport.drillTrainer,
            ],
            directory: dir)
        #expect(compare.exitCode() == 64)
        #expect(compare.stderr.contains("--compare ../model.json: give a path inside the working directory"))
    }
}
