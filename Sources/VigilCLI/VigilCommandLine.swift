import VigilCore

/// `vigil`'s command line as a whole: which command, or the help, or the version.
public enum VigilCommandLine {
    /// What a command line asks for.
    public enum Invocation: Sendable, Equatable {
        /// Print this text to stdout and exit 0.
        case help(String)
        /// `vigil --version`.
        case version
        /// Run the command with these arguments.
        case command(VigilCommand, ParsedArguments)
    }

    /// The overview `vigil --help` prints, and that follows every usage error.
    public static let usage = """
        usage: vigil run [OPTIONS] -- COMMAND [ARGS...]     supervise a training run
               vigil init [--output FILE] -- COMMAND         write a starter policy for a trainer command
               vigil status [RUN] [--json] [--check [--stale-after DUR]]
                                                            where runs stand; works while they run
               vigil report [RUN] [--json | --html FILE]     what happened: attempts, verdicts, metrics
               vigil report --queue [--json | --html FILE]   the queue: one row per job, with its timeline
               vigil stop [RUN]                              checkpoint, stop the trainer, the run exits 75
               vigil checkpoints list|prune|summary [...]   what is in a checkpoint directory
               vigil checkpoints export [RUN] [--best | --latest | --step N] [--output FILE.tar.gz]
                                                            one archive: checkpoint, metadata, config, report
               vigil checkpoints verify FILE.tar.gz          check an exported archive against its manifest
               vigil drill [OPTIONS] -- COMMAND [ARGS...]    kill the trainer at random points, check it resumes
               vigil config check [--policy P] [--config F] [--repair]
                                                            validate the trainer config against the schema
               vigil policy check FILE|NAME                  validate a policy, print it resolved
               vigil policy explain --policy P --log FILE [--exit-code N | --signal SIG]
                                                            what vigil would decide for this failure
               vigil queue add [--matrix KEY=V1,V2]... [--after NAME] [...] -- COMMAND [ARGS...]
               vigil queue list|run|show|retry|remove|clear [...]
                                                            a durable queue of jobs for the night: matrix
                                                            jobs, --jobs/--slots, --time-limit, retraining
               vigil --version | --help | help COMMAND | COMMAND --help
        """

    /// The top-level words: commands and groups.
    static var commandNames: [String] {
        ["run", "init", "status", "report", "stop", "drill"] + CommandGroup.all.map(\.name)
    }

    /// Reads `arguments` (without the program's name).
    /// - Throws: `VigilError(.usage, …)`: exit 64, with `usage` printed after the message.
    public static func resolve(_ arguments: [String]) throws -> Invocation {
        guard let first = arguments.first else { throw VigilError(.usage, "no command given") }
        let rest = Array(arguments.dropFirst())
        switch first {
        case "--version", "version": return .version
        case "--help", "-h": return .help(usage)
        case "help": return .help(try help(for: rest))
        default: break
        }
        if let group = CommandGroup.all.first(where: { $0.name == first }) {
            guard let word = rest.first else { throw VigilError(.usage, "vigil \(first): expected \(group.expected)") }
            if word == "--help" || word == "-h" { return .help(group.help) }
            return try parse(try subcommand(word, of: group), Array(rest.dropFirst()))
        }
        guard let command = VigilCommand(path: [first]) else { throw unknownCommand(first) }
        return try parse(command, rest)
    }

    /// `vigil help`, `vigil help run`, `vigil help checkpoints prune`.
    static func help(for words: [String]) throws -> String {
        guard let first = words.first else { return usage }
        if let group = CommandGroup.all.first(where: { $0.name == first }) {
            guard words.count > 1 else { return group.help }
            return try subcommand(words[1], of: group).spec.help
        }
        guard let command = VigilCommand(path: [first]) else { throw unknownCommand(first) }
        return command.spec.help
    }

    static func parse(_ command: VigilCommand, _ arguments: [String]) throws -> Invocation {
        let parser = OptionParser(command.spec, otherCommands: VigilCommand.allCases.map(\.spec))
        switch try parser.parse(arguments) {
        case .help: return .help(command.spec.help)
        case .arguments(let parsed): return .command(command, parsed)
        }
    }

    static func subcommand(_ word: String, of group: CommandGroup) throws -> VigilCommand {
        guard let command = group.subcommand(word) else {
            throw VigilError(.usage, "vigil \(group.name): unknown subcommand '\(word)' (expected \(group.expected))")
        }
        return command
    }

    static func unknownCommand(_ word: String) -> VigilError {
        let suggestion = Spelling.nearest(word, in: commandNames).map { " (did you mean '\($0)'?)" } ?? ""
        return VigilError(.usage, "unknown command '\(word)'\(suggestion)")
    }
}
