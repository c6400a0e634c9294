import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// Verdicts as `vigil run` reaches them with real trainers, and `vigil policy` agreeing with it.
@Suite("Classification, end to end", .serialized, .timeLimit(.minutes(2)))
struct ClassificationEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-classify")
    }

    func run(_ name: String, policy: String = "python", _ trainerArgs: [String]) throws -> TestProcess {
        try TestProcess.vigil(
            [
                "run", "--name", name, "--log-dir", logs, "--checkpoint-dir", dir + "/ckpt", "--policy", policy,
                "--backoff", "0.05s", "--max-retries", "2",
                "--", TestSupport.python, TestSupport.fixtureTrainer,
            ] + trainerArgs)
    }

    @Test("ModuleNotFoundError: one attempt, exit 1, the verdict names the rule and the exception")
    func unrecoverableImport() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try run(
            "import",
            [
                "--crash-at", "1", "--exception", "ModuleNotFoundError",
                "--message", "No module named 'torchvision'",
            ])
        #expect(vigil.exitCode() == 1, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "import")
        #expect(journal.state == .failed)
        #expect(journal.attempts.count == 1)
        let verdict = try #require(journal.attempts[0].verdict)
        #expect(verdict.verdict == .unrecoverable)
        #expect(verdict.rule == "import-error")
        #expect(verdict.reason.contains("ModuleNotFoundError: No module named 'torchvision'"))
        #expect(vigil.stderr.contains("unrecoverable [import-error]"))
    }

    @Test("a recoverable Python error is restarted and the run completes")
    func recoverableRestarted() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try run(
            "value",
            [
                "--steps", "3", "--crash-at", "2", "--exception", "ValueError", "--chained",
                "--crash-times", "1", "--state-file", dir + "/state",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let attempts = try TestSupport.journal(logs, "value").attempts
        #expect(attempts.count == 2)
        #expect(attempts[0].verdict?.rule == "data-error")
        #expect(attempts[0].verdict?.exception?.type == "ValueError")
    }

    @Test("a SIGKILL from outside with no OOM evidence: killed from outside, retried, the batch size left alone")
    func outsideSigkill() throws {
        defer { TestSupport.remove(dir) }
        let pidFile = dir + "/pids"
        let config = dir + "/config.yaml"
        try "training:\n  batch_size: 64\n".write(toFile: config, atomically: true, encoding: .utf8)
        let policyFile = dir + "/roles.json5"
        try """
        { extends: "pytorch", config: { roles: { batchSize: "training.batch_size" } },
          restart: { backoff: { initial: "10ms" } } }
        """.write(toFile: policyFile, atomically: true, encoding: .utf8)
        let vigil = try run(
            "killed", policy: policyFile,
            [
                "--config", config, "--steps", "3", "--hang-at", "1", "--hang-times", "1",
                "--state-file", dir + "/state", "--pid-file", pidFile,
            ])
        #expect(vigil.waitForLine(containing: "hanging"))
        let trainer = try #require(TestSupport.pids(in: pidFile).first)
        kill(trainer, SIGKILL)
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let first = try #require(try TestSupport.journal(logs, "killed").attempts.first)
        #expect(first.exit == .signaled(.kill))
        #expect(first.verdict?.rule == "killed-from-outside", "\(String(describing: first.verdict))")
        #expect(first.repairs == nil)
        #expect(TestSupport.read(config) == "training:\n  batch_size: 64\n", "a foreign kill repairs nothing")
    }

    @Test("`vigil policy explain` decides exactly as `vigil run` did on the same log")
    func explainAgreesWithRun() throws {
        defer { TestSupport.remove(dir) }
        let cases: [(String, [String])] = [
            (
                "oom",
                [
                    "--crash-at", "1", "--exception", "torch.cuda.OutOfMemoryError", "--message",
                    "CUDA out of memory. Tried to allocate 2.00 GiB",
                ]
            ),
            ("chained", ["--crash-at", "1", "--exception", "FileNotFoundError", "--chained"]),
            ("exit3", ["--crash-at", "1", "--exit-code", "3"]),
            ("segv", ["--crash-at", "1", "--signal-self", "SEGV"]),
        ]
        for (name, args) in cases {
            let vigil = try run(name, policy: "pytorch", ["--stderr-lines", "2"] + args)
            _ = vigil.exitCode()
            let attempt = try #require(try TestSupport.journal(logs, name).attempts.first)
            let status: [String]
            switch try #require(attempt.exit) {
            case .exited(let code): status = ["--exit-code", String(code)]
            case .signaled(let signal): status = ["--signal", signal.name]
            }
            let explain = try TestProcess.vigil(
                [
                    "policy", "explain", "--policy", "pytorch",
                    "--log", "\(logs)/\(name)/\(attempt.log)",
                ] + status)
            #expect(explain.exitCode() == 0)
            let verdict = try #require(attempt.verdict)
            #expect(explain.stdout.contains("class:  \(verdict.verdict.rawValue)"), "\(name): \(explain.output)")
            #expect(explain.stdout.contains("rule:   \(verdict.rule)"), "\(name): \(explain.output)")
            #expect(explain.stdout.contains("reason: \(verdict.reason)"), "\(name): \(explain.output)")
        }
    }

    @Test("a malformed policy stops vigil before anything runs: exit 78 naming file and key")
    func malformedPolicyRunsNothing() throws {
        defer { TestSupport.remove(dir) }
        let cases: [(String, String)] = [
            (
                "{ restart: { maxRetires: 3 } }",
                "restart.maxRetires: unknown key 'maxRetires' (did you mean 'maxRetries'?)"
            ),
            (
                "{ restart: { maxRetries: \"three\" } }",
                "restart.maxRetries: expected an integer from 0 to 1000, got a string"
            ),
            ("{\n  restart: {\n    maxRetries: 3\n    backoff: {},\n  },\n}", "syntax error at line 4"),
            (
                "{ rules: [ { name: \"x\", class: \"recoverable\", output: [\"(unclosed\"] } ] }",
                "rule 'x': invalid regular expression"
            ),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let path = "\(dir)/bad-\(index).json5"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let marker = "\(dir)/ran-\(index)"
            let vigil = try TestProcess.vigil([
                "run", "--log-dir", logs, "--policy", path, "--",
                "/usr/bin/touch", marker,
            ])
            #expect(vigil.exitCode() == 78, "\(vigil.output)")
            #expect(vigil.stderr.contains(path), "\(vigil.stderr)")
            #expect(vigil.stderr.contains(message), "\(vigil.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker), "the trainer ran despite a bad policy")
            let check = try TestProcess.vigil(["policy", "check", path])
            #expect(check.exitCode() == 78)
        }
        #expect(!FileManager.default.fileExists(atPath: logs))
    }

    @Test("`vigil policy check` prints the resolved policy with its layers")
    func policyCheck() throws {
        defer { TestSupport.remove(dir) }
        let check = try TestProcess.vigil(["policy", "check", "pytorch"])
        #expect(check.exitCode() == 0, "\(check.output)")
        #expect(check.stdout.contains("pytorch: valid"))
        #expect(check.stdout.contains("\"name\": \"cuda-oom\""))
        #expect(check.stdout.contains("\"name\": \"any-failure\""))
        let missing = try TestProcess.vigil(["policy", "check", dir + "/missing.json5"])
        #expect(missing.exitCode() == 66)
    }
}
