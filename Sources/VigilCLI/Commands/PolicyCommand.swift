import VigilCore

/// `vigil policy check|explain`: a policy on its own, and what it decides for a saved failure.
public enum PolicyCommand {
    /// The policy `check` validates.
    public static let policyArgument = PositionalSpec("FILE|NAME", help: "a policy file or name", required: true)

    public static let check = CommandSpec(
        path: ["policy", "check"], synopsis: ["vigil policy check FILE|NAME"],
        discussion: """
            Validates a policy (and what it extends) and prints it fully resolved: `// NAME: valid. Resolved
            from …, N rules.` and the policy as JSON. A NAME is looked up in $VIGIL_POLICY_PATH, ./policies,
            then the shipped ones.
            """,
        options: [], positionals: [policyArgument],
        epilogue: "exit codes: 0 valid · 64 usage · 66 no such policy · 78 invalid")

    public static let policy = OptionSpec.value(
        "policy", "NAME|PATH", help: "the policy to classify with (default: the embedded 'default')")
    public static let log = OptionSpec.value(
        "log", "FILE", help: "the saved log, read as the trainer's stderr (its last output.tailBytes); required")
    public static let exitCode = OptionSpec.value(
        "exit-code", "N", .integer(PolicyRanges.exitCode), help: "the trainer exited with this code (default: 1)")
    public static let signal = OptionSpec.value(
        "signal", "SIG", help: "the trainer was killed by this signal instead: KILL, SIGSEGV, 9")
    public static let errorFile = OptionSpec.value(
        "error-file", "F", help: "what the trainer wrote to VIGIL_ERROR_FILE, read first when classifying")
    public static let sentByVigil = OptionSpec.flag(
        "sent-by-vigil", help: "vigil sent that signal (a KILL without it is a suspected OOM kill)")
    public static let resumeArgument = OptionSpec.repeatable(
        "resume-arg", "ARG",
        help: "the attempt was started with this resume argument (for resume-rejected), repeatable; write "
            + "--resume-arg=--resume for a value starting with '-'")

    public static let explain = CommandSpec(
        path: ["policy", "explain"],
        synopsis: [
            "vigil policy explain --policy P --log FILE [--exit-code N | --signal SIG] [--error-file F]",
            "                     [--sent-by-vigil] [--resume-arg ARG]",
        ],
        discussion: """
            Classifies a failure from a saved log exactly as `vigil run` would: prints the class, the rule
            that matched and why. The log is treated as the trainer's stderr. Without --exit-code or
            --signal the attempt counts as having exited with code 1.
            """,
        options: [policy, log, exitCode, signal, errorFile, sentByVigil, resumeArgument],
        epilogue: "exit codes: 0 explained · 64 usage · 66 no such policy, log or error file · 78 invalid policy")

    /// `vigil policy --help`.
    public static let overview = """
        usage: vigil policy check FILE|NAME
               vigil policy explain --policy P --log FILE [--exit-code N | --signal SIG] [--error-file F]
                                    [--sent-by-vigil] [--resume-arg ARG]

        check    validates a policy (and what it extends) and prints it fully resolved.
        explain  classifies a failure from a saved log exactly as `vigil run` would: prints the class,
                 the rule that matched and why. The log is treated as the trainer's stderr.

        `vigil policy SUBCOMMAND --help` lists a subcommand's options.
        """
}
