import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// `--termination-log`: where the line goes (the flag; Kubernetes' default only inside a pod and when
/// writable), what it says (redacted, one line, at most 4096 bytes), written once at exit.
@Suite("Termination log", .serialized, .timeLimit(.minutes(1)))
struct TerminationLogTests {
    let dir: String

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-termlog")
    }

    @Test("the flag wins; else the default path only inside Kubernetes, and only when it can be written")
    func path() throws {
        defer { TestSupport.remove(dir) }
        let writable = dir + "/termination-log"
        #expect(FileManager.default.createFile(atPath: writable, contents: Data()))
        let pod = ["KUBERNETES_SERVICE_HOST": "10.96.0.1"]
        #expect(TerminationLog.path(flag: "/x/y", environment: [:], defaultPath: writable) == "/x/y")
        #expect(TerminationLog.path(flag: nil, environment: [:], defaultPath: writable) == nil)
        #expect(TerminationLog.path(flag: nil, environment: pod, defaultPath: writable) == writable)
        #expect(
            TerminationLog.path(flag: nil, environment: ["KUBERNETES_SERVICE_HOST": ""], defaultPath: writable) == nil)
        #expect(TerminationLog.path(flag: nil, environment: pod, defaultPath: dir + "/missing") == nil)
        #expect(TerminationLog.path(flag: nil, environment: pod, defaultPath: dir) == nil, "a directory")
        #expect(TerminationLog.kubernetesPath == "/dev/termination-log")
    }

    func journal(reason: String) -> Journal {
        var journal = Journal(run: "r", runID: "id", command: ["t"], workingDirectory: "/", policy: "p", now: Date())
        var attempt = Journal.Attempt(number: 1, argv: ["t"], startedAt: Date(), supervisorPID: 1, log: "a.log")
        attempt.verdict = Verdict(verdict: .ignore, rule: "stopped-by-vigil", reason: "vigil received SIGTERM")
        journal.attempts = [attempt]
        journal.outcome = Journal.RunOutcome(exitCode: 75, reason: reason)
        var invocation = Journal.Invocation(pid: 1, host: "h", startedAt: Date())
        invocation.requeue = Journal.Requeue(
            job: "12", at: Date(), requeued: true, result: "requeued", counted: false, attempts: 1)
        journal.invocations = [invocation]
        return journal
    }

    @Test("one line: exit code and its meaning, verdict, rule, reason, the requeue; redacted; at most 4 KiB")
    func line() throws {
        defer { TestSupport.remove(dir) }
        let redactor = try Redactor(environment: ["WANDB_API_KEY": "sekrit-value-123"], extraPatterns: [])
        let text = TerminationLog.line(
            exitCode: 75, journal: journal(reason: "stopped\nwith sekrit-value-123 \u{1b}[31m"), error: nil,
            redactor: redactor)
        #expect(
            text.hasPrefix(
                "exit 75 (stopped, resumable: run it again) | verdict: ignore | rule: stopped-by-vigil | reason: stopped"
            ))
        #expect(text.hasSuffix("| slurm: requeued job 12"))
        #expect(!text.contains("sekrit") && text.contains("[REDACTED]"))
        #expect(!text.contains("\n") && !text.contains("\u{1b}"))
        let error = TerminationLog.line(
            exitCode: 66, journal: nil, error: "policy not found: 'nope'", redactor: redactor)
        #expect(error == "exit 66 (not found: fix the path) | reason: policy not found: 'nope'")
        let long = TerminationLog.line(
            exitCode: 1, journal: journal(reason: String(repeating: "é", count: 5000)), error: nil, redactor: redactor)
        #expect(long.utf8.count <= TerminationLog.maxBytes - 1 && long.hasSuffix("…"))
        for code in ExitCode.allCases {
            #expect(!TerminationLog.meaning(of: code.rawValue).hasPrefix("exit"), "exit \(code.rawValue) has words")
        }
    }

    @Test("writing truncates what the file held")
    func write() throws {
        defer { TestSupport.remove(dir) }
        let file = dir + "/log"
        try String(repeating: "old ", count: 100).write(toFile: file, atomically: false, encoding: .utf8)
        try TerminationLog.write("exit 0 (succeeded)", to: file)
        #expect(TestSupport.read(file) == "exit 0 (succeeded)\n")
    }

    @Test("vigil run --termination-log: the line at exit, for a success, a failure and a missing policy")
    func endToEnd() throws {
        defer { TestSupport.remove(dir) }
        let file = dir + "/termination-log"
        func run(
            _ extra: [String], _ trainer: [String], environment: [String: String] = TestSupport.hermeticEnvironment
        )
            throws -> (Int32?, String)
        {
            let vigil = try TestProcess.vigil(
                ["run", "--log-dir", dir + "/logs", "--termination-log", file] + extra
                    + ["--", TestSupport.python, TestSupport.fixtureTrainer, "--checkpoint-dir", dir + "/ckpt"]
                    + trainer, environment: environment)
            let code = vigil.exitCode()
            return (code, TestSupport.read(file))
        }
        let (ok, success) = try run(["--name", "ok"], ["--steps", "2"])
        #expect(ok == 0)
        #expect(success.hasPrefix("exit 0 (succeeded) | verdict: success | rule: exit-0 | reason: "), "\(success)")
        var environment = TestSupport.hermeticEnvironment
        environment["MY_API_TOKEN"] = "tok-9f8e7d6c5b4a"
        let (failed, failure) = try run(
            ["--name", "bad", "--max-retries", "0"],
            ["--steps", "3", "--crash-at", "1", "--message-env", "MY_API_TOKEN"], environment: environment)
        #expect(failed == 2)
        #expect(failure.hasPrefix("exit 2 (gave up, retries exhausted: do not retry) | verdict: recoverable"))
        #expect(failure.contains("[REDACTED]") && !failure.contains("tok-9f8e7d6c5b4a"), "\(failure)")
        #expect(failure.filter { $0 == "\n" }.count == 1 && failure.hasSuffix("\n"))
        let (missing, notFound) = try run(["--policy", dir + "/nope.json5"], ["--steps", "1"])
        #expect(missing == 66)
        #expect(notFound.hasPrefix("exit 66 (not found: fix the path) | reason: "), "\(notFound)")
    }
}
