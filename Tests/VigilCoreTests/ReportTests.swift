import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Reports and redaction")
struct ReportTests {
    static let environment = [
        "WANDB_API_KEY": "wandb-0123456789abcdef",
        "HF_TOKEN": "hf_secretvalue",
        "TOKENIZERS_PARALLELISM": "false",
        "SHORT_KEY": "abc",
        "HOME": "/home/trainer",
    ]

    static func redactor() throws -> Redactor {
        try Redactor(environment: environment, extraPatterns: [#"sk-live-[A-Za-z0-9]+"#, "internal\\.example\\.com"])
    }

    @Test(
        "secrets are replaced visibly and everything else is left alone",
        arguments: [
            ("API_KEY=sk-123", "API_KEY=[REDACTED]"),
            (#"{"password": "hunter2", "lr": 0.1}"#, #"{"password": "[REDACTED]", "lr": 0.1}"#),
            ("{'token': 'abc', 'epochs': 3}", "{'token': '[REDACTED]', 'epochs': 3}"),
            ("python3 train.py --api-key xyz --epochs 3", "python3 train.py --api-key [REDACTED] --epochs 3"),
            ("--api-key=xyz --lr=0.1", "--api-key=[REDACTED] --lr=0.1"),
            ("db_password: letmein", "db_password: [REDACTED]"),
            (#"{"api_key":"abc","n":1}"#, #"{"api_key":"[REDACTED]","n":1}"#),
            ("password= ", "password= "),
            ("Authorization: Bearer abc.def", "Authorization: [REDACTED]"),
            ("logging in with wandb-0123456789abcdef", "logging in with [REDACTED]"),
            ("hf=hf_secretvalue!", "hf=[REDACTED]!"),
            ("export SECRET_ACCESS=\"quoted value\"", "export SECRET_ACCESS=\"[REDACTED]\""),
            ("key sk-live-AbC123 in use", "key [REDACTED] in use"),
            ("fetching internal.example.com/data", "fetching [REDACTED]/data"),
            ("epoch 3: loss=0.25 batch_size=64", "epoch 3: loss=0.25 batch_size=64"),
            ("max_new_tokens=512 tokenizer: gpt2", "max_new_tokens=512 tokenizer: gpt2"),
            ("KeyError: 'labels'", "KeyError: 'labels'"),
            ("parallel=false abc", "parallel=false abc"),
            ("step 10/100 lr: 0.001", "step 10/100 lr: 0.001"),
            ("note: API_KEY=sk-123", "note: API_KEY=[REDACTED]"),
        ])
    func redaction(input: String, expected: String) throws {
        #expect(try ReportTests.redactor().redact(input) == expected)
    }

    @Test("secret-looking names")
    func secretNames() {
        for name in [
            "WANDB_API_KEY", "hf_token", "AWS_SECRET_ACCESS_KEY", "db-passwd", "Credentials", "private_key",
            "Authorization", "author_token",
        ] {
            #expect(Redactor.isSecretName(name), "\(name)")
        }
        for name in [
            "batch_size", "lr", "TOKENIZERS_PARALLELISM", "num_tokens", "KeyError", "author", "HOME", "VIGIL_JOB_KEY",
            "VIGIL_MATRIX_TOKEN", "monkey", "UserWarning", "max_new_tokens",
        ] {
            #expect(!Redactor.isSecretName(name), "\(name)")
        }
    }

    @Test("a command line loses the value after a secret flag and inside secret assignments")
    func argvRedaction() throws {
        let argv = ["python3", "train.py", "--api-key", "xyz", "--epochs", "3", "--token=abc", "PASSWORD=pw12"]
        #expect(
            try ReportTests.redactor().redact(argv: argv) == [
                "python3", "train.py", "--api-key", "[REDACTED]", "--epochs", "3", "--token=[REDACTED]",
                "PASSWORD=[REDACTED]",
            ])
    }

    @Test("an invalid policy pattern is a policy error naming the redact key")
    func invalidPattern() {
        #expect {
            try Redactor(environment: [:], extraPatterns: ["(unclosed"])
        } throws: { error in
            guard let error = error as? VigilError else { return false }
            return error.code == .invalidPolicy && error.key == "redact"
        }
    }

    // MARK: - Attempt reports

    static let start = Date(timeIntervalSince1970: 1_795_000_000.5)

    static let traceback = [
        "Traceback (most recent call last):",
        "  File \"/w/train.py\", line 12, in <module>",
        "    step(batch)",
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
    ]

    /// A run with a crash (no progress), a repair, a crash after a checkpoint, and a success.
    static func journal() -> Journal {
        var journal = Journal(
            run: "train-1", runID: "run-abc", command: ["python3", "train.py", "--api-key", "xyz"],
            workingDirectory: "/w", policy: "pytorch", now: start)
        var first = Journal.Attempt(
            number: 1, argv: ["python3", "train.py", "--api-key", "xyz"], startedAt: start, supervisorPID: 7,
            log: "attempt-001.log")
        first.endedAt = start.addingTimeInterval(100)
        first.exit = .exited(1)
        first.madeProgress = false
        first.verdict = Verdict(
            verdict: .recoverable, rule: "cuda-oom", reason: "CUDA out of memory (API_KEY=sk-123)",
            exception: PythonException(
                type: "RuntimeError", message: "CUDA out of memory. Tried to allocate 2.00 GiB",
                traceback: traceback.joined(separator: "\n")))
        first.repairs = [RepairRecord(key: "training.batch_size", before: "64", after: "32", reason: "cuda-oom")]
        first.backoffSeconds = 5

        var second = Journal.Attempt(
            number: 2, argv: ["python3", "train.py", "--api-key", "xyz", "--resume", "ckpt/step-100.pt"],
            startedAt: start.addingTimeInterval(110), supervisorPID: 7, log: "attempt-002.log")
        second.resumeFrom = "ckpt/step-100.pt"
        second.resumeStep = 100
        second.endedAt = start.addingTimeInterval(410)
        second.exit = .signaled(.kill)
        second.signalsSent = [
            Journal.SentSignal(signal: "TERM", at: start.addingTimeInterval(400), reason: "stall"),
            Journal.SentSignal(signal: "KILL", at: start.addingTimeInterval(405), reason: "stall"),
        ]
        second.stopEvents = [
            Journal.StopEvent(at: start.addingTimeInterval(400), event: "SIGTERM to the group"),
            Journal.StopEvent(at: start.addingTimeInterval(405), event: "SIGKILL after 5s"),
        ]
        second.stopReason = "no output for 300s"
        second.stopCause = "stall"
        second.stackDump = "Thread 0x1 (most recent call first):\n  File \"/w/data.py\", line 3 in load"
        second.checkpointAfter = "ckpt/step-200.pt"
        second.madeProgress = true
        second.quarantined = [
            CheckpointStore.Quarantined(
                name: "step-150.pt", step: 150, reason: "truncated", movedTo: ".quarantine/step-150.pt")
        ]
        second.verdict = Verdict(verdict: .recoverable, rule: "stalled", reason: "no output for 300s")

        var third = Journal.Attempt(
            number: 3, argv: ["python3", "train.py", "--api-key", "xyz", "--resume", "ckpt/step-200.pt"],
            startedAt: start.addingTimeInterval(420), supervisorPID: 7, log: "attempt-003.log")
        third.resumeFrom = "ckpt/step-200.pt"
        third.endedAt = start.addingTimeInterval(1020)
        third.exit = .exited(0)
        third.madeProgress = true
        third.checkpointAfter = "ckpt/step-500.pt"
        third.preserved = ["step-300.pt"]
        third.verdict = Verdict(verdict: .success, rule: "exit-0", reason: "exit code 0")

        journal.attempts = [first, second, third]
        journal.schemaRepairs = [RepairRecord(key: "training.lr", before: "5", after: "1", reason: "schema")]
        journal.state = .succeeded
        journal.outcome = Journal.RunOutcome(exitCode: 0, reason: "the trainer finished")
        return journal
    }

    static let tail = OutputTail(
        stdout: [
            "epoch 1 batch_size=64", "API_KEY=sk-123", #"{"password": "hunter2"}"#, "logged in wandb-0123456789abcdef",
        ],
        stderr: ["warming up"] + traceback)

    @Test("an attempt report's fields match the journal's attempt")
    func attemptReportFields() throws {
        let journal = ReportTests.journal()
        let redactor = try ReportTests.redactor()
        let first = AttemptReport.make(
            journal: journal, attempt: journal.attempts[0], tail: ReportTests.tail, tailLines: 3, host: "gpu-7",
            version: "0.1.0", redactor: redactor)
        #expect(first.run == "train-1" && first.runID == "run-abc" && first.attempt == 1)
        #expect(first.argv == ["python3", "train.py", "--api-key", "[REDACTED]"])
        #expect(first.workingDirectory == "/w" && first.host == "gpu-7" && first.vigilVersion == "0.1.0")
        #expect(first.startedAt == journal.attempts[0].startedAt && first.endedAt == journal.attempts[0].endedAt)
        #expect(first.durationSeconds == 100)
        #expect(first.exit?.code == 1 && first.exit?.signal == nil && first.exit?.signalSentByVigil == false)
        #expect(first.verdict?.verdict == .recoverable && first.verdict?.rule == "cuda-oom")
        #expect(first.verdict?.reason == "CUDA out of memory (API_KEY=[REDACTED])")
        #expect(first.exception?.type == "RuntimeError")
        #expect(first.exception?.traceback?.contains("line 12, in <module>") == true)
        #expect(first.repairs == ["training.batch_size: 64 → 32"])
        #expect(first.resumeFrom == nil && first.checkpointAfter == nil && first.madeProgress == false)
        #expect(
            first.outputTail.stdout == ["API_KEY=[REDACTED]", #"{"password": "[REDACTED]"}"#, "logged in [REDACTED]"])
        #expect(first.outputTail.stderr.count == 3 && first.outputTail.stderr.last == ReportTests.traceback.last)
        #expect(first.backoffSeconds == 5 && first.log == "attempt-001.log")

        let second = AttemptReport.make(
            journal: journal, attempt: journal.attempts[1], tail: OutputTail(), tailLines: 50, host: "gpu-7",
            version: "0.1.0", redactor: redactor)
        #expect(second.exit?.signal == "KILL" && second.exit?.signalSentByVigil == true)
        #expect(second.exit?.description == "killed by SIGKILL (sent by vigil)")
        #expect(second.resumeFrom == "ckpt/step-100.pt" && second.resumeStep == 100)
        #expect(second.checkpointAfter == "ckpt/step-200.pt")
        #expect(second.quarantined == [AttemptReport.QuarantinedCheckpoint(name: "step-150.pt", reason: "truncated")])
        #expect(second.stopEvents == journal.attempts[1].stopEvents)
        #expect(second.signalsSent.map(\.signal) == ["TERM", "KILL"])
        #expect(second.stopReason == "no output for 300s" && second.stopCause == "stall")
        #expect(second.stackDump == journal.attempts[1].stackDump)
        #expect(second.exception == nil)
    }

    @Test("the Markdown report shows the headline, the traceback and what vigil did, and no secret")
    func attemptMarkdown() throws {
        let journal = ReportTests.journal()
        let report = AttemptReport.make(
            journal: journal, attempt: journal.attempts[0], tail: ReportTests.tail, tailLines: 10, host: "gpu-7",
            version: "0.1.0", redactor: try ReportTests.redactor())
        let markdown = report.markdown()
        #expect(markdown.hasPrefix("# Attempt 1 of `train-1`: recoverable (cuda-oom)\n"))
        #expect(markdown.contains("**RuntimeError**: CUDA out of memory"))
        #expect(markdown.contains("```text\nTraceback (most recent call last):\n  File \"/w/train.py\", line 12"))
        #expect(markdown.contains("- Repaired training.batch_size: 64 → 32."))
        #expect(markdown.contains("| Exit | exit code 1 |"))
        #expect(markdown.contains("[REDACTED]"))
        #expect(markdown.hasSuffix("```\n") && !markdown.hasSuffix("\n\n"))
        for secret in ["sk-123", "hunter2", "wandb-0123456789abcdef", "xyz"] {
            #expect(!markdown.contains(secret), "\(secret) leaked")
            #expect(!String(decoding: try report.encoded(), as: UTF8.self).contains(secret), "\(secret) leaked")
        }
    }

    @Test("reports are written as JSON and Markdown, mode 0600, JSON timestamps as in the journal")
    func attemptWrite() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let journal = ReportTests.journal()
        let report = AttemptReport.make(
            journal: journal, attempt: journal.attempts[1], tail: ReportTests.tail, tailLines: 5, host: "gpu-7",
            version: "0.1.0", redactor: try ReportTests.redactor())
        try report.write(to: dir)
        for name in ["attempt-002.report.json", "attempt-002.report.md"] {
            var info = stat()
            #expect(stat(dir + "/" + name, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600, "\(name)")
        }
        let json = TestSupport.read(dir + "/attempt-002.report.json")
        #expect(json.contains(#""startedAt" : "\#(Journal.timestamp(journal.attempts[1].startedAt))""#))
        let decoded = try Journal.decoder.decode(
            AttemptReport.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/attempt-002.report.json")))
        #expect(decoded == report)
        #expect(TestSupport.read(dir + "/attempt-002.report.md") == report.markdown())
    }

    // MARK: - Run summary

    @Test("the run summary adds up time used and time lost to failures")
    func summaryNumbers() throws {
        let summary = RunSummary(journal: ReportTests.journal(), redactor: try ReportTests.redactor())
        #expect(summary.state == .succeeded && summary.outcome?.exitCode == 0)
        #expect(summary.attempts.map(\.number) == [1, 2, 3])
        #expect(summary.attempts.map(\.verdict) == [.recoverable, .recoverable, .success])
        #expect(summary.attempts.map(\.durationSeconds) == [100, 300, 600])
        #expect(summary.attempts[1].exit == "killed by SIGKILL (sent by vigil)")
        #expect(summary.timeUsedSeconds == 1000)
        // Attempt 1 made no progress: lost whole. Attempt 2 saved a checkpoint: reported apart.
        #expect(summary.timeLostSeconds == 100)
        #expect(summary.failedWithProgress == 1 && summary.failedWithProgressSeconds == 300)
        #expect(summary.repairs == ["training.lr: 5 → 1", "training.batch_size: 64 → 32"])
        #expect(summary.latestCheckpoint == "ckpt/step-500.pt" && summary.preserved == ["step-300.pt"])
        #expect(summary.command == ["python3", "train.py", "--api-key", "[REDACTED]"])
        #expect(summary.attempts[0].reason == "CUDA out of memory (API_KEY=[REDACTED])")
    }

    @Test("a live attempt counts toward time used up to now, and toward no loss")
    func summaryLive() throws {
        var journal = ReportTests.journal()
        journal.attempts[2].endedAt = nil
        journal.attempts[2].exit = nil
        journal.attempts[2].verdict = nil
        journal.state = .running
        journal.outcome = nil
        let summary = RunSummary(
            journal: journal, redactor: .namesOnly, now: ReportTests.start.addingTimeInterval(470))
        #expect(summary.timeUsedSeconds == 450)
        #expect(summary.timeLostSeconds == 100)
        #expect(summary.headline == "running, 3 attempts so far")
        #expect(summary.markdown().contains("| 3 | \(Journal.timestamp(journal.attempts[2].startedAt)) | running |"))
    }

    @Test("the summary's Markdown and terminal text show the outcome, colour only when asked")
    func summaryText() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let summary = RunSummary(journal: ReportTests.journal(), redactor: try ReportTests.redactor())
        let markdown = summary.markdown()
        #expect(markdown.hasPrefix("# Run `train-1`: succeeded after 3 attempts (exit 0)\n"))
        #expect(markdown.contains("| Time used | 16m40s |"))
        #expect(markdown.contains("| Time lost to failures | 1m40s (+ up to 5m00s in 1 failed attempt"))
        #expect(markdown.contains("[attempt-001.report.md](attempt-001.report.md)"))
        #expect(markdown.contains("- Latest valid: `ckpt/step-500.pt`"))
        #expect(!markdown.contains("sk-123") && !markdown.contains("xyz"))

        let plain = summary.terminalText(color: false)
        #expect(plain.hasPrefix("vigil: run train-1 succeeded after 3 attempts (exit 0)\n"))
        #expect(plain.contains("time used 16m40s, lost to failures 1m40s"))
        #expect(!plain.contains("\u{1B}["))
        #expect(summary.terminalText(color: true).contains("\u{1B}[1;32msucceeded"))

        try summary.write(to: dir)
        var info = stat()
        #expect(stat(dir + "/report.md", &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(TestSupport.read(dir + "/report.md") == markdown)
    }

    @Test("redacting twice changes nothing more")
    func redactionIsIdempotent() throws {
        let redactor = try Redactor(environment: ["WANDB_API_KEY": "wandb-secret-123"], extraPatterns: [])
        for text in ["--wandb-api-key wandb-secret-123", "API_KEY=sk-123 and \"password\": \"hunter2\"", "plain text"] {
            let once = redactor.redact(text)
            #expect(redactor.redact(once) == once, "\(once)")
        }
    }
}
