import Foundation
import Testing

@testable import VigilCore

/// Loads `text` as a policy file in a fresh directory: the policy, or the error it throws.
private func load(_ text: String) throws -> Result<Policy, VigilError> {
    let dir = try TestSupport.temporaryDirectory("vigil-ranges")
    defer { TestSupport.remove(dir) }
    let file = dir + "/p.json5"
    try text.write(toFile: file, atomically: true, encoding: .utf8)
    do {
        return .success(try PolicyLoader(searchDirectories: []).load(file))
    } catch let error as VigilError {
        return .failure(error)
    }
}

/// One numeric policy key: how to write a value for it, what it holds and how to read it back.
struct NumericKey: Sendable {
    /// What the key holds, with its documented range.
    enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        case number(ClosedRange<Double>)
        case duration
        case size(ClosedRange<Int>)
    }

    /// The key path errors name.
    var path: String
    /// The policy text, with `$` where the value goes.
    var template: String
    var kind: Kind
    /// The range as the message writes it: `from 0 to 1000`.
    var rangeText: String
    /// The value the resolved policy holds for the key.
    var read: @Sendable (Policy) -> Double?

    func text(_ value: String) -> String { template.replacingOccurrences(of: "$", with: value) }
}

/// One value written for a key: accepted (and read back as `expected`), or refused naming the key and the range.
struct RangeCase: Sendable, CustomTestStringConvertible {
    var key: NumericKey
    var value: String
    /// Nil: the value must be refused.
    var expected: Double?

    var testDescription: String { "\(key.path): \(value) → \(expected.map { "\($0)" } ?? "refused")" }
}

/// Every numeric key of docs/policy.md, with its range.
private let numericKeys: [NumericKey] = {
    let duration = "from 0s to 3650d (10 years)"
    let rule = "{ rules: [{ name: 'r', class: 'recoverable', $ }] }"
    func durationKey(_ path: String, _ read: @escaping @Sendable (Policy) -> Double?) -> NumericKey {
        NumericKey(path: path, template: nested(path), kind: .duration, rangeText: duration, read: read)
    }
    func repairKey(_ name: String, _ operation: String, _ read: @escaping @Sendable (Repair) -> Double?) -> NumericKey {
        let repair = rule.replacingOccurrences(of: "$", with: "repairs: [{ key: 'a', \(operation) }]")
        return NumericKey(
            path: "rules[0].repairs[0].\(name)", template: repair, kind: .number(-1e15...1e15),
            rangeText: "from -1e15 to 1e15", read: { $0.rules.first?.repairs.first.flatMap(read) })
    }
    func schemaKey(_ name: String, _ read: @escaping @Sendable (KeySchema) -> Double?) -> NumericKey {
        NumericKey(
            path: "config.schema.lr.\(name)", template: "{ config: { schema: { lr: { type: 'float', \(name): $ } } } }",
            kind: .number(-1e15...1e15), rangeText: "from -1e15 to 1e15",
            read: { $0.config.schema["lr"].flatMap(read) })
    }
    return [
        NumericKey(
            path: "restart.maxRetries", template: nested("restart.maxRetries"), kind: .integer(0...1000),
            rangeText: "from 0 to 1000", read: { Double($0.restart.maxRetries) }),
        durationKey("restart.healthyAfter") { $0.restart.healthyAfter },
        durationKey("restart.backoff.initial") { $0.restart.backoffInitial },
        NumericKey(
            path: "restart.backoff.factor", template: nested("restart.backoff.factor"), kind: .number(1...100),
            rangeText: "from 1 to 100", read: { $0.restart.backoffFactor }),
        durationKey("restart.backoff.max") { $0.restart.backoffMax },
        NumericKey(
            path: "restart.backoff.jitter", template: nested("restart.backoff.jitter"), kind: .number(0...1),
            rangeText: "from 0 to 1", read: { $0.restart.backoffJitter }),
        durationKey("limits.runtime") { $0.limits.runtime },
        durationKey("limits.attempt") { $0.limits.attempt },
        durationKey("limits.total") { $0.limits.total },
        durationKey("limits.minAttempt") { $0.limits.minAttempt },
        durationKey("limits.stall") { $0.limits.stall },
        durationKey("stop.checkpointLead") { $0.stop.checkpointLead },
        durationKey("stop.checkpointTimeout") { $0.stop.checkpointTimeout },
        durationKey("stop.termGrace") { $0.stop.termGrace },
        NumericKey(
            path: "output.logMaxBytes", template: nested("output.logMaxBytes"), kind: .size(0...(1 << 40)),
            rangeText: "from 0 to 1024GiB", read: { Double($0.output.logMaxBytes) }),
        NumericKey(
            path: "output.logBackups", template: nested("output.logBackups"), kind: .integer(0...1000),
            rangeText: "from 0 to 1000", read: { Double($0.output.logBackups) }),
        NumericKey(
            path: "output.tailBytes", template: nested("output.tailBytes"), kind: .size(1024...(64 << 20)),
            rangeText: "from 1KiB to 64MiB", read: { Double($0.output.tailBytes) }),
        NumericKey(
            path: "output.keepFree", template: nested("output.keepFree"), kind: .size(0...(1 << 40)),
            rangeText: "from 0 to 1024GiB", read: { Double($0.output.keepFree) }),
        durationKey("checkpoints.settle") { $0.checkpoints.settle },
        NumericKey(
            path: "checkpoints.keepLast", template: "{ checkpoints: { pattern: 'm{step}.pt', keepLast: $ } }",
            kind: .integer(1...1_000_000), rangeText: "from 1 to 1000000",
            read: { $0.checkpoints.retention.keepLast.map(Double.init) }),
        NumericKey(
            path: "checkpoints.keepEvery", template: "{ checkpoints: { pattern: 'm{step}.pt', keepEvery: $ } }",
            kind: .integer(1...1_000_000_000), rangeText: "from 1 to 1000000000",
            read: { $0.checkpoints.retention.keepEvery.map(Double.init) }),
        NumericKey(
            path: "checkpoints.keepBest.count",
            template: "{ checkpoints: { pattern: 'm{step}.pt', keepBest: { metric: 'loss', count: $ } } }",
            kind: .integer(1...1_000_000), rangeText: "from 1 to 1000000",
            read: { $0.checkpoints.retention.keepBest.map { Double($0.count) } }),
        durationKey("hooks.timeout") { $0.hooks.timeout },
        NumericKey(
            path: "slurm.maxRequeues", template: nested("slurm.maxRequeues"), kind: .integer(0...10_000),
            rangeText: "from 0 to 10000", read: { Double($0.slurm.maxRequeues) }),
        NumericKey(
            path: "rules[0].exitCodes", template: rule.replacingOccurrences(of: "$", with: "exitCodes: $"),
            kind: .integer(0...255), rangeText: "from 0 to 255",
            read: { $0.rules.first?.exitCodes?.ranges.first.map { Double($0.lowerBound) } }),
        repairKey("set", "set: $") {
            if case .set(let value) = $0.operation { return value.number }
            return nil
        },
        NumericKey(
            path: "rules[0].repairs[0].scale",
            template: rule.replacingOccurrences(of: "$", with: "repairs: [{ key: 'a', scale: $ }]"),
            kind: .number(0.001...1000), rangeText: "from 0.001 to 1000",
            read: {
                if case .scale(let factor)? = $0.rules.first?.repairs.first?.operation { return factor }
                return nil
            }),
        repairKey("add", "add: $") {
            if case .add(let amount) = $0.operation { return amount }
            return nil
        },
        repairKey("min", "add: 1, min: $") { $0.min },
        repairKey("max", "add: 1, max: $") { $0.max },
        schemaKey("min") { $0.min },
        schemaKey("max") { $0.max },
        schemaKey("default") { $0.defaultValue?.number },
    ]
}()

/// `{ restart: { backoff: { factor: $ } } }` for `restart.backoff.factor`.
private func nested(_ path: String) -> String {
    let parts = path.split(separator: ".")
    return parts.reversed().reduce("$") { inner, key in "{ \(key): \(inner) }" }
}

/// A number as JSON5 writes it: `1000`, `0.001`, `-1e15`.
private func written(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}

/// The values every key is tried with: its bounds (accepted), just past them, and what no key accepts.
private func cases(for key: NumericKey) -> [RangeCase] {
    let accepted: [(String, Double)]
    var refused = ["9223372036854775807", "-9223372036854775808", "NaN", "Infinity", "-Infinity", "1e308", "-1e308"]
    switch key.kind {
    case .integer(let range):
        accepted = [
            (String(range.lowerBound), Double(range.lowerBound)), ("\(range.upperBound)", Double(range.upperBound)),
        ]
        refused += ["\(range.lowerBound - 1)", "\(range.upperBound + 1)", "-1", "2.5", "\(range.lowerBound).5"]
    case .number(let range):
        accepted = [(written(range.lowerBound), range.lowerBound), (written(range.upperBound), range.upperBound)]
        let below = range.lowerBound > 0 ? range.lowerBound / 2 : range.lowerBound - 1
        refused += [written(below), written(range.upperBound * 2 + 1)]
        if range.lowerBound > -1 { refused.append("-1") }
    case .duration:
        accepted = [("0", 0), ("'0s'", 0), ("315360000", 315_360_000), ("'3650d'", 315_360_000), ("0.5", 0.5)]
        refused += ["-1", "-0.001", "315360001", "'3650d1s'", "'9999999999999999999d'"]
    case .size(let range):
        let upper = range.upperBound == 1 << 40 ? "'1024GiB'" : "'64MiB'"
        accepted = [("\(range.lowerBound)", Double(range.lowerBound)), (upper, Double(range.upperBound))]
        refused += ["\(range.lowerBound - 1)", "\(range.upperBound + 1)", "-1", "2.5", "'99999999999999999999g'"]
        refused.append(range.upperBound == 1 << 40 ? "'1025GiB'" : "'65MiB'")
        if range.lowerBound > 0 { refused.append("'1023b'") }
    }
    var seen = Set<String>()
    return accepted.map { RangeCase(key: key, value: $0.0, expected: $0.1) }
        + refused.filter { seen.insert($0).inserted }.map { RangeCase(key: key, value: $0, expected: nil) }
}

@Suite("Policy ranges")
struct PolicyRangeTests {
    static let rangeCases: [RangeCase] = numericKeys.flatMap(cases(for:))

    @Test(
        "every numeric key accepts its bounds and refuses what lies beyond, naming the key and the range",
        arguments: rangeCases)
    func numericRange(_ row: RangeCase) throws {
        switch try load(row.key.text(row.value)) {
        case .success(let policy):
            let expected = try #require(row.expected, "\(row.value) was accepted for \(row.key.path)")
            #expect(row.key.read(policy) == expected)
        case .failure(let error):
            #expect(row.expected == nil, "\(row.key.path): \(row.value) refused: \(error)")
            #expect(error.code == .invalidPolicy)
            #expect(error.exitCode.rawValue == 78)
            #expect(error.key == row.key.path, "\(error)")
            #expect(error.description.contains(": \(row.key.path): "), "\(error)")
            #expect(error.message.contains(row.key.rangeText), "\(error.message)")
        }
    }

    @Test("the message names the file, the key, the range and the value as written")
    func messageFromTheIssue() throws {
        let error = try #require(try load("{restart:{maxRetries:9223372036854775807}}").failure)
        #expect(error.key == "restart.maxRetries")
        #expect(error.message == "expected an integer from 0 to 1000, got 9223372036854775807")
        #expect(error.file?.hasSuffix("/p.json5") == true)
        let nan = try #require(try load("{restart:{backoff:{factor:NaN}}}").failure)
        #expect(nan.description.hasSuffix("restart.backoff.factor: expected a number from 1 to 100, got NaN"))
    }

    @Test("the flags that set policy keys take the same ranges")
    func flagsMatchPolicy() {
        #expect(PolicyRanges.maxRetries == 0...1000)
        #expect(PolicyRanges.exitCode == 0...255)
        #expect(PolicyRanges.duration.upperBound == 3650 * 86_400)
    }

    // MARK: Values that make no sense

    static let senseless: [MalformedPolicy] = [
        MalformedPolicy(
            "checkpointSignal KILL cannot be caught", "{ stop: { checkpointSignal: 'KILL' } }",
            key: "stop.checkpointSignal", "expected a signal the trainer can catch, got \"KILL\"",
            "SIGKILL cannot be caught", "would kill it"),
        MalformedPolicy(
            "checkpointSignal STOP would freeze the trainer", "{ stop: { checkpointSignal: 'SIGSTOP' } }",
            key: "stop.checkpointSignal", "SIGSTOP cannot be caught", "would freeze it"),
        MalformedPolicy(
            "checkpointSignal 9 is KILL", "{ stop: { checkpointSignal: '9' } }", key: "stop.checkpointSignal",
            "SIGKILL cannot be caught"),
        MalformedPolicy(
            "dumpSignal KILL cannot be caught", "{ stop: { dumpSignal: 'kill' } }", key: "stop.dumpSignal",
            "to print its stacks would kill it"),
        MalformedPolicy(
            "dumpSignal STOP cannot be caught", "{ stop: { dumpSignal: 'STOP' } }", key: "stop.dumpSignal",
            "would freeze it"),
        MalformedPolicy(
            "an exit code of 300", "{ rules: [{ name: 'r', class: 'ignore', exitCodes: 300 }] }",
            key: "rules[0].exitCodes", "expected exit codes from 0 to 255, got 300"),
        MalformedPolicy(
            "an exit code of -1", "{ rules: [{ name: 'r', class: 'ignore', exitCodes: [1, -1] }] }",
            key: "rules[0].exitCodes", "expected exit codes from 0 to 255, got -1"),
        MalformedPolicy(
            "an exit code range past 255",
            "{ rules: [{ name: 'r', class: 'ignore', exitCodes: { notIn: ['1-300'] } }] }",
            key: "rules[0].exitCodes", "expected exit codes from 0 to 255, got \"1-300\""),
        MalformedPolicy(
            "an exit code string of -1 is not read as 1",
            "{ rules: [{ name: 'r', class: 'ignore', exitCodes: '-1' }] }",
            key: "rules[0].exitCodes", "got \"-1\""),
        MalformedPolicy(
            "a half-open exit code range", "{ rules: [{ name: 'r', class: 'ignore', exitCodes: '3-' }] }",
            key: "rules[0].exitCodes", "got \"3-\""),
        MalformedPolicy(
            "an exit code of 2.5", "{ rules: [{ name: 'r', class: 'ignore', exitCodes: 2.5 }] }",
            key: "rules[0].exitCodes", "from 0 to 255", "got a number 2.5"),
        MalformedPolicy(
            "a signal number past 64", "{ rules: [{ name: 'r', class: 'ignore', signals: ['65'] }] }",
            key: "rules[0].signals", "'65' is not a signal number (1 to 64)"),
        MalformedPolicy(
            "signal 0", "{ rules: [{ name: 'r', class: 'ignore', signals: '0' }] }", key: "rules[0].signals",
            "'0' is not a signal number (1 to 64)"),
        MalformedPolicy(
            "a schema min above its max", "{ config: { schema: { lr: { type: 'float', min: 2, max: 1 } } } }",
            key: "config.schema.lr.max", "max 1 is below min 2"),
        MalformedPolicy(
            "an int schema with no integer in range",
            "{ config: { schema: { n: { type: 'int', min: 0.2, max: 0.8 } } } }",
            key: "config.schema.n.max", "no integer lies between min 0.2 and max 0.8"),
        MalformedPolicy(
            "a fractional default for an int", "{ config: { schema: { n: { type: 'int', default: 2.5 } } } }",
            key: "config.schema.n.default", "expected an integer for a key of type int, got 2.5"),
        MalformedPolicy(
            "a default outside min and max",
            "{ config: { schema: { n: { type: 'int', min: 1, max: 8, default: 9 } } } }",
            key: "config.schema.n.default", "9 is above max 8"),
        MalformedPolicy(
            "a repair min above its max",
            "{ rules: [{ name: 'r', class: 'recoverable', repairs: [{ key: 'a', scale: 0.5, min: 4, max: 2 }] }] }",
            key: "rules[0].repairs[0].max", "max 2 is below min 4"),
        MalformedPolicy(
            "a repair scale of 0",
            "{ rules: [{ name: 'r', class: 'recoverable', repairs: [{ key: 'a', scale: 0 }] }] }",
            key: "rules[0].repairs[0].scale", "expected a number from 0.001 to 1000, got 0"),
        MalformedPolicy(
            "a number beyond any Double", "{ restart: { backoff: { factor: 1e400 } } }",
            key: "restart.backoff.factor", "got one beyond ±1.8e308"),
        MalformedPolicy(
            "a hexadecimal integer beyond 64 bits, in a list",
            "{ rules: [{ name: 'r', class: 'ignore', exitCodes: [1, 0x1FFFFFFFFFFFFFFFF] }] }",
            key: "rules[0].exitCodes[1]", "expected a number that can be read"),
        MalformedPolicy(
            "a duration that is not one", "{ limits: { stall: '1e400s' } }", key: "limits.stall",
            "expected a duration like \"90s\"", "got \"1e400s\""),
        MalformedPolicy(
            "a duration with a unit twice", "{ limits: { stall: '5s5s' } }", key: "limits.stall", "got \"5s5s\""),
    ]

    @Test("values that make no sense are refused, naming the key and why", arguments: senseless)
    func senselessValue(_ row: MalformedPolicy) throws {
        let error = try #require(try load(row.text).failure, "accepted: \(row.text)")
        #expect(error.code == .invalidPolicy)
        #expect(error.exitCode.rawValue == 78)
        #expect(error.key == row.key, "\(error)")
        for fragment in row.message {
            #expect(error.message.contains(fragment), "message was: \(error.message)")
        }
    }

    @Test(
        "catchable stop signals and exit codes at their bounds are accepted",
        arguments: [
            "{ stop: { checkpointSignal: 'USR2', dumpSignal: 'QUIT' } }",
            "{ stop: { checkpointSignal: 'none', dumpSignal: 'none' } }",
            "{ rules: [{ name: 'r', class: 'ignore', exitCodes: [0, 255, '0-255', ' 3 - 9 '], signals: ['1', '64'] }] }",
            "{ config: { schema: { n: { type: 'int', min: 1, max: 1, default: 1 } } } }",
        ])
    func sensibleValues(_ text: String) throws {
        if case .failure(let error) = try load(text) { Issue.record("refused: \(error)") }
    }

    // MARK: Duplicate keys

    static let duplicates: [(text: String, key: String, line: Int, column: Int, first: String)] = [
        ("{ restart: { maxRetries: 3,\n  maxRetries: 4 } }", "restart.maxRetries", 2, 3, "line 1, column 14"),
        ("{\n  description: 'a',\n  'description': 'b',\n}", "description", 3, 3, "line 2, column 3"),
        ("{ \"\\u0064escription\": 'a', description: 'b' }", "description", 1, 28, "line 1, column 3"),
        (
            "{ rules: [\n  { name: 'a', class: 'ignore' },\n  { name: 'b', class: 'ignore', name: 'c' },\n] }",
            "rules[1].name", 3, 33, "line 3, column 5"
        ),
        ("{ config: { schema: { 'a.b': {}, \"a.b\": {} } } }", "config.schema.a.b", 1, 34, "line 1, column 23"),
    ]

    @Test("a key twice in one object is refused with the line and column of the second", arguments: duplicates)
    func duplicateKey(_ row: (text: String, key: String, line: Int, column: Int, first: String)) throws {
        let error = try #require(try load(row.text).failure, "accepted: \(row.text)")
        #expect(error.code == .invalidPolicy)
        #expect(error.exitCode.rawValue == 78)
        #expect(error.key == row.key)
        #expect(error.message.contains("at line \(row.line), column \(row.column)"), "\(error.message)")
        #expect(error.message.contains("already set at \(row.first)"), "\(error.message)")
    }

    @Test("the same key in different objects is no duplicate")
    func sameKeyElsewhere() throws {
        let text = """
            {
              restart: { backoff: { max: '1m' } },
              limits: { attempt: '1h' },
              rules: [{ name: 'a', class: 'ignore', exitCodes: 3 }, { name: 'b', class: 'ignore', exitCodes: 4 }],
              config: { schema: { max: { type: 'int', max: 3 } } },
            }
            """
        if case .failure(let error) = try load(text) { Issue.record("refused: \(error)") }
        #expect(JSON5Locator.firstDuplicateKey(in: "{ a: { b: 1 }, c: { b: 2 }, d: [{ b: 1 }, { b: 2 }] }") == nil)
    }

    @Test("JSON5Locator finds the first duplicate, with both positions and the key path")
    func locatorDuplicate() throws {
        let duplicate = try #require(JSON5Locator.firstDuplicateKey(in: "{ a: [1, { 'x\\ty': 1, \"x\\u0009y\": 2 }] }"))
        #expect(
            duplicate
                == JSON5DuplicateKey(key: "x\ty", path: "a[1].x\ty", line: 1, column: 23, firstLine: 1, firstColumn: 12)
        )
        #expect(JSON5Locator.firstDuplicateKey(in: "{ a: 1, a: ") == nil, "a syntax error is firstIssue's to report")
        #expect(JSON5Locator.firstDuplicateKey(in: "{ '\\uD83D\\uDE00': 1, '😀': 2 }")?.key == "😀")
    }
}

@Suite("Arithmetic on policy values")
struct PolicyArithmeticTests {
    @Test(
        "the last attempt of the budget saturates instead of trapping",
        arguments: [
            (5, 2, 3, 6), (1, 0, 1000, 1001), (Int.max, 0, 1000, Int.max), (Int.max, -5, 1000, Int.max),
            (Int.min, Int.max, 0, Int.min), (0, Int.min, 0, Int.max), (3, Int.max, 1000, Int.min + 1004),
        ] as [(Int, Int, Int, Int)])
    func lastAttempt(_ attempt: Int, _ failures: Int, _ maxRetries: Int, _ expected: Int) {
        var restart = Policy.Restart()
        restart.maxRetries = maxRetries
        #expect(restart.lastAttempt(attempt: attempt, consecutiveFailures: failures) == expected)
    }

    @Test("the backoff is finite for any failure count, at the ends of the ranges")
    func backoffBounds() {
        let longest = PolicyRanges.duration.upperBound
        let steep = Backoff(initial: longest, factor: 100, maximum: longest, jitter: 1)
        #expect(steep.baseDelay(afterFailure: Int.max) == longest)
        #expect(steep.delay(afterFailure: Int.max, unit: 0.999_999) <= 2 * longest)
        let flat = Backoff(initial: 0.001, factor: 1, maximum: longest, jitter: 0)
        #expect(flat.baseDelay(afterFailure: Int.max) == 0.001)  // closed form: no loop of Int.max steps
        #expect(Backoff(initial: 1, factor: 100, maximum: 0, jitter: 0).baseDelay(afterFailure: 1000) == 0)
        #expect(Backoff(initial: 1, factor: .nan, maximum: 60, jitter: 0).baseDelay(afterFailure: 3) == 0)
        #expect(Backoff(initial: 1, factor: 2, maximum: 60, jitter: 0).baseDelay(afterFailure: 0) == 0)
        #expect(Backoff(initial: 1, factor: 2, maximum: 60, jitter: 0).baseDelay(afterFailure: Int.min) == 0)
    }
}

extension Result {
    /// The error, when there is one.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
