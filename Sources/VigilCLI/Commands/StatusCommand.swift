/// `vigil status [RUN]`: where runs stand, and `--check` for cron.
public enum StatusCommand {
    public static let logDirectory = OptionSpec.value(
        "log-dir", "DIR", help: "where run directories are (default: ./logs)")
    public static let json = OptionSpec.flag("json", help: "print the status as JSON (with no RUN: an array of them)")
    public static let check = OptionSpec.flag(
        "check",
        help: "for cron and monitoring: print one line saying what is wrong (or that nothing is) and exit with a "
            + "code below; with no RUN, checks the most recently active run")
    public static let staleAfter = OptionSpec.value(
        "stale-after", "DURATION", .duration,
        help: "with --check: a live run whose output and newest checkpoint are both older than this (e.g. 30m) is "
            + "stale")
    /// The run to show: a name under the log directory or a run directory's path.
    public static let run = PositionalSpec("RUN", help: "a run name or the path of a run directory")

    public static let spec = CommandSpec(
        path: ["status"], synopsis: ["vigil status [RUN] [--log-dir DIR] [--json] [--check [--stale-after DURATION]]"],
        discussion: """
            Reads a run's journal — never its lock, so it works from another terminal while the run is live —
            and checks that the supervisor which wrote it is still alive. With no RUN, lists the runs under
            the log directory, most recently active first. RUN is a run name under the log directory or the
            path of a run directory.
            """,
        options: [logDirectory, json, check, staleAfter], positionals: [run],
        epilogue: """
            exit codes: 0 ok (running, backing off, stopped and resumable, or succeeded) · 1 failed, gave up,
                        or interrupted (its supervisor died; run the same command again) · 3 stale (with
                        --check --stale-after) · 64 usage · 66 no such run
            """)
}
