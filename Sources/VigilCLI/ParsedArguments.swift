/// A command line read against a `CommandSpec`, every value already checked: what a command's
/// code reads its options from, by the same `OptionSpec` values it declared them with.
public struct ParsedArguments: Sendable, Equatable {
    /// The command the arguments were parsed for.
    public let command: CommandSpec
    /// The arguments that are not options, in order (at most as many as the command declares).
    public let positionals: [String]
    /// The trainer's argv, for a command that takes one (then never empty); else empty.
    public let trainerCommand: [String]
    /// What each option given was given as, by name, in command-line order.
    let values: [String: [Occurrence]]

    init(command: CommandSpec, positionals: [String], trainerCommand: [String], values: [String: [Occurrence]]) {
        self.command = command
        self.positionals = positionals
        self.trainerCommand = trainerCommand
        self.values = values
    }

    /// Whether the option appears on the command line (`--quiet=false` does).
    public func isGiven(_ option: OptionSpec) -> Bool { !occurrences(of: option).isEmpty }

    /// Of `options`, the one given last on the command line (for alternatives where the last counts).
    public func lastGiven(of options: [OptionSpec]) -> OptionSpec? {
        let last = options.compactMap { option in occurrences(of: option).last.map { (option, $0.position) } }
        return last.max { $0.1 < $1.1 }?.0
    }

    /// A flag's value: false when it is not given, else its last occurrence (`--quiet=no` is false).
    public func flag(_ option: OptionSpec) -> Bool {
        precondition(option.kind == .flag, "\(option.spelling) is not a flag")
        guard case .flag(let on)? = occurrences(of: option).last?.value else { return false }
        return on
    }

    /// A text option's value (the last one given), or nil.
    public func text(_ option: OptionSpec) -> String? { texts(option).last }

    /// Every value of a text option, in order.
    public func texts(_ option: OptionSpec) -> [String] {
        precondition(option.valueKind == .text, "\(option.spelling) is not a text option")
        return occurrences(of: option).map(\.value).compactMap { if case .text(let text) = $0 { text } else { nil } }
    }

    /// Every value of the text options `options`, in command-line order across them, with the option
    /// each came with (`--matrix` and `--matrix-file` interleaved as given).
    public func texts(inOrderOf options: [OptionSpec]) -> [(option: OptionSpec, value: String)] {
        var found: [(position: Int, option: OptionSpec, value: String)] = []
        for option in options {
            precondition(option.valueKind == .text, "\(option.spelling) is not a text option")
            for occurrence in occurrences(of: option) {
                if case .text(let text) = occurrence.value { found.append((occurrence.position, option, text)) }
            }
        }
        return found.sorted { $0.position < $1.position }.map { ($0.option, $0.value) }
    }

    /// An integer option's value (the last one given), or nil.
    public func integer(_ option: OptionSpec) -> Int? {
        guard case .integer? = option.valueKind else { preconditionFailure("\(option.spelling) is not an integer") }
        return occurrences(of: option).map(\.value).compactMap {
            if case .integer(let value) = $0 { value } else { nil }
        }.last
    }

    /// A duration option's value in seconds (the last one given), or nil.
    public func duration(_ option: OptionSpec) -> Double? {
        precondition(option.valueKind == .duration, "\(option.spelling) is not a duration")
        return occurrences(of: option).map(\.value).compactMap {
            if case .duration(let value) = $0 { value } else { nil }
        }.last
    }

    /// A number option's value (the last one given), or nil.
    public func number(_ option: OptionSpec) -> Double? {
        guard case .number? = option.valueKind else { preconditionFailure("\(option.spelling) is not a number") }
        return occurrences(of: option).map(\.value).compactMap {
            if case .number(let value) = $0 { value } else { nil }
        }.last
    }

    /// The value of a declared positional argument (`RUN`), when it was given.
    public func positional(_ argument: PositionalSpec) -> String? {
        guard let index = command.positionals.firstIndex(of: argument) else {
            preconditionFailure("\(command.name) has no positional argument \(argument.name)")
        }
        return index < positionals.count ? positionals[index] : nil
    }

    /// Every value of a variadic positional argument (`NAME...`), in order.
    public func positionalValues(_ argument: PositionalSpec) -> [String] {
        guard let index = command.positionals.firstIndex(of: argument) else {
            preconditionFailure("\(command.name) has no positional argument \(argument.name)")
        }
        guard index < positionals.count else { return [] }
        return argument.isVariadic ? Array(positionals[index...]) : [positionals[index]]
    }

    private func occurrences(of option: OptionSpec) -> [Occurrence] {
        precondition(
            command.acceptedOptions.contains { $0.name == option.name && $0.kind == option.kind },
            "\(command.name) does not declare \(option.spelling)")
        return values[option.name] ?? []
    }
}

/// One occurrence of an option: where it was on the command line and what it was given as.
struct Occurrence: Sendable, Equatable {
    /// Its index among the arguments.
    let position: Int
    let value: ParsedValue
}

/// An option's value, converted to what its declaration says it holds.
enum ParsedValue: Sendable, Equatable {
    case flag(Bool)
    case text(String)
    case integer(Int)
    case duration(Double)
    case number(Double)
}
