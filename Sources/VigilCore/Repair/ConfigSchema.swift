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

/// What a key of the trainer's config must be (`config.schema` in a policy).
public struct KeySchema: Sendable, Equatable {
    public enum ValueType: String, Sendable, CaseIterable { case int, float, bool, string, `enum` }
    public var type: ValueType
    public var min: Double?
    public var max: Double?
    public var defaultValue: ConfigValue?
    public var required = false
    /// For `enum`: the allowed values.
    public var values: [String] = []

    public init(type: ValueType) {
        self.type = type
    }
}

/// One change Vigil made (or would make) to the config, the child's environment or its arguments.
public struct RepairRecord: Sendable, Equatable, Codable {
    /// `training.batch_size`, `env:NAME` or `arg:--flag`.
    public var key: String
    /// Nil when the key was absent.
    public var before: String?
    public var after: String
    /// Why: the rule's name, or `schema` for validation repairs.
    public var reason: String

    public init(key: String, before: String?, after: String, reason: String) {
        self.key = key
        self.before = before
        self.after = after
        self.reason = reason
    }

    /// `training.batch_size: 64 → 32`
    public var line: String { "\(key): \(before ?? "(absent)") → \(after)" }
}

/// The result of checking a config against a schema.
public struct SchemaCheck: Sendable, Equatable {
    /// Changes the schema can make itself: a clamp into range, a default for a missing key.
    public var repairs: [(key: String, value: ConfigValue, record: RepairRecord)]
    /// What it cannot fix: each names the file, the key, the value and what was expected.
    public var problems: [String]

    public static func == (a: SchemaCheck, b: SchemaCheck) -> Bool {
        a.problems == b.problems && a.repairs.map(\.record) == b.repairs.map(\.record)
    }
}

/// Validates a config document against `config.schema`.
public enum ConfigSchema {
    public static func check(_ document: any ConfigDocument, schema: [String: KeySchema], file: String) -> SchemaCheck {
        var repairs: [(String, ConfigValue, RepairRecord)] = []
        var problems: [String] = []
        for key in schema.keys.sorted() {
            let rule = schema[key]!
            guard let value = document.value(at: key) else {
                if let fallback = rule.defaultValue {
                    repairs.append(
                        (
                            key, fallback,
                            RepairRecord(
                                key: key, before: nil, after: fallback.description, reason: "schema: missing, default")
                        ))
                } else if rule.required {
                    problems.append("\(file): \(key): missing (required, \(describe(rule)))")
                }
                continue
            }
            switch (rule.type, value) {
            case (.int, .int), (.float, .int), (.float, .double):
                let number = value.number!
                if let low = rule.min, number < low {
                    let clamped = rule.type == .int ? ConfigValue.int(Int(low.rounded(.up))) : .double(low)
                    repairs.append(
                        (
                            key, clamped,
                            RepairRecord(
                                key: key, before: value.description, after: clamped.description,
                                reason: "schema: below min \(format(low))")
                        ))
                } else if let high = rule.max, number > high {
                    let clamped = rule.type == .int ? ConfigValue.int(Int(high.rounded(.down))) : .double(high)
                    repairs.append(
                        (
                            key, clamped,
                            RepairRecord(
                                key: key, before: value.description, after: clamped.description,
                                reason: "schema: above max \(format(high))")
                        ))
                }
            case (.bool, .bool), (.string, .string):
                break
            case (.enum, _):
                if !rule.values.contains(value.description) {
                    problems.append("\(file): \(key): \(value) is not one of \(rule.values.joined(separator: ", "))")
                }
            default:
                problems.append("\(file): \(key): \(quoted(value)) is not \(describe(rule))")
            }
        }
        return SchemaCheck(repairs: repairs, problems: problems)
    }

    static func describe(_ rule: KeySchema) -> String {
        var text: String
        switch rule.type {
        case .int: text = "an integer"
        case .float: text = "a number"
        case .bool: text = "true or false"
        case .string: text = "a string"
        case .enum: text = "one of \(rule.values.joined(separator: ", "))"
        }
        if let min = rule.min, let max = rule.max {
            text += " in \(format(min))…\(format(max))"
        } else if let min = rule.min {
            text += " ≥ \(format(min))"
        } else if let max = rule.max {
            text += " ≤ \(format(max))"
        }
        return text
    }

    static func quoted(_ value: ConfigValue) -> String {
        if case .string(let s) = value { return "\"\(s)\"" }
        return value.description
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
    }
}
