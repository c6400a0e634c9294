import Foundation

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

    /// The new value from `current`, or why the repair cannot go on.
    public func apply(to current: ConfigValue?) -> Result<ConfigValue, RepairExhausted> {
        let next: ConfigValue
        switch operation {
        case .set(let value):
            if current == value {
                return .failure(
                    RepairExhausted(
                        key: key, reason: "already \(value); setting it again changes nothing", crossesBound: false))
            }
            next = value
        case .scale(let factor), .add(let factor):
            guard let current, let number = current.number else {
                return .failure(
                    RepairExhausted(
                        key: key, reason: current == nil ? "not set, nothing to change" : "\(current) is not a number",
                        crossesBound: false))
            }
            var result: Double
            if case .scale = operation { result = number * factor } else { result = number + factor }
            if case .int = current {
                switch operation {
                case .scale(let f): result = f < 1 ? result.rounded(.down) : result.rounded(.up)
                default: result = result.rounded()
                }
                next = .int(Int(result))
            } else {
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
}

/// Why a repair cannot be applied again.
public struct RepairExhausted: Error, Sendable, Equatable {
    public var key: String
    public var reason: String
    /// True when the result would cross a bound; false when the repair simply changes nothing.
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
