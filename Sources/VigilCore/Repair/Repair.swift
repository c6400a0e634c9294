#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A change a rule asks for before the retry: `{key, set | scale | add, min, max}`.
public struct Repair: Sendable, Equatable {
    /// A config key (`training.batch_size`), `env:NAME`, `arg:--flag`, or a role (`@batchSize`)
    /// that the policy's `config.roles` maps to one of those.
    public var key: String
    public enum Operation: Sendable, Equatable {
        case set(ConfigValue)
        case scale(Double)
        case add(Double)
    }
    public var operation: Operation
    /// Bounds the result may not cross: crossing one makes the failure unrecoverable ("repair exhausted").
    public var min: Double?
    public var max: Double?

    public init(key: String, operation: Operation, min: Double? = nil, max: Double? = nil) {
        self.key = key
        self.operation = operation
        self.min = min
        self.max = max
    }

    /// The role a `@role` key names (`batchSize` for `@batchSize`), else nil.
    public var role: String? { key.hasPrefix("@") ? String(key.dropFirst()) : nil }

    /// The new value from `current`, or why the repair cannot go on.
    ///
    /// `integral` says whether the key holds an integer (``isIntegral(_:role:config:)``). Then `scale` rounds
    /// its result (down for a factor below 1, up above 1) and `add` to the nearest, and an integer stays an
    /// integer. Otherwise nothing is rounded: `3 × 0.5` is `1.5`; an integer stays an integer only while the
    /// result is a whole number. The bounds are checked on the value that would be written, after rounding. A
    /// result that is not a finite number, or an integer too large for an `Int`, exhausts the repair.
    public func apply(to current: ConfigValue?, integral: Bool) -> Result<ConfigValue, RepairExhausted> {
        let next: ConfigValue
        switch operation {
        case .set(let value):
            if current == value {
                return .failure(
                    RepairExhausted(
                        key: key, reason: "already \(value); setting it again changes nothing", crossesBound: false))
            }
            next = value
        case .scale(let operand), .add(let operand):
            guard let current, let number = current.number else {
                return .failure(
                    RepairExhausted(
                        key: key,
                        reason: current.map { "\($0) is not a number" } ?? "not set, nothing to change",
                        crossesBound: false))
            }
            let isScale: Bool
            if case .scale = operation { isScale = true } else { isScale = false }
            var result = isScale ? number * operand : number + operand
            let arithmetic = "\(current) \(isScale ? "×" : "+") \(ConfigSchema.format(operand))"
            guard result.isFinite else {
                return .failure(RepairExhausted(key: key, reason: "\(arithmetic) is \(result), not a finite number"))
            }
            if integral {
                result = isScale ? result.rounded(operand < 1 ? .down : .up) : result.rounded()
            }
            switch (current, Int(exactly: result)) {
            case (.int, let int?):
                next = .int(int)
            case (.int, nil) where integral:
                return .failure(
                    RepairExhausted(
                        key: key, reason: "\(arithmetic) is \(ConfigSchema.format(result)), too large for an integer"))
            default:
                next = .double(result)
            }
            if next == current {
                return .failure(
                    RepairExhausted(key: key, reason: "\(current) cannot change any further", crossesBound: false))
            }
        }
        if let number = next.number {
            if let min, number < min {
                return .failure(
                    RepairExhausted(key: key, reason: "\(next) would cross its bound min \(ConfigSchema.format(min))"))
            }
            if let max, number > max {
                return .failure(
                    RepairExhausted(key: key, reason: "\(next) would cross its bound max \(ConfigSchema.format(max))"))
            }
        }
        return .success(next)
    }

    /// The roles whose keys hold an integer by nature.
    public static let integralRoles: Set<String> = ["batchSize", "gradientAccumulation", "workers", "numWorkers"]

    /// Whether `key` (a config key, `env:NAME` or `arg:--flag`, as resolved from the repair's key) holds an
    /// integer: `config.schema` gives it `type: "int"`, or the repair names it by a role that is integral by
    /// nature (``integralRoles``), or `config.roles` gives it such a role. Any other key is not, whatever its
    /// current value.
    public static func isIntegral(_ key: String, role: String?, config: Policy.Config) -> Bool {
        if config.schema[key]?.type == .int { return true }
        if let role, integralRoles.contains(role) { return true }
        return config.roles.contains { integralRoles.contains($0.key) && $0.value == key }
    }
}

/// Why a repair cannot be applied again.
public struct RepairExhausted: Error, Sendable, Equatable {
    public var key: String
    public var reason: String
    /// True when the repair cannot go on: its result would cross a bound, or is no number that can be written
    /// (not finite, or too large for an integer). False when the repair simply changes nothing.
    public var crossesBound = true
    public var description: String { "repair exhausted: \(key): \(reason)" }
}

extension ConfigValue {
    /// Parses a command-line or environment value: int, then float, then true/false, else string.
    public init(parsing text: String) {
        if let v = Int(text) {
            self = .int(v)
        } else if let v = Double(text), text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
            self = .double(v)
        } else if text.lowercased() == "true" || text.lowercased() == "false" {
            self = .bool(text.lowercased() == "true")
        } else {
            self = .string(text)
        }
    }
}
