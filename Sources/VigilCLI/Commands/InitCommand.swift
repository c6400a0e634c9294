/// `vigil init -- COMMAND`: a starter policy for a trainer command.
public enum InitCommand {
    public static let output = OptionSpec.value(
        "output", "FILE", help: "where to write the policy (default: vigil.json5 in the current directory)")
    public static let force = OptionSpec.flag("force", help: "overwrite the output file if it exists")
    public static let printOnly = OptionSpec.flag("print", help: "print the policy instead of writing it")

    public static let spec = CommandSpec(
        path: ["init"], synopsis: ["vigil init [--output FILE] [--force] [--print] -- COMMAND [ARGS...]"],
        discussion: """
            Looks at a trainer command — the script's imports (and those of the modules beside it), its
            --config file and the keys in it, checkpoints already on disk, the script's resume option — and
            writes a commented starter policy that extends the shipped policy of the framework it recognises
            (lightning, huggingface, sb3, xgboost, lightgbm, pytorch, python). It prints what it guessed, from
            what, and what to check; the file says the same in its comments. Nothing is run.
            """,
        options: [output, force, printOnly], takesTrainerCommand: true,
        epilogue: "exit codes: 0 written · 64 usage, or the file exists (use --force)")
}
