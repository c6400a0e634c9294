/// `vigil stop [RUN]`: ask a live supervisor to checkpoint and stop.
public enum StopCommand {
    public static let logDirectory = StatusCommand.logDirectory
    public static let noWait = OptionSpec.flag(
        "no-wait", help: "return once the supervisor has been signalled, without waiting for it to exit")
    public static let timeout = OptionSpec.value(
        "timeout", "DURATION", .duration,
        help: "how long to wait for the supervisor to exit (default: 10m); still running then: exit 1")
    public static let run = PositionalSpec("RUN", help: "a run name under the log directory")

    public static let spec = CommandSpec(
        path: ["stop"], synopsis: ["vigil stop [RUN] [--log-dir DIR] [--no-wait] [--timeout DURATION]"],
        discussion: """
            Tells the live `vigil run` of RUN to stop: it asks the trainer for a checkpoint (stop.checkpointSignal),
            waits for it, stops the trainer's process group and exits 75 (resumable). The supervisor is found
            through the run's journal and signalled only if its pid still has the recorded start time. Without
            RUN, the only live run under the log directory. Waits until the supervisor has exited (up to
            --timeout, default 10m) unless --no-wait.
            """,
        options: [logDirectory, noWait, timeout], positionals: [run],
        epilogue: """
            exit codes: 0 stopped (or asked, with --no-wait) · 1 still running after the timeout ·
                        64 several live runs and none named · 66 no such run, or it is not live
            """)
}
