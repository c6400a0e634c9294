import Foundation
import Testing

@testable import VigilCore

/// Bad policies through the built binary, as a user meets them: `vigil policy check` and `vigil run` exit 78
/// with the file, the key and what is wrong, and never crash; `extends` resolves next to the file that says it.
@Suite("Policies, end to end", .serialized, .timeLimit(.minutes(1)))
struct PolicyEndToEndTests {
    let dir: String

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-policy-e2e")
    }

    /// Writes `text` as `name` in the test's directory; its path.
    func write(_ text: String, _ name: String = "p.json5") throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let refused: [(text: String, message: String)] = [
        (
            "{restart:{maxRetries:9223372036854775807}}",
            "restart.maxRetries: expected an integer from 0 to 1000, got 9223372036854775807"
        ),
        ("{restart:{backoff:{factor:NaN}}}", "restart.backoff.factor: expected a number from 1 to 100, got NaN"),
        ("{limits:{runtime:1e300}}", "limits.runtime: expected a duration from 0s to 3650d (10 years), got 1e+300"),
        (
            "{output:{logMaxBytes:'99999999999999999999g'}}",
            "output.logMaxBytes: expected a size from 0 to 1024GiB, got \"99999999999999999999g\""
        ),
        (
            "{restart:{maxRetries:3,\n maxRetries:4}}",
            "restart.maxRetries: duplicate key 'maxRetries' at line 2, column 2 (already set at line 1, column 11)"
        ),
        ("{stop:{checkpointSignal:'KILL'}}", "stop.checkpointSignal: expected a signal the trainer can catch"),
        (
            "{stop:{checkpointSignal:'STOP'}}",
            "stop.checkpointSignal: expected a signal the trainer can catch, got \"STOP\": SIGSTOP cannot be caught"
        ),
        ("{rules:[{name:'x',class:'ignore',exitCodes:300}]}", "rules[0].exitCodes: expected exit codes from 0 to 255"),
    ]

    @Test(
        "`vigil policy check` and `vigil run` refuse a bad number with exit 78 and the message, not a crash",
        arguments: refused)
    func refusedEndToEnd(_ row: (text: String, message: String)) throws {
        defer { TestSupport.remove(dir) }
        let policy = try write(row.text)
        let check = try TestProcess.vigil(["policy", "check", policy])
        #expect(check.exitCode() == 78, "\(check.output)")
        #expect(check.stderr.contains("\(policy): \(row.message)"), "\(check.stderr)")
        let marker = dir + "/ran"
        for _ in 0..<2 {  // a rerun meets the same message, not a crash
            let run = try TestProcess.vigil([
                "run", "--name", "bad", "--log-dir", dir + "/logs", "--policy", policy, "--", "/usr/bin/touch", marker,
            ])
            #expect(run.exitCode() == 78, "\(run.output)")
            #expect(run.stderr.contains("\(policy): \(row.message)"), "\(run.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker), "the trainer ran despite a bad policy")
    }

    /// `vigil ARGUMENTS` run from the test's directory (the test changes directory, never the product).
    func vigilInDirectory(_ arguments: [String]) throws -> TestProcess {
        try TestProcess(
            ["/bin/sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", dir, TestSupport.vigilBinary] + arguments)
    }

    @Test("`extends` with a bare file name resolves next to a policy checked by a relative path")
    func extendsBareName() throws {
        defer { TestSupport.remove(dir) }
        _ = try write("{ extends: 'b.json5', restart: { backoff: { initial: '7s' } } }", "a.json5")
        _ = try write("{ restart: { maxRetries: 7 } }", "b.json5")
        _ = try write("{ extends: 'b', output: { passthrough: false } }", "c.json5")
        let check = try vigilInDirectory(["policy", "check", "a.json5"])
        #expect(check.exitCode() == 0, "\(check.output)")
        #expect(check.stdout.contains("Resolved from <embedded default> → ./b.json5 → a.json5"), "\(check.stdout)")
        #expect(check.stdout.contains("\"maxRetries\": 7"), "\(check.stdout)")
        #expect(check.stdout.contains("\"initial\": \"7s\""), "\(check.stdout)")
        let byName = try vigilInDirectory(["policy", "check", "c.json5"])
        #expect(byName.exitCode() == 0, "\(byName.output)")
        #expect(byName.stdout.contains("Resolved from <embedded default> → ./b.json5 → c.json5"), "\(byName.stdout)")
    }

    @Test("an `extends` cycle through bare file names is reported as a cycle", arguments: ["b.json5", "b"])
    func extendsBareCycle(_ parent: String) throws {
        defer { TestSupport.remove(dir) }
        _ = try write("{ extends: '\(parent)' }", "a.json5")
        _ = try write("{ extends: 'a.json5' }", "b.json5")
        let check = try vigilInDirectory(["policy", "check", "a.json5"])
        #expect(check.exitCode() == 78, "\(check.output)")
        #expect(check.stderr.contains("extends: extends cycle: a.json5 → ./b.json5 → ./a.json5"), "\(check.stderr)")
    }
}
