import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// `vigil run --requeue` inside a SLURM job as vigil sees it: the job's environment and a stand-in
/// `scontrol` (Tests/Fixtures/slurm/scontrol, which logs its calls), on any machine. The same with a
/// real slurmctld is SlurmEndToEndTests.
@Suite("SLURM requeue, with a stand-in scontrol", .serialized, .timeLimit(.minutes(2)))
struct SlurmRequeueTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }
    var calls: String { dir + "/scontrol.log" }
    static let fakeTools = TestSupport.repositoryRoot + "/Tests/Fixtures/slurm"

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-requeue")
    }

    func policy(_ extra: String = "") throws -> String {
        let path = dir + "/policy.json5"
        try """
        {
          restart: { maxRetries: 0, backoff: { initial: "10ms" } },
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { dir: "\(checkpoints)", pattern: "ckpt_step{step}.json", settle: "1s" },
          stop: { checkpointLead: "1s", checkpointTimeout: "10s", termGrace: "1s" },
          \(extra)
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The environment of a batch script of job `job`, with the stand-in scontrol first on PATH.
    func environment(_ slurm: [String: String], fakes: [String: String] = [:]) -> [String: String] {
        var environment = TestSupport.hermeticEnvironment
        environment["PATH"] = SlurmRequeueTests.fakeTools + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["FAKE_SLURM_LOG"] = calls
        for (name, value) in slurm.merging(fakes, uniquingKeysWith: { $1 }) { environment[name] = value }
        return environment
    }

    /// Without --name: the run's name comes from the command and the directory, the same in every run
    /// of the job.
    func vigil(
        _ vigilArgs: [String], _ trainerArgs: [String], environment: [String: String],
        python: String = TestSupport.python
    ) throws -> TestProcess {
        try TestProcess.vigil(
            ["run", "--log-dir", logs, "--policy", try policy()] + vigilArgs
                + ["--", python, TestSupport.fixtureTrainer, "--checkpoint-dir", checkpoints]
                + trainerArgs, environment: environment)
    }

    func journal() throws -> Journal {
        let runs = try FileManager.default.contentsOfDirectory(atPath: logs)
        #expect(runs.count == 1, "one run, whatever the restart count: \(runs)")
        return try TestSupport.journal(logs, try #require(runs.first))
    }

    func scontrolCalls() -> [String] {
        TestSupport.read(calls).split(separator: "\n").map(String.init)
    }

    static let slowTrainer = ["--steps", "400", "--step-time", "0.05", "--checkpoint-every", "0"]

    @Test(
        "the warning (USR1 to vigil): checkpoint, stop, scontrol requeue JOB, exit 75; the requeued run waits for the lock, resumes and completes"
    )
    func warningRequeuesAndTheRerunContinues() throws {
        defer { TestSupport.remove(dir) }
        // The same command in both runs of the job, as SLURM runs the same batch script again.
        let trainer = ["--steps", "60", "--step-time", "0.05", "--checkpoint-every", "0"]
        let first = try vigil(["--requeue"], trainer, environment: environment(["SLURM_JOB_ID": "4242"]))
        #expect(first.waitForLine(containing: "step 3/"), "\(first.output)")
        first.send(.user1)
        #expect(first.exitCode() == 75, "\(first.output)")
        #expect(first.stderr.contains("vigil: requeued SLURM job 4242"), "\(first.stderr)")
        // At start: the job's end (unlimited here); at the end: its state, then the requeue.
        #expect(scontrolCalls() == ["show job -o 4242", "show job -o 4242", "requeue 4242"])
        var journal = try journal()
        let invocation = try #require(journal.invocations.first)
        #expect(invocation.slurmJob == "4242" && invocation.slurmRestartCount == 0)
        let requeue = try #require(invocation.requeue)
        #expect(requeue.requeued && requeue.result == "requeued" && requeue.job == "4242")
        #expect(!requeue.counted, "the stop saved a checkpoint: progress, not counted")
        #expect(requeue.attempts == 1)
        #expect(invocation.exitCode == 75)
        let saved = try #require(journal.attempts.first?.checkpointAfter)

        // The requeued job runs again while, by the journal, its previous run holds the lock (an NFS
        // lease outliving it): vigil waits for it instead of exiting 69.
        let run = journal.run
        var held = try #require(try RunLock.acquire("\(logs)/\(run)/lock"))
        _ = held
        let second = try vigil(
            ["--requeue"], trainer, environment: environment(["SLURM_JOB_ID": "4242", "SLURM_RESTART_COUNT": "1"]))
        #expect(second.waitForLine(containing: "waiting up to 2m for it to be released"), "\(second.output)")
        held = try #require(try RunLock.acquire(dir + "/other-lock"))  // lets go of the run's lock
        #expect(second.exitCode() == 0, "\(second.output)")
        journal = try self.journal()
        #expect(journal.state == .succeeded)
        try #require(journal.invocations.count == 2)
        #expect(journal.invocations[1].slurmRestartCount == 1 && journal.invocations[1].requeue == nil)
        try #require(journal.attempts.count == 2)
        #expect(journal.attempts[1].resumeFrom == saved)
        #expect(scontrolCalls().filter { $0.hasPrefix("requeue") }.count == 1, "\(scontrolCalls())")
    }

    @Test("an array task is requeued as ARRAYJOBID_TASKID; SIGTERM (vigil stop, scancel --signal=TERM) too")
    func arrayTask() throws {
        defer { TestSupport.remove(dir) }
        let slurm = ["SLURM_JOB_ID": "107", "SLURM_ARRAY_JOB_ID": "100", "SLURM_ARRAY_TASK_ID": "7"]
        let vigil = try vigil(["--requeue"], SlurmRequeueTests.slowTrainer, environment: environment(slurm))
        #expect(vigil.waitForLine(containing: "step 2/"), "\(vigil.output)")
        vigil.send(.terminate)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        #expect(scontrolCalls().last == "requeue 100_7", "\(scontrolCalls())")
        #expect(try journal().invocations.first?.slurmJob == "100_7")
    }

    @Test("a run that succeeds, fails or gives up is not requeued; without --requeue nothing is")
    func onlyStoppedRunsAreRequeued() throws {
        defer { TestSupport.remove(dir) }
        let env = environment(["SLURM_JOB_ID": "5"])
        let success = try vigil(["--requeue", "--name", "ok"], ["--steps", "2"], environment: env)
        #expect(success.exitCode() == 0, "\(success.output)")
        let gaveUp = try vigil(["--requeue", "--name", "bad"], ["--steps", "3", "--crash-at", "1"], environment: env)
        #expect(gaveUp.exitCode() == 2, "\(gaveUp.output)")
        let plain = try vigil(["--name", "plain"], SlurmRequeueTests.slowTrainer, environment: env)
        #expect(plain.waitForLine(containing: "step 2/"), "\(plain.output)")
        plain.send(.user1)
        #expect(plain.exitCode() == 75, "\(plain.output)")
        #expect(!scontrolCalls().contains { $0.hasPrefix("requeue") }, "\(scontrolCalls())")
        for run in ["ok", "bad", "plain"] {
            #expect(try TestSupport.journal(logs, run).invocations.first?.requeue == nil)
        }
    }

    /// Why a stopped run was not requeued, and that vigil says so and still exits 75.
    enum Refusal: String, CaseIterable, Sendable {
        case missing, failing, cancelled
    }

    @Test(
        "scontrol missing, scontrol requeue failing, a job SLURM is ending: said, journaled, exit 75",
        arguments: Refusal.allCases)
    func notRequeued(_ refusal: Refusal) throws {
        defer { TestSupport.remove(dir) }
        var env = environment(["SLURM_JOB_ID": "77"])
        var python = TestSupport.python
        switch refusal {
        case .missing:
            env["PATH"] = dir  // no scontrol there; the trainer is started by the interpreter's own path
            let found = ToolRunner.run(
                [python, "-c", "import sys; print(sys.executable)"], environment: TestSupport.hermeticEnvironment,
                workingDirectory: dir, timeout: 30)
            python = found.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        case .failing: env["FAKE_SLURM_REQUEUE_EXIT"] = "1"
        case .cancelled: env["FAKE_SLURM_STATE"] = "COMPLETING"  // plain scancel: it must not come back
        }
        let vigil = try vigil(["--requeue"], SlurmRequeueTests.slowTrainer, environment: env, python: python)
        #expect(vigil.waitForLine(containing: "step 2/"), "\(vigil.output)")
        vigil.send(.terminate)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        let requeue = try #require(try journal().invocations.first?.requeue)
        #expect(!requeue.requeued)
        switch refusal {
        case .missing:
            #expect(vigil.stderr.contains("scontrol cannot be run"), "\(vigil.stderr)")
            #expect(vigil.stderr.contains("no runtime deadline"), "\(vigil.stderr)")
            #expect(requeue.result.contains("command not found: 'scontrol'"), "\(requeue.result)")
        case .failing:
            #expect(vigil.stderr.contains("warning: scontrol requeue 77 failed: exit code 1"), "\(vigil.stderr)")
            #expect(requeue.result.contains("Requested operation is presently disabled"), "\(requeue.result)")
        case .cancelled:
            #expect(requeue.result.contains("SLURM says the job is COMPLETING"), "\(requeue.result)")
            #expect(!scontrolCalls().contains { $0.hasPrefix("requeue") })
        }
    }

    @Test("the requeue budget: past slurm.maxRequeues without a new checkpoint, exit 75 and no requeue")
    func budget() throws {
        defer { TestSupport.remove(dir) }
        // The trainer saves nothing: no requeue can show progress.
        let stuck = ["--steps", "400", "--step-time", "0.05", "--checkpoint-every", "0", "--usr1", "ignore"]
        for restart in 0..<2 {
            let env = environment(["SLURM_JOB_ID": "9", "SLURM_RESTART_COUNT": String(restart)])
            let vigil = try vigil(["--requeue", "--max-requeues", "1"], stuck, environment: env)
            #expect(vigil.waitForLine(containing: "step 2/"), "\(vigil.output)")
            vigil.send(.user1)
            #expect(vigil.exitCode() == 75, "\(vigil.output)")
            if restart == 1 {
                #expect(vigil.stderr.contains("not requeued: the run was requeued 1 time(s) with no new checkpoint"))
            }
        }
        let invocations = try journal().invocations
        try #require(invocations.count == 2)
        #expect(invocations.map { $0.requeue?.requeued } == [true, false])
        #expect(invocations[0].requeue?.counted == true)
        #expect(invocations[1].requeue?.result.contains("slurm.maxRequeues 1") == true)
        #expect(scontrolCalls().filter { $0.hasPrefix("requeue") } == ["requeue 9"])
    }

    @Test("the job's end from scontrol (TimeLimit − RunTime): the stop fits before it, then the requeue")
    func timeLimitIsTheDeadline() throws {
        defer { TestSupport.remove(dir) }
        let env = environment(
            ["SLURM_JOB_ID": "31"], fakes: ["FAKE_SLURM_TIME_LIMIT": "00:00:07", "FAKE_SLURM_RUN_TIME": "00:00:01"])
        let started = Date()
        let vigil = try vigil(["--requeue"], SlurmRequeueTests.slowTrainer, environment: env)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        #expect(vigil.stderr.contains("SLURM job 31 ends in 6s (its time limit)"), "\(vigil.stderr)")
        let journal = try journal()
        let attempt = try #require(journal.attempts.first)
        #expect(attempt.stopCause == "runtime-limit")
        let deadline = try #require(attempt.deadline)
        #expect(abs(deadline.timeIntervalSince(started) - 6) < 2, "\(deadline) vs \(started)")
        #expect(attempt.checkpointAfter != nil, "the stop's checkpoint")
        #expect(journal.invocations.first?.requeue?.requeued == true)
    }

    @Test("an attempt left open by a vigil on another node is closed without touching this node's processes")
    func orphanOnAnotherHost() throws {
        defer { TestSupport.remove(dir) }
        let bystander = try TestProcess(["/bin/sleep", "30"])
        defer { kill(bystander.pid, SIGKILL) }
        var journal = Journal(
            run: "moved", runID: "id", command: ["t"], workingDirectory: dir, policy: "p", now: Date())
        journal.invocations = [Journal.Invocation(pid: 4_000_000, host: "node-elsewhere", startedAt: Date())]
        var attempt = Journal.Attempt(
            number: 1, argv: ["t"], startedAt: Date(), supervisorPID: 4_000_000, log: "attempt-001.log")
        attempt.pid = bystander.pid  // the same pid and start time as a process here, by chance
        attempt.processStartTime = ProcessTable.startTime(of: bystander.pid)
        journal.attempts = [attempt]
        try FileManager.default.createDirectory(atPath: logs + "/moved", withIntermediateDirectories: true)
        try journal.write(to: logs + "/moved/journal.json")
        let vigil = try vigil(["--name", "moved"], ["--steps", "2"], environment: environment([:]))
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        #expect(ProcessTable.isRunning(bystander.pid), "vigil stopped a process of this node")
        let closed = try #require(try TestSupport.journal(logs, "moved").attempts.first)
        #expect(closed.verdict?.rule == "orphaned")
        #expect(closed.stopReason?.contains("on node-elsewhere") == true, "\(closed.stopReason ?? "")")
    }
}
