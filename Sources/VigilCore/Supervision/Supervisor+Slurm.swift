#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Inside a SLURM job: the job's end as the deadline, the requeue at the end of a stopped invocation
/// (`slurm.requeue`) within its budget, and the lock that a previous run of the same job may still seem
/// to hold on a network file system.
extension Supervisor {
    /// How long vigil waits for `scontrol` to answer.
    static let slurmToolTimeout = 30.0
    /// How long a rerun of a requeued job waits for the run's lock when, by the journal, the previous
    /// run of the same job holds it: NFSv4's default lease is 90 s.
    static let previousRunLockWait = 120.0

    func runSlurmTool(_ argv: [String]) -> ToolRunner.Result {
        ToolRunner.run(
            argv, environment: request.environment, workingDirectory: request.workingDirectory,
            timeout: Supervisor.slurmToolTimeout)
    }

    /// The job's end when the environment does not say it (Slurm before 23.02 sets no
    /// `SLURM_JOB_END_TIME`): `start` + TimeLimit − RunTime from `scontrol show job`. Nil outside SLURM,
    /// for a job without a time limit, or when scontrol cannot tell (said once).
    func slurmEnd(from start: Date) -> Date? {
        guard let job = slurmJob, job.endTime == nil else { return nil }
        let result = runSlurmTool(["scontrol", "show", "job", "-o", job.id])
        guard result.succeeded else {
            note(
                "vigil: warning: inside SLURM job \(job.id), but `scontrol show job` did not tell its end "
                    + "(\(result.summary)): no runtime deadline; give --time-limit or --deadline, or have SLURM "
                    + "warn vigil (sbatch --signal=B:USR1@300)")
            return nil
        }
        guard let left = SlurmJob.Status(scontrolOutput: result.stdout).timeLeft else { return nil }
        note(
            "vigil: SLURM job \(job.id) ends in \(DurationFormat.string(from: left)) (its time limit): "
                + "the runtime deadline of this invocation")
        return start.addingTimeInterval(left)
    }

    /// `slurm.requeue`, at the end of an invocation that stopped resumable (exit 75) inside a SLURM job:
    /// `scontrol requeue JOB`, so that the job runs again and continues the run — unless the budget is
    /// spent or SLURM is already ending the job (`scancel`, its time limit). Journaled before and after;
    /// whatever happens, vigil still exits 75.
    func requeueIfAsked() {
        guard request.policy.slurm.requeue, let job = slurmJob, !journal.invocations.isEmpty else { return }
        let index = journal.invocations.count - 1
        let maxRequeues = request.policy.slurm.maxRequeues
        let budget = RequeueBudget(journal: journal, maxRequeues: maxRequeues)
        func record(_ requeued: Bool, _ result: String, counted: Bool = false) {
            journal.invocations[index].requeue = Journal.Requeue(
                job: job.id, at: clock.wallNow(), requeued: requeued, result: redactor.redact(result),
                counted: counted, attempts: journal.attempts.count)
            save()
        }
        guard journal.attempts.count > attemptsBeforeInvocation else {
            // Too little time for any attempt (a time limit shorter than the stop sequence): a requeue
            // would only do the same again.
            let why = "not requeued: this run of the job started no attempt, and a requeue would not get further"
            note("vigil: SLURM job \(job.id) \(why)")
            record(false, why)
            return
        }
        guard budget.allows else {
            let why =
                "not requeued: the run was requeued \(budget.used) time(s) with no new checkpoint since the "
                + "previous requeue (slurm.maxRequeues \(maxRequeues)); it does not seem to make progress"
            note("vigil: SLURM job \(job.id) \(why); exit 75, look at it and requeue it yourself to go on")
            record(false, why)
            return
        }
        let shown = runSlurmTool(["scontrol", "show", "job", "-o", job.id])
        if case .notStarted(let problem) = shown.status {
            let why = "not requeued: scontrol cannot be run (\(problem)); a container without SLURM's tools?"
            note("vigil: warning: SLURM job \(job.id) \(why); exit 75 anyway: requeue or resubmit it to continue")
            record(false, why)
            return
        }
        if shown.succeeded, let state = SlurmJob.Status(scontrolOutput: shown.stdout).state, state != "RUNNING" {
            // A requeue would bring back a job someone cancelled: SLURM takes it, even then.
            let why = "not requeued: SLURM says the job is \(state) (cancelled, or at its time limit), so it ends"
            note("vigil: SLURM job \(job.id) \(why)")
            record(false, why)
            return
        }
        record(false, "requeueing", counted: budget.counts)  // on record before SLURM stops this job
        let result = runSlurmTool(["scontrol", "requeue", job.id])
        guard result.succeeded else {
            let why = "scontrol requeue \(job.id) failed: \(result.summary)"
            note("vigil: warning: \(why); exit 75 anyway: requeue or resubmit the job to continue")
            record(false, why)
            return
        }
        record(true, "requeued", counted: budget.counts)
        let counted =
            budget.counts
            ? "\(budget.used + 1) of slurm.maxRequeues \(maxRequeues) without a new checkpoint"
            : "after a new checkpoint: not counted against slurm.maxRequeues"
        note("vigil: requeued SLURM job \(job.id) (\(counted)); when it runs again it continues this run")
    }

    /// The previous run of this very SLURM job, when the journal says that it holds the run's lock: a
    /// lower `SLURM_RESTART_COUNT` of the same job. SLURM ends a job's run before it starts it again, so
    /// that holder is gone, although on NFS its lock can outlive it until the server's lease expires.
    static func previousRunOfJob(_ job: SlurmJob?, journal: Journal?) -> Journal.Invocation? {
        guard let job, job.restartCount > 0, let last = journal?.invocations.last, last.slurmJob == job.id,
            (last.slurmRestartCount ?? 0) < job.restartCount
        else { return nil }
        return last
    }

    /// Waits (at most `previousRunLockWait`) for a lock that, by the journal, the previous run of this
    /// SLURM job holds; nil when that is not the holder, or it does not let go in time.
    func waitForPreviousRunsLock() throws -> RunLock? {
        let journal = try? Journal.read(from: directory.journalPath)
        guard let previous = Supervisor.previousRunOfJob(slurmJob, journal: journal) else { return nil }
        let wait = Supervisor.previousRunLockWait
        note(
            "vigil: the run's lock is held, by the journal's account by this SLURM job's previous run (restart "
                + "\(previous.slurmRestartCount ?? 0), vigil pid \(previous.pid) on \(previous.host)), which SLURM "
                + "has ended; waiting up to \(DurationFormat.string(from: wait)) for it to be released (on NFS a "
                + "lock can outlive its holder until the server's lease expires)")
        let deadline = clock.now() + wait
        while clock.now() < deadline {
            usleep(250_000)
            if let lock = try RunLock.acquire(directory.lockPath) { return lock }
        }
        return nil
    }

    /// Says once per invocation what a network file system under the log directory means for the lock.
    func noteNetworkFileSystem() {
        guard let kind = RunDirectory.networkFileSystem(at: directory.path) else { return }
        note(
            "vigil: note: the run directory is on \(kind): its lock (flock) keeps out a second vigil on another "
                + "node only if the mount has working locks (not `nolock` or `local_lock=flock`); docs/design.md, "
                + "'Inside SLURM and Kubernetes'")
    }
}
