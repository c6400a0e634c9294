import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// `vigil queue` with real trainers: a matrix with a crash, a failure and a blocked dependent; the
/// queue's time limit and its continuation; a runner killed with SIGKILL, its vigil alive or not.
@Suite("vigil queue, end to end", .serialized, .timeLimit(.minutes(3)))
struct QueueEndToEndTests {
    let harness: QueueHarness

    init() throws {
        harness = try QueueHarness("vigil-queue")
    }

    @Test(
        "3 symbols × 2 models: one crash resumed, one failure blocks its dependent, the rest trained; list, summary, hook and HTML agree with the journals"
    )
    func matrix() throws {
        let h = harness
        defer { h.remove() }
        let plan = h.dir + "/plan.json"
        try
            #"{"AAA-lstm": ["--crash-at", "2", "--crash-times", "1"], "BBB-gbm": ["--crash-at", "1", "--exception", "PermissionError"]}"#
            .write(toFile: plan, atomically: true, encoding: .utf8)
        let counts = h.dir + "/counts.json"
        let hookPolicy = try h.policy(
            #"hooks: { onQueueDone: ["\#(TestSupport.python)", "-c", "import json, os, sys; json.dump({k: v for k, v in os.environ.items() if k.startswith('VIGIL_QUEUE')}, open(sys.argv[1], 'w'))", "\#(counts)"] },"#
        )
        let policy = try h.policy()
        try h.add(
            [
                "--policy", policy, "--matrix", "symbol=AAA,BBB,CCC", "--matrix", "model=gbm,lstm", "--checkpoint-dir",
                h.dir + "/ckpt/{symbol}-{model}",
            ],
            [
                "--steps", "3", "--checkpoint-every", "1", "--job-plan", plan, "--state-file",
                h.dir + "/state-{symbol}-{model}.json",
            ])
        try h.add(["--name", "eval-AAA", "--policy", policy, "--after", "trainer-AAA-lstm"], ["--steps", "1"])
        try h.add(["--name", "eval-BBB", "--policy", policy, "--after", "trainer-BBB-gbm"], ["--steps", "1"])

        let run = try h.queue("run", ["--jobs", "2", "--policy", hookPolicy])
        #expect(run.exitCode(timeout: 150) == 1, "\(run.output)")

        let list = try h.list()
        #expect(list.count == 8)
        for item in list {
            let name = try #require(item["name"] as? String)
            guard let journal = try h.journal(name) else {
                #expect(name == "eval-BBB" && item["state"] as? String == "blocked", "\(item)")
                #expect((item["blockedBy"] as? [String]) == ["trainer-BBB-gbm"])
                continue
            }
            let states: [Journal.RunState: String] = [.succeeded: "done", .failed: "failed", .gaveUp: "gave-up"]
            #expect(item["state"] as? String == states[journal.state], "\(name): \(item)")
            #expect(item["attempts"] as? Int == journal.attempts.count, "\(name)")
            let verdict = journal.attempts.last { $0.verdict != nil }?.verdict
            #expect((item["lastVerdict"] as? [String: Any])?["rule"] as? String == verdict?.rule, "\(name)")
            #expect(item["reason"] as? String == journal.outcome?.reason, "\(name)")
        }
        #expect(try h.listed("trainer-BBB-gbm", in: list)["state"] as? String == "failed")
        #expect(try h.journal("trainer-BBB-gbm")?.attempts.last?.verdict?.rule == "permission-error")
        // The crash was resumed from the checkpoint of step 1, not started over.
        let crashed = h.starts("trainer-AAA-lstm")
        #expect(crashed.map(\.step) == [1, 2], "\(crashed)")
        #expect(try h.journal("trainer-AAA-lstm")?.attempts.count == 2)
        #expect(h.startCounts().values.allSatisfy { $0 <= 2 } && h.starts("eval-BBB").isEmpty)

        // The summary: on stderr and in queue-report.md, the same counts and the journals' reasons.
        #expect(run.stderr.contains("6 trained, 1 failed, 0 gave up, 1 blocked"), "\(run.stderr)")
        let report = TestSupport.read(h.logs + "/queue-report.md")
        for item in list where item["state"] as? String == "done" {
            let name = item["name"] as! String
            let attempts = item["attempts"] as! Int
            #expect(report.contains("| \(name) | trained | "), "\(name): \(report)")
            #expect(
                report.split(separator: "\n").contains {
                    $0.hasPrefix("| \(name) | trained |") && $0.contains("| \(attempts) |")
                }, "\(name): \(attempts) attempts")
        }
        // Goodput per job (its journal's) and in total, the same on stderr and in the report.
        var goodputs: [Goodput] = []
        for item in list {
            let name = item["name"] as! String
            guard let journal = try h.journal(name) else { continue }
            let goodput = Goodput(journal: journal, now: Date())
            goodputs.append(goodput)
            let cell = QueueSummary.goodputCell(goodput)
            #expect(!cell.isEmpty && report.contains("| \(cell) |"), "\(name): \(cell) in \(report)")
            let percent = try #require(QueueSummary.percent(goodput))
            let line = run.stderr.split(separator: "\n").first { $0.contains(" \(name)  ") }
            #expect(line?.hasSuffix(", goodput \(percent)") == true || line?.contains(", goodput \(percent):") == true)
        }
        let total = QueueSummary.total(goodputs)
        #expect(goodputs.count == 7 && total.productiveSeconds > 0 && total.productiveSeconds <= total.wallSeconds)
        #expect(report.contains("- \(total.line) (all jobs run)"), "\(total.line) in \(report)")
        #expect(run.stderr.contains(total.line), "\(total.line) in \(run.stderr)")
        let failure = try #require(try h.journal("trainer-BBB-gbm")?.outcome?.reason)
        #expect(report.contains("| trainer-BBB-gbm | failed |") && report.contains(failure))
        #expect(report.contains("- eval-BBB: after trainer-BBB-gbm"))
        let hook = try JSONSerialization.jsonObject(with: Data(TestSupport.read(counts).utf8)) as? [String: String]
        #expect(hook?["VIGIL_QUEUE_TRAINED"] == "6" && hook?["VIGIL_QUEUE_FAILED"] == "1")
        #expect(hook?["VIGIL_QUEUE_BLOCKED"] == "1" && hook?["VIGIL_QUEUE_EXIT"] == "1", "\(hook ?? [:])")
        #expect(hook?["VIGIL_QUEUE_GOODPUT_PERCENT"] == String(Int((total.ratio * 100).rounded())))

        // One page with a row per job, each linking to the job's own page.
        let page = h.dir + "/queue.html"
        let html = try TestProcess.vigil(["report", "--queue", "--log-dir", h.logs, "--html", page])
        #expect(html.exitCode() == 0, "\(html.output)")
        let scan = try XMLDocumentScan(TestSupport.read(page))
        let links = scan.elements.filter { $0.name == "a" }.compactMap { $0.attributes["href"] }
        #expect(links.count == 7, "\(links)")
        for link in links { #expect(FileManager.default.fileExists(atPath: h.dir + "/" + link), "\(link)") }
        #expect(scan.elements.filter { $0.name == "tr" }.count == 9)  // the header and 8 jobs
        #expect(scan.text.contains("blocked") && scan.text.contains("permission-error"))
        #expect(scan.text.contains(total.line), "\(total.line) not on the page")
    }

    @Test(
        "--time-limit shorter than the queue: exit 75 with the running job checkpointed; the next run does exactly the rest"
    )
    func timeLimit() throws {
        let h = harness
        defer { h.remove() }
        let policy = try h.policy()
        for (name, steps) in [
            ("fast1", ["--steps", "2"]), ("slow", ["--steps", "60", "--step-time", "0.1"]),
            ("fast2", ["--steps", "2"]),
        ] {
            try h.add(
                ["--name", name, "--policy", policy, "--checkpoint-dir", h.dir + "/ckpt/" + name],
                steps + ["--checkpoint-every", "0"])
        }
        let first = try h.queue("run", ["--time-limit", "6s"])
        #expect(first.exitCode(timeout: 60) == 75, "\(first.output)")
        #expect(first.stderr.contains("the time limit was reached with 2 jobs left"), "\(first.stderr)")
        var list = try h.list()
        #expect(try h.listed("fast1", in: list)["state"] as? String == "done")
        #expect(try h.listed("slow", in: list)["state"] as? String == "stopped-resumable")
        #expect(try h.listed("fast2", in: list)["state"] as? String == "pending")
        let stopped = try #require(try h.journal("slow"))
        #expect(stopped.state == .stopped)
        #expect(stopped.attempts.last?.stopCause == "runtime-limit")
        let saved = try #require(stopped.attempts.last?.checkpointAfter, "no checkpoint before the limit")

        let second = try h.queue("run")
        #expect(second.exitCode(timeout: 60) == 0, "\(second.output)")
        list = try h.list()
        #expect(list.allSatisfy { $0["state"] as? String == "done" }, "\(list)")
        #expect(h.startCounts() == ["fast1": 1, "slow": 2, "fast2": 1], "\(h.startCounts())")
        let slow = h.starts("slow")
        let resumed = try #require(try h.journal("slow")?.attempts.last)
        #expect(resumed.resumeFrom == saved && slow[1].step == (resumed.resumeStep ?? 0) + 1, "\(slow)")
        // The cut-off job went first.
        #expect(slow[1].time < (h.starts("fast2").first?.time ?? 0))
    }

    /// Starts a queue of a long job `a` (with checkpoints) and a short `b`, and waits until `a` is at step 8.
    private func startLongJob(_ h: QueueHarness) throws -> TestProcess {
        let policy = try h.policy()
        try h.add(
            ["--name", "a", "--policy", policy, "--checkpoint-dir", h.dir + "/ckpt/a"],
            ["--steps", "40", "--step-time", "0.1", "--checkpoint-every", "5"])
        try h.add(["--name", "b", "--policy", policy, "--checkpoint-dir", h.dir + "/ckpt/b"], ["--steps", "2"])
        let runner = try h.queue("run", ["--trainer-output"])
        #expect(runner.waitForLine(containing: "[a] step 8/40", timeout: 60), "\(runner.output)")
        return runner
    }

    @Test(
        "SIGKILL to the runner and to the job's vigil: the rerun stops the orphaned trainer, resumes it and completes")
    func killedRunnerAndVigil() throws {
        let h = harness
        defer { h.remove() }
        let runner = try startLongJob(h)
        let claim = try #require(try h.queueFile().jobs.first { $0.name == "a" }?.claim)
        let vigil = try #require(claim.vigil)
        let orphan = try #require(h.starts("a").first?.pid)
        kill(runner.pid, SIGKILL)
        kill(vigil.pid, SIGKILL)
        _ = runner.waitForExit(timeout: 30)
        #expect(TestSupport.eventually { !ProcessTable.isAlive(vigil.pid, startTime: vigil.startTime) })
        #expect(ProcessTable.isRunning(orphan), "the trainer should have outlived its vigil")
        #expect(try h.list().first?["state"] as? String == "stopped-resumable")

        let rerun = try h.queue("run")
        #expect(rerun.exitCode(timeout: 90) == 0, "\(rerun.output)")
        #expect(!ProcessTable.isRunning(orphan))
        let journal = try #require(try h.journal("a"))
        #expect(journal.state == .succeeded)
        #expect(journal.attempts.contains { $0.verdict?.rule == "orphaned" }, "\(journal.attempts.map(\.verdict))")
        let starts = h.starts("a")
        #expect(starts.count == 2 && starts[1].step > 5, "resumed from a checkpoint: \(starts)")
        #expect(h.startCounts()["b"] == 1)
    }

    @Test("SIGKILL to the runner alone: the rerun waits for the job's vigil, which goes on; nothing runs twice")
    func killedRunner() throws {
        let h = harness
        defer { h.remove() }
        let runner = try startLongJob(h)
        kill(runner.pid, SIGKILL)
        _ = runner.waitForExit(timeout: 30)
        #expect(try h.list().first?["state"] as? String == "running")
        let rerun = try h.queue("run")
        #expect(rerun.waitForLine(containing: "still runs it; waiting for it", timeout: 30), "\(rerun.output)")
        #expect(rerun.exitCode(timeout: 90) == 0, "\(rerun.output)")
        #expect(h.startCounts() == ["a": 1, "b": 1], "\(h.startCounts())")
        #expect(try h.list().allSatisfy { $0["state"] as? String == "done" })
    }
}
