/// What one command (`vigil run`, `vigil checkpoints prune`) accepts and how its help reads: the
/// single declaration its parser, its error messages and its `--help` are made from.
public struct CommandSpec: Sendable, Hashable {
    /// The words after `vigil`: `["checkpoints", "prune"]`.
    public let path: [String]
    /// The usage lines, without `usage: `; written by hand, since they show how options go together.
    public let synopsis: [String]
    /// What the command does: the paragraphs printed after the usage.
    public let discussion: String
    /// The options, in the order of the help's table (`--help` is added to every command).
    public let options: [OptionSpec]
    /// The arguments that are not options, in order; optional ones after required ones.
    public let positionals: [PositionalSpec]
    /// Takes the trainer's argv: after `--`, or from its first argument that is not an option.
    public let takesTrainerCommand: Bool
    /// Printed after the options: exit codes, signals.
    public let epilogue: String

    public init(
        path: [String], synopsis: [String], discussion: String, options: [OptionSpec],
        positionals: [PositionalSpec] = [], takesTrainerCommand: Bool = false, epilogue: String = ""
    ) {
        let names = (options + [.help]).flatMap { [$0.spelling] + ($0.shortSpelling.map { [$0] } ?? []) }
        precondition(Set(names).count == names.count, "\(path): an option is declared twice")
        precondition(
            !zip(positionals, positionals.dropFirst()).contains { !$0.isRequired && $1.isRequired },
            "\(path): a required positional argument follows an optional one")
        precondition(!takesTrainerCommand || positionals.isEmpty, "\(path): positionals before a trainer command")
        precondition(
            !positionals.dropLast().contains(where: \.isVariadic), "\(path): a variadic positional is not last")
        self.path = path
        self.synopsis = synopsis
        self.discussion = discussion
        self.options = options
        self.positionals = positionals
        self.takesTrainerCommand = takesTrainerCommand
        self.epilogue = epilogue
    }

    /// `vigil checkpoints prune`.
    public var name: String { (["vigil"] + path).joined(separator: " ") }

    /// Every option the parser accepts: the declared ones and `--help`.
    public var acceptedOptions: [OptionSpec] { options + [.help] }

    /// The option written `--name` or `-n`, if this command accepts it.
    public func option(spelled spelling: String) -> OptionSpec? {
        acceptedOptions.first { $0.spelling == spelling || $0.shortSpelling == spelling }
    }

    /// Whether `--name` is one of this command's options that the help shows.
    public func documents(_ spelling: String) -> Bool {
        acceptedOptions.contains { !$0.isHidden && $0.spelling == spelling }
    }
}
