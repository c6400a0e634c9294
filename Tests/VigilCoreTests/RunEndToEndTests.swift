import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// `vigil run` as a user sees it: the built binary, the Python fixture trainer, exit codes and files.
@Suite("vigil run, end to end", .serialized, .timeLimit(.minutes(2)))
struct RunEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-e2e")
    }

    /// vigil's arguments for the fixture trainer with `trainerArgs`, run `name`, tiny backoff.
    func runArguments(_ name: String, _ vigilArgs: [String] = [], _ trainerArgs: [String]) -> [String] {
        ["run", "--name", name, "--log-dir", logs, "--checkpoint-dir", checkpoints, "--backoff", "0.05s"] + vigilArgs
            + ["--", TestSupport.python, TestSupport.fixtureTrainer] + trainerArgs
    }

    @Test("a crash at step N is restarted with --resume and completes: exit 0, both attempts in the journal")
    func crashThenResume() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try TestProcess.vigil(
            runArguments(
                "crash", [],
                [
                    "--steps", "6", "--crash-at", "3", "--crash-times", "1", "--state-file", dir + "/state.json",
                ]))
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "crash")
        #expect(journal.state == .succeeded)
        #expect(journal.attempts.count == 2)
        #expect(journal.attempts[0].exit == .exited(1))
        #expect(journal.attempts[0].verdict?.verdict == .recoverable)
        #expect(journal.attempts[0].verdict?.exception?.type == "RuntimeError")
        #expect(journal.attempts[1].argv.suffix(1) == ["--resume"])
        #expect(journal.attempts[1].verdict?.verdict == .success)
        #expect(vigil.stdout.contains("resumed from step 2"))
        #expect(vigil.stdout.contains("done"))
        // Every attempt's output is in its own log.
        #expect(TestSupport.read("\(logs)/crash/attempt-001.log").contains("RuntimeError: simulated failure"))
        #expect(TestSupport.read("\(logs)/crash/attempt-002.log").contains("done"))
        #expect(journal.attempts.allSatisfy { $0.pid != nil && $0.processStartTime != nil && $0.endedAt != nil })
    }

    @Test("always crashing: exactly max-retries restarts, then exit 2; backoff grows and is capped")
    func retriesExhausted() throws {
        defer { TestSupport.remove(dir) }
        let policy = dir + "/backoff.json5"
        try """
        { restart: { maxRetries: 3, backoff: { initial: "100ms", factor: 2, max: "250ms", jitter: 0 } } }
        """.write(toFile: policy, atomically: true, encoding: .utf8)
        let vigil = try TestProcess.vigil([
            "run", "--name", "always", "--log-dir", logs, "--checkpoint-dir", checkpoints, "--policy", policy, "--",
            TestSupport.python, TestSupport.fixtureTrainer, "--crash-at", "1", "--exception", "ValueError",
        ])
        #expect(vigil.exitCode() == 2, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "always")
        #expect(journal.state == .gaveUp)
        #expect(journal.attempts.count == 4)
        #expect(journal.attempts.map(\.backoffSeconds) == [0.1, 0.2, 0.25, nil])
        for (previous, next) in zip(journal.attempts, journal.attempts.dropFirst()) {
            let gap = next.startedAt.timeIntervalSince(try #require(previous.endedAt))
            let backoff = try #require(previous.backoffSeconds)
            #expect(gap >= backoff - 0.002, "restarted before its backoff")
        }
        #expect(journal.outcome?.reason.contains("gave up after 4 consecutive failures") == true)
        #expect(vigil.stderr.contains("ValueError"))
    }

    @Test("SIGTERM to vigil stops the trainer and its workers, exits 75; a rerun continues the run")
    func sigtermThenContinue() throws {
        defer { TestSupport.remove(dir) }
        let pidFile = dir + "/pids"
        let args = runArguments(
            "term", [],
            [
                "--steps", "3", "--workers", "3", "--pid-file", pidFile, "--hang-at", "1", "--hang-times", "1",
                "--state-file", dir + "/state.json",
            ])
        let vigil = try TestProcess.vigil(args)
        #expect(vigil.waitForLine(containing: "hanging"), "\(vigil.output)")
        let pids = TestSupport.pids(in: pidFile)
        #expect(pids.count >= 4)
        vigil.send(.terminate)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        #expect(pids.allSatisfy { !ProcessTable.isRunning($0) }, "a process of the trainer's group outlived the stop")
        var journal = try TestSupport.journal(logs, "term")
        #expect(journal.state == .stopped)
        #expect(journal.attempts.count == 1)
        #expect(journal.attempts[0].signalsSent.first?.signal == "TERM")
        #expect(journal.attempts[0].verdict?.rule == "stopped-by-vigil")

        let rerun = try TestProcess.vigil(args)
        #expect(rerun.exitCode() == 0, "\(rerun.output)")
        journal = try TestSupport.journal(logs, "term")
        #expect(journal.attempts.map(\.number) == [1, 2])
        #expect(journal.attempts[1].argv.last == "--resume")
        #expect(journal.invocations.count == 2)
        #expect(journal.invocations.map(\.exitCode) == [75, 0])
    }

    @Test("a trainer that ignores SIGTERM is killed after the grace period")
    func ignoresSigterm() throws {
        defer { TestSupport.remove(dir) }
        let pidFile = dir + "/pids"
        let vigil = try TestProcess.vigil(
            runArguments(
                "stubborn", ["--term-grace", "0.5s"],
                [
                    "--ignore-term", "--workers", "2", "--workers-ignore-term", "--pid-file", pidFile, "--hang-at", "1",
                ]))
        #expect(vigil.waitForLine(containing: "hanging"), "\(vigil.output)")
        let pids = TestSupport.pids(in: pidFile)
        vigil.send(.interrupt)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        #expect(pids.allSatisfy { !ProcessTable.isRunning($0) })
        let attempt = try TestSupport.journal(logs, "stubborn").attempts[0]
        #expect(attempt.signalsSent.map(\.signal).prefix(2) == ["TERM", "KILL"])
        let grace = attempt.signalsSent[1].at.timeIntervalSince(attempt.signalsSent[0].at)
        #expect(grace >= 0.49 && grace < 5, "KILL came \(grace)s after TERM")
        #expect(attempt.exit == .signaled(.kill))
    }

    @Test("vigil SIGKILLed mid-attempt: the rerun stops the orphan, numbering continues, the journal is whole")
    func orphanAfterSupervisorDies() throws {
        defer { TestSupport.remove(dir) }
        let pidFile = dir + "/pids"
        let args = runArguments(
            "orphan", [],
            [
                "--steps", "3", "--workers", "1", "--pid-file", pidFile, "--hang-at", "1", "--hang-times", "1",
                "--state-file", dir + "/state.json",
            ])
        let first = try TestProcess.vigil(args)
        #expect(first.waitForLine(containing: "hanging"), "\(first.output)")
        let orphans = TestSupport.pids(in: pidFile)
        first.send(.kill)
        #expect(first.waitForExit() == .signaled(.kill))
        #expect(orphans.allSatisfy(ProcessTable.isRunning), "the trainer should outlive a SIGKILLed vigil")

        let second = try TestProcess.vigil(args)
        #expect(second.exitCode() == 0, "\(second.output)")
        #expect(orphans.allSatisfy { !ProcessTable.isRunning($0) }, "the orphaned trainer was not stopped")
        #expect(second.stderr.contains("outlived its supervisor"))
        let journal = try TestSupport.journal(logs, "orphan")
        #expect(journal.attempts.map(\.number) == [1, 2])
        #expect(journal.attempts[0].verdict?.rule == "orphaned")
        #expect(journal.attempts[0].pid == orphans.first)
        #expect(journal.attempts[0].signalsSent.first?.signal == "TERM")
        #expect(journal.attempts[1].verdict?.verdict == .success)
        #expect(journal.invocations.count == 2)
        #expect(journal.consecutiveFailures == 0)
    }

    @Test("a second vigil on the same run refuses clearly while the first is alive")
    func secondSupervisorRefuses() throws {
        defer { TestSupport.remove(dir) }
        let args = runArguments("busy", [], ["--hang-at", "1"])
        let first = try TestProcess.vigil(args)
        #expect(first.waitForLine(containing: "hanging"))
        let second = try TestProcess.vigil(args)
        #expect(second.exitCode() == 69)
        #expect(second.stderr.contains("already being supervised by vigil pid \(first.pid)"), "\(second.stderr)")
        first.send(.terminate)
        #expect(first.exitCode() == 75)
    }

    @Test("a finished run says so and does nothing; --fresh starts over")
    func finishedRunIsNotRerun() throws {
        defer { TestSupport.remove(dir) }
        let args = runArguments("done", [], ["--steps", "2"])
        #expect(try TestProcess.vigil(args).exitCode() == 0)
        let again = try TestProcess.vigil(args)
        #expect(again.exitCode() == 0)
        #expect(again.stderr.contains("already finished"))
        #expect(!again.stdout.contains("step 1/2"))
        #expect(try TestSupport.journal(logs, "done").attempts.count == 1)
        let fresh = try TestProcess.vigil(["run", "--fresh"] + args.dropFirst())
        #expect(fresh.exitCode() == 0)
        #expect(fresh.stdout.contains("step 1/2"))
        let archived = try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasPrefix("done.") }
        #expect(archived.count == 1)
    }

    @Test("a missing command exits 66; bad options exit 64 with usage")
    func usageErrors() throws {
        defer { TestSupport.remove(dir) }
        let missing = try TestProcess.vigil(["run", "--log-dir", logs, "--", "no-such-trainer-xyz", "--epochs", "3"])
        #expect(missing.exitCode() == 66)
        #expect(missing.stderr.contains("command not found: 'no-such-trainer-xyz'"))
        #expect(!FileManager.default.fileExists(atPath: logs), "nothing is created for a command that cannot run")

        let notExecutable = try TestProcess.vigil(["run", "--log-dir", logs, "--", TestSupport.fixtureTrainer])
        #expect(notExecutable.exitCode() == 66)
        #expect(notExecutable.stderr.contains("not executable"))

        let badOption = try TestProcess.vigil(["run", "--max-retires", "3", "--", "python3"])
        #expect(badOption.exitCode() == 64)
        #expect(badOption.stderr.contains("unknown option --max-retires (did you mean --max-retries?)"))
        #expect(badOption.stderr.contains("usage: vigil run"))

        let noCommand = try TestProcess.vigil(["run", "--max-retries", "2"])
        #expect(noCommand.exitCode() == 64)
        let badValue = try TestProcess.vigil(["run", "--max-retries", "many", "--", "python3"])
        #expect(badValue.exitCode() == 64)
        #expect(badValue.stderr.contains("--max-retries expects an integer"))
        let missingPolicy = try TestProcess.vigil(["run", "--policy", dir + "/nope.json5", "--", "python3"])
        #expect(missingPolicy.exitCode() == 66)
    }

    @Test("a trainer that rejects --resume is reported plainly and not retried")
    func resumeRejected() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try TestProcess.vigil(runArguments("noresume", [], ["--reject-resume", "--crash-at", "1"]))
        #expect(vigil.exitCode() == 1, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "noresume")
        #expect(journal.attempts.count == 2)
        #expect(journal.attempts[1].verdict?.rule == "resume-rejected")
        #expect(vigil.stderr.contains("does not accept the resume argument '--resume'"))
    }

    @Test("the trainer gets the VIGIL_* environment of the trainer protocol")
    func trainerEnvironment() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try TestProcess.vigil(
            runArguments("env", ["--max-retries", "4"], ["--print-env", "--steps", "1"]))
        #expect(vigil.exitCode() == 0)
        let line = try #require(vigil.stdout.split(separator: "\n").first { $0.hasPrefix("env: ") })
        let env = try JSONDecoder().decode([String: String].self, from: Data(line.dropFirst(5).utf8))
        let journal = try TestSupport.journal(logs, "env")
        #expect(env["VIGIL_RUN_ID"] == journal.runID)
        #expect(env["VIGIL_ATTEMPT"] == "1")
        #expect(env["VIGIL_MAX_ATTEMPTS"] == "5")
        #expect(env["VIGIL_RESUME_FROM"] == "")
        #expect(env["VIGIL_CHECKPOINT_DIR"] == checkpoints)
        #expect(env["VIGIL_ERROR_FILE"] == "\(logs)/env/attempt-001.error.json")
    }

    @Test("200 MB printed as fast as possible: all of it in the rotated logs, vigil's memory flat")
    func flood() throws {
        defer { TestSupport.remove(dir) }
        let policy = dir + "/logs.json5"
        try "{ output: { logMaxBytes: \"64MB\", logBackups: 5, passthrough: false } }"
            .write(toFile: policy, atomically: true, encoding: .utf8)
        let small = try TestProcess.vigil(runArguments("small", ["--policy", policy], ["--steps", "1"]))
        #expect(small.exitCode() == 0)
        let vigil = try TestProcess.vigil(runArguments("flood", ["--policy", policy], ["--flood", "200000000"]))
        #expect(vigil.exitCode(timeout: 100) == 0, "\(vigil.output)")
        let base = "\(logs)/flood/attempt-001.log"
        let files = [base] + (1...5).map { "\(base).\($0)" }
        let sizes = files.compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }
        #expect(sizes.reduce(0, +) == 200_000_000)
        #expect(sizes.count == 3)  // 2 × 64 MiB full, the rest in the current file
        #expect(sizes.dropFirst().allSatisfy { $0 == 64 << 20 })
        let baseline = try #require(try TestSupport.journal(logs, "small").invocations.last?.peakMemoryKiB)
        let peak = try #require(try TestSupport.journal(logs, "flood").invocations.last?.peakMemoryKiB)
        #expect(
            peak - baseline < 8 * 1024,
            "vigil grew by \(peak - baseline) KiB (\(baseline) → \(peak)) while 200 MB passed through")
    }
}
