import Foundation
import Testing

@testable import VigilCore

@Suite("Journal, run names, backoff")
struct JournalTests {
    @Test(
        "timestamps round-trip at millisecond resolution",
        arguments: [0.0, 1_700_000_000.123, 1_795_000_123.999, 951_782_400.5])
    func timestamps(seconds: Double) throws {
        let date = Date(timeIntervalSince1970: seconds)
        let text = Journal.timestamp(date)
        #expect(text.hasSuffix("Z") && text.count == 24)
        let parsed = try #require(Journal.date(fromTimestamp: text))
        #expect(abs(parsed.timeIntervalSince1970 - (seconds * 1000).rounded(.down) / 1000) < 0.0005)
        #expect(Journal.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Journal.date(fromTimestamp: "2026-11-23T09:41:51Z") != nil)
        #expect(Journal.date(fromTimestamp: "yesterday") == nil)
    }

    @Test(
        "timestamps are what Foundation's ISO 8601 formatter writes, before 1970 too",
        arguments: [0.0, 1_700_000_000.123, 1_795_000_123.999, 951_782_400.5, -1.5, -86_400.25, 253_402_300_799.0])
    func timestampsAsFoundation(seconds: Double) {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        let date = Date(timeIntervalSince1970: (seconds * 1000).rounded(.down) / 1000)
        #expect(Journal.timestamp(date) == formatter.string(from: date))
    }

    @Test("a journal survives encoding and decoding unchanged")
    func journalRoundTrip() throws {
        let now = Date(timeIntervalSince1970: 1_795_000_000.25)
        var journal = Journal(
            run: "train-1", runID: "id", command: ["python3", "train.py"], workingDirectory: "/w",
            policy: "pytorch", now: now)
        var attempt = Journal.Attempt(
            number: 1, argv: ["python3", "train.py"], startedAt: now, supervisorPID: 42,
            log: "attempt-001.log")
        attempt.exit = .signaled(.kill)
        attempt.verdict = Verdict(
            verdict: .recoverable, rule: "oom-killed", reason: "r",
            exception: PythonException(type: "MemoryError", message: ""))
        attempt.signalsSent = [Journal.SentSignal(signal: "TERM", at: now, reason: "stop")]
        journal.attempts = [attempt]
        let dir = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        try journal.write(to: dir + "/journal.json")
        #expect(try Journal.read(from: dir + "/journal.json") == journal)
        #expect(try Journal.read(from: dir + "/none.json") == nil)
        try "{ half a journal".write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        #expect(throws: VigilError.self) { try Journal.read(from: dir + "/bad.json") }
    }

    @Test("an atomic write interrupted before its rename leaves the old content whole")
    func atomicWrite() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/state.json"
        try AtomicFile.write(Data("old".utf8), to: path)
        struct Interrupted: Error {}
        // The seam runs after the temp file is durable and before the rename: the moment a kill
        // would leave a half-done write. The target must still hold the old content.
        try AtomicFile.write(Data("new".utf8), to: path) {
            #expect(TestSupport.read(path) == "old")
        }
        #expect(TestSupport.read(path) == "new")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test("the default run name is stable for the same command and place, and differs otherwise")
    func runNames() throws {
        let a = RunDirectory.defaultName(
            command: ["python3", "train.py", "--config", "c.yaml"], workingDirectory: "/w")
        #expect(
            a
                == RunDirectory.defaultName(
                    command: ["python3", "train.py", "--config", "c.yaml"], workingDirectory: "/w"))
        #expect(a.hasPrefix("train-"))
        #expect(
            a
                != RunDirectory.defaultName(
                    command: ["python3", "train.py", "--config", "d.yaml"], workingDirectory: "/w"))
        #expect(
            a
                != RunDirectory.defaultName(
                    command: ["python3", "train.py", "--config", "c.yaml"], workingDirectory: "/v"))
        #expect(
            RunDirectory.defaultName(command: ["torchrun", "--nproc_per_node=2", "src/fit.py"], workingDirectory: "/")
                .hasPrefix("fit-"))
        #expect(throws: VigilError.self) { try RunDirectory.validate(name: "../etc") }
        #expect(throws: VigilError.self) { try RunDirectory.validate(name: "") }
        try RunDirectory.validate(name: "exp-3_lr.1e-4")
    }

    @Test("backoff grows by its factor, is capped, and jitter stays within its fraction")
    func backoff() {
        let backoff = Backoff(initial: 1, factor: 2, maximum: 5, jitter: 0.1)
        #expect((1...5).map { backoff.baseDelay(afterFailure: $0) } == [1, 2, 4, 5, 5])
        #expect(backoff.delay(afterFailure: 3, unit: 0) == 3.6)
        #expect(backoff.delay(afterFailure: 3, unit: 0.5) == 4)
        #expect(abs(backoff.delay(afterFailure: 3, unit: 0.999_999) - 4.4) < 0.0001)
        #expect(Backoff(initial: 0, factor: 2, maximum: 5, jitter: 0.5).delay(afterFailure: 4, unit: 0.9) == 0)
    }

    @Test(
        "the output prefilter finds a literal every match needs, or declines",
        arguments: [
            ("CUDA out of memory", ["CUDA out of memory"], false),
            ("(?i)loss[=: ]+(nan|inf)", ["loss"], true),
            ("(?:NCCL|RCCL) error", [" error"], false),
            ("Watchdog caught collective operation timeout", ["Watchdog caught collective operation timeout"], false),
            (
                "^(?:\\[\\w+\\]:\\s*)?(?:\\w+\\.)*(?:ModuleNotFoundError|TabError)(?::|$)",
                ["ModuleNotFoundError", "TabError"], false
            ),
            ("DataLoader worker \\(pid", ["DataLoader worker (pid"], false),
            ("colou?r map", ["r map"], false),
            ("\\d+ errors?", [" error"], false),
        ])
    func prefilter(pattern: String, literals: [String], ignoresCase: Bool) throws {
        let prefilter = try #require(LiteralPrefilter(pattern: pattern))
        #expect(
            prefilter.alternatives.map { String(decoding: $0, as: UTF8.self) }.sorted()
                == literals.map { ignoresCase ? $0.lowercased() : $0 }.sorted())
        #expect(prefilter.ignoresCase == ignoresCase)
    }

    @Test("patterns without a certain literal get no prefilter", arguments: ["a|b.*", "\\d+ e?s", "(?=x)abc|z", "ab"])
    func noPrefilter(pattern: String) {
        #expect(LiteralPrefilter(pattern: pattern) == nil)
    }

    @Test("the scanner finds the first matching line of a chunk, with or without a prefilter")
    func scanner() throws {
        let scanner = OutputScanner(patterns: try [Pattern("(?i)loss[=: ]+(nan|inf)"), Pattern("\\d+ NaNs?$")])
        let chunk = "step 1 loss=0.5\nstep 2 loss=0.4 lossy\nstep 3 LOSS: NaN\nstep 4 loss=inf\n"
        let match = Array(chunk.utf8).withUnsafeBytes { scanner.firstMatch(in: $0) }
        #expect(match == OutputScanner.Match(pattern: "(?i)loss[=: ]+(nan|inf)", line: "step 3 LOSS: NaN"))
        let other = Array("ok\nfound 3 NaNs\nloss=nan\n".utf8).withUnsafeBytes { scanner.firstMatch(in: $0) }
        #expect(other?.line == "found 3 NaNs")
        #expect(Array("all good\n".utf8).withUnsafeBytes { scanner.firstMatch(in: $0) } == nil)
    }

    @Test(
        "the scanner agrees with trying every pattern on every line, short chunks and long, folded or not",
        arguments: [
            ["CUDA out of memory", "\\d+ NaNs?$"],
            ["(?i)(?<![a-z])loss['\"]?\\s*[=:]\\s*['\"]?[-+]?(?:nan|inf)\\b", "CUDA out of memory", "Killed"],
        ])
    func scannerAgreesWithLines(sources: [String]) throws {
        let patterns = try sources.map(Pattern.init)
        let scanner = OutputScanner(patterns: patterns)
        let lines = [
            "INFO step 12 loss=0.25 lr=3e-4", "cuda out of memory (lower case: only (?i) may match it)",
            "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", "step 3 LOSS: NaN", "found 3 NaNs",
            "val_loss = inf", "Killed", "lossy=nan", "tokens/s=41234 grad_norm=1.2", "ünïcödé loss=nan",
        ]
        var rng = SeededGenerator(seed: 17)
        for _ in 0..<300 {
            let count = [1, 3, 40, 400].randomElement(using: &rng)!  // 400 lines: well over BytePairs.worthwhile
            let chosen = (0..<count).map { _ in lines[Int.random(in: 0..<lines.count, using: &rng)] }
            let chunk = chosen.joined(separator: "\n") + "\n"
            var expected: OutputScanner.Match?
            search: for line in chosen {
                for pattern in patterns where pattern.firstMatch(in: line) != nil {
                    expected = OutputScanner.Match(pattern: pattern.source, line: line)
                    break search
                }
            }
            let found = Array(chunk.utf8).withUnsafeBytes { scanner.firstMatch(in: $0) }
            #expect(found == expected, "\(count) lines: \(chunk.prefix(300).debugDescription)")
        }
    }
}
