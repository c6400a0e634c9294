/// `vigil config check`: the trainer's config against the policy's schema, without a run.
public enum ConfigCommand {
    public static let policy = OptionSpec.value(
        "policy", "NAME|PATH",
        help: "the policy whose config.schema (and config.path) to use (default: the embedded 'default')")
    public static let config = OptionSpec.value(
        "config", "FILE", help: "the trainer's config file (default: the policy's config.path)")
    public static let repair = OptionSpec.flag(
        "repair", help: "write back what the schema can fix itself, atomically; without it, those are only shown")

    public static let check = CommandSpec(
        path: ["config", "check"], synopsis: ["vigil config check [--policy P] [--config FILE] [--repair]"],
        discussion: """
            Validates the trainer's config (config.path of the policy, or --config) against the policy's
            config.schema: every problem is listed with the file, the key, the value and what was expected
            (exit 78). With --repair, what the schema can fix itself (a value out of range clamped, a
            missing key given its default) is written back atomically, everything else in the file
            unchanged; without it, those are only shown.
            """,
        options: [policy, config, repair],
        epilogue: """
            exit codes: 0 valid (or repaired) · 64 no config to check · 66 the config or the policy does not
                        exist · 78 a problem, a config that does not parse, or an invalid policy
            """)
}
