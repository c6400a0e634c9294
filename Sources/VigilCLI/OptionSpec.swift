import VigilCore

/// One option a command accepts, declared once: the parser, the "unknown option" suggestions and
/// the option table of the command's `--help` all read this declaration.
public struct OptionSpec: Sendable, Hashable {
    /// How an option is written and what it holds.
    public enum Kind: Sendable, Hashable {
        /// `--name`, or `--name=true|false|yes|no|1|0`.
        case flag
        /// `--name VALUE` or `--name=VALUE`; given again, the last one counts.
        case value(ValueKind)
        /// Like `.value`, but every occurrence is kept, in order.
        case repeatable(ValueKind)
    }

    /// The long name without its dashes: `max-retries` for `--max-retries`.
    public let name: String
    /// A one-letter alias (`q` for `-q`), when there is one.
    public let short: Character?
    public let kind: Kind
    /// What the value is called in the help (`N`, `DURATION`); empty for a flag.
    public let valueName: String
    /// The help text of the option's line; wrapped when the help is printed.
    public let help: String
    /// Parsed, but left out of the help and of the suggestions (kept for compatibility).
    public let isHidden: Bool

    /// A flag: `--name` (true), `--name=false`.
    public static func flag(_ name: String, short: Character? = nil, hidden: Bool = false, help: String) -> OptionSpec {
        OptionSpec(name: name, short: short, kind: .flag, valueName: "", help: help, isHidden: hidden)
    }

    /// An option that takes one value: `--name VALUE`, `--name=VALUE`.
    public static func value(
        _ name: String, _ valueName: String, _ kind: ValueKind = .text, short: Character? = nil,
        hidden: Bool = false, help: String
    ) -> OptionSpec {
        OptionSpec(name: name, short: short, kind: .value(kind), valueName: valueName, help: help, isHidden: hidden)
    }

    /// An option that may be given several times, each value kept.
    public static func repeatable(
        _ name: String, _ valueName: String, _ kind: ValueKind = .text, short: Character? = nil, help: String
    ) -> OptionSpec {
        OptionSpec(name: name, short: short, kind: .repeatable(kind), valueName: valueName, help: help, isHidden: false)
    }

    /// `--name`, as it is written on the command line.
    public var spelling: String { "--" + name }

    /// `-q`, when the option has a short alias.
    public var shortSpelling: String? { short.map { "-\($0)" } }

    /// What the value must be; nil for a flag.
    public var valueKind: ValueKind? {
        switch kind {
        case .flag: return nil
        case .value(let kind), .repeatable(let kind): return kind
        }
    }

    /// The help's built-in option, accepted by every command.
    public static let help = OptionSpec.flag("help", short: "h", help: "show this help")
}

/// What the value of an option must be; checked as the command line is parsed.
public enum ValueKind: Sendable, Hashable {
    /// Any text (a path, a name).
    case text
    /// A whole number in this range, written in decimal digits.
    case integer(ClosedRange<Int>)
    /// A duration (`90s`, `15m`, `6h`, `1h30m`, `250ms`, `2d`) from 0 to `ValueKind.longestDuration`.
    case duration
    /// A finite decimal number (`0.001`, `1e-6`) in this range.
    case number(ClosedRange<Double>)

    /// The longest duration any option takes: 3650 days (10 years), in seconds, as for a policy's durations.
    public static let longestDuration: Double = PolicyRanges.duration.upperBound
    /// `longestDuration` as messages and the help write it.
    public static let longestDurationText = PolicyRanges.longestDurationText
}

/// An argument that is not an option: a run's name, a policy file.
public struct PositionalSpec: Sendable, Hashable {
    /// How it is called in the usage: `RUN`, `FILE|NAME`.
    public let name: String
    /// What it is, for the message when it is missing: "a policy file or name".
    public let help: String
    public let isRequired: Bool
    /// Takes every argument left (`NAME...`); only the last positional can.
    public let isVariadic: Bool

    public init(_ name: String, help: String, required: Bool = false, variadic: Bool = false) {
        self.name = name
        self.help = help
        self.isRequired = required
        self.isVariadic = variadic
    }
}
