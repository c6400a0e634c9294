import VigilCore

/// `vigil run`: the flags that override the policy, and the trainer command after `--`.
public enum RunCommand {
    public static let policy = OptionSpec.value(
        "policy", "NAME|PATH",
        help: "policy to use (default: the embedded 'default'); names are looked up in $VIGIL_POLICY_PATH, "
            + "./policies, then the shipped ones")
    public static let name = OptionSpec.value(
        "name", "NAME",
        help: "run name (default: derived from the command and directory, so the same command continues the same run)"
    )
    public static let fresh = OptionSpec.flag("fresh", help: "move an existing run of that name aside and start over")
    public static let logDirectory = OptionSpec.value(
        "log-dir", "DIR", help: "where run directories go (default: ./logs)")
    public static let maxRetries = OptionSpec.value(
        "max-retries", "N", .integer(PolicyRanges.maxRetries),
        help: "consecutive recoverable failures before giving up (restart.maxRetries)")
    public static let backoff = OptionSpec.value(
        "backoff", "DURATION", .duration, help: "first restart delay (restart.backoff.initial), e.g. 0s, 2s")
    public static let backoffMax = OptionSpec.value(
        "backoff-max", "DURATION", .duration, help: "longest restart delay (restart.backoff.max)")
    public static let resumeArgument = OptionSpec.repeatable(
        "resume-arg", "ARG",
        help: "argument(s) appended when resuming, repeatable (resume.args); write --resume-arg=--resume for a "
            + "value starting with '-'")
    public static let noResumeArgument = OptionSpec.flag("no-resume-arg", help: "restart without resume arguments")
    public static let checkpointDirectory = OptionSpec.value(
        "checkpoint-dir", "DIR", help: "where the trainer writes checkpoints (checkpoints.dir)")
    public static let config = OptionSpec.value(
        "config", "FILE",
        help: "the trainer's config file (config.path; default: the value of the trainer's own --config argument): "
            + "validated against config.schema, repaired by rules, fingerprinted per attempt")
    public static let timeLimit = OptionSpec.value(
        "time-limit", "DURATION", .duration,
        help: "this invocation's wall-clock budget, e.g. 6h (limits.runtime): stop.checkpointLead + "
            + "stop.termGrace before its end the checkpoint signal, SIGTERM termGrace before it, exit 75 — run the "
            + "same command to continue. Not longer than checkpointLead + termGrace: refused (64)")
    public static let deadline = OptionSpec.value(
        "deadline", "TIME",
        help: "an absolute end instead: Unix seconds, 2026-11-23T18:00:00Z, or HH:MM (local, next occurrence). "
            + "Inside SLURM, SLURM_JOB_END_TIME is used when neither is given")
    public static let attemptLimit = OptionSpec.value(
        "attempt-limit", "DUR", .duration,
        help: "one attempt's wall clock (limits.attempt); it is then stopped and classified timedOut")
    public static let stallTimeout = OptionSpec.value(
        "stall-timeout", "DUR", .duration, help: "no output and no new checkpoint this long = hung (limits.stall)")
    public static let termGrace = OptionSpec.value(
        "term-grace", "DURATION", .duration, help: "SIGTERM → SIGKILL grace when stopping (stop.termGrace)")
    public static let requeue = OptionSpec.flag(
        "requeue",
        help: "inside a SLURM job: when the run stops resumable (the --signal warning, the job's end, vigil stop, "
            + "scancel --signal), scontrol requeue the job so it continues the run; exit 75 (slurm.requeue)")
    public static let maxRequeues = OptionSpec.value(
        "max-requeues", "N", .integer(PolicyRanges.maxRequeues),
        help: "requeues with no new checkpoint since the previous one before vigil stops requeueing "
            + "(slurm.maxRequeues, 20)")
    public static let terminationLog = OptionSpec.value(
        "termination-log", "FILE",
        help: "write one line there at exit: exit code, verdict, rule, reason (redacted). Default inside "
            + "Kubernetes (KUBERNETES_SERVICE_HOST set): /dev/termination-log when it is writable")
    public static let quiet = OptionSpec.flag(
        "quiet", short: "q", help: "do not copy the trainer's output to this terminal (it is still logged)")

    public static let spec = CommandSpec(
        path: ["run"], synopsis: ["vigil run [OPTIONS] -- COMMAND [ARGS...]"],
        discussion: """
            Starts COMMAND (an argv, never run through a shell) in its own process group, copies its
            output to logs/<run>/attempt-NNN.log and to this terminal, classifies every failure with the
            policy's rules and restarts it with the resume arguments, within the retry budget.
            """,
        options: [
            policy, name, fresh, logDirectory, maxRetries, backoff, backoffMax, resumeArgument, noResumeArgument,
            checkpointDirectory, config, timeLimit, deadline, attemptLimit, stallTimeout, termGrace, requeue,
            maxRequeues, terminationLog, quiet,
        ],
        takesTrainerCommand: true,
        epilogue: """
            exit codes: 0 success · 1 unrecoverable failure (or "repair exhausted") · 2 retries exhausted or
                        limits.total spent · 75 stopped, resumable (run the same command again) · 64 usage ·
                        66 command/policy/config not found · 69 the run is supervised by another live vigil ·
                        78 invalid policy, or a trainer config that fails config.schema or changed (onChange: refuse)

            signals: SIGINT, SIGTERM, SIGHUP or SIGUSR1 (a scheduler's warning) run the stop sequence —
                     checkpoint signal (stop.checkpointSignal, USR1; only to a trainer that handles it) and a
                     wait for the new checkpoint (when checkpoints.pattern lets vigil see it), then SIGTERM,
                     grace, SIGKILL, to the trainer's process group and whatever escaped it — and exit 75.
                     A second Ctrl-C kills at once.

            SLURM:   the job's time limit is the runtime deadline. In the batch script, write
                     `exec vigil run --requeue …` with #SBATCH --requeue, --signal=B:USR1@300 and
                     --open-mode=append: the warning starts the stop, the stopped job is requeued and
                     continues the run (examples/slurm/). Kubernetes: examples/kubernetes/.
            """)
}
