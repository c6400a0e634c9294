/// `vigil checkpoints list|prune|summary`: a checkpoint directory, without a run; `export|verify`: a run's
/// checkpoint in one archive.
public enum CheckpointsCommand {
    public static let policy = OptionSpec.value(
        "policy", "NAME|PATH", help: "the policy whose checkpoints section to use (default: the embedded 'default')")
    public static let directory = OptionSpec.value(
        "dir", "DIR", help: "the checkpoint directory (overrides checkpoints.dir)")
    public static let pattern = OptionSpec.value(
        "pattern", "PAT",
        help: "the checkpoints' name, with {step}, e.g. model_ep{step}.pt (overrides checkpoints.pattern)")
    public static let metadata = OptionSpec.value(
        "metadata", "M",
        help: "each checkpoint's metadata sidecar, e.g. {stem}.meta.json (overrides checkpoints.metadata)")
    public static let metric = OptionSpec.value(
        "metric", "NAME",
        help: "rank the best checkpoints by this metric (order and count from checkpoints.keepBest, else the "
            + "highest one)")
    /// `prune` accepts `--metric` as it always has, and ignores it: it keeps by the policy's retention.
    static let ignoredMetric = OptionSpec.value("metric", "NAME", hidden: true, help: "")
    public static let json = OptionSpec.flag("json", help: "print JSON")
    public static let dryRun = OptionSpec.flag("dry-run", help: "show what would be removed; remove nothing")

    static let source = """
        Works on a checkpoint directory without a run: the policy's `checkpoints` section, or --dir and
        --pattern (a name with {step}, e.g. model_ep{step}.pt). --dir, --pattern and --metadata override
        the policy.
        """

    public static let list = CommandSpec(
        path: ["checkpoints", "list"],
        synopsis: [
            "vigil checkpoints list [--policy P] [--dir D] [--pattern PAT] [--metadata M] [--metric NAME]",
            "                       [--json]",
        ],
        discussion: """
            Lists every checkpoint: step, size, age, metrics, valid or why not; the resume target (>) and
            the best ones (*) marked.
            """ + "\n\n" + source,
        options: [policy, directory, pattern, metadata, metric, json])

    public static let prune = CommandSpec(
        path: ["checkpoints", "prune"],
        synopsis: [
            "vigil checkpoints prune [--policy P] [--dir D] [--pattern PAT] [--metadata M] [--dry-run]",
            "                        [--json]",
        ],
        discussion: """
            Removes what the policy's retention (keepLast, keepEvery, keepBest) does not keep; invalid
            checkpoints are never removed (vigil run quarantines them); what could not be removed is a
            warning, and the exit status 1; so is a preserved/ or .quarantine that is a symbolic link (never
            followed) or not a directory.
            """ + "\n\n" + source,
        options: [policy, directory, pattern, metadata, ignoredMetric, dryRun, json])

    public static let summary = CommandSpec(
        path: ["checkpoints", "summary"],
        synopsis: [
            "vigil checkpoints summary [--policy P] [--dir D] [--pattern PAT] [--metadata M] [--metric NAME]",
            "                          [--json]",
        ],
        discussion: """
            The best step, each metric's range and trend, gaps in the steps, the total size.
            """ + "\n\n" + source,
        options: [policy, directory, pattern, metadata, metric, json])

    public static let exportRun = PositionalSpec(
        "RUN", help: "a run name under the log directory (default: the most recently active run)")
    public static let logDirectory = StatusCommand.logDirectory
    public static let best = OptionSpec.flag(
        "best", help: "the best valid checkpoint by the policy's checkpoints.keepBest metric and order")
    public static let latest = OptionSpec.flag("latest", help: "the newest valid checkpoint (the default)")
    public static let step = OptionSpec.value(
        "step", "N", .integer(0...Int.max), help: "the valid checkpoint of step N (the newest, if several)")
    public static let includeConfig = OptionSpec.flag(
        "include-config",
        help: "add the trainer's config file as the run uses it (after vigil's repairs): config.path, or the "
            + "trainer's --config")
    public static let archive = OptionSpec.value(
        "output", "FILE", help: "the archive to write (default: RUN-stepN.tar.gz in the working directory)")
    public static let force = OptionSpec.flag("force", help: "replace an existing archive")
    public static let exportPolicy = OptionSpec.value(
        "policy", "NAME|PATH",
        help: "the run's policy (default: the one its journal names, loaded again by name): its checkpoints section")

    public static let export = CommandSpec(
        path: ["checkpoints", "export"],
        synopsis: [
            "vigil checkpoints export [RUN] [--best | --latest | --step N] [--include-config]",
            "                         [--output FILE.tar.gz] [--log-dir DIR] [--policy P] [--force]",
        ],
        discussion: """
            Writes one .tar.gz with a checkpoint of the run (a file, or a directory whole), its sidecars
            (metadata, .sha256), the run's report.md, with --include-config the trainer's config, and a
            MANIFEST.json: the run id, command, policy, step, metrics, vigil's version and the size and SHA-256
            of every file. Only valid checkpoints are chosen. The archive is written to a temporary file and
            renamed into place; nothing from outside the run and checkpoint directories goes in (but the config
            file, when asked for), and a symbolic link anywhere in what is exported is refused.
            """,
        options: [best, latest, step, includeConfig, archive, logDirectory, exportPolicy, force],
        positionals: [exportRun],
        epilogue: """
            exit codes: 0 written · 1 cannot be written (a symbolic link, an I/O error) · 64 usage, or no
                        checkpoint to export · 66 no such run, or its config is missing
            """)

    public static let verifyArchive = PositionalSpec(
        "FILE", help: "an archive written by vigil checkpoints export", required: true)
    public static let verify = CommandSpec(
        path: ["checkpoints", "verify"],
        synopsis: ["vigil checkpoints verify FILE.tar.gz [--json]"],
        discussion: """
            Reads an exported archive from end to end: the gzip stream and its CRC, every tar header, and every
            file against the size and SHA-256 its MANIFEST.json gives. Fails on a file that differs, is missing
            or is not in the manifest, on absolute paths, `..`, symbolic or hard links, devices and duplicate
            names. It proves the archive is what export wrote, not who wrote it (there is no signature).
            """,
        options: [json], positionals: [verifyArchive],
        epilogue: """
            exit codes: 0 the archive matches its manifest · 1 it does not (each problem is printed) ·
                        66 no such file
            """)

    /// `vigil checkpoints --help`.
    public static let overview = """
        usage: vigil checkpoints list    [--policy P] [--dir D] [--pattern PAT] [--metric NAME] [--json]
               vigil checkpoints prune   [--policy P] [--dir D] [--pattern PAT] [--dry-run] [--json]
               vigil checkpoints summary [--policy P] [--dir D] [--pattern PAT] [--metric NAME] [--json]
               vigil checkpoints export  [RUN] [--best | --latest | --step N] [--include-config] [--output FILE]
               vigil checkpoints verify  FILE.tar.gz [--json]

        list, prune and summary work on a checkpoint directory without a run: the policy's `checkpoints`
        section, or --dir and --pattern (a name with {step}, e.g. model_ep{step}.pt). --dir, --pattern and
        --metadata M (each checkpoint's metadata sidecar) override the policy. export works on a run.

        list     every checkpoint: step, size, age, metrics, valid or why not; the resume target (>) and
                 the best ones (*) marked
        prune    removes what the policy's retention (keepLast, keepEvery, keepBest) does not keep;
                 invalid checkpoints are never removed (vigil run quarantines them); what could not
                 be removed is a warning, and the exit status 1; so is a preserved/ or .quarantine
                 that is a symbolic link (never followed) or not a directory
        summary  best step, each metric's range and trend, gaps in the steps, total size
        export   one .tar.gz of a run's checkpoint (latest, best or a step), its sidecars, the report,
                 optionally the config, and a MANIFEST.json with every file's SHA-256
        verify   checks an exported archive against its manifest

        `vigil checkpoints SUBCOMMAND --help` lists a subcommand's options.
        """
}
