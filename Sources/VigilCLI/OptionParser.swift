import VigilCore

/// Reads a command line against a `CommandSpec`: `--name VALUE` and `--name=VALUE`, flags with an
/// optional `=true|false|yes|no|1|0`, positional arguments, and a trainer command after `--`.
///
/// A value that starts with `-` must be written with `=` (`--resume-arg=--resume`): the next
/// argument is taken as a value only when it does not look like an option. `--help` or `-h`
/// anywhere before `--` (and before the trainer command) wins over every other problem on the line.
/// Errors are `VigilError(.usage, …)`.
public struct OptionParser: Sendable {
    /// What a command line asks for.
    public enum Result: Sendable, Equatable {
        /// `--help` or `-h`: print the command's help and exit 0.
        case help
        /// The command with its checked arguments.
        case arguments(ParsedArguments)
    }

    public let command: CommandSpec
    /// The other commands of the tool: an option unknown here but one of theirs is named as such.
    public let otherCommands: [CommandSpec]

    public init(_ command: CommandSpec, otherCommands: [CommandSpec] = []) {
        self.command = command
        self.otherCommands = otherCommands.filter { $0.path != command.path }
    }

    /// Parses `arguments` (what follows the command's name).
    /// - Throws: `VigilError(.usage, …)` naming the option or argument that is wrong.
    public func parse(_ arguments: [String]) throws -> Result {
        var scan = Scan(arguments)
        while let argument = scan.next() {
            if argument == "--" {
                if command.takesTrainerCommand {
                    scan.trainerCommand = scan.rest()
                } else {
                    scan.positionals += scan.rest()
                }
            } else if Self.looksLikeOption(argument) {
                // Keep going after a mistake: a later --help still gets the help.
                do { try readOption(argument, &scan) } catch { scan.note(error) }
            } else if command.takesTrainerCommand {
                scan.trainerCommand = [argument] + scan.rest()
            } else {
                scan.positionals.append(argument)
            }
        }
        if scan.helpRequested { return .help }
        if let error = scan.firstError { throw error }
        try checkPositionals(scan)
        return .arguments(
            ParsedArguments(
                command: command, positionals: scan.positionals, trainerCommand: scan.trainerCommand,
                values: scan.values))
    }

    /// `-x`, `--name`, `--name=value`; a lone `-` is an argument.
    static func looksLikeOption(_ argument: String) -> Bool { argument.hasPrefix("-") && argument != "-" }

    /// Splits `--name=value` into its parts.
    static func split(_ argument: String) -> (spelling: String, inline: String?) {
        guard let equals = argument.firstIndex(of: "=") else { return (argument, nil) }
        return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
    }

    private func readOption(_ argument: String, _ scan: inout Scan) throws {
        let position = scan.position - 1
        let (spelling, inline) = Self.split(argument)
        guard let option = command.option(spelled: spelling) else { throw unknownOption(spelling) }
        switch option.kind {
        case .flag:
            let on = try inline.map { try ValueReader.boolean($0, for: option) } ?? true
            if option == .help { scan.helpRequested = scan.helpRequested || on }
            scan.values[option.name, default: []].append(Occurrence(position: position, value: .flag(on)))
        case .value(let kind), .repeatable(let kind):
            guard let text = inline ?? scan.nextValue() else { throw missingValue(option, before: scan.peek) }
            let value = Occurrence(position: position, value: try ValueReader.value(text, kind, for: option))
            if case .value = option.kind {
                scan.values[option.name] = [value]
            } else {
                scan.values[option.name, default: []].append(value)
            }
        }
    }

    /// "unknown option": with the commands it belongs to when it is theirs, else the nearest of ours.
    private func unknownOption(_ spelling: String) -> VigilError {
        var message = "unknown option \(spelling)"
        let owners = otherCommands.filter { $0.documents(spelling) }.map { "`\($0.name)`" }
        if !owners.isEmpty {
            let named = owners.count > 3 ? owners.prefix(3).joined(separator: ", ") + ", …" : list(owners)
            message += " (valid for \(named), not `\(command.name)`)"
        } else if let near = Spelling.nearest(spelling, in: suggestions), near != spelling {
            message += " (did you mean \(near)?)"
        }
        return VigilError(.usage, message)
    }

    /// The spellings worth suggesting: the documented long options.
    private var suggestions: [String] { command.acceptedOptions.filter { !$0.isHidden }.map(\.spelling) }

    private func missingValue(_ option: OptionSpec, before next: String?) -> VigilError {
        var message = "option \(option.spelling) needs a value"
        if let next, next != "--" {
            message += "; for a value that starts with '-', write \(option.spelling)=\(next)"
        }
        return VigilError(.usage, message)
    }

    private func checkPositionals(_ scan: Scan) throws {
        if command.takesTrainerCommand && scan.trainerCommand.isEmpty {
            throw VigilError(.usage, "no trainer command given: \(command.synopsis.first ?? command.name)")
        }
        if scan.positionals.count > command.positionals.count, command.positionals.last?.isVariadic != true {
            let extra = scan.positionals[command.positionals.count]
            throw VigilError(.usage, "\(command.name): unexpected argument '\(extra)'")
        }
        if let missing = command.positionals.dropFirst(scan.positionals.count).first(where: \.isRequired) {
            throw VigilError(.usage, "\(command.name): expected \(missing.name), \(missing.help)")
        }
    }

    private func list(_ items: [String]) -> String {
        items.count < 2 ? items.joined() : items.dropLast().joined(separator: ", ") + " or " + items.last!
    }
}

/// The command line being read, and what has been found so far.
private struct Scan {
    private let arguments: [String]
    private var index = 0
    var values: [String: [Occurrence]] = [:]
    var positionals: [String] = []
    var trainerCommand: [String] = []
    var helpRequested = false
    private(set) var firstError: Error?

    init(_ arguments: [String]) { self.arguments = arguments }

    /// The index of the next argument.
    var position: Int { index }

    var peek: String? { index < arguments.count ? arguments[index] : nil }

    mutating func next() -> String? {
        guard let argument = peek else { return nil }
        index += 1
        return argument
    }

    /// The next argument as an option's value, unless it looks like an option itself.
    mutating func nextValue() -> String? {
        guard let value = peek, !OptionParser.looksLikeOption(value) else { return nil }
        index += 1
        return value
    }

    /// Takes every argument left, as they are (after `--`, or the trainer's command).
    mutating func rest() -> [String] {
        defer { index = arguments.count }
        return Array(arguments[index...])
    }

    mutating func note(_ error: Error) {
        if firstError == nil { firstError = error }
    }
}
