import VigilCore

/// `vigil drill`: interrupt a trainer at random points and check that it resumes.
public enum DrillCommand {
    public static let policy = RunCommand.policy
    public static let kills = OptionSpec.value(
        "kills", "N", .integer(1...100), help: "how many interruptions (default 3), spread over the run")
    public static let signals = OptionSpec.value(
        "signals", "LIST",
        help: "the kinds of interruption, comma-separated (default KILL,TERM,CHECKPOINT): KILL = SIGKILL to the "
            + "trainer's process group, TERM = SIGTERM, CHECKPOINT = the checkpoint signal, a wait for the checkpoint, "
            + "then SIGTERM")
    public static let vigilKill = OptionSpec.flag(
        "vigil-kill",
        help: "also SIGKILL vigil itself (VIGIL in --signals) and run `vigil run` again, which must adopt the orphaned "
            + "trainer and resume")
    public static let seed = OptionSpec.value(
        "seed", "S", .integer(0...Int.max),
        help: "the plan's seed: the same seed gives the same plan (default: a random one, printed; give it again to "
            + "repeat a drill)")
    public static let compare = OptionSpec.repeatable(
        "compare", "FILE",
        help: "a file the trainer writes (the final model), relative to the working directory, compared with the "
            + "reference run's: bytes, or for .json and .npy number by number within --tolerance; repeatable")
    public static let metric = OptionSpec.value(
        "metric", "NAME",
        help: "the metric (from output.metrics) whose final value must match the reference's (default: every metric)")
    public static let tolerance = OptionSpec.value(
        "tolerance", "X", .number(0...1),
        help: "numbers are equal when they differ by at most X × max(1, |a|, |b|) (default 1e-6)")
    public static let keep = OptionSpec.flag(
        "keep", help: "keep the scratch copies (the reference copy can then be given to --reference)")
    public static let reference = OptionSpec.value(
        "reference", "DIR", help: "use the reference run an earlier drill kept (--keep) in DIR instead of a new one")
    public static let html = OptionSpec.value("html", "FILE", help: "also write the report as one HTML page")
    public static let output = OptionSpec.value(
        "output", "DIR", help: "where drill-report.md and drill-report.json go (default: the working directory)")
    public static let scratch = OptionSpec.value(
        "scratch", "DIR", help: "where the scratch copies of the working directory are made (default: $TMPDIR)")
    public static let resumeArgument = RunCommand.resumeArgument
    public static let timeout = OptionSpec.value(
        "timeout", "DURATION", .duration,
        help: "the longest the interrupted run may take (default: ten times the reference run, plus a minute); the "
            + "reference run's too, when given")
    public static let json = OptionSpec.flag("json", help: "print the JSON report instead of the table")

    public static let spec = CommandSpec(
        path: ["drill"],
        synopsis: [
            "vigil drill [--policy P] [--kills N] [--signals KILL,TERM,CHECKPOINT] [--vigil-kill] [--seed S]",
            "            [--compare FILE]... [--metric NAME] [--tolerance X] [--keep] [--reference DIR]",
            "            [--html FILE] [--output DIR] -- COMMAND [ARGS...]",
        ],
        discussion: """
            Tests the trainer's checkpoint and resume code the only way that finds its bugs: against an
            uninterrupted run. Runs COMMAND once uninterrupted under `vigil run` in a scratch copy of the
            working directory (the reference), then again in a fresh copy, interrupting it N times at seeded
            random points spread over the reference's steps — just after a checkpoint appears, during a save,
            or at a step — with the kinds of --signals. For each interruption: did the next attempt resume from
            the checkpoint vigil gave it, how many steps and seconds were redone, did the metrics continue the
            reference's curve. At the end: do the --compare files and the final metrics match the reference.
            Prints a table, writes drill-report.md and drill-report.json, and names the likely bug in plain words.

            The policy needs checkpoints.pattern and output.progress (`--policy python` reads `step N/T`), and
            checkpoints.dir inside the working directory. The copies leave out the checkpoint directory, vigil
            log directories, .git and .build. The interrupted run gets --backoff 0s and enough retries for every
            interruption.
            """,
        options: [
            policy, kills, signals, vigilKill, seed, compare, metric, tolerance, keep, reference, html, output,
            scratch, resumeArgument, timeout, json,
        ],
        takesTrainerCommand: true,
        epilogue: """
            exit codes: 0 every resume worked and the results match · 1 a resume failed or the results differ
                        (the report says which and why) · 2 inconclusive: the trainer fails uninterrupted,
                        no interruption reached it, a timeout, or the drill was interrupted · 64 usage ·
                        66 command, policy or --reference not found · 78 invalid policy
            """)
}
