import Foundation
import Testing
import VigilCLI
import VigilCore

/// A command made up for the parser's own tests: one option of each kind, an optional positional.
private enum Sample {
    static let name = OptionSpec.value("name", "NAME", help: "a name")
    static let count = OptionSpec.value("count", "N", .integer(0...10), help: "how many")
    static let wait = OptionSpec.value("wait", "DURATION", .duration, help: "how long")
    static let ratio = OptionSpec.value("ratio", "X", .number(0...1), help: "how much")
    static let quiet = OptionSpec.flag("quiet", short: "q", help: "say less")
    static let tag = OptionSpec.repeatable("tag", "TAG", help: "a tag, repeatable")
    static let run = PositionalSpec("RUN", help: "a run")

    static let spec = CommandSpec(
        path: ["sample"], synopsis: ["vigil sample [RUN] [--name NAME] [--count N] [--wait DURATION]"],
        discussion: "", options: [name, count, wait, ratio, quiet, tag], positionals: [run])
    static let trainer = CommandSpec(
        path: ["train"], synopsis: ["vigil train [OPTIONS] -- COMMAND"], discussion: "", options: [name, quiet],
        takesTrainerCommand: true)

    /// `arguments` parsed for `spec`; fails the test when they ask for the help.
    static func parse(_ arguments: [String], _ spec: CommandSpec = spec) throws -> ParsedArguments {
        guard case .arguments(let parsed) = try OptionParser(spec).parse(arguments) else {
            Issue.record("\(arguments) asked for the help")
            throw VigilError(.usage, "help")
        }
        return parsed
    }

    /// The usage error `arguments` give, as printed (nil when they parse).
    static func error(_ arguments: [String], _ spec: CommandSpec = spec) -> String? {
        do {
            _ = try OptionParser(spec, otherCommands: VigilCommand.allCases.map(\.spec)).parse(arguments)
            return nil
        } catch let error as VigilError {
            #expect(error.code == .usage)
            return error.description
        } catch {
            return "\(error)"
        }
    }
}

/// The option parser on plain values: the forms an option is written in, the checks on its value,
/// positionals, `--`, and the help.
@Suite("the command-line parser")
struct OptionParserTests {
    @Test(
        "a value option takes --x=v and --x v alike; a value starting with '-' only after '='",
        arguments: [
            (["--name=run-1"], "run-1"), (["--name", "run-1"], "run-1"), (["--name=--resume"], "--resume"),
            (["--name="], ""), (["--name=a=b"], "a=b"), (["--name", "a", "--name", "b"], "b"), (["--name", "-"], "-"),
        ])
    func valueForms(arguments: [String], expected: String) throws {
        #expect(try Sample.parse(arguments).text(Sample.name) == expected)
    }

    @Test(
        "a flag is true alone, and takes =true|false|yes|no|1|0 in any case; the last one counts",
        arguments: [
            ([], false), (["--quiet"], true), (["-q"], true), (["--quiet=true"], true), (["--quiet=yes"], true),
            (["--quiet=1"], true), (["--quiet=false"], false), (["--quiet=no"], false), (["--quiet=0"], false),
            (["--quiet=FALSE"], false), (["-q=no"], false), (["--quiet", "--quiet=false"], false),
            (["--quiet=0", "-q"], true),
        ])
    func flagForms(arguments: [String], expected: Bool) throws {
        #expect(try Sample.parse(arguments).flag(Sample.quiet) == expected)
    }

    @Test("a flag given anything else is refused, naming the flag and the words it takes")
    func flagValueRefused() {
        #expect(
            Sample.error(["--quiet=maybe"])
                == "option --quiet takes no value or one of true, false, yes, no, 1, 0; got 'maybe'")
    }

    @Test("a repeatable option keeps every value in order; given nowhere, none")
    func repeatable() throws {
        #expect(
            try Sample.parse(["--tag=--resume", "--tag", "b", "--tag="]).texts(Sample.tag) == ["--resume", "b", ""])
        let none = try Sample.parse([])
        #expect(none.texts(Sample.tag).isEmpty)
        #expect(!none.isGiven(Sample.tag) && none.text(Sample.name) == nil && none.integer(Sample.count) == nil)
        #expect(try Sample.parse(["--quiet=false"]).isGiven(Sample.quiet))
    }

    @Test(
        "a missing value is a usage error; one that looks like an option is left alone, with a hint",
        arguments: [
            (["--name"], "option --name needs a value"),
            (
                ["--name", "--quiet"],
                "option --name needs a value; for a value that starts with '-', write --name=--quiet"
            ),
            (["--tag", "-x"], "option --tag needs a value; for a value that starts with '-', write --tag=-x"),
            (["--name", "--"], "option --name needs a value"),
        ])
    func missingValue(arguments: [String], message: String) {
        #expect(Sample.error(arguments) == message)
    }

    @Test(
        "integers: decimal digits within the declared range, else the option and the range are named",
        arguments: [
            ("0", 0), ("10", 10), ("007", 7), ("11", nil), ("-1", nil), ("2.5", nil), ("1e3", nil), ("+3", nil),
            ("", nil), (" 3", nil), ("0x3", nil), ("99999999999999999999999", nil), ("٣", nil),
        ])
    func integers(text: String, expected: Int?) throws {
        if let expected {
            #expect(try Sample.parse(["--count=\(text)"]).integer(Sample.count) == expected)
        } else {
            #expect(
                Sample.error(["--count=\(text)"]) == "option --count expects an integer from 0 to 10, got '\(text)'")
        }
    }

    @Test(
        "numbers: decimal, with a fraction or an exponent, in range; NaN, infinity, words and out of range are refused",
        arguments: [
            ("0.5", 0.5), ("1e-6", 1e-6), ("0", 0), ("1", 1), (".25", 0.25), ("1.5", nil), ("-0.1", nil), ("nan", nil),
            ("inf", nil), ("0x1p-3", nil), ("", nil), ("1e400", nil),
        ])
    func numbers(text: String, expected: Double?) throws {
        if let expected {
            #expect(try Sample.parse(["--ratio=\(text)"]).number(Sample.ratio) == expected)
            return
        }
        let message = try #require(Sample.error(["--ratio=\(text)"]))
        #expect(message == "option --ratio expects a number from 0.0 to 1.0, got '\(text)'", "\(message)")
    }

    @Test(
        "durations: DurationFormat's, from 0 to 3650d; NaN, infinity, negative and longer are refused",
        arguments: [
            ("1.5s", 1.5), ("0", 0), ("250ms", 0.25), ("1h30m", 5400), ("3650d", 3650 * 86_400.0), ("3651d", nil),
            ("99999999999d", nil), (String(repeating: "9", count: 400) + "s", nil), ("nan", nil), ("inf", nil),
            ("-1s", nil), ("1e3s", nil), ("10", nil), ("", nil),
        ])
    func durations(text: String, expected: Double?) throws {
        if let expected {
            #expect(try Sample.parse(["--wait", text]).duration(Sample.wait) == expected)
            return
        }
        let message = try #require(Sample.error(["--wait=\(text)"]))
        #expect(message.hasPrefix("option --wait expects a duration"), "\(message)")
        #expect(message.hasSuffix("got '\(text)'"), "\(message)")
        if DurationFormat.seconds(from: text) != nil {
            #expect(message.contains("from 0s to 3650d (10 years)"), "\(message)")
        }
    }

    @Test(
        "an unknown option gets at most one suggestion, never itself",
        arguments: [
            (["--nmae", "x"], "unknown option --nmae (did you mean --name?)"),
            (["-quiet"], "unknown option -quiet (did you mean --quiet?)"),
            (["--hepl"], "unknown option --hepl (did you mean --help?)"),
            (["--completely-different"], "unknown option --completely-different"),
            (["-x"], "unknown option -x"),
            (["--nmae=x"], "unknown option --nmae (did you mean --name?)"),
        ])
    func unknownOption(arguments: [String], message: String) {
        #expect(Sample.error(arguments) == message)
    }

    @Test("positionals: the declared ones, an extra one named, `--` ends the options")
    func positionals() throws {
        #expect(try Sample.parse(["r1", "--quiet"]).positional(Sample.run) == "r1")
        #expect(try Sample.parse(["--quiet"]).positional(Sample.run) == nil)
        #expect(try Sample.parse(["--", "-odd-name"]).positional(Sample.run) == "-odd-name")
        #expect(Sample.error(["r1", "r2"]) == "vigil sample: unexpected argument 'r2'")
        #expect(Sample.error(["--", "r1", "--quiet"]) == "vigil sample: unexpected argument '--quiet'")
    }

    @Test("a required positional missing says what is expected")
    func requiredPositional() {
        #expect(
            Sample.error([], PolicyCommand.check) == "vigil policy check: expected FILE|NAME, a policy file or name")
    }

    @Test(
        "the trainer command: after `--` or from the first non-option, untouched; required",
        arguments: [
            (["--quiet", "--", "python3", "--help", "-q"], ["python3", "--help", "-q"], true),
            (["python3", "train.py", "-q", "--", "x"], ["python3", "train.py", "-q", "--", "x"], false),
            (["--name=n", "--", "--", "x"], ["--", "x"], false),
            (["-q", "--name", "n", "python3"], ["python3"], true),
        ])
    func trainerCommand(arguments: [String], command: [String], quiet: Bool) throws {
        let parsed = try Sample.parse(arguments, Sample.trainer)
        #expect(parsed.trainerCommand == command)
        #expect(parsed.flag(Sample.quiet) == quiet)
        #expect(parsed.positionals.isEmpty)
    }

    @Test("no trainer command is a usage error")
    func noTrainerCommand() {
        for arguments in [[], ["--quiet"], ["--"]] {
            #expect(
                Sample.error(arguments, Sample.trainer)
                    == "no trainer command given: vigil train [OPTIONS] -- COMMAND")
        }
    }

    @Test(
        "--help or -h anywhere before `--` wins over any mistake; after it, it is an argument",
        arguments: [
            (["--help"], true), (["-h"], true), (["--bogus", "--count=99", "--help"], true),
            (["r1", "r2", "-h"], true),
            (["--name", "--help"], true), (["--", "--help"], false), (["--name=--help"], false),
            (["--help=false"], false),
        ])
    func help(arguments: [String], isHelp: Bool) throws {
        let result = try? OptionParser(Sample.spec).parse(arguments)
        #expect((result == .help) == isHelp)
    }

    @Test("after the trainer command starts, --help is the trainer's")
    func helpAfterTrainerCommand() throws {
        #expect(try OptionParser(Sample.trainer).parse(["--bogus", "-h"]) == .help)
        #expect(try Sample.parse(["python3", "--help"], Sample.trainer).trainerCommand == ["python3", "--help"])
    }

    @Test("of alternatives, the one given last is known")
    func lastGiven() throws {
        let parsed = try Sample.parse(["--count=1", "--name", "x", "--count", "2"])
        #expect(parsed.lastGiven(of: [Sample.name, Sample.count]) == Sample.count)
        #expect(parsed.integer(Sample.count) == 2)
        #expect(try Sample.parse(["--quiet"]).lastGiven(of: [Sample.name, Sample.count]) == nil)
    }

    @Test("the option table is made from the declarations: label, wrapped help, an integer's range")
    func optionTable() {
        let help = Sample.spec.help
        #expect(help.hasPrefix("usage: vigil sample [RUN]"))
        #expect(help.contains("\n  --count N              how many; N from 0 to 10\n"))
        #expect(help.contains("\n  -q, --quiet            say less\n"))
        #expect(help.contains("\n  -h, --help             show this help"))
        #expect(help.contains("durations are written 90s, 15m, 6h, 1h30m, 250ms or 2d, from 0s to 3650d (10 years)"))
        let long = OptionSpec.value(
            "a-rather-long-option", "VALUE", help: String(repeating: "word ", count: 40))
        let table = CommandSpec(path: ["x"], synopsis: ["vigil x"], discussion: "", options: [long]).help
        let lines = table.split(separator: "\n").drop { !$0.hasPrefix("options:") }.dropFirst()
        #expect(lines.first == "  --a-rather-long-option VALUE")
        #expect(lines.allSatisfy { $0.count <= 100 })
        #expect(lines.dropFirst().first?.hasPrefix(String(repeating: " ", count: 25) + "word") == true)
    }
}

/// `vigil`'s own commands: the declarations agree with the help, and the defects the issues
/// reported are gone.
@Suite("vigil's command line")
struct VigilCommandLineTests {
    static let commands = VigilCommand.allCases

    /// The `--options` a text mentions.
    static func optionsMentioned(in text: String) -> Set<String> {
        let pattern = try! NSRegularExpression(pattern: "(?<![\\w-])--[a-z][a-z-]*")
        let range = NSRange(text.startIndex..., in: text)
        return Set(pattern.matches(in: text, range: range).map { String(text[Range($0.range, in: text)!]) })
    }

    @Test("every option a command's usage names is one it declares", arguments: commands)
    func synopsisMatchesDeclarations(command: VigilCommand) {
        let spec = command.spec
        for option in Self.optionsMentioned(in: spec.synopsis.joined(separator: " ")) {
            #expect(spec.documents(option), "\(spec.name): the usage names \(option)")
        }
        for option in spec.options where !option.isHidden {
            #expect(spec.help.contains(option.spelling + " ") || spec.help.contains(option.spelling + "\n"))
        }
    }

    @Test("the overviews name only options some command declares")
    func overviewsMatchDeclarations() {
        let texts = [VigilCommandLine.usage] + CommandGroup.all.map(\.help)
        let declared = Set(Self.commands.flatMap { $0.spec.acceptedOptions.map(\.spelling) }).union(["--version"])
        for text in texts {
            #expect(Self.optionsMentioned(in: text).subtracting(declared).isEmpty, "\(text)")
        }
    }

    @Test("--help, -h and `vigil help` give every command's help", arguments: commands)
    func helpEverywhere(command: VigilCommand) throws {
        let path = command.spec.path
        for arguments in [path + ["--help"], path + ["-h"], ["help"] + path, path + ["--json", "--help"]] {
            #expect(try VigilCommandLine.resolve(arguments) == .help(command.spec.help), "\(arguments)")
        }
        #expect(command.spec.help.hasPrefix("usage: " + command.spec.name))
    }

    @Test("vigil --help, vigil help, and a group's --help")
    func topLevelHelp() throws {
        #expect(try VigilCommandLine.resolve(["--help"]) == .help(VigilCommandLine.usage))
        #expect(try VigilCommandLine.resolve(["help"]) == .help(VigilCommandLine.usage))
        #expect(try VigilCommandLine.resolve(["--version"]) == .version)
        for group in CommandGroup.all {
            #expect(try VigilCommandLine.resolve([group.name, "--help"]) == .help(group.help))
            #expect(try VigilCommandLine.resolve(["help", group.name]) == .help(group.help))
        }
        #expect(throws: VigilError.self) { try VigilCommandLine.resolve(["help", "bogus"]) }
    }

    @Test("`checkpoints list --dry-run` says where --dry-run belongs, and suggests nothing")
    func dryRunOnList() {
        let error = #expect(throws: VigilError.self) {
            try VigilCommandLine.resolve(["checkpoints", "list", "--dry-run"])
        }
        #expect(error?.code == .usage)
        #expect(
            error?.message
                == "unknown option --dry-run (valid for `vigil checkpoints prune` or `vigil queue run`, "
                + "not `vigil checkpoints list`)")
    }

    @Test("no command suggests, for an option it lacks, that very option")
    func neverSuggestsItself() {
        let specs = Self.commands.map(\.spec)
        for spec in specs {
            for spelling in Set(specs.flatMap { $0.options.map(\.spelling) })
            where spec.option(spelled: spelling) == nil {
                let message = Sample.error([spelling], spec) ?? "parsed"
                #expect(!message.contains("did you mean \(spelling)?"), "\(spec.name): \(message)")
                #expect(message.hasPrefix("unknown option \(spelling) (valid for"), "\(spec.name): \(message)")
            }
        }
    }

    @Test("`vigil run` reads its flags from the declarations: --quiet=false is not quiet, numbers in range")
    func runFlags() throws {
        guard case .command(.run, let parsed) = try VigilCommandLine.resolve(["run", "--quiet=false", "--", "python3"])
        else {
            Issue.record("not a run")
            return
        }
        #expect(!parsed.flag(RunCommand.quiet))
        #expect(parsed.trainerCommand == ["python3"])
        let error = #expect(throws: VigilError.self) {
            try VigilCommandLine.resolve(["run", "--max-retries", "1001", "--", "python3"])
        }
        #expect(error?.message == "option --max-retries expects an integer from 0 to 1000, got '1001'")
    }

    @Test("the subcommands of a group are checked before their options")
    func groups() {
        let missing = #expect(throws: VigilError.self) { try VigilCommandLine.resolve(["checkpoints"]) }
        #expect(missing?.message == "vigil checkpoints: expected list, prune, summary, export or verify")
        let unknown = #expect(throws: VigilError.self) { try VigilCommandLine.resolve(["policy", "chek"]) }
        #expect(unknown?.message == "vigil policy: unknown subcommand 'chek' (expected check or explain)")
        let command = #expect(throws: VigilError.self) { try VigilCommandLine.resolve(["stauts"]) }
        #expect(command?.message == "unknown command 'stauts' (did you mean 'status'?)")
    }
}

/// The built `vigil` binary: exit codes and what it prints, as a user sees them.
@Suite("vigil's command line, end to end", .serialized, .timeLimit(.minutes(1)))
struct CommandLineEndToEndTests {
    /// Every command and subcommand, and the groups, with `--help` (or `help …`).
    static let helpInvocations: [[String]] =
        VigilCommand.allCases.flatMap { [$0.spec.path + ["--help"], ["help"] + $0.spec.path] }
        + CommandGroup.all.map { [$0.name, "--help"] } + [["--help"], ["-h"], ["help"], ["help", "run"]]

    @Test("--help exits 0 and prints the usage on stdout, for every command", arguments: helpInvocations)
    func help(arguments: [String]) throws {
        let vigil = try TestProcess.vigil(arguments)
        #expect(vigil.exitCode() == 0, "\(arguments): \(vigil.output)")
        #expect(vigil.stdout.hasPrefix("usage: vigil"), "\(arguments): \(vigil.stdout)")
        #expect(vigil.stderr.isEmpty, "\(arguments): \(vigil.stderr)")
    }

    @Test("`checkpoints list --dry-run`: exit 64, where the option belongs, the usage")
    func dryRunOnList() throws {
        let vigil = try TestProcess.vigil(["checkpoints", "list", "--dry-run"])
        #expect(vigil.exitCode() == 64)
        #expect(
            vigil.stderr.contains("unknown option --dry-run (valid for `vigil checkpoints prune`"), "\(vigil.stderr)")
        #expect(!vigil.stderr.contains("did you mean"))
        #expect(vigil.stderr.contains("usage: vigil run"))
    }

    @Test(
        "bad values exit 64 naming the option",
        arguments: [
            (
                ["run", "--max-retries", "2.5", "--", "python3"],
                "option --max-retries expects an integer from 0 to 1000"
            ),
            (["run", "--fresh=maybe", "--", "python3"], "option --fresh takes no value or one of true, false"),
            (
                ["run", "--time-limit", "4000d", "--", "python3"],
                "option --time-limit expects a duration from 0s to 3650d"
            ),
            (["run", "--deadline", "inf", "--", "python3"], "--deadline expects Unix seconds"),
            (["run", "--deadline", "9999999999999", "--", "python3"], "--deadline is more than 3650d (10 years) away"),
            (
                ["policy", "explain", "--log", "x", "--exit-code", "256"],
                "option --exit-code expects an integer from 0 to 255"
            ),
            (["status", "a", "b"], "vigil status: unexpected argument 'b'"),
            (["policy", "check"], "vigil policy check: expected FILE|NAME"),
        ])
    func badValues(arguments: [String], message: String) throws {
        let vigil = try TestProcess.vigil(arguments)
        #expect(vigil.exitCode() == 64, "\(arguments): \(vigil.output)")
        #expect(vigil.stderr.contains(message), "\(arguments): \(vigil.stderr)")
    }

    @Test("--quiet=false copies the trainer's output; --quiet does not")
    func quietFalse() throws {
        let dir = try TestSupport.temporaryDirectory("vigil-cli")
        defer { TestSupport.remove(dir) }
        for (flag, copied) in [("--quiet=false", true), ("--quiet", false), ("-q=no", true)] {
            let vigil = try TestProcess.vigil(
                ["run", "--name", "q", "--fresh", "--log-dir", dir + "/logs", flag, "--"]
                    + [TestSupport.python, TestSupport.fixtureTrainer, "--steps", "1", "--checkpoint-dir", dir])
            #expect(vigil.exitCode() == 0, "\(flag): \(vigil.output)")
            #expect(vigil.stdout.contains("step 1/1") == copied, "\(flag): \(vigil.stdout)")
        }
    }
}
