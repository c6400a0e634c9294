import Foundation
import Testing

@testable import VigilCore

/// SLURM as plain values: the job from its environment, what `scontrol show job` says, the requeue
/// budget, the lock a previous run of the job seems to hold, the `slurm` policy section.
@Suite("SLURM, as values")
struct SlurmTests {
    /// What Slurm 22.05's `scontrol show job -o` printed for a running job (cut after TimeMin).
    static let runningJob = """
        JobId=12 JobName=train.sbatch UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901758 Nice=0 \
        Account=(null) QOS=(null) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 \
        Reboot=0 ExitCode=0:0 RunTime=00:01:05 TimeLimit=01:00:00 TimeMin=N/A SubmitTime=2026-12-01T11:19:21 \
        Command=/home/me/train run.sbatch WorkDir=/home/me/exp
        """

    @Test("outside SLURM there is no job; inside, its id, array task and restart count")
    func environment() throws {
        #expect(SlurmJob(environment: [:]) == nil)
        #expect(SlurmJob(environment: ["SLURM_JOB_ID": ""]) == nil)
        let plain = try #require(SlurmJob(environment: ["SLURM_JOB_ID": "12"]))
        #expect(plain.id == "12")
        #expect(plain.restartCount == 0)
        #expect(plain.endTime == nil)
        let task = try #require(
            SlurmJob(environment: [
                "SLURM_JOB_ID": "105", "SLURM_ARRAY_JOB_ID": "100", "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_RESTART_COUNT": "2", "SLURM_JOB_END_TIME": "1767225600",
            ]))
        #expect(task.id == "100_3")
        #expect(task.jobID == "105")
        #expect(task.restartCount == 2)
        #expect(task.endTime == 1_767_225_600)
        #expect(SlurmJob(environment: ["SLURM_JOB_ID": "7", "SLURM_RESTART_COUNT": "x"])?.restartCount == 0)
    }

    @Test("scontrol show job -o: state, run time and time limit; the time left is relative")
    func showJob() {
        let status = SlurmJob.Status(scontrolOutput: SlurmTests.runningJob)
        #expect(status.state == "RUNNING")
        #expect(status.restarts == 1)
        #expect(status.runTime == 65)
        #expect(status.timeLimit == 3600)
        #expect(status.timeLeft == 3535)
        let unlimited = SlurmJob.Status(
            scontrolOutput: "JobId=3 JobName=x JobState=COMPLETING Reason=None RunTime=00:00:02 TimeLimit=UNLIMITED")
        #expect(unlimited.state == "COMPLETING")
        #expect(unlimited.timeLeft == nil)
        #expect(SlurmJob.Status(scontrolOutput: "slurm_load_jobs error: Invalid job id specified").state == nil)
    }

    @Test(
        "SLURM's durations",
        arguments: [
            ("00:05:00", 300.0), ("1-02:03:04", 93784.0), ("5:00", 300.0), ("30", 1800.0), ("2-12", 216_000.0),
            ("2-12:30", 217_800.0), ("UNLIMITED", nil), ("INVALID", nil), ("", nil), ("1:2:3:4", nil), ("-5", nil),
        ] as [(String, Double?)])
    func durations(_ text: String, _ seconds: Double?) {
        #expect(SlurmJob.Status.seconds(text) == seconds)
    }

    func journal(attempts progress: [Bool?], requeues: [(requeued: Bool, counted: Bool, attempts: Int)]) -> Journal {
        var journal = Journal(run: "r", runID: "id", command: ["t"], workingDirectory: "/", policy: "p", now: Date())
        for (index, made) in progress.enumerated() {
            var attempt = Journal.Attempt(
                number: index + 1, argv: ["t"], startedAt: Date(), supervisorPID: 1, log: "a.log")
            attempt.madeProgress = made
            journal.attempts.append(attempt)
        }
        for requeue in requeues {
            var invocation = Journal.Invocation(pid: 1, host: "h", startedAt: Date())
            invocation.requeue = Journal.Requeue(
                job: "12", at: Date(), requeued: requeue.requeued, result: "", counted: requeue.counted,
                attempts: requeue.attempts)
            journal.invocations.append(invocation)
        }
        return journal
    }

    @Test("a requeue counts only without a new checkpoint since the previous one; the budget holds")
    func budget() {
        // The first requeue: progress since the run began?
        #expect(!RequeueBudget(journal: journal(attempts: [true], requeues: []), maxRequeues: 0).counts)
        let stuck = RequeueBudget(journal: journal(attempts: [false, nil], requeues: []), maxRequeues: 0)
        #expect(stuck.counts && stuck.used == 0 && !stuck.allows)
        #expect(RequeueBudget(journal: journal(attempts: [false], requeues: []), maxRequeues: 1).allows)
        // Since the previous requeue (after attempt 1): attempt 2 made progress, attempt 1's does not matter.
        let moved = journal(attempts: [false, true], requeues: [(true, true, 1)])
        #expect(!RequeueBudget(journal: moved, maxRequeues: 1).counts)
        #expect(RequeueBudget(journal: moved, maxRequeues: 1).allows)
        let again = journal(attempts: [true, false], requeues: [(true, false, 1)])
        #expect(RequeueBudget(journal: again, maxRequeues: 1).counts)
        #expect(RequeueBudget(journal: again, maxRequeues: 1).used == 0)
        // Two counted requeues used up a budget of 2; refused and failed requeues never count.
        let spent = journal(
            attempts: [false, false, false, false],
            requeues: [(true, true, 1), (false, false, 2), (true, true, 3), (false, true, 3)])
        let budget = RequeueBudget(journal: spent, maxRequeues: 2)
        #expect(budget.used == 2 && budget.counts && !budget.allows)
        #expect(RequeueBudget(journal: spent, maxRequeues: 3).allows)
        // A journal a person edited cannot make it trap.
        #expect(RequeueBudget(journal: journal(attempts: [], requeues: [(true, true, 9)]), maxRequeues: 5).counts)
    }

    @Test("the lock is waited for only when the journal says this job's previous run holds it")
    func previousRun() throws {
        var journal = journal(attempts: [], requeues: [])
        var invocation = Journal.Invocation(pid: 1, host: "node1", startedAt: Date())
        invocation.slurmJob = "12"
        invocation.slurmRestartCount = 0
        journal.invocations = [invocation]
        let rerun = try #require(SlurmJob(environment: ["SLURM_JOB_ID": "12", "SLURM_RESTART_COUNT": "1"]))
        #expect(Supervisor.previousRunOfJob(rerun, journal: journal)?.host == "node1")
        let first = try #require(SlurmJob(environment: ["SLURM_JOB_ID": "12"]))
        #expect(Supervisor.previousRunOfJob(first, journal: journal) == nil)
        let other = try #require(SlurmJob(environment: ["SLURM_JOB_ID": "13", "SLURM_RESTART_COUNT": "1"]))
        #expect(Supervisor.previousRunOfJob(other, journal: journal) == nil)
        #expect(Supervisor.previousRunOfJob(nil, journal: journal) == nil)
        #expect(Supervisor.previousRunOfJob(rerun, journal: nil) == nil)
    }

    @Test("network file systems are told by statfs's f_type")
    func fileSystems() {
        #expect(RunDirectory.networkFileSystem(type: 0x6969) == "NFS")
        #expect(RunDirectory.networkFileSystem(type: Int64(Int32(bitPattern: 0xFF53_4D42))) == "SMB")
        #expect(RunDirectory.networkFileSystem(type: 0xEF53) == nil)  // ext4
        #expect(RunDirectory.networkFileSystem(type: 0x0102_1994) == nil)  // tmpfs
        #expect(RunDirectory.networkFileSystem(at: "/nonexistent-\(UUID().uuidString)") == nil)
    }

    @Test("the slurm section: requeue and maxRequeues, strict, rendered by policy check")
    func policySection() throws {
        let dir = try TestSupport.temporaryDirectory("vigil-slurm-policy")
        defer { TestSupport.remove(dir) }
        let file = dir + "/p.json5"
        try "{ slurm: { requeue: true, maxRequeues: 3 } }".write(toFile: file, atomically: true, encoding: .utf8)
        let policy = try PolicyLoader(searchDirectories: []).load(file)
        #expect(
            policy.slurm
                == {
                    var s = Policy.Slurm(); s.requeue = true; s.maxRequeues = 3; return s
                }())
        #expect(Policy(name: "x").slurm.maxRequeues == 20 && !Policy(name: "x").slurm.requeue)
        guard case .object(let tree) = policy.resolvedTree, case .object(let slurm)? = tree["slurm"] else {
            Issue.record("no slurm section in the resolved tree")
            return
        }
        #expect(slurm["requeue"] == .bool(true) && slurm["maxRequeues"] == .int(3))
        try "{ slurm: { requeu: true } }".write(toFile: file, atomically: true, encoding: .utf8)
        #expect {
            try PolicyLoader(searchDirectories: []).load(file)
        } throws: { error in
            "\(error)".contains("slurm.requeu") && "\(error)".contains("did you mean 'requeue'")
        }
    }
}

/// examples/slurm/*.sbatch against what Vigil needs from SLURM: `--requeue`, the warning to the batch
/// shell early enough for the policy's stop, appended output, Vigil as the batch shell.
@Suite("The SLURM examples")
struct SlurmExampleTests {
    static let directory = TestSupport.repositoryRoot + "/examples/slurm"
    static let scripts = ["train.sbatch", "array.sbatch", "train-torchrun.sbatch"]

    @Test("each batch script requeues, warns Vigil in time, appends, and execs vigil run --requeue", arguments: scripts)
    func script(_ name: String) throws {
        let text = TestSupport.read("\(SlurmExampleTests.directory)/\(name)")
        let options = text.split(separator: "\n").filter { $0.hasPrefix("#SBATCH ") }.map { $0.dropFirst(8) }
        #expect(options.contains("--requeue"))
        #expect(options.contains("--open-mode=append"))
        let signal = try #require(options.first { $0.hasPrefix("--signal=") }, "no --signal")
        #expect(signal.hasPrefix("--signal=B:USR1@"), "B: (the batch shell, which is Vigil) and USR1: \(signal)")
        let lead = try #require(Double(signal.split(separator: "@").last ?? ""))
        // The command: the lines from `exec vigil run` on, joined where they end with a backslash.
        let start = try #require(
            text.range(of: "\nexec vigil run "), "Vigil is not exec'd: the batch shell must be Vigil")
        let command = text[text.index(after: start.lowerBound)...].replacingOccurrences(of: "\\\n", with: " ")
            .split(separator: "\n")[0].split(separator: " ").map(String.init)
        #expect(command.prefix(4) == ["exec", "vigil", "run", "--requeue"])
        #expect(!command.contains { $0.contains("SLURM_JOB_ID") || $0.contains("SLURM_RESTART_COUNT") })
        let policyName = try #require(command.firstIndex(of: "--policy").map { command[$0 + 1] })
        let policy = try PolicyLoader(searchDirectories: []).load(SlurmExampleTests.directory + "/" + policyName)
        #expect(policy.checkpoints.pattern != nil, "without a pattern Vigil sees no checkpoint and no progress")
        let stop = policy.stop.checkpointTimeout + policy.stop.termGrace
        #expect(lead > stop + 60, "the warning at \(lead)s does not leave room for the \(stop)s stop and the requeue")
        if name.contains("torchrun") {
            #expect(command.contains("torchrun") && command.contains("--max-restarts") && command.contains("0"))
        }
        let syntax = ToolRunner.run(
            ["bash", "-n", "\(SlurmExampleTests.directory)/\(name)"], environment: TestSupport.hermeticEnvironment,
            workingDirectory: "/", timeout: 30)
        #expect(syntax.succeeded, "\(syntax.summary)")
    }
}
