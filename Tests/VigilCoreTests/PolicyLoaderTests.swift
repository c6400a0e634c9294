import Foundation
import Testing

@testable import VigilCore

/// The repository: Tests/VigilCoreTests/PolicyLoaderTests.swift → up three.
private let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

private let policiesDirectory = repositoryRoot + "/policies"

/// A fresh directory holding `files` (name → content); removed with `removeDirectory`.
private func directory(with files: [String: String]) throws -> String {
    let path = NSTemporaryDirectory() + "vigil-policy-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    for (name, content) in files {
        try content.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
    }
    return path
}

private func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Loads `spec` with `directory` as the only search directory; the error it throws, or nil.
private func loadingError(_ spec: String, in directory: String) -> VigilError? {
    do {
        _ = try PolicyLoader(searchDirectories: [directory]).load(spec)
        return nil
    } catch let error as VigilError {
        return error
    } catch {
        Issue.record("not a VigilError: \(error)")
        return nil
    }
}

/// One malformed policy and what its error must say.
struct MalformedPolicy: Sendable, CustomTestStringConvertible {
    var summary: String
    var text: String
    /// The key path the error names (nil: none, e.g. a syntax error).
    var key: String?
    /// Fragments the error's message must contain.
    var message: [String]

    init(_ summary: String, _ text: String, key: String?, _ message: String...) {
        self.summary = summary
        self.text = text
        self.key = key
        self.message = message
    }

    var testDescription: String { summary }
}

@Suite("Policy loading")
struct PolicyLoaderTests {
    static let malformed: [MalformedPolicy] = [
        MalformedPolicy(
            "unknown key, with a suggestion", "{ restart: { maxRetires: 5 } }", key: "restart.maxRetires",
            "unknown key 'maxRetires'", "did you mean 'maxRetries'?"),
        MalformedPolicy(
            "unknown top-level key", "{ rule: [] }", key: "rule", "unknown key 'rule'", "did you mean 'rules'?"),
        MalformedPolicy(
            "unknown key without a close match lists the known ones", "{ stop: { whenever: 1 } }",
            key: "stop.whenever", "unknown key 'whenever'",
            "known keys here: checkpointLead, checkpointSignal, checkpointTimeout, dumpSignal, termGrace"),
        MalformedPolicy(
            "unknown key inside a rule",
            "{ rules: [{ name: 'oom', class: 'recoverable', exitCode: [137] }] }", key: "rules[0].exitCode",
            "unknown key 'exitCode'", "did you mean 'exitCodes'?"),
        MalformedPolicy(
            "unknown key inside a later rule's errorFile",
            """
            { rules: [
                { name: 'a', class: 'ignore', exitCodes: 1 },
                { name: 'b', class: 'ignore', errorFile: { typ: 'ValueError' } },
            ] }
            """,
            key: "rules[1].errorFile.typ", "unknown key 'typ'", "did you mean 'type'?"),
        MalformedPolicy(
            "wrong type", "{ restart: { maxRetries: 'three' } }", key: "restart.maxRetries",
            "expected an integer from 0 to 1000, got a string \"three\""),
        MalformedPolicy(
            "an integer below its minimum", "{ restart: { maxRetries: -1 } }", key: "restart.maxRetries",
            "expected an integer from 0 to 1000, got -1"),
        MalformedPolicy(
            "a number above its maximum", "{ restart: { backoff: { jitter: 2 } } }",
            key: "restart.backoff.jitter", "expected a number from 0 to 1, got 2"),
        MalformedPolicy(
            "a section that is not an object", "{ restart: 3 }", key: "restart", "expected an object, got an integer 3"),
        MalformedPolicy(
            "bad duration", "{ restart: { backoff: { initial: 'soon' } } }", key: "restart.backoff.initial",
            "expected a duration like \"90s\"", "got \"soon\""),
        MalformedPolicy(
            "a duration of the wrong type", "{ stop: { termGrace: true } }", key: "stop.termGrace",
            "expected a duration", "got a boolean true"),
        MalformedPolicy(
            "a negative duration", "{ restart: { healthyAfter: -5 } }", key: "restart.healthyAfter",
            "expected a duration"),
        MalformedPolicy(
            "bad byte size", "{ output: { logMaxBytes: '100 parsecs' } }", key: "output.logMaxBytes",
            "expected a size like \"100MB\"", "got \"100 parsecs\""),
        MalformedPolicy(
            "a tail too small to classify", "{ output: { tailBytes: '12' } }", key: "output.tailBytes",
            "expected a size from 1KiB to 64MiB, got \"12\" (12 bytes)"),
        MalformedPolicy(
            "a choice outside its set", "{ resume: { when: 'sometimes' } }", key: "resume.when",
            "expected one of \"after-failure\", \"when-checkpoint-exists\", \"never\", got \"sometimes\""),
        MalformedPolicy(
            "a list item of the wrong type", "{ resume: { args: ['--resume', 3] } }", key: "resume.args[1]",
            "expected a string, got an integer 3"),
        MalformedPolicy(
            "extends that is not a string", "{ extends: ['python'] }", key: "extends",
            "expected the name or path of a policy, got a list"),
        MalformedPolicy(
            "rules that are not a list", "{ rules: { name: 'x' } }", key: "rules", "expected a list, got an object"),
        MalformedPolicy(
            "a rule that is not an object", "{ rules: ['any-failure'] }", key: "rules[0]",
            "expected an object, got a string \"any-failure\""),
        MalformedPolicy(
            "invalid regex in a rule's output",
            "{ rules: [{ name: 'nccl', class: 'recoverable', output: ['ok', 'Watchdog (caught'] }] }",
            key: "rules[0].output", "rule 'nccl'", "invalid regular expression /Watchdog (caught/"),
        MalformedPolicy(
            "invalid regex in a rule's errorFile.message",
            "{ rules: [{ name: 'cfg', class: 'unrecoverable', errorFile: { message: '[a-' } }] }",
            key: "rules[0].errorFile.message", "rule 'cfg'", "invalid regular expression /[a-/"),
        MalformedPolicy(
            "unknown class", "{ rules: [{ name: 'x', class: 'fatal', exitCodes: 1 }] }", key: "rules[0].class",
            "expected one of \"recoverable\", \"unrecoverable\", \"ignore\", got \"fatal\""),
        MalformedPolicy(
            "success is not a rule's class", "{ rules: [{ name: 'x', class: 'success' }] }", key: "rules[0].class",
            "got \"success\""),
        MalformedPolicy(
            "missing class", "{ rules: [{ name: 'x', exitCodes: 1 }] }", key: "rules[0].class",
            "rule 'x' needs a class"),
        MalformedPolicy(
            "missing rule name", "{ rules: [{ class: 'recoverable', exitCodes: 1 }] }", key: "rules[0].name",
            "every rule needs a name"),
        MalformedPolicy(
            "empty rule name", "{ rules: [{ name: '', class: 'recoverable' }] }", key: "rules[0].name",
            "every rule needs a name"),
        MalformedPolicy(
            "duplicate rule name",
            """
            { rules: [
                { name: 'oom', class: 'recoverable', oomKilled: true },
                { name: 'other', class: 'ignore', signals: ['TERM'] },
                { name: 'oom', class: 'unrecoverable', exitCodes: [137] },
            ] }
            """,
            key: "rules[2].name", "a rule named 'oom' appears twice in this file"),
        MalformedPolicy(
            "bad signal name", "{ rules: [{ name: 'sig', class: 'ignore', signals: ['TERM', 'SIGFOO'] }] }",
            key: "rules[0].signals", "rule 'sig'", "'SIGFOO' is not a signal name"),
        MalformedPolicy(
            "a reversed exit code range", "{ rules: [{ name: 'r', class: 'ignore', exitCodes: [1, '9-3'] }] }",
            key: "rules[0].exitCodes",
            "expected an exit code or a range like \"3-9\" (exit codes from 0 to 255), got \"9-3\""),
        MalformedPolicy(
            "an exit code that is not a number", "{ rules: [{ name: 'r', class: 'ignore', exitCodes: 'one' }] }",
            key: "rules[0].exitCodes", "got \"one\""),
        MalformedPolicy(
            "exit codes of the wrong type", "{ rules: [{ name: 'r', class: 'ignore', exitCodes: true }] }",
            key: "rules[0].exitCodes", "expected exit codes", "got a boolean true"),
        MalformedPolicy(
            "both in and notIn", "{ rules: [{ name: 'r', class: 'ignore', exitCodes: { in: [1], notIn: [2] } }] }",
            key: "rules[0].exitCodes", "expected exactly one of 'in' or 'notIn'"),
        MalformedPolicy(
            "a misspelled notIn", "{ rules: [{ name: 'r', class: 'ignore', exitCodes: { notin: [0] } }] }",
            key: "rules[0].exitCodes.notin", "unknown key 'notin'", "did you mean 'notIn'?"),
        MalformedPolicy(
            "a boolean matcher of the wrong type", "{ rules: [{ name: 'r', class: 'ignore', oomKilled: 'yes' }] }",
            key: "rules[0].oomKilled", "expected true or false, got a string \"yes\""),
        MalformedPolicy(
            "a document that is not an object", "[1, 2]", key: nil, "expected an object, got a list"),
    ]

    @Test("a malformed policy is an invalid-policy error naming the file and the key", arguments: malformed)
    func malformedPolicy(_ row: MalformedPolicy) throws {
        let dir = try directory(with: ["broken.json5": row.text])
        defer { removeDirectory(dir) }
        let file = dir + "/broken.json5"
        let error = try #require(loadingError(file, in: dir))
        #expect(error.code == .invalidPolicy)
        #expect(error.exitCode == .invalidConfiguration)
        #expect(error.exitCode.rawValue == 78)
        #expect(error.file == file)
        #expect(error.key == row.key)
        #expect(error.description.hasPrefix(file + (row.key.map { ": " + $0 } ?? "") + ": "))
        for fragment in row.message {
            #expect(error.message.contains(fragment), "message was: \(error.message)")
        }
    }

    @Test("a malformed policy loaded by name names its file too")
    func malformedByName() throws {
        let dir = try directory(with: ["mine.json5": "{ restart: { maxRetires: 5 } }"])
        defer { removeDirectory(dir) }
        let error = try #require(loadingError("mine", in: dir))
        #expect(error.code == .invalidPolicy)
        #expect(
            error.description == "\(dir)/mine.json5: restart.maxRetires: unknown key 'maxRetires' "
                + "(did you mean 'maxRetries'?)")
    }

    @Test(
        "a syntax error gives the line and column",
        arguments: [
            ("{\n  restart: {\n    maxRetries: 3\n    healthyAfter: \"10m\",\n  },\n}\n", 4, 5),
            (
                "{\n  rules: [\n    { name: \"a\", class: \"ignore\" }\n    { name: \"b\", class: \"ignore\" },\n  ],\n}",
                4, 5
            ),
            ("{ restart: { maxRetries: 3 }", 1, 29),
        ])
    func syntaxError(_ text: String, _ line: Int, _ column: Int) throws {
        let dir = try directory(with: ["broken.json5": text])
        defer { removeDirectory(dir) }
        let file = dir + "/broken.json5"
        let error = try #require(loadingError(file, in: dir))
        #expect(error.code == .invalidPolicy)
        #expect(error.exitCode.rawValue == 78)
        #expect(error.file == file)
        #expect(error.message.hasPrefix("syntax error at line \(line), column \(column): "), "\(error.message)")
        #expect(error.description.hasPrefix(file + ": syntax error at line"))
    }

    // MARK: Valid forms

    @Test("exit codes are written as values, ranges, in and notIn")
    func exitCodeForms() throws {
        let text = """
            // Every accepted way to write exit codes.
            {
              rules: [
                { name: "list", class: "recoverable", exitCodes: [1, "3-9"] },
                { name: "single", class: "recoverable", exitCodes: 137 },
                { name: "range", class: "recoverable", exitCodes: " 64 - 78 " },
                { name: "in", class: "recoverable", exitCodes: { in: ["3-5", 7] } },
                { name: "not-in", class: "ignore", exitCodes: { notIn: [0, 75] } },
                { name: "zero-one", class: "ignore", exitCodes: [0, 1] },
              ],
            }
            """
        let dir = try directory(with: ["codes.json5": text])
        defer { removeDirectory(dir) }
        let policy = try PolicyLoader(searchDirectories: [dir]).load("codes")
        let codes = Dictionary(uniqueKeysWithValues: policy.rules.map { ($0.name, $0.exitCodes) })
        #expect(codes["list"] == ExitCodeSet([1...1, 3...9]))
        #expect(codes["single"] == ExitCodeSet([137...137]))
        #expect(codes["range"] == ExitCodeSet([64...78]))
        #expect(codes["in"] == ExitCodeSet([3...5, 7...7]))
        #expect(codes["not-in"] == ExitCodeSet([0...0, 75...75], negated: true))
        // 0 and 1 stay integers (not booleans) through the JSON5 decoder.
        #expect(codes["zero-one"] == ExitCodeSet([0...0, 1...1]))
        #expect(codes["not-in"]??.contains(1) == true)
        #expect(codes["not-in"]??.contains(75) == false)
    }

    @Test("every rule key is decoded")
    func ruleKeys() throws {
        let text = """
            {
              rules: [{
                name: "everything", class: "ignore", reason: "why",
                signals: ["SIGTERM", "usr1", "9"], exception: "ValueError", output: ["^a", "b$"],
                oomKilled: false, timedOut: true, stalled: false,
                errorFile: { type: ["KeyError"], message: "shard \\\\d+" },
              }],
            }
            """
        let dir = try directory(with: ["keys.json5": text])
        defer { removeDirectory(dir) }
        let rule = try #require(try PolicyLoader(searchDirectories: [dir]).load("keys").rules.first)
        #expect(rule.name == "everything")
        #expect(rule.verdict == .ignore)
        #expect(rule.reason == "why")
        #expect(rule.signals == [.terminate, .user1, .kill])
        #expect(rule.exception == ["ValueError"])
        #expect(rule.output?.map(\.source) == ["^a", "b$"])
        #expect(rule.oomKilled == false)
        #expect(rule.timedOut == true)
        #expect(rule.stalled == false)
        #expect(rule.errorFile?.type == ["KeyError"])
        #expect(rule.errorFile?.message?.source == #"shard \d+"#)
        #expect(rule.errorFile?.message?.firstMatch(in: "bad shard 17") == "shard 17")
    }

    @Test("sections set every key, in the units people write")
    func sections() throws {
        let text = """
            {
              description: "all sections",
              restart: { maxRetries: 0, healthyAfter: "1h30m", backoff: { initial: 2, factor: 1.5, max: "5m", jitter: 0 } },
              resume: { args: "--continue", when: "never" },
              output: { logMaxBytes: "1g", logBackups: 0, tailBytes: "2KiB", passthrough: false },
              stop: { termGrace: "250ms" },
              checkpoints: { dir: "ckpt" },
            }
            """
        let dir = try directory(with: ["all.json5": text])
        defer { removeDirectory(dir) }
        let policy = try PolicyLoader(searchDirectories: [dir]).load("all")
        #expect(policy.name == "all")
        #expect(policy.restart.maxRetries == 0)
        #expect(policy.restart.healthyAfter == 5400)
        #expect(policy.restart.backoffInitial == 2)
        #expect(policy.restart.backoffFactor == 1.5)
        #expect(policy.restart.backoffMax == 300)
        #expect(policy.restart.backoffJitter == 0)
        #expect(policy.resume.args == ["--continue"])
        #expect(policy.resume.when == .never)
        #expect(policy.output.logMaxBytes == 1 << 30)
        #expect(policy.output.logBackups == 0)
        #expect(policy.output.tailBytes == 2048)
        #expect(policy.output.passthrough == false)
        #expect(policy.stop.termGrace == 0.25)
        #expect(policy.checkpoints.dir == "ckpt")
        // The default's rules are still there, under a file that has none.
        #expect(
            policy.rules.map(\.name) == [
                "attempt-time-limit", "hung", "command-not-found", "command-not-executable", "permission-error",
                "killed-from-outside", "any-failure",
            ])
    }

    // MARK: extends

    @Test("extends: rules of the more specific file first, same-name rules replaced, sections merged key by key")
    func extendsChain() throws {
        let a = """
            {
              extends: "b.json5",
              restart: { backoff: { initial: "2s" } },
              rules: [
                { name: "a-first", class: "ignore", signals: ["TERM"] },
                { name: "shared", class: "unrecoverable", exitCodes: [3] },
                { name: "permission-error", class: "recoverable", exception: ["PermissionError"] },
              ],
            }
            """
        let b = """
            {
              restart: { maxRetries: 7, backoff: { max: "5m" } },
              output: { passthrough: false },
              rules: [
                { name: "b-first", class: "recoverable", oomKilled: true },
                { name: "shared", class: "recoverable", exitCodes: [4] },
                { name: "b-last", class: "recoverable", timedOut: true },
              ],
            }
            """
        let dir = try directory(with: ["a.json5": a, "b.json5": b])
        defer { removeDirectory(dir) }
        let policy = try PolicyLoader(searchDirectories: []).load(dir + "/a.json5")
        #expect(policy.name == "a")
        #expect(policy.sources == ["<embedded default>", dir + "/b.json5", dir + "/a.json5"])
        #expect(
            policy.rules.map(\.name) == [
                "a-first", "shared", "permission-error",  // a's
                "b-first", "b-last",  // b's, without the one a replaced
                // the default's:
                "attempt-time-limit", "hung", "command-not-found", "command-not-executable", "killed-from-outside",
                "any-failure",
            ])
        let shared = try #require(policy.rules.first { $0.name == "shared" })
        #expect(shared.verdict == .unrecoverable)
        #expect(shared.exitCodes == ExitCodeSet([3...3]))
        #expect(policy.rules.first { $0.name == "permission-error" }?.verdict == .recoverable)
        // restart: maxRetries and backoff.max from b, backoff.initial from a, the rest from the default.
        #expect(policy.restart.maxRetries == 7)
        #expect(policy.restart.backoffInitial == 2)
        #expect(policy.restart.backoffMax == 300)
        #expect(policy.restart.backoffFactor == 2)
        #expect(policy.restart.healthyAfter == 600)
        #expect(policy.output.passthrough == false)
        #expect(policy.output.tailBytes == 64 * 1024)
    }

    @Test("extends by name looks next to the file first, then the search path")
    func extendsByName() throws {
        let dir = try directory(with: [
            "mine.json5": "{ extends: 'pytorch', rules: [{ name: 'mine', class: 'ignore', exitCodes: 99 }] }"
        ])
        defer { removeDirectory(dir) }
        let policy = try PolicyLoader(searchDirectories: [policiesDirectory]).load(dir + "/mine.json5")
        #expect(
            policy.sources == [
                "<embedded default>", policiesDirectory + "/python.json5", policiesDirectory + "/pytorch.json5",
                dir + "/mine.json5",
            ])
        #expect(policy.rules.first?.name == "mine")
        #expect(policy.rules.last?.name == "any-failure")
        #expect(policy.output.tailBytes == 256 * 1024)  // from pytorch
    }

    @Test(
        "an extends cycle is an invalid-policy error",
        arguments: [
            ["a.json5": "{ extends: 'b.json5' }", "b.json5": "{ extends: 'a.json5' }"],
            ["a.json5": "{ extends: 'b' }", "b.json5": "{ extends: 'a' }"],
            ["a.json5": "{ extends: 'a' }"],
            ["a.json5": "{ extends: './b.json5' }", "b.json5": "{ extends: './a.json5' }"],
        ])
    func extendsCycle(_ files: [String: String]) throws {
        let dir = try directory(with: files)
        defer { removeDirectory(dir) }
        let error = try #require(loadingError(dir + "/a.json5", in: dir))
        #expect(error.code == .invalidPolicy)
        #expect(error.exitCode.rawValue == 78)
        #expect(error.key == "extends")
        #expect(error.message.hasPrefix("extends cycle: "), "\(error.message)")
        #expect(error.message.contains("a.json5 → "))
        #expect(error.file?.hasPrefix(dir) == true)
    }

    // MARK: Not found

    @Test("a policy file that does not exist is not-found (66)")
    func missingFile() throws {
        let dir = try directory(with: [:])
        defer { removeDirectory(dir) }
        let file = dir + "/missing.json5"
        let error = try #require(loadingError(file, in: dir))
        #expect(error.code == .notFound)
        #expect(error.exitCode == .noInput)
        #expect(error.exitCode.rawValue == 66)
        #expect(error.file == file)
        #expect(error.description == "\(file): policy file not found")
    }

    @Test("a file that extends a missing file names the missing one")
    func missingParent() throws {
        let dir = try directory(with: ["a.json5": "{ extends: 'gone.json5' }"])
        defer { removeDirectory(dir) }
        let error = try #require(loadingError(dir + "/a.json5", in: dir))
        #expect(error.code == .notFound)
        #expect(error.exitCode.rawValue == 66)
        #expect(error.file == dir + "/gone.json5")
    }

    @Test("a directory is not a policy file")
    func directoryAsPolicy() throws {
        let dir = try directory(with: [:])
        defer { removeDirectory(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sub.json5", withIntermediateDirectories: true)
        let error = try #require(loadingError(dir + "/sub.json5", in: dir))
        #expect(error.code == .notFound)
        #expect(error.message.contains("is a directory"))
    }

    @Test("a name that is not shipped is not-found (66) and lists the shipped ones")
    func unknownName() throws {
        let dir = try directory(with: [:])
        defer { removeDirectory(dir) }
        let error = try #require(loadingError("tensorflow", in: dir))
        #expect(error.code == .notFound)
        #expect(error.exitCode.rawValue == 66)
        #expect(error.message.contains("no policy named 'tensorflow'"))
        #expect(error.message.contains(dir))
        #expect(error.message.contains("shipped policies: " + EmbeddedPolicies.names.joined(separator: ", ")))
    }

    // MARK: Shipped policies

    static let shippedFiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: policiesDirectory)) ?? []
        return names.filter { $0.hasSuffix(".json5") }.sorted()
    }()

    @Test("the embedded policies equal the files in policies/ (else run scripts/embed-policies)")
    func embeddedEqualFiles() throws {
        #expect(!Self.shippedFiles.isEmpty)
        let fileNames = Self.shippedFiles.map { String($0.dropLast(".json5".count)) }
        #expect(EmbeddedPolicies.names == fileNames)
        for name in Set(fileNames + EmbeddedPolicies.names).sorted() {
            let path = policiesDirectory + "/\(name).json5"
            let file = try #require(try? String(contentsOfFile: path, encoding: .utf8), "\(path) is missing")
            let embedded = try #require(EmbeddedPolicies.text(named: name), "'\(name)' is not embedded")
            let expected = file.hasSuffix("\n") ? String(file.dropLast()) : file
            #expect(embedded == expected, "\(name): embedded text differs from \(path); run scripts/embed-policies")
        }
        #expect(EmbeddedPolicies.text(named: "no-such-policy") == nil)
    }

    @Test("every shipped policy loads, from its file and embedded, to the same rules")
    func shippedPoliciesLoad() throws {
        for name in EmbeddedPolicies.names {
            let fromFile = try PolicyLoader(searchDirectories: [policiesDirectory]).load(name)
            let embedded = try PolicyLoader(searchDirectories: []).load(name)
            #expect(fromFile.name == name)
            #expect(fromFile.rules == embedded.rules, "\(name)")
            #expect(fromFile.restart == embedded.restart)
            #expect(fromFile.output == embedded.output)
            #expect(fromFile.rules.last?.name == "any-failure", "\(name) must end with the default's fallback")
            #expect(Set(fromFile.rules.map(\.name)).count == fromFile.rules.count, "\(name): duplicate rule names")
            #expect(embedded.sources.allSatisfy { $0.hasPrefix("<embedded") })
        }
    }

    @Test("pytorch layers over python over default")
    func pytorchLayers() throws {
        let policy = try PolicyLoader(searchDirectories: [policiesDirectory]).load("pytorch")
        let names = policy.rules.map(\.name)
        #expect(
            policy.sources == [
                "<embedded default>", policiesDirectory + "/python.json5", policiesDirectory + "/pytorch.json5",
            ])
        #expect(names.first == "nan-loss")
        let index = { (name: String) in names.firstIndex(of: name) ?? -1 }
        #expect(index("segfault") < index("usage-error"))  // pytorch's before python's
        #expect(index("runtime-error") < index("command-not-found"))  // python's before the default's
        #expect(index("permission-error") < index("io-error"))  // python's replaced the default's
        #expect(names.filter { $0 == "permission-error" }.count == 1)
    }

    @Test("the standard search path is $VIGIL_POLICY_PATH, then ./policies")
    func standardSearchPath() {
        let loader = PolicyLoader.standard(
            environment: ["VIGIL_POLICY_PATH": "/etc/vigil:/opt/p"],
            workingDirectory: "/work")
        #expect(loader.searchDirectories == ["/etc/vigil", "/opt/p", "/work/policies"])
        #expect(PolicyLoader.standard(environment: [:], workingDirectory: "/w").searchDirectories == ["/w/policies"])
    }

    // MARK: Durations and sizes

    @Test(
        "DurationFormat parses durations as people write them",
        arguments: [
            ("90s", 90), ("15m", 900), ("6h", 21600), ("1h30m", 5400), ("250ms", 0.25), ("0", 0), ("2d", 172_800),
            ("1.5h", 5400), ("1m30s", 90), (" 10s ", 10), ("10S", 10), ("1h1m1s", 3661), ("0s", 0),
        ] as [(String, Double)])
    func parseDuration(_ text: String, _ seconds: Double) {
        #expect(DurationFormat.seconds(from: text) == seconds)
    }

    @Test(
        "DurationFormat rejects what is not a duration",
        arguments: [
            "soon", "", "10", "s", "1h 30m", "-5s", "1.2.3s", "5x", "h1", "1hh", "ms", "5s5s", "30m1h", "1s1ms1s",
        ])
    func rejectDuration(_ text: String) {
        #expect(DurationFormat.seconds(from: text) == nil)
    }

    @Test(
        "DurationFormat never traps on odd input: each is refused or parses to a finite value ≥ 0",
        arguments: [
            ("1e400s", nil), ("9999999999999999999d", 9_999_999_999_999_999_999.0 * 86_400), ("nan", nil),
            ("NaN", nil), ("inf", nil), ("infinity", nil), ("-5s", nil), ("+5s", nil), ("5s5s", nil), ("30m1h", nil),
            ("1ms1s", nil), ("", nil), ("   ", nil), ("\u{663}s", nil), ("\u{FF15}s", nil), ("\u{2460}s", nil),
            ("\u{BD}h", nil), ("1.5.5s", nil), ("5.s", nil), (".5s", 0.5), ("1e3s", nil), ("0x10s", nil), ("5 s", nil),
            ("1h30m15s250ms", 5415.25), ("00s", 0), ("000", nil), ("0.0s", 0),
            (String(repeating: "9", count: 400) + "s", nil),
            ("1" + String(repeating: "0", count: 305) + "d", nil), ("99999999999999999999999999999999s", 1e32),
            ("\u{0}5s", nil), ("5s\u{0}", nil), ("5\u{301}s", nil), ("\t1d", 86_400), ("1d\n", nil), ("MS", nil),
            ("1MS", 0.001), ("2D1H", 176_400), (".", nil), ("s5", nil),
        ] as [(String, Double?)])
    func oddDuration(_ text: String, _ expected: Double?) {
        let seconds = DurationFormat.seconds(from: text)
        if let seconds {
            #expect(seconds.isFinite && seconds >= 0)
        }
        #expect(seconds == expected)
    }

    @Test(
        "ByteSizeFormat never traps on odd input",
        arguments: [
            ("99999999999999999999g", nil), ("8589934592g", nil), ("8589934591g", 9_223_372_035_781_033_984),
            ("1e400", nil), ("nan", nil), ("-1", nil), ("\u{663}k", nil), (".5k", 512), ("5.k", nil), ("0.1k", 102),
            (String(repeating: "9", count: 400), nil),
        ] as [(String, Int?)])
    func oddByteSize(_ text: String, _ expected: Int?) {
        #expect(ByteSizeFormat.bytes(from: text) == expected)
        if let value = ByteSizeFormat.value(from: text) { #expect(value.isFinite && value >= 0) }
    }

    @Test(
        "DurationFormat formats any number without trapping",
        arguments: [.nan, .infinity, -.infinity, 1e300, -0.0, 0.0004])
    func formatOddDuration(_ seconds: Double) throws {
        let text = DurationFormat.string(from: seconds)
        let parsed = try #require(DurationFormat.seconds(from: text), "\(text)")
        #expect(parsed.isFinite)
    }

    @Test(
        "DurationFormat formats seconds the way they are written",
        arguments: [
            (0, "0s"), (-3, "0s"), (0.25, "250ms"), (1, "1s"), (1.5, "1.5s"), (59, "59s"), (60, "1m"), (90, "1m30s"),
            (3600, "1h"), (5400, "1h30m"), (3661, "1h1m1s"), (86400, "1d"), (90000, "1d1h"), (600, "10m"),
        ] as [(Double, String)])
    func formatDuration(_ seconds: Double, _ text: String) {
        #expect(DurationFormat.string(from: seconds) == text)
    }

    @Test("formatted durations parse back", arguments: [0.25, 1, 1.5, 59, 90, 600, 3661, 5400, 90000] as [Double])
    func durationRoundTrip(_ seconds: Double) throws {
        let parsed = try #require(DurationFormat.seconds(from: DurationFormat.string(from: seconds)))
        #expect(abs(parsed - seconds) < 1e-9)
    }

    @Test(
        "ByteSizeFormat parses sizes",
        arguments: [
            ("100MB", 100 << 20), ("64KiB", 64 << 10), ("1g", 1 << 30), ("4096", 4096), ("1.5k", 1536),
            ("10 MB", 10 << 20), ("512b", 512), ("2GiB", 2 << 30), ("0", 0), ("1m", 1 << 20),
        ] as [(String, Int)])
    func parseByteSize(_ text: String, _ bytes: Int) {
        #expect(ByteSizeFormat.bytes(from: text) == bytes)
    }

    @Test("ByteSizeFormat rejects what is not a size", arguments: ["", "ten", "5TB", "-1", "MB", "1 parsec", "1.2.3k"])
    func rejectByteSize(_ text: String) {
        #expect(ByteSizeFormat.bytes(from: text) == nil)
    }
}
