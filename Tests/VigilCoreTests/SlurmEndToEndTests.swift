import Foundation
import Testing

@testable import VigilCore

/// Whether a SLURM cluster answers on this machine (scripts/slurm-local starts one), asked once.
enum SlurmCluster {
    static let environment = TestSupport.hermeticEnvironment

    static func tool(_ argv: [String], timeout: Double = 30) -> ToolRunner.Result {
        ToolRunner.run(argv, environment: environment, workingDirectory: "/", timeout: timeout)
    }

    /// Nil when it is up (slurmctld answers, a node can run jobs); else why not.
    static let unavailable: String? = {
        let ping = tool(["scontrol", "ping"], timeout: 10)
        guard ping.succeeded, ping.stdout.contains("UP") else {
            let said = ping.stdout.split(whereSeparator: \.isNewline).first.map(String.init) ?? ping.summary
            return "scontrol ping: \(said)"
        }
        let nodes = tool(["sinfo", "-h", "-N", "-o", "%t"], timeout: 10)
        let usable = nodes.stdout.split(whereSeparator: \.isNewline).contains {
            ["idle", "mix", "alloc"].contains($0.trimmingCharacters(in: CharacterSet(charactersIn: " *~#")))
        }
        return usable ? nil : "no node can run jobs (sinfo: \(nodes.stdout.isEmpty ? nodes.summary : nodes.stdout))"
    }()

    /// `CI=true`: the cluster must be there (.ci/run starts it), and its absence is a failure.
    static var required: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
    static var runs: Bool { unavailable == nil || required }
}

/// `vigil run --requeue` on a real SLURM (slurmctld and slurmd from Debian's slurm-wlm, started by
/// scripts/slurm-local): sbatch a job, warn it with `scancel --signal=USR1 --batch`, and watch it
/// checkpoint, requeue itself and continue. Skipped where SLURM is not up, unless `CI=true`.
@Suite(
    "SLURM, end to end", .serialized, .timeLimit(.minutes(5)),
    .enabled(
        if: SlurmCluster.runs,
        Comment(
            rawValue: "SLURM is not up here (\(SlurmCluster.unavailable ?? "")); scripts/slurm-local starts a "
                + "local cluster, and CI=true makes this a failure"))
)
struct SlurmEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-slurm")
        try """
        {
          restart: { backoff: { initial: "10ms" } },
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { dir: "\(dir)/ckpt", pattern: "ckpt_step{step}.json", settle: "1s" },
          stop: { checkpointTimeout: "20s", termGrace: "2s" },
        }
        """.write(toFile: dir + "/policy.json5", atomically: true, encoding: .utf8)
    }

    func requireCluster() throws {
        try #require(
            SlurmCluster.unavailable == nil,
            "CI=true, but SLURM is not up: \(SlurmCluster.unavailable ?? ""); .ci/run starts it with scripts/slurm-local"
        )
    }

    static func quoted(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Submits a batch script whose last command is `exec vigil run … -- trainer …`; the job's id.
    func submit(_ name: String, vigil vigilArgs: [String], trainer: [String]) throws -> String {
        let command =
            [TestSupport.vigilBinary, "run", "--log-dir", logs, "--policy", dir + "/policy.json5"] + vigilArgs
            + ["--", TestSupport.python, TestSupport.fixtureTrainer] + trainer
        let script = """
            #!/bin/bash
            #SBATCH --job-name=vigil-e2e-\(name)
            #SBATCH --requeue
            #SBATCH --signal=B:USR1@60
            #SBATCH --open-mode=append
            #SBATCH --output=\(dir)/\(name)-%j.out
            #SBATCH --time=10
            #SBATCH --chdir=\(dir)
            export PATH=\(SlurmEndToEndTests.quoted(SlurmCluster.environment["PATH"] ?? "/usr/bin:/bin"))
            exec \(command.map(SlurmEndToEndTests.quoted).joined(separator: " "))

            """
        let path = "\(dir)/\(name).sbatch"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let submitted = SlurmCluster.tool(["sbatch", "--parsable", path])
        try #require(submitted.succeeded, "sbatch: \(submitted.summary)")
        let job = String(submitted.stdout.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces)
        try #require(!job.isEmpty)
        return job
    }

    func status(_ job: String) -> SlurmJob.Status {
        SlurmJob.Status(scontrolOutput: SlurmCluster.tool(["scontrol", "show", "job", "-o", job]).stdout)
    }

    func output(_ name: String, _ job: String) -> String { TestSupport.read("\(dir)/\(name)-\(job).out") }

    /// Waits until the job's state is one of `states`; the status then (nil on timeout).
    func wait(_ job: String, for states: Set<String>, timeout: Double = 90) -> SlurmJob.Status? {
        var last = status(job)
        let ok = TestSupport.eventually(timeout: timeout) {
            last = status(job)
            return states.contains(last.state ?? "")
        }
        return ok ? last : nil
    }

    func journal() throws -> Journal {
        let runs = try FileManager.default.contentsOfDirectory(atPath: logs)
        try #require(runs.count == 1, "one run across the job's runs: \(runs)")
        return try TestSupport.journal(logs, runs[0])
    }

    func exitCode(_ job: String) -> String? {
        let line = SlurmCluster.tool(["scontrol", "show", "job", "-o", job]).stdout
        return line.split(separator: " ").first { $0.hasPrefix("ExitCode=") }.map { String($0.dropFirst(9)) }
    }

    @Test(
        "the warning: the job checkpoints, requeues itself, runs again with SLURM_RESTART_COUNT=1, resumes and completes"
    )
    func warningRequeuesAndContinues() throws {
        defer { TestSupport.remove(dir) }
        try requireCluster()
        let started = Date()
        let job = try submit(
            "requeue", vigil: ["--requeue"],
            trainer: ["--steps", "40", "--step-time", "0.25", "--checkpoint-every", "0"])
        #expect(
            TestSupport.eventually(timeout: 60) { output("requeue", job).contains("step 3/") },
            "\(output("requeue", job))")
        let warned = SlurmCluster.tool(["scancel", "--signal=USR1", "--batch", job])
        try #require(warned.succeeded, "scancel: \(warned.summary)")
        // SLURM holds a requeued job for a while (BeginTime, about 2 minutes): the test lets it go.
        let pending = try #require(wait(job, for: ["PENDING"]), "\(status(job)) \(output("requeue", job))")
        #expect(pending.restarts == 1)
        let released = SlurmCluster.tool(["scontrol", "update", "jobid=\(job)", "StartTime=now"])
        #expect(released.succeeded, "\(released.summary)")
        let done = try #require(
            wait(job, for: ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"]), "\(output("requeue", job))")
        #expect(done.state == "COMPLETED", "\(output("requeue", job))")
        #expect(done.restarts == 1)
        #expect(exitCode(job) == "0:0")

        let journal = try journal()
        #expect(journal.state == .succeeded)
        try #require(journal.invocations.count == 2, "\(journal.invocations)")
        let (first, second) = (journal.invocations[0], journal.invocations[1])
        #expect(first.slurmJob == job && second.slurmJob == job)
        #expect(first.slurmRestartCount == 0 && second.slurmRestartCount == 1)
        #expect(first.exitCode == 75 && second.exitCode == 0)
        let requeue = try #require(first.requeue)
        #expect(requeue.requeued && requeue.job == job && !requeue.counted, "\(requeue)")
        #expect(second.requeue == nil)
        try #require(journal.attempts.count == 2)
        #expect(journal.attempts[0].stopReason?.contains("vigil received SIGUSR1") == true)
        let saved = try #require(journal.attempts[0].checkpointAfter)
        #expect(journal.attempts[1].resumeFrom == saved)
        #expect(journal.attempts[1].argv.suffix(2) == ["--resume", saved])
        // sacct (job completion records) agrees: the requeued run, then the completed one. Job ids
        // start again at 1 when slurmctld loses its state, so the log may hold other jobs of the same
        // id: this one is the one that ran in this test's directory.
        let accounting = SlurmCluster.tool(
            ["sacct", "-c", "-j", job, "-n", "-P", "-o", "jobid,workdir,state,exitcode"])
        if accounting.succeeded {
            let records = accounting.stdout.split(whereSeparator: \.isNewline)
                .map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
                .filter { $0.count == 4 && $0[1] == dir }
            #expect(records.count == 2, "\(accounting.stdout)")
            #expect(records.last.map { Array($0.suffix(2)) } == ["COMPLETED", "0:0"], "\(accounting.stdout)")
            #expect(records.first.map { $0[2] != "COMPLETED" } == true, "\(accounting.stdout)")
        } else {
            Issue.record("sacct -c does not answer (no JobCompType?): \(accounting.summary)")
        }
        print("vigil-slurm-e2e: warned, requeued and completed in \(Int(Date().timeIntervalSince(started)))s")
    }

    @Test("a failing trainer is not requeued: the job fails with vigil's exit code")
    func failureIsNotRequeued() throws {
        defer { TestSupport.remove(dir) }
        try requireCluster()
        let job = try submit(
            "fails", vigil: ["--requeue", "--max-retries", "0"], trainer: ["--steps", "5", "--crash-at", "1"])
        let done = try #require(wait(job, for: ["COMPLETED", "FAILED", "CANCELLED"]), "\(output("fails", job))")
        #expect(done.state == "FAILED" && done.restarts == 0)
        #expect(exitCode(job) == "2:0")
        let invocation = try #require(try journal().invocations.first)
        #expect(invocation.exitCode == 2 && invocation.requeue == nil)
    }

    @Test("the requeue budget holds: past slurm.maxRequeues without a new checkpoint, exit 75 and no requeue")
    func budgetHolds() throws {
        defer { TestSupport.remove(dir) }
        try requireCluster()
        let job = try submit(
            "budget", vigil: ["--requeue", "--max-requeues", "0"],
            trainer: ["--steps", "400", "--step-time", "0.25", "--checkpoint-every", "0", "--usr1", "ignore"])
        #expect(TestSupport.eventually(timeout: 60) { output("budget", job).contains("step 2/") })
        #expect(SlurmCluster.tool(["scancel", "--signal=USR1", "--batch", job]).succeeded)
        let done = try #require(wait(job, for: ["COMPLETED", "FAILED", "CANCELLED"]), "\(output("budget", job))")
        #expect(done.state == "FAILED" && done.restarts == 0, "\(done)")
        #expect(exitCode(job) == "75:0")
        let requeue = try #require(try journal().invocations.first?.requeue)
        #expect(!requeue.requeued && requeue.result.contains("slurm.maxRequeues 0"), "\(requeue)")
    }

    @Test("a plain scancel is not turned into a requeue: the job stays cancelled")
    func cancelIsNotRequeued() throws {
        defer { TestSupport.remove(dir) }
        try requireCluster()
        let job = try submit(
            "cancel", vigil: ["--requeue"],
            trainer: ["--steps", "400", "--step-time", "0.25", "--checkpoint-every", "0"])
        #expect(TestSupport.eventually(timeout: 60) { output("cancel", job).contains("step 2/") })
        #expect(SlurmCluster.tool(["scancel", job]).succeeded)
        let done = try #require(wait(job, for: ["CANCELLED", "COMPLETED", "FAILED", "PENDING"]))
        #expect(done.state == "CANCELLED" && done.restarts == 0, "\(done) \(output("cancel", job))")
        #expect(
            TestSupport.eventually(timeout: 30) {
                (try? journal().invocations.first?.requeue) != nil
            }, "vigil recorded no decision: \(output("cancel", job))")
        let requeue = try #require(try journal().invocations.first?.requeue)
        #expect(!requeue.requeued && requeue.result.contains("SLURM says the job is"), "\(requeue)")
        #expect(status(job).restarts == 0 && status(job).state == "CANCELLED")
    }
}
