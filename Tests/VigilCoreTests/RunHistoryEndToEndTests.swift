import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// Hooks, `vigil stop`, file modes and metrics, as a user sees them.
@Suite("Hooks, stop, metrics, end to end", .serialized, .timeLimit(.minutes(2)))
struct RunHistoryEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-history")
    }

    func policy(_ body: String) throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func vigil(_ name: String, policy: String, _ trainerArgs: [String]) throws -> TestProcess {
        try TestProcess.vigil(
            [
                "run", "--name", name, "--log-dir", logs, "--checkpoint-dir", checkpoints, "--policy", policy,
                "--", TestSupport.python, TestSupport.fixtureTrainer,
            ] + trainerArgs)
    }

    func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o777 : 0
    }

    @Test("a hook that hangs is killed after its timeout; a failing hook does not change the exit code")
    func hooks() throws {
        defer { TestSupport.remove(dir) }
        let marker = dir + "/hook-env"
        let policy = try policy(
            """
            {
              restart: { maxRetries: 1, backoff: { initial: "10ms" } },
              hooks: {
                onFailure: ["\(TestSupport.python)", "-c", "import time; time.sleep(60)"],
                onGiveUp: ["\(TestSupport.python)", "-c", "import os, sys; open('\(marker)', 'w').write(os.environ['VIGIL_VERDICT'] + ' ' + os.environ['VIGIL_RUN_ID']); sys.exit(3)"],
                timeout: "700ms",
              },
            }
            """)
        let vigil = try vigil("hooks", policy: policy, ["--crash-at", "1"])
        #expect(vigil.exitCode() == 2, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "hooks")
        let failure = try #require(journal.attempts.first?.hooks?.first)
        #expect(failure.hook == "onFailure")
        #expect(failure.ok == false)
        #expect(failure.result.contains("timed out after 700ms"))
        let giveUp = try #require(journal.finalHooks?.first)
        #expect(giveUp.hook == "onGiveUp" && giveUp.result == "exit code 3" && !giveUp.ok)
        #expect(TestSupport.read(marker) == "gave-up \(journal.runID)")
        #expect(vigil.stderr.contains("warning: hook onFailure"))
        #expect(TestSupport.read("\(logs)/hooks/hooks.log").contains("onGiveUp"))
    }

    @Test("vigil stop: the live supervisor checkpoints, stops the trainer and exits 75")
    func stop() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(
            """
            { checkpoints: { pattern: "ckpt_step{step}.json" }, resume: { args: ["--resume", "{checkpoint}"] },
              stop: { checkpointTimeout: "5s", termGrace: "2s" } }
            """)
        let vigil = try vigil(
            "stoppable", policy: policy, ["--steps", "3", "--hang-at", "2", "--checkpoint-every", "0"])
        #expect(vigil.waitForLine(containing: "hanging"))
        let stop = try TestProcess.vigil(["stop", "stoppable", "--log-dir", logs])
        #expect(stop.exitCode() == 0, "\(stop.output)")
        #expect(stop.stdout.contains("asked vigil pid \(vigil.pid)"))
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        let attempt = try #require(try TestSupport.journal(logs, "stoppable").attempts.first)
        #expect(attempt.signalsSent.map(\.signal).prefix(2) == ["USR1", "TERM"])
        #expect(attempt.checkpointAfter == "\(checkpoints)/ckpt_step2.json")
        let again = try TestProcess.vigil(["stop", "stoppable", "--log-dir", logs])
        #expect(again.exitCode() == 66)
        #expect(again.stderr.contains("is not live"))
    }

    @Test("the run directory is 0700 and its logs and journal 0600; never written through a symlink")
    func fileModes() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy("{}")
        let vigil = try vigil("private", policy: policy, ["--steps", "1"])
        #expect(vigil.exitCode() == 0)
        #expect(mode("\(logs)/private") == 0o700)
        #expect(mode("\(logs)/private/journal.json") == 0o600)
        #expect(mode("\(logs)/private/attempt-001.log") == 0o600)
        try FileManager.default.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
        symlink(dir + "/elsewhere", "\(logs)/linked")
        let linked = try self.vigil("linked", policy: policy, ["--steps", "1"])
        #expect(linked.exitCode() == 1)
        #expect(linked.stderr.contains("symbolic link"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/elsewhere").isEmpty)
    }

    @Test("metrics from two attempts land in one metrics.jsonl, in order, with the restart visible")
    func metrics() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(
            """
            {
              restart: { backoff: { initial: "10ms" } },
              output: { progress: "step (?<step>\\\\d+)/(?<total>\\\\d+)", metrics: ["loss=(?<loss>[0-9.]+)"] },
            }
            """)
        let vigil = try vigil(
            "curve", policy: policy,
            [
                "--steps", "6", "--crash-at", "4", "--crash-times", "1", "--state-file", dir + "/state",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let lines = TestSupport.read("\(logs)/curve/metrics.jsonl").split(separator: "\n")
        let records = try lines.map {
            try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let points = records.map { ($0["attempt"] as? Int ?? 0, $0["step"] as? Int ?? 0) }
        // Attempt 1 reached step 4 and crashed; attempt 2 resumed after its checkpoint (step 3).
        #expect(points.map(\.0) == [1, 1, 1, 1, 2, 2, 2])
        #expect(points.map(\.1) == [1, 2, 3, 4, 4, 5, 6])
        let losses = records.compactMap { ($0["values"] as? [String: Any])?["loss"] as? Double }
        #expect(losses.count == 7)
        #expect(records.allSatisfy { ($0["total"] as? Int) == 6 && $0["time"] is String })
    }

    @Test(
        "the status line shows attempt, progress with percent and ETA, the clock, the checkpoint and the last failure")
    func statusLineText() {
        let now = Date(timeIntervalSince1970: 10_000)
        let text = StatusLine.render(
            attempt: 2, maxAttempts: 4, step: 150, total: 300, attemptStarted: now.addingTimeInterval(-60),
            invocationStarted: now.addingTimeInterval(-600), deadline: now.addingTimeInterval(3000),
            lastCheckpoint: (name: "model_ep140.pt", modified: now.addingTimeInterval(-90)), lastFailure: "CUDA OOM",
            now: now)
        #expect(
            text
                == "vigil: attempt 2/4 · [##########..........] 150/300 50% ETA 1m · 10m / 1h · ckpt model_ep140.pt 1m30s ago · last failure: CUDA OOM"
        )
        #expect(StatusLine(environment: [:]) == nil, "no status line when stderr is not a terminal")
    }

    @Test("a crash, a repair and a success: the attempt report's fields match the journal")
    func reportsMatchJournal() throws {
        defer { TestSupport.remove(dir) }
        let config = dir + "/config.json"
        try "{\n  \"training\": {\"batch_size\": 32}\n}\n".write(toFile: config, atomically: true, encoding: .utf8)
        let policy = try policy(
            """
            {
              extends: "python",
              restart: { backoff: { initial: "10ms" } },
              config: { roles: { batchSize: "training.batch_size" } },
            }
            """)
        let vigil = try vigil(
            "reported", policy: policy, ["--config", config, "--fail-while", "training.batch_size>16"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "reported")
        let attempt = journal.attempts[0]
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(logs)/reported/attempt-001.report.json"))
        let report = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(report["runID"] as? String == journal.runID)
        #expect(report["attempt"] as? Int == 1)
        #expect(report["argv"] as? [String] == attempt.argv)
        #expect((report["exit"] as? [String: Any])?["code"] as? Int == 1)
        let verdict = try #require(report["verdict"] as? [String: Any])
        #expect(verdict["class"] as? String == attempt.verdict?.verdict.rawValue)
        #expect(verdict["rule"] as? String == "memory-error")
        #expect(verdict["reason"] as? String == attempt.verdict?.reason)
        #expect((report["exception"] as? [String: Any])?["type"] as? String == "MemoryError")
        #expect(report["repairs"] as? [String] == attempt.repairs?.map(\.line))
        #expect(report["repairs"] as? [String] == ["training.batch_size: 32 → 16"])
        #expect(report["startedAt"] as? String == Journal.timestamp(attempt.startedAt))
        // The run decided the backoff before the report was written: both say the same.
        let backoff = try #require(attempt.backoffSeconds, "the journal records the backoff")
        let reported = try #require(report["backoffSeconds"] as? Double, "the report shows the backoff")
        #expect(abs(reported - backoff) < 1e-12, "\(reported) vs \(backoff)")
        let markdown = TestSupport.read("\(logs)/reported/attempt-001.report.md")
        #expect(
            markdown.contains("Waited \(AttemptReport.Format.duration(backoff)) before the next attempt."),
            "\(markdown)")
        #expect(markdown.contains("MemoryError") && markdown.contains("training.batch_size: 32 → 16"))
        #expect(mode("\(logs)/reported/attempt-001.report.json") == 0o600)
        #expect(
            !FileManager.default.fileExists(atPath: "\(logs)/reported/attempt-002.report.json"),
            "success has no error report")
        let summary = TestSupport.read("\(logs)/reported/report.md")
        #expect(summary.contains("memory-error") && summary.contains("training.batch_size: 32 → 16"))
        #expect(vigil.stderr.contains(journal.run))
    }

    @Test("secrets in output and environment appear in no report or summary; the redaction is visible")
    func redaction() throws {
        defer { TestSupport.remove(dir) }
        var environment = ProcessInfo.processInfo.environment
        environment["WANDB_API_KEY"] = "wandb-secret-0123456789"
        let policy = try policy(#"{ restart: { maxRetries: 0 }, redact: ["acct-[0-9]{6}"] }"#)
        let vigil = try TestProcess.vigil(
            [
                "run", "--name", "secret", "--log-dir", logs, "--checkpoint-dir", checkpoints, "--policy", policy, "--",
                TestSupport.python, TestSupport.fixtureTrainer, "--say", "API_KEY=sk-123", "--say",
                #"{"password": "hunter2"}"#,
                "--say", "billing acct-424242", "--show-env", "WANDB_API_KEY", "--crash-at", "1",
                "--message", "login failed with password=hunter2",
            ],
            environment: environment)
        #expect(vigil.exitCode() == 2, "\(vigil.output)")
        let files = ["attempt-001.report.json", "attempt-001.report.md", "report.md"]
        for file in files {
            let text = TestSupport.read("\(logs)/secret/\(file)")
            #expect(!text.isEmpty, "\(file) missing")
            for secret in ["sk-123", "hunter2", "wandb-secret-0123456789", "acct-424242"] {
                #expect(!text.contains(secret), "\(file) leaks \(secret)")
            }
            #expect(text.contains("[REDACTED]"), "\(file) shows no redaction")
        }
    }
}

/// `vigil status` and `vigil report` against real runs.
@Suite("Status and report, end to end", .serialized, .timeLimit(.minutes(2)))
struct StatusEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-status")
    }

    func vigil(
        _ name: String, _ vigilArgs: [String] = [], _ trainerArgs: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> TestProcess {
        try TestProcess.vigil(
            ["run", "--name", name, "--log-dir", logs, "--checkpoint-dir", dir + "/ckpt"] + vigilArgs
                + ["--", TestSupport.python, TestSupport.fixtureTrainer] + trainerArgs, environment: environment)
    }

    @Test("status --json from a second process shows the live attempt; --check: ok, stale, failed")
    func liveStatus() throws {
        defer { TestSupport.remove(dir) }
        let live = try vigil("live", [], ["--steps", "3", "--hang-at", "1"])
        #expect(live.waitForLine(containing: "hanging"))
        let status = try TestProcess.vigil(["status", "live", "--log-dir", logs, "--json"])
        #expect(status.exitCode() == 0, "\(status.output)")
        let json = try #require(JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(json["state"] as? String == "running")
        let attempt = try #require(json["liveAttempt"] as? [String: Any])
        #expect(attempt["number"] as? Int == 1)
        let journal = try TestSupport.journal(logs, "live")
        #expect(attempt["pid"] as? Int == Int(journal.attempts[0].pid ?? 0))
        #expect(try TestProcess.vigil(["status", "live", "--log-dir", logs, "--check"]).exitCode() == 0)
        // Nothing printed for a while: stale. (The log's time is moved back rather than waited for.)
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -3600)],
            ofItemAtPath: "\(logs)/live/attempt-001.log")
        let stale = try TestProcess.vigil(["status", "live", "--log-dir", logs, "--check", "--stale-after", "10m"])
        #expect(stale.exitCode() == 3, "\(stale.output)")
        live.send(.terminate)
        #expect(live.exitCode() == 75)

        let failed = try vigil(
            "failed", ["--max-retries", "0"], ["--crash-at", "1", "--exception", "ModuleNotFoundError"])
        #expect(failed.exitCode() == 2)  // gave up: the default policy retries an import error
        let check = try TestProcess.vigil(["status", "failed", "--log-dir", logs, "--check"])
        #expect(check.exitCode() == 1, "\(check.output)")
        let list = try TestProcess.vigil(["status", "--log-dir", logs])
        #expect(list.exitCode() == 0)
        #expect(list.stdout.contains("live") && list.stdout.contains("failed"))
    }

    @Test("status and the HTML report show no secret; the HTML has one timeline bar per attempt")
    func redactedStatusAndHTML() throws {
        defer { TestSupport.remove(dir) }
        var environment = ProcessInfo.processInfo.environment
        environment["WANDB_API_KEY"] = "wandb-secret-0123456789"
        let policy = dir + "/redacting.json5"
        try #"{ redact: ["acct-[0-9]{6}"] }"#.write(toFile: policy, atomically: true, encoding: .utf8)
        let run = try vigil(
            "secret", ["--max-retries", "1", "--backoff", "10ms", "--policy", policy],
            [
                "--say", "billing acct-424242", "--say", "API_KEY=sk-123", "--say", #"{"password": "hunter2"}"#,
                "--show-env", "WANDB_API_KEY",
                "--crash-at", "1", "--message", "password=hunter2 rejected", "--crash-times", "1", "--state-file",
                dir + "/state",
            ], environment: environment)
        #expect(run.exitCode() == 0, "\(run.output)")
        let status = try TestProcess.vigil(["status", "secret", "--log-dir", logs, "--json"], environment: environment)
        #expect(status.exitCode() == 0)
        let html = dir + "/report.html"
        let report = try TestProcess.vigil(
            ["report", "secret", "--log-dir", logs, "--html", html], environment: environment)
        #expect(report.exitCode() == 0, "\(report.output)")
        let page = TestSupport.read(html)
        for text in [status.stdout, page] {
            for secret in ["sk-123", "hunter2", "wandb-secret-0123456789", "acct-424242"] {
                #expect(!text.contains(secret), "leaks \(secret)")
            }
        }
        #expect(page.contains("[REDACTED]"))
        #expect(page.components(separatedBy: "class=\"attempt").count - 1 >= 2)
        for reference in ["src=", "href=\"http", "url(http", "@import"] {
            #expect(!page.contains(reference), "the report loads nothing from the network (\(reference))")
        }
    }
}
