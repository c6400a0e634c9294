import Foundation
import Testing

@testable import VigilCore

/// Bad input and secrets, as a skeptical user tries them: nothing leaks, nothing crashes, the
/// words are right.
@Suite("Bad input and secrets, end to end", .serialized, .timeLimit(.minutes(2)))
struct BadInputEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-bad-input")
    }

    func policy(_ text: String) throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// One of each shape of credential a trainer is known to print.
    static let tokens = [
        "ghp_" + String(repeating: "A1b2", count: 9),
        "github_pat_11ABCDEFG0123456789_" + String(repeating: "z9", count: 20),
        "sk-proj-" + String(repeating: "Qx7", count: 12),
        "xoxb-123456789012-abcdefghijklmn",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "hf_" + String(repeating: "Tk", count: 17),
        "bearertoken-0123456789abcdef",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    ]
    static let environmentSecrets = [
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "WANDB_API_KEY": "0123456789abcdef0123456789abcdef01234567",
    ]

    @Test(
        "token shapes and secret environment values appear nowhere vigil writes or prints, nor later in status or report"
    )
    func noSecretAnywhere() throws {
        defer { TestSupport.remove(dir) }
        let sayFile = dir + "/say.txt"
        let t = Self.tokens
        try [
            "github token \(t[0]) and \(t[1])", "openai \(t[2])", "slack \(t[3])", "aws key id \(t[4])",
            "jwt \(t[5])", "hf \(t[6])", "Authorization: Bearer \(t[7])", "-----BEGIN PRIVATE KEY-----", t[8],
            "-----END PRIVATE KEY-----",
        ].joined(separator: "\n").write(toFile: sayFile, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        for (name, value) in Self.environmentSecrets { environment[name] = value }
        // The failure's message quotes secrets; it comes through the environment, so the command
        // line (which the journal keeps exact, for reruns) holds none.
        environment["TRAINER_FAILURE"] = "login failed: \(t[0]) \(Self.environmentSecrets["WANDB_API_KEY"]!)"
        let policy = try policy("{ restart: { maxRetries: 1, backoff: { initial: \"10ms\" } } }")
        let vigil = try TestProcess.vigil(
            [
                "run", "--name", "secret", "--log-dir", logs, "--checkpoint-dir", dir + "/ckpt", "--policy", policy,
                "--quiet", "--", TestSupport.python, TestSupport.fixtureTrainer, "--say-file", sayFile,
                "--show-env", "AWS_SECRET_ACCESS_KEY", "--show-env", "WANDB_API_KEY", "--crash-at", "1",
                "--message-env", "TRAINER_FAILURE",
            ],
            environment: environment)
        #expect(vigil.exitCode() == 2, "\(vigil.output)")
        let secrets = Self.tokens + Self.environmentSecrets.values
        func check(_ text: String, _ what: String) {
            for secret in secrets { #expect(!text.contains(secret), "\(what) shows \(secret.prefix(12))…") }
        }
        // Everything vigil printed itself (--quiet: the trainer's own output is not passed through).
        check(vigil.output, "vigil's output")
        #expect(vigil.stderr.contains("gave up"), "\(vigil.stderr)")
        // Everything vigil wrote, but the raw attempt logs (0600).
        let run = logs + "/secret"
        for name in try FileManager.default.contentsOfDirectory(atPath: run) where !name.contains(".log") {
            check(TestSupport.read(run + "/" + name), name)
        }
        #expect(TestSupport.read(run + "/attempt-001.report.md").contains("[REDACTED]"))
        // Read later, from a shell that lacks the secrets' variables.
        var bare = ProcessInfo.processInfo.environment
        for name in Self.environmentSecrets.keys { bare[name] = nil }
        let html = dir + "/report.html"
        for arguments in [
            ["status", "secret"], ["status", "secret", "--json"], ["report", "secret"], ["report", "secret", "--json"],
            ["report", "secret", "--html", html],
        ] {
            let reader = try TestProcess.vigil(arguments + ["--log-dir", logs], environment: bare)
            _ = reader.exitCode()
            check(reader.output, arguments.joined(separator: " "))
        }
        check(TestSupport.read(html), "report.html")
        #expect(!TestSupport.read(html).isEmpty)
    }

    @Test(
        "a corrupt journal: status lists the run as corrupt, --check exits 1, run says what to do, --fresh moves it aside"
    )
    func corruptJournal() throws {
        defer { TestSupport.remove(dir) }
        let run = logs + "/broken"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try "{\"version\": 1, \"run\": \"broken\", \"attem".write(
            toFile: run + "/journal.json", atomically: true, encoding: .utf8)
        let list = try TestProcess.vigil(["status", "--log-dir", logs])
        #expect(list.exitCode() == 0, "\(list.output)")
        #expect(list.stdout.contains("broken") && list.stdout.contains("corrupt"), "\(list.stdout)")
        let check = try TestProcess.vigil(["status", "broken", "--check", "--log-dir", logs])
        #expect(check.exitCode() == 1, "a monitor must not think all is well: \(check.output)")
        #expect(check.stdout.contains("corrupt"))
        let trainer = [TestSupport.python, TestSupport.fixtureTrainer, "--steps", "1"]
        let refused = try TestProcess.vigil(["run", "--name", "broken", "--log-dir", logs, "--"] + trainer)
        #expect(refused.exitCode() == 1)
        #expect(refused.stderr.contains("run with --fresh to move the run aside"), "\(refused.stderr)")
        let fresh = try TestProcess.vigil(["run", "--name", "broken", "--fresh", "--log-dir", logs, "--"] + trainer)
        #expect(fresh.exitCode() == 0, "\(fresh.output)")
        #expect(fresh.stderr.contains("its journal could not be read"))
        #expect(try TestSupport.journal(logs, "broken").state == .succeeded)
        let archived = try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasPrefix("broken.") }
        #expect(archived.count == 1, "the broken run kept aside")
    }

    @Test("a trainer argument and a file name with control characters are printed escaped, never raw")
    func terminalSafety() throws {
        defer { TestSupport.remove(dir) }
        let checkpoints = dir + "/ckpt"
        try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
        let evil = "ckpt_\u{1B}[2J\u{1B}[31mfake\nvigil: all good_7.json"
        try "{ not json".write(toFile: checkpoints + "/" + evil, atomically: true, encoding: .utf8)
        let policy = try policy(
            #"{ checkpoints: { dir: "\#(checkpoints)", pattern: "ckpt_*_{step}.json" }, restart: { maxRetries: 0 } }"#)
        let vigil = try TestProcess.vigil(
            [
                "run", "--name", "evil", "--log-dir", logs, "--policy", policy, "--quiet", "--",
                TestSupport.python, TestSupport.fixtureTrainer, "--steps", "1", "--say", "line\rover\u{7}",
                "--checkpoint-dir", dir + "/other",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let printed = vigil.stderr
        #expect(!printed.contains("\u{1B}"), "an escape sequence reached the terminal")
        #expect(!printed.contains("\u{7}") && !printed.contains("\r"))
        #expect(printed.contains("\\e[2J\\e[31mfake\\nvigil: all good_7.json"), "\(printed)")
        #expect(printed.contains("line\\rover\\x07"), "the argument shown escaped: \(printed)")
        #expect(!printed.split(separator: "\n").contains { $0.hasPrefix("vigil: all good") }, "a faked line")
    }

    @Test("SIGTERM to vigil: its reason said once, and no checkpoint promised without a pattern")
    func rightWords() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try TestProcess.vigil(
            [
                "run", "--name", "words", "--log-dir", logs, "--", TestSupport.python, TestSupport.fixtureTrainer,
                "--steps", "3", "--hang-at", "1",
            ])
        #expect(vigil.waitForLine(containing: "hanging"))
        vigil.send(.terminate)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        let last = try #require(vigil.stderr.split(separator: "\n").last { $0.contains("(exit 75)") })
        #expect(last.components(separatedBy: "vigil received SIGTERM").count == 2, "\(last)")
        #expect(vigil.stderr.contains("got SIGTERM; stopping the trainer"))
        #expect(!vigil.stderr.contains("asking the trainer to checkpoint"))
        let summary = TestSupport.read(logs + "/words/report.md")
        #expect(summary.contains("| Time lost to failures | 0.0s |"), "a stop vigil made is no failure: \(summary)")
    }
}

/// Each credential shape on its own, and what the redaction keeps readable.
@Suite("Token shapes")
struct TokenShapeTests {
    @Test(
        "each built-in shape is redacted wherever it stands",
        arguments: BadInputEndToEndTests.tokens.filter { !$0.hasPrefix("bearertoken") && !$0.hasPrefix("MII") })
    func shape(token: String) {
        let redactor = Redactor.namesOnly
        for text in ["\(token)", "token=\(token)", "got (\(token)) back", "\"\(token)\""] {
            let shown = redactor.redact(text)
            #expect(!shown.contains(token), "\(text) → \(shown)")
            #expect(shown.contains(Redactor.marker))
        }
    }

    @Test("Authorization: Bearer …, with or without the header's name")
    func bearer() {
        let redactor = Redactor.namesOnly
        #expect(redactor.redact("Authorization: Bearer abc.def-123456") == "Authorization: [REDACTED]")
        #expect(!redactor.redact("curl -H 'bearer abcdefgh12345678'").contains("abcdefgh12345678"))
    }

    @Test("a PEM private key block is redacted whole: in one text, and across the lines of a tail")
    func privateKey() {
        let block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nqwertyuiop\n-----END RSA PRIVATE KEY-----"
        let redactor = Redactor.namesOnly
        let text = redactor.redact("key:\n" + block + "\nafter")
        #expect(!text.contains("MIIEowIBAAKCAQEA7") && !text.contains("qwertyuiop"), "\(text)")
        #expect(text.hasSuffix("after"))
        let lines = redactor.redact(["before"] + block.split(separator: "\n").map(String.init) + ["after"])
        #expect(lines.first == "before" && lines.last == "after")
        #expect(!lines.joined().contains("qwertyuiop") && !lines.joined().contains("MIIEowIBAAKCAQEA7"), "\(lines)")
    }

    @Test("ordinary training output is left alone")
    func harmless() {
        let redactor = Redactor.namesOnly
        for text in [
            "step 12/100 loss=0.4213 lr=3e-4", "task-manager started 4 workers", "max_new_tokens=512",
            "Epoch 3: 100%|██████████| 50/50 [00:03<00:00, 14.2it/s]", "saved skeleton.json",
        ] {
            #expect(redactor.redact(text) == text)
        }
    }

    @Test("control characters in what vigil prints are shown as escapes")
    func terminalText() {
        #expect(TerminalText.line("a\nb\rc\u{1B}[2J\u{7}d\u{9B}e") == "a\\nb\\rc\\e[2J\\x07d\\u{9b}e")
        #expect(TerminalText.safe("two\nlines\u{1B}") == "two\nlines\\e")
        #expect(TerminalText.line("tabs\tstay, ünïcödé too") == "tabs\tstay, ünïcödé too")
    }
}
