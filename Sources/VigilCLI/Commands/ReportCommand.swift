/// `vigil report [RUN]`: what happened in a run, as text, JSON or one HTML page.
public enum ReportCommand {
    public static let logDirectory = StatusCommand.logDirectory
    public static let json = OptionSpec.flag("json", help: "the journal as recorded, plus a summary of metrics.jsonl")
    public static let html = OptionSpec.value(
        "html", "FILE",
        help: "write one self-contained HTML page (timeline of attempts coloured by verdict, metric curves with "
            + "restart markers, repairs, links to the attempt logs and reports) to FILE, and print its path")
    public static let run = PositionalSpec("RUN", help: "a run name or the path of a run directory")
    public static let queue = OptionSpec.flag(
        "queue",
        help: "report on the queue (queue.json in the log directory) instead of a run: one row per job with its "
            + "state, attempts and timeline; with --html each job's own page is written into its run directory "
            + "and linked")
    public static let queueFile = OptionSpec.value(
        "queue-file", "FILE", help: "with --queue: another queue file than the log directory's queue.json")

    public static let spec = CommandSpec(
        path: ["report"],
        synopsis: [
            "vigil report [RUN] [--log-dir DIR] [--json | --html FILE]",
            "vigil report --queue [--queue-file FILE] [--log-dir DIR] [--json | --html FILE]",
        ],
        discussion: """
            What happened in a run: every attempt with its verdict, the repairs, the time used and the
            metrics. RUN is a run name under the log directory or the path of a run directory (default: the
            most recently active run). Only reads; works while the run is live. With --queue, the same
            for every job of the queue.
            """,
        options: [logDirectory, json, html, queue, queueFile], positionals: [run],
        epilogue: "exit codes: 0 written · 64 usage · 66 no such run · 1 the file could not be written")
}
