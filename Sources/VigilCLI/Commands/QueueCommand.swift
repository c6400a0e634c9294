import VigilCore

/// `vigil queue add|list|run|show|retry|remove|clear`: a durable queue of jobs, each run as `vigil
/// run` would run it, for a night of training (docs/queue.md).
public enum QueueCommand {
    public static let queueFile = OptionSpec.value(
        "queue", "FILE", help: "the queue file (default: queue.json in the log directory)")
    public static let logDirectory = OptionSpec.value(
        "log-dir", "DIR", help: "where the jobs' run directories are, and the queue file (default: ./logs)")
    public static let json = OptionSpec.flag("json", help: "print JSON")
    public static let only = OptionSpec.repeatable(
        "only", "GLOB", help: "only the jobs with this name or matching this pattern (train-*-lstm), repeatable")

    // MARK: add

    public static let name = OptionSpec.value(
        "name", "NAME",
        help: "the job's name (and its run's): with --matrix, {KEY} placeholders in it, else the values are appended "
            + "(default: the script's name, plus the values; without a matrix, the name vigil run would give)")
    public static let policy = OptionSpec.value(
        "policy", "NAME|PATH",
        help: "the policy of the job's vigil run (default: the embedded 'default'); may hold {KEY}")
    public static let matrix = OptionSpec.repeatable(
        "matrix", "KEY=V1,V2",
        help: "one job per value, repeatable (one job per combination); {KEY} in the command, the name and the options "
            + "is replaced, and VIGIL_JOB_KEY set")
    public static let matrixFile = OptionSpec.repeatable(
        "matrix-file", "[KEY=]FILE",
        help: "the values of KEY, one per line (# comments and blank lines skipped); without KEY=, the file's base "
            + "name is the key (symbols.txt: {symbols})")
    public static let after = OptionSpec.repeatable(
        "after", "NAME",
        help: "start only once this job is done; if it fails, this one is blocked (repeatable; may hold {KEY})")
    public static let retrainAfter = OptionSpec.value(
        "retrain-after", "DURATION", .duration,
        help: "once done, due again this long after its last success (e.g. 30d): queue run retrains it, fresh")
    public static let priority = OptionSpec.value(
        "priority", "N", .integer(-1000...1000), help: "higher runs first (default 0; ties in the order added)")
    public static let replace = OptionSpec.flag(
        "replace", help: "replace a job of the same name (else adding it again does nothing, and says so)")

    public static let add = CommandSpec(
        path: ["queue", "add"],
        synopsis: [
            "vigil queue add [--name NAME] [--policy P] [--matrix KEY=V1,V2]... [--matrix-file [KEY=]FILE]...",
            "                [--after NAME]... [--retrain-after DURATION] [--priority N] [--replace]",
            "                [vigil run options] -- COMMAND [ARGS...]",
        ],
        discussion: """
            Adds one job, or with --matrix one job per combination of values
            (--matrix symbol=BTCEUR,ETHEUR --matrix model=lightgbm,lstm -- python train.py --symbol {symbol}
            --model {model}: four jobs, train-BTCEUR-lightgbm …). A job that exists (same name) is left as
            it is, unless --replace. The queue is changed under its lock, also while a queue runs: a
            running `vigil queue run` picks the new jobs up.
            """,
        options: [
            name, policy, matrix, matrixFile, after, retrainAfter, priority, replace, RunCommand.checkpointDirectory,
            RunCommand.config, RunCommand.maxRetries, RunCommand.attemptLimit, RunCommand.stallTimeout,
            RunCommand.resumeArgument, RunCommand.noResumeArgument, logDirectory, queueFile,
        ],
        takesTrainerCommand: true,
        epilogue: """
            exit codes: 0 added (or already there) · 64 usage, a bad matrix, an --after cycle · 66 an --after job,
                        a --matrix-file or the policy does not exist · 69 replacing a running job · 78 the queue
                        file or the policy is invalid
            """)

    // MARK: list, show

    public static let list = CommandSpec(
        path: ["queue", "list"],
        synopsis: ["vigil queue list [--only GLOB]... [--json] [--log-dir DIR] [--queue FILE]"],
        discussion: """
            Every job: its state (pending, running, done, failed, gave-up, stopped-resumable, or blocked by an
            --after job that did not succeed), its run's attempts and last verdict, when it last succeeded,
            and whether it is due for retraining. Reads without the lock; works while a queue runs.
            """,
        options: [only, json, logDirectory, queueFile],
        epilogue: "exit codes: 0 · 78 the queue file is invalid")

    public static let jobArgument = PositionalSpec("NAME", help: "a job's name", required: true)
    public static let jobsArgument = PositionalSpec(
        "NAME...", help: "job names or patterns (train-*)", required: true, variadic: true)

    public static let show = CommandSpec(
        path: ["queue", "show"], synopsis: ["vigil queue show NAME [--json] [--log-dir DIR] [--queue FILE]"],
        discussion: "One job: what it runs, where it stands in the queue, and its run's status (as vigil status).",
        options: [json, logDirectory, queueFile], positionals: [jobArgument],
        epilogue: "exit codes: 0 · 66 no such job · 78 the queue file is invalid")

    // MARK: remove, clear, retry

    public static let remove = CommandSpec(
        path: ["queue", "remove"], synopsis: ["vigil queue remove NAME... [--log-dir DIR] [--queue FILE]"],
        discussion: """
            Removes jobs from the queue (their run directories stay). A running job is not removed; nor is a
            job another one runs --after, unless that one goes too.
            """,
        options: [logDirectory, queueFile], positionals: [jobsArgument],
        epilogue: "exit codes: 0 · 64 another job runs after it · 66 no such job · 69 it is running · 78 invalid file")

    public static let done = OptionSpec.flag("done", help: "remove only the jobs that are done")
    public static let fresh = OptionSpec.flag(
        "fresh", help: "move the queue file aside (queue.json.<time>) without reading it: the way out of a corrupt one")

    public static let clear = CommandSpec(
        path: ["queue", "clear"], synopsis: ["vigil queue clear [--done | --fresh] [--log-dir DIR] [--queue FILE]"],
        discussion: """
            Removes every job (with --done: the done ones), never a running one. --fresh moves the file aside
            instead, whatever is in it, and the queue starts empty.
            """,
        options: [done, fresh, logDirectory, queueFile],
        epilogue: "exit codes: 0 · 69 a job is running · 78 the queue file is invalid (see --fresh)")

    public static let retry = CommandSpec(
        path: ["queue", "retry"], synopsis: ["vigil queue retry NAME... [--log-dir DIR] [--queue FILE]"],
        discussion: """
            Puts failed and gave-up jobs back to pending; their next run starts over (the old run directory
            is moved aside, as vigil run --fresh does). Jobs blocked by them are unblocked with them.
            """,
        options: [logDirectory, queueFile], positionals: [jobsArgument],
        epilogue: "exit codes: 0 · 66 no such job · 78 the queue file is invalid")

    // MARK: run

    public static let jobs = OptionSpec.value(
        "jobs", "N", .integer(1...256), help: "run N jobs at once (default 1, or one per --slots value)")
    public static let slots = OptionSpec.value(
        "slots", "LIST",
        help: "comma-separated slot values (GPU numbers: 0,1,2,3): each running job holds one, as VIGIL_SLOT and "
            + "CUDA_VISIBLE_DEVICES; never two jobs on one slot, also across queue runs")
    public static let timeLimit = OptionSpec.value(
        "time-limit", "DURATION", .duration,
        help: "this queue run's wall clock (e.g. 6h): each job's vigil run gets the time left as its --deadline "
            + "and stops before it, checkpoint first; the queue then exits 75 and the next run continues")
    public static let deadline = OptionSpec.value(
        "deadline", "TIME", help: "an absolute end instead: Unix seconds, 2026-11-23T18:00:00Z, or HH:MM")
    public static let dryRun = OptionSpec.flag(
        "dry-run", help: "print what would run, in order, and why (pending, due since, blocked); change nothing")
    public static let noRetrain = OptionSpec.flag("no-retrain", help: "do not retrain done jobs that are due")
    public static let retrainOnly = OptionSpec.flag("retrain-only", help: "only retrain done jobs that are due")
    public static let runPolicy = OptionSpec.value(
        "policy", "NAME|PATH",
        help: "the policy whose hooks.onQueueDone runs when the queue run ends (jobs use their own --policy)")
    public static let trainerOutput = OptionSpec.flag(
        "trainer-output",
        help: "copy the trainers' output here too, each line after [job]; by default only vigil's lines are, and "
            + "the trainers' output is in each run's attempt logs")

    public static let run = CommandSpec(
        path: ["queue", "run"],
        synopsis: [
            "vigil queue run [--jobs N] [--slots 0,1,...] [--time-limit DURATION | --deadline TIME] [--dry-run]",
            "                [--only GLOB]... [--no-retrain | --retrain-only] [--policy P] [--trainer-output]",
            "                [--log-dir DIR] [--queue FILE]",
        ],
        discussion: """
            Runs the pending and due jobs, cut-off jobs first, then by priority and the order they were
            added, N at once, each as `vigil run --name JOB` would (its own run directory, journal, policy,
            retries, repairs and reports). A job that fails or gives up does not stop the queue; the jobs
            --after it are blocked. Jobs added meanwhile are picked up. Several queue runs may share a queue:
            each job is claimed by one. If a runner is killed, the next one continues: a job whose vigil run
            still lives is waited for, one whose vigil died is run again and recovers its trainer as vigil
            run does. At the end, a summary on stderr and in queue-report.md next to the queue file.
            """,
        options: [
            jobs, slots, timeLimit, deadline, dryRun, only, noRetrain, retrainOnly, runPolicy, trainerOutput,
            logDirectory, queueFile,
        ],
        epilogue: """
            exit codes: 0 every selected job is done (or waits on one not selected) · 1 a job failed, gave up or is
                        blocked · 75 stopped before the queue was done (time limit, signal, a job stopped):
                        run it again to continue · 64 usage · 66 no queue file · 78 the queue file is invalid

            signals: SIGINT, SIGTERM, SIGHUP or SIGUSR1 are passed on to every job's vigil run, which stops its
                     trainer checkpoint first; the queue exits 75 once they have.
            """)

    /// `vigil queue --help`.
    public static let overview = """
        usage: vigil queue add [--name NAME] [--matrix KEY=V1,V2]... [--after NAME] [...] -- COMMAND [ARGS...]
               vigil queue list [--json]
               vigil queue run [--jobs N] [--slots 0,1,...] [--time-limit DURATION] [--dry-run] [--only GLOB]
               vigil queue show NAME
               vigil queue retry NAME...
               vigil queue remove NAME...
               vigil queue clear [--done | --fresh]

        A durable queue of training jobs in logs/queue.json (--log-dir, --queue FILE), each run as
        `vigil run --name JOB` would run it: one job, or one per combination of --matrix values; jobs
        --after others; retraining when a done job is older than --retrain-after. `vigil queue run`
        (from cron, a systemd timer or CI) skips what is done and continues what was cut off.

        add      add a job, or a matrix of jobs
        list     every job: state, attempts, last verdict, last success, due for retraining
        run      run the pending and due jobs, N at once, within a time limit
        show     one job and its run's status
        retry    failed and gave-up jobs back to pending
        remove   remove jobs
        clear    remove every job (--done: the done ones; --fresh: move the file aside)

        `vigil queue SUBCOMMAND --help` lists a subcommand's options; docs/queue.md has all of it.
        """
}
