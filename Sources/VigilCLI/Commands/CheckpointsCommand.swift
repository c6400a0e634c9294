/// `vigil checkpoints list|prune|summary`: a checkpoint directory, without a run.
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

    /// `vigil checkpoints --help`.
    public static let overview = """
        usage: vigil checkpoints list    [--policy P] [--dir D] [--pattern PAT] [--metric NAME] [--json]
               vigil checkpoints prune   [--policy P] [--dir D] [--pattern PAT] [--dry-run] [--json]
               vigil checkpoints summary [--policy P] [--dir D] [--pattern PAT] [--metric NAME] [--json]

        Works on a checkpoint directory without a run: the policy's `checkpoints` section, or --dir and
        --pattern (a name with {step}, e.g. model_ep{step}.pt). --dir, --pattern and --metadata M (each
        checkpoint's metadata sidecar) override the policy.

        list     every checkpoint: step, size, age, metrics, valid or why not; the resume target (>) and
                 the best ones (*) marked
        prune    removes what the policy's retention (keepLast, keepEvery, keepBest) does not keep;
                 invalid checkpoints are never removed (vigil run quarantines them); what could not
                 be removed is a warning, and the exit status 1; so is a preserved/ or .quarantine
                 that is a symbolic link (never followed) or not a directory
        summary  best step, each metric's range and trend, gaps in the steps, total size

        `vigil checkpoints SUBCOMMAND --help` lists a subcommand's options.
        """
}
