import Foundation
import Testing

@testable import VigilCore

/// A rule's repair worked out on a value: rounding only for keys that hold integers, the file's own number style,
/// bounds checked on what would be written, and arithmetic that never traps.
@Suite("Repairs: the new value and how it is written")
struct RepairTests {
    /// What the supervisor does with one repair of a config key: the value, whether the key is integral, the new
    /// value, the new text.
    func repairing(
        _ text: String, format: ConfigFormat, key: String, _ repair: Repair, config: Policy.Config = Policy.Config()
    ) throws -> Result<String, RepairExhausted> {
        let document = try ConfigFile.parse(text, format: format, path: "train.\(format)")
        let integral = Repair.isIntegral(key, role: repair.role, config: config)
        switch repair.apply(to: document.value(at: key), integral: integral) {
        case .success(let next): return .success(try document.setting(key, to: next))
        case .failure(let exhausted): return .failure(exhausted)
        }
    }

    func halved(
        _ text: String, format: ConfigFormat = .yaml, key: String, config: Policy.Config = Policy.Config()
    )
        throws -> String?
    {
        try? repairing(text, format: format, key: key, Repair(key: key, operation: .scale(0.5)), config: config).get()
    }

    static let yaml = """
        # Training configuration
        training:
          lr: 3              # per device
          batch_size: 64
          dropout: 0.1
        """ + "\n"

    @Test("lr: 3 halved twice is 1.5, then 0.75; batch_size: 64 halved is 32; the file otherwise byte for byte")
    func learningRateIsNotRounded() throws {
        var config = Policy.Config()
        config.roles = ["learningRate": "training.lr", "batchSize": "training.batch_size"]
        let lr = Repair(key: "@learningRate", operation: .scale(0.5))
        let once = try repairing(Self.yaml, format: .yaml, key: "training.lr", lr, config: config).get()
        #expect(once == Self.yaml.replacingOccurrences(of: "lr: 3 ", with: "lr: 1.5 "))
        let twice = try repairing(once, format: .yaml, key: "training.lr", lr, config: config).get()
        #expect(twice == Self.yaml.replacingOccurrences(of: "lr: 3 ", with: "lr: 0.75 "))
        let batch = Repair(key: "@batchSize", operation: .scale(0.5))
        let smaller = try repairing(Self.yaml, format: .yaml, key: "training.batch_size", batch, config: config).get()
        #expect(smaller == Self.yaml.replacingOccurrences(of: "batch_size: 64", with: "batch_size: 32"))
        #expect(
            try halved(Self.yaml, key: "training.dropout") == Self.yaml.replacingOccurrences(of: "0.1", with: "0.05"))
    }

    @Test(
        "an integer scaled to a non-integer is written as each format writes floats",
        arguments: [
            (ConfigFormat.yaml, "lr: 3\n", "lr: 1.5\n", "lr: 0.75\n"),
            (.toml, "lr = 3\n", "lr = 1.5\n", "lr = 0.75\n"),
            (.json, #"{"lr": 3}"#, #"{"lr": 1.5}"#, #"{"lr": 0.75}"#),
            (.ini, "[a]\nlr = 3\n", "[a]\nlr = 1.5\n", "[a]\nlr = 0.75\n"),
            (.env, "LR='3'\n", "LR='1.5'\n", "LR='0.75'\n"),
        ])
    func eachFormat(format: ConfigFormat, text: String, once: String, twice: String) throws {
        let key = format == .ini ? "a.lr" : format == .env ? "LR" : "lr"
        #expect(try halved(text, format: format, key: key) == once)
        #expect(try halved(once, format: format, key: key) == twice)
        // A whole result stays an integer.
        let doubled = try repairing(text, format: format, key: key, Repair(key: key, operation: .scale(2))).get()
        #expect(doubled == text.replacingOccurrences(of: "3", with: "6"))
    }

    @Test(
        "a float keeps its style: an exponent form stays one, a plain decimal stays plain",
        arguments: [
            (ConfigFormat.yaml, "lr: 3e-4\n", "lr: 1.5e-4\n"), (.yaml, "lr: 1e-4\n", "lr: 5.0e-5\n"),
            (.yaml, "lr: 3.0E+04\n", "lr: 1.5E+04\n"), (.yaml, "lr: 2.0\n", "lr: 1.0\n"),
            (.yaml, "lr: 0.0001\n", "lr: 0.00005\n"), (.yaml, "lr: .5\n", "lr: 0.25\n"),
            (.yaml, "lr: -3e-04\n", "lr: -1.5e-04\n"), (.yaml, "lr: 2.0e-300\n", "lr: 1.0e-300\n"),
            (.yaml, "lr: 0.1e-24\n", "lr: 5.0e-26\n"), (.toml, "lr = 1e-4\n", "lr = 5e-5\n"),
            (.toml, "lr = 6.02e23\n", "lr = 3.01e23\n"), (.toml, "lr = 1_000.0\n", "lr = 500.0\n"),
            (.json, #"{"lr": 2e-3}"#, #"{"lr": 1e-3}"#), (.json, #"{"lr": 0.0002}"#, #"{"lr": 0.0001}"#),
            (.ini, "lr = 3E-4\n", "lr = 1.5E-4\n"), (.env, "lr=1e-04\n", "lr=5e-05\n"),
        ])
    func floatStyle(format: ConfigFormat, text: String, expected: String) throws {
        #expect(try halved(text, format: format, key: "lr") == expected)
    }

    @Test("a plain decimal too small or too large for plain digits is written as the format writes floats")
    func plainOutOfRange() {
        #expect(ConfigFloatSyntax.yaml.format(1e-30, like: "0.5") == "1.0e-30")
        #expect(ConfigFloatSyntax.toml.format(4e22, like: "1.5") == "4e+22")
        #expect(ConfigFloatSyntax.finite.format(0, like: "1e-4") == "0.0")
        #expect(ConfigFloatSyntax.toml.format(.infinity, like: "1e-4") == "inf")
        #expect(ConfigFloatSyntax.finite.format(.nan, like: "0.5") == nil)
        for literal in ["3", "0x1E", "inf", ".inf", "1_000", "e5", "1.2.3", "1e", "abc"] {
            #expect(ConfigFloatSyntax.finite.format(0.25, like: literal) == "0.25", "\(literal)")
        }
    }

    @Test("the text written reads back as exactly the value the bounds were checked on")
    func writtenTextReadsBack() {
        var generator = SystemRandomNumberGenerator()
        let literals = ["3e-4", "1.0E+04", "0.001", "-2.5e-07", "12.5"]
        for _ in 0..<2000 {
            let v = Double(
                sign: Bool.random(using: &generator) ? .minus : .plus,
                exponent: Int.random(in: -80...80, using: &generator),
                significand: Double.random(in: 1..<2, using: &generator))
            for literal in literals {
                for syntax in [ConfigFloatSyntax.yaml, .toml, .finite] {
                    let text = syntax.format(v, like: literal) ?? "none"
                    #expect(Double(text) == v, "\(v) like \(literal): \(text)")
                }
            }
        }
    }

    // MARK: Bounds and rounding

    @Test("bounds are checked on the value that would be written, after rounding")
    func boundsAfterRounding() {
        let integral = Repair(key: "b", operation: .scale(0.5), min: 1.5).apply(to: .int(3), integral: true)
        #expect(integral == .failure(RepairExhausted(key: "b", reason: "1 would cross its bound min 1.5")))
        let float = Repair(key: "lr", operation: .scale(0.5), min: 1.5)
        #expect(float.apply(to: .int(3), integral: false) == .success(.double(1.5)))
        #expect(
            float.apply(to: .double(1.5), integral: false)
                == .failure(RepairExhausted(key: "lr", reason: "0.75 would cross its bound min 1.5")))
        let up = Repair(key: "g", operation: .scale(1.5), max: 4)
        #expect(
            up.apply(to: .int(3), integral: true)
                == .failure(RepairExhausted(key: "g", reason: "5 would cross its bound max 4")))
        #expect(
            up.apply(to: .int(3), integral: false)
                == .failure(RepairExhausted(key: "g", reason: "4.5 would cross its bound max 4")))
        // Rounding back to the value it had is no change.
        #expect(
            Repair(key: "w", operation: .add(-0.4)).apply(to: .int(3), integral: true)
                == .failure(RepairExhausted(key: "w", reason: "3 cannot change any further", crossesBound: false)))
    }

    @Test(
        "integral keys round: scale below 1 down, above 1 up, add to the nearest; others are exact",
        arguments: [
            (Repair.Operation.scale(0.5), ConfigValue.int(3), true, ConfigValue.int(1)),
            (.scale(0.5), .int(3), false, .double(1.5)), (.scale(0.5), .int(4), false, .int(2)),
            (.scale(1.5), .int(3), true, .int(5)), (.scale(1.5), .int(3), false, .double(4.5)),
            (.add(-2.5), .int(4), true, .int(2)), (.add(-2.5), .int(4), false, .double(1.5)),
            (.scale(0.5), .double(64), true, .double(32)), (.scale(0.5), .double(3), true, .double(1)),
            (.scale(0.5), .double(3), false, .double(1.5)), (.scale(2), .int(1 << 40), false, .int(1 << 41)),
            (.scale(4), .int(Int.max / 2), false, .double(Double(Int.max) * 2)),
        ])
    func rounding(operation: Repair.Operation, current: ConfigValue, integral: Bool, expected: ConfigValue) {
        #expect(Repair(key: "k", operation: operation).apply(to: current, integral: integral) == .success(expected))
    }

    @Test(
        "arithmetic never traps: an overflow, NaN or infinity exhausts the repair, naming why",
        arguments: [
            (Repair.Operation.scale(4), ConfigValue.int(Int.max / 2), "too large for an integer"),
            (.add(1), .int(Int.max), "too large for an integer"),
            (.scale(1e10), .int(1 << 40), "too large for an integer"),
            (.scale(10), .double(1e308), "1e+308 × 10 is inf, not a finite number"),
            (.scale(-10), .double(1e308), "is -inf, not a finite number"), (.scale(0.5), .double(.nan), "is nan"),
            (.add(1), .double(.infinity), "inf + 1 is inf"), (.scale(1e308), .int(10), "10 × 1e+308 is inf"),
        ])
    func neverTraps(operation: Repair.Operation, current: ConfigValue, reason: String) throws {
        let result = Repair(key: "k", operation: operation).apply(to: current, integral: true)
        guard case .failure(let exhausted) = result else {
            Issue.record("\(result)")
            return
        }
        #expect(exhausted.reason.contains(reason), "\(exhausted.reason)")
        #expect(exhausted.crossesBound)
        // Not integral: an overflow of Int is a float, not an error.
        if reason == "too large for an integer" {
            guard
                case .success(.double(let v)) = Repair(key: "k", operation: operation).apply(
                    to: current, integral: false)
            else {
                Issue.record("not a float")
                return
            }
            #expect(v.isFinite)
        }
    }

    @Test("a value that is absent, not a number, or would not change is skipped, not exhausted")
    func unchanged() {
        let repair = Repair(key: "k", operation: .scale(0.5))
        for (current, reason) in [
            (nil, "not set, nothing to change"), (ConfigValue.string("adamw"), "adamw is not a number"),
            (.int(0), "0 cannot change any further"),
        ] {
            let result = repair.apply(to: current, integral: true)
            #expect(result == .failure(RepairExhausted(key: "k", reason: reason, crossesBound: false)), "\(reason)")
        }
        #expect(repair.apply(to: .int(1), integral: false) == .success(.double(0.5)))
    }

    // MARK: Which keys are integral

    @Test(
        "integral: schema type int, an integral role, or a key config.roles gives such a role",
        arguments: [
            ("training.lr", nil as String?, nil as KeySchema.ValueType?, false),
            ("training.lr", "learningRate", nil, false), ("training.lr", "learningRate", .int, true),
            ("training.lr", nil, .float, false), ("training.batch_size", "batchSize", nil, true),
            ("training.batch_size", "batchSize", .float, true),
            ("training.grad_accum", "gradientAccumulation", nil, true),
            ("data.workers", "workers", nil, true), ("data.workers", "numWorkers", nil, true),
            ("training.batch_size", nil, nil, true), ("training.batch_size", nil, .int, true),
            ("training.steps", nil, .int, true), ("env:OMP_NUM_THREADS", "threads", nil, false),
            ("arg:--batch-size", "batchSize", nil, true), ("arg:--batch-size", nil, nil, false),
        ])
    func integral(key: String, role: String?, type: KeySchema.ValueType?, expected: Bool) {
        var config = Policy.Config()
        config.roles = ["batchSize": "training.batch_size", "learningRate": "training.lr"]
        if let type { config.schema[key] = KeySchema(type: type) }
        #expect(Repair.isIntegral(key, role: role, config: config) == expected)
        #expect(Repair(key: role.map { "@" + $0 } ?? key, operation: .scale(0.5)).role == role)
    }

}
