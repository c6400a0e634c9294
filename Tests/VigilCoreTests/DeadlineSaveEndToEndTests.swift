import Foundation
import Testing

@testable import VigilCore

/// Saves that take time, with the fixture trainer (`--save-time`: each save is written in ten
/// pieces over that long): the checkpoint lead measured from them, the stall that waits for one.
@Suite("Slow saves and deadlines, end to end", .serialized, .timeLimit(.minutes(3)))
struct DeadlineSaveEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-saves")
    }

    func policy(_ stop: String, extra: String = "", backoff: String = "10ms") throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try """
        {
          restart: { maxRetries: 3, backoff: { initial: "\(backoff)", jitter: 0 } },
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { pattern: "ckpt_step{step}.json" },
          stop: { \(stop) },
          \(extra)
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func vigil(_ name: String, policy: String, _ vigilArgs: [String], _ trainerArgs: [String]) throws -> TestProcess {
        try TestProcess.vigil(
            [
                "run", "--name", name, "--log-dir", logs, "--checkpoint-dir", checkpoints + "/" + name, "--policy",
                policy,
            ]
                + vigilArgs + ["--", TestSupport.python, TestSupport.fixtureTrainer] + trainerArgs)
    }

    /// Saves take 3 s. Two periodic saves early (steps 20 and 40), then none: the emergency save on
    /// the checkpoint signal is the only one left before the 20 s limit.
    let slowTrainer = [
        "--steps", "1000", "--step-time", "0.1", "--checkpoint-every", "20", "--periodic-saves", "2", "--save-time",
        "3",
    ]

    @Test("checkpointLead auto: after the 3 s saves the signal comes early enough; a fixed 1 s lead cuts the save")
    func adaptiveLead() throws {
        defer { TestSupport.remove(dir) }
        let auto = try vigil(
            "auto", policy: try policy(#"checkpointLead: "auto(min: 1s)", checkpointTimeout: "10s", termGrace: "1s""#),
            ["--time-limit", "20s"], slowTrainer)
        #expect(auto.exitCode() == 75, "\(auto.output)")
        let measured = try TestSupport.journal(logs, "auto")
        let first = try #require(measured.attempts.first)
        #expect(
            first.checkpointLead?.why.hasPrefix("auto: p95 of ") == true,
            "\(String(describing: first.checkpointLead)) \(measured.saveTimings ?? [])")
        #expect(first.checkpointLead.map { $0.seconds >= 6 } == true)
        #expect((measured.saveTimings ?? []).prefix(2).allSatisfy { $0.from == .firstWrite && $0.seconds >= 2.5 })
        #expect(first.stopReason?.contains("checkpoint ckpt_step") == true, "\(first.stopEvents ?? [])")
        let saved = try #require(first.checkpointAfter)
        #expect(!saved.hasSuffix("ckpt_step40.json"), "the emergency save is the newest checkpoint")
        #expect(auto.stderr.contains("vigil: checkpoint lead now"))

        // The next invocation starts with the measured lead.
        let again = try vigil(
            "auto", policy: try policy(#"checkpointLead: "auto(min: 1s)", checkpointTimeout: "10s", termGrace: "1s""#),
            ["--time-limit", "14s"], slowTrainer.dropLast(4) + ["--periodic-saves", "0", "--save-time", "3"])
        #expect(again.exitCode() == 75, "\(again.output)")
        let second = try #require(try TestSupport.journal(logs, "auto").attempts.last)
        #expect(second.checkpointLead?.why.hasPrefix("auto: p95 of") == true)
        #expect(second.stopReason?.contains("checkpoint ckpt_step") == true, "\(second.stopEvents ?? [])")

        // The same trainer with a fixed lead of 1 s: its emergency save cannot finish.
        let fixed = try vigil(
            "fixed", policy: try policy(#"checkpointLead: "1s", checkpointTimeout: "10s", termGrace: "1s""#),
            ["--time-limit", "20s"], slowTrainer)
        #expect(fixed.exitCode() == 75, "\(fixed.output)")
        let cut = try #require(try TestSupport.journal(logs, "fixed").attempts.first)
        #expect(cut.checkpointLead?.why == "stop.checkpointLead (1s)")
        #expect(
            cut.stopEvents?.contains { $0.event.contains("no new checkpoint within") } == true,
            "\(cut.stopEvents ?? [])")
        #expect(cut.stopEvents?.contains { $0.event.hasPrefix("a save is under way") } == true)
        #expect(
            cut.checkpointAfter?.hasSuffix("ckpt_step40.json") == true, "\(String(describing: cut.checkpointAfter))")
    }

    @Test("a save in progress when the stall timer would fire: no stall verdict")
    func saveHoldsStall() throws {
        defer { TestSupport.remove(dir) }
        // Silent for 4 s during each save, with a 2 s stall timeout.
        let vigil = try vigil(
            "quiet", policy: try policy(#"checkpointTimeout: "30s""#, extra: #"limits: { stall: "2s" },"#), [],
            ["--steps", "6", "--step-time", "0.05", "--checkpoint-every", "3", "--save-time", "4"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "quiet")
        #expect(journal.attempts.count == 1, "\(journal.attempts.map(\.verdict))")
        #expect(journal.attempts[0].stopCause == nil)
        #expect((journal.saveTimings ?? []).count == 2)
    }

    @Test(
        "first progress is when the first progress line came, not the newest (the demo's goodput was 0 %)",
        arguments: [true, false])
    func firstProgress(withMetrics: Bool) throws {
        defer { TestSupport.remove(dir) }
        // The embedded default reads `loss=` as a metric; `output: {metrics: []}` leaves only "any output".
        let policyPath = dir + "/first-progress.json5"
        try (withMetrics ? "{}" : "{ output: { progress: null, metrics: [] } }").write(
            toFile: policyPath, atomically: true, encoding: .utf8)
        // The first line's time as the trainer saw it, then a line every 0.25 s for 3 s.
        let stamp = dir + "/first-line"
        let script = """
            import time
            open(\(String(reflecting: stamp)), "w").write(repr(time.time()))
            for step in range(1, 13):
                print(f"step {step}/12 loss=0.5", flush=True)
                time.sleep(0.25)
            """
        let vigil = try TestProcess.vigil(
            ["run", "--name", "first", "--log-dir", logs, "--policy", policyPath, "--no-resume-arg", "--"]
                + [TestSupport.python, "-c", script])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try #require(try Journal.read(from: logs + "/first/journal.json"))
        let progress = try #require(journal.attempts.first?.firstProgressAt, "\(vigil.output)")
        let printed = Date(timeIntervalSince1970: try #require(Double(String(contentsOfFile: stamp, encoding: .utf8))))
        // The newest line instead (what it recorded) is as late as the loop's next wake (1.75 s here).
        #expect(abs(progress.timeIntervalSince(printed)) < 1.0, "first progress \(progress), first line \(printed)")
    }

    @Test("goodput on a run with a crash, a backoff and a runtime stop: the parts add up; report and HTML show them")
    func goodput() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(
            #"checkpointLead: "500ms", checkpointTimeout: "3s", termGrace: "1s""#, backoff: "1s")
        let vigil = try vigil(
            "goodput", policy: policy, ["--time-limit", "8s"],
            [
                "--steps", "1000", "--step-time", "0.05", "--checkpoint-every", "10", "--crash-at", "25",
                "--crash-times", "1", "--state-file", dir + "/state",
            ])
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        #expect(vigil.stderr.contains("goodput "), "the summary shows it")
        let report = try TestProcess.vigil(["report", "goodput", "--log-dir", logs, "--json"])
        #expect(report.exitCode() == 0)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any])
        let parts = try #require(object["goodput"] as? [String: Double])
        let wall = try #require(parts["wallSeconds"])
        let sum = parts.filter { $0.key != "wallSeconds" }.values.reduce(0, +)
        #expect(abs(sum - wall) < 0.01, "\(parts)")
        #expect(parts["redoneSeconds"]! > 0 && parts["backoffSeconds"]! >= 0.9 && parts["stoppingSeconds"]! > 0)
        #expect(parts["productiveSeconds"]! > parts["redoneSeconds"]!)
        let html = dir + "/report.html"
        #expect(try TestProcess.vigil(["report", "goodput", "--log-dir", logs, "--html", html]).exitCode() == 0)
        let page = TestSupport.read(html)
        for part in ["productive", "start-up", "redone", "backoff", "stopping"] {
            #expect(page.contains("data-part=\"\(part)\""), "\(part)")
        }
        let status = try TestProcess.vigil(["status", "goodput", "--log-dir", logs])
        #expect(status.exitCode() == 0)
        #expect(status.stdout.contains("goodput"), "\(status.stdout)")
    }

    @Test("a fake nvidia-smi shows the crashed attempt's memory held for 2 s: the retry starts after it is released")
    func gpuRelease() throws {
        defer { TestSupport.remove(dir) }
        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        var dead: Int32 = 3_999_999
        while ProcessTable.isRunning(dead) { dead -= 1 }
        let fake = bin + "/nvidia-smi"
        try """
        #!/usr/bin/env python3
        import os, sys, time
        state = os.environ["FAKE_GPU_STATE"]
        with open(state + ".args", "a") as f:
            f.write(" ".join(sys.argv[1:]) + "\\n")
        if not os.path.exists(state):
            with open(state, "w") as f:
                f.write(str(time.time()))
        with open(state) as f:
            since = float(f.read())
        if time.time() - since < 2:
            print(f"{os.environ['FAKE_GPU_PID']}, 2048")
        """.write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = bin + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["FAKE_GPU_STATE"] = dir + "/gpu"
        environment["FAKE_GPU_PID"] = String(dead)
        environment["CUDA_VISIBLE_DEVICES"] = "0"
        let vigil = try TestProcess.vigil(
            [
                "run", "--name", "gpu", "--log-dir", logs, "--checkpoint-dir", checkpoints, "--policy",
                try policy(#"termGrace: "1s""#), "--", TestSupport.python, TestSupport.fixtureTrainer, "--steps", "3",
                "--crash-at", "1", "--crash-times", "1", "--state-file", dir + "/state",
            ], environment: environment)
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "gpu")
        #expect(journal.attempts.count == 2)
        let wait = try #require(journal.attempts[0].gpuWait)
        #expect(wait.released && wait.seconds >= 1.5 && wait.seconds < 30, "\(wait)")
        #expect(wait.holders == ["pid \(dead): 2048 MiB"])
        let gap = journal.attempts[1].startedAt.timeIntervalSince(journal.attempts[0].endedAt!)
        #expect(gap >= 1.5, "the retry waited for the release: \(gap)")
        #expect(TestSupport.read(dir + "/gpu.args").contains("--id=0"))
        #expect(vigil.stderr.contains("vigil: waiting for the GPUs to release the last attempt's memory"))
    }
}
