import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Supervisor {
    /// How an attempt went, for the run loop: its journal index, the stop that was vigil's own, the
    /// output tail (for the report).
    struct AttemptResult {
        var index: Int
        var stop: VigilStop?
        var tail: OutputTail
    }

    /// What an attempt runs with until it has ended.
    private struct Running {
        var child: ChildProcess
        var pump: OutputPump
        var log: RotatingLog
        var watcher: CheckpointWatcher?
        var preserved: Locked<[String]>
        var cgroup: ControlGroup?
    }

    /// Runs one attempt to its end, records and classifies it, and applies its rule's repairs.
    func runAttempt(executable: String) throws -> AttemptResult {
        let number = journal.attempts.count + 1
        let plan = try planAttempt(number: number)
        let index = journal.attempts.count
        let start = clock.now()
        let earliest = attemptDeadlines(start: start).min { $0.at < $1.at }
        let oomBefore = oomCounter.count()
        let space = makeSpaceGuard(attempt: number)
        let diverged = Locked<Divergence?>(nil)
        let metrics = try makeMetrics(attempt: number, space: space, diverged: diverged)
        let running = try launch(
            number, plan: plan, executable: executable, deadline: earliest, metrics: metrics, space: space)
        var configuration = AttemptMachine.Configuration(
            stop: request.policy.stop, stall: request.policy.limits.stall, canSeeCheckpoints: checkpointStore != nil,
            started: start)
        let lead = leadInForce()
        configuration.stop.checkpointLead = lead.seconds
        journal.attempts[index].checkpointLead = lead
        if request.policy.stop.leadIsAuto {
            // An attempt younger than one save has nothing worth saving yet.
            configuration.minimumRunBeforeCheckpoint =
                CheckpointLead.percentile95((journal.saveTimings ?? []).map(\.seconds)) ?? 0
        }
        configuration.checkpointInterval = measuredCheckpointInterval()
        configuration.deadline = earliest?.at
        configuration.deadlineCause = earliest?.cause
        configuration.deadlineReason = earliest.map(deadlineReason) ?? ""
        let driver = AttemptDriver(
            supervisor: self, number: number, index: index, child: running.child, pump: running.pump,
            watcher: running.watcher, processes: AttemptProcesses(leader: running.child.pid, cgroup: running.cgroup),
            metrics: metrics, machine: AttemptMachine(configuration), resumeFrom: plan.resumeFrom)
        driver.run()
        running.log.close()
        let oom = oomKills(since: oomBefore, cgroup: running.cgroup)  // before the cgroup goes
        running.cgroup?.remove()
        let observed = running.watcher?.observations() ?? [:]
        running.watcher?.stop()
        let end = driver.machine.end!
        let stop = end.stopCause.map { VigilStop(cause: $0, reason: end.stopReason ?? "") }
        record(end, of: index, child: running.child, log: running.log, leftovers: driver.recorder.record())
        let exit = trainerExit(journal.attempts[index], child: running.child)
        var attempt = journal.attempts[index]
        var outcome = AttemptOutcome(
            status: end.status, signalSentByVigil: exit.killedByVigil, duration: attempt.duration ?? 0,
            tail: running.pump.tail, errorFile: TrainerErrorFile.read(at: directory.errorFilePath(number)),
            resumeArguments: plan.resumeArguments, stop: stop)
        (outcome.oomKills, outcome.oomKillSource) = oom
        outcome.liveMatch = end.liveMatch
        outcome.divergence = end.liveMatch?.divergence ?? diverged.current
        attempt.divergence = outcome.divergence.map { divergence in
            var shown = divergence
            shown.description = redactor.redact(divergence.description)
            return shown
        }
        // The journal keeps text already redacted (the raw bytes stay in the 0600 attempt log only).
        attempt.verdict = classifier.classify(outcome).redacted(by: redactor)
        if let onset = poisonOnset(
            verdict: attempt.verdict!, end: end, divergence: outcome.divergence, attemptStarted: attempt.startedAt)
        {
            rollBack(from: onset, rule: attempt.verdict!.rule, exit: exit, observed: observed, into: &attempt)
        }
        reviewCheckpoints(
            after: &attempt, exit: exit, observed: observed, watched: running.preserved.current,
            before: plan.checkpointsBefore)
        blameResumeTarget(plan.resumeFrom, verdict: attempt.verdict!, index: index, into: &attempt)
        if end.stopCause == StopCause.stall {
            attempt.stackDump = Supervisor.stackDump(in: outcome.tail.stderr).map { redactor.redact($0) }
        }
        journal.attempts[index] = attempt
        save()  // the verdict is durable before vigil touches the config
        if let exhausted = try repairIfAsked(&attempt, stop: stop) {
            outcome.repairExhausted = exhausted
            attempt.verdict = classifier.classify(outcome).redacted(by: redactor)
        }
        journal.attempts[index] = attempt
        save()
        let verdict = attempt.verdict!
        note(
            "vigil: attempt \(number) ended: \(end.status) after \(DurationFormat.string(from: attempt.duration ?? 0)) → \(verdict.verdict.rawValue) [\(verdict.rule)]: \(verdict.reason)"
        )
        return AttemptResult(index: index, stop: stop, tail: running.pump.tail)
    }

    /// Spawns the trainer (in its own cgroup where possible), makes its journal record durable, and
    /// starts reading its output and watching its checkpoints.
    private func launch(
        _ number: Int, plan: AttemptPlan, executable: String, deadline: (at: Instant, cause: StopCause)?,
        metrics: MetricsRecorder?, space: FreeSpaceGuard
    ) throws -> Running {
        let logName = directory.attemptLogName(number)
        var attempt = Journal.Attempt(
            number: number, argv: plan.argv, startedAt: clock.wallNow(), supervisorPID: getpid(), log: logName)
        attempt.resumeFrom = plan.resumeFrom?.path
        attempt.resumeStep = plan.resumeFrom?.step
        attempt.quarantined = plan.quarantined.isEmpty ? nil : plan.quarantined
        attempt.record(plan.checkpointFailures)
        attempt.configHash = plan.configHash
        attempt.deadline = deadline.map { clock.date(at: $0.at) }
        unlink(directory.errorFilePath(number))
        unlink(directory.heartbeatPath(number))
        let output = request.policy.output
        let log = RotatingLog(
            path: directory.path + "/" + logName, maxBytes: output.logMaxBytes, backups: output.logBackups,
            permissions: filePermissions, space: space)
        let cgroup = makeControlGroup(attempt: number)
        attempt.cgroup = cgroup?.path
        let shown = plan.argv.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        note("vigil: attempt \(number) of run '\(journal.run)': \(shown)")
        attempt.startedAt = clock.wallNow()
        let events = self.events
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable: executable, arguments: plan.argv,
                environment: environment(forAttempt: number, resumeFrom: plan.resumeFrom, deadline: attempt.deadline),
                cgroup: cgroup, onExit: { status in events.post(.childExited(attempt: number, status)) })
        } catch {
            log.close()
            cgroup?.remove()
            throw error
        }
        attempt.pid = child.pid
        attempt.processStartTime = child.startTime
        journal.attempts.append(attempt)
        save()  // pid, start time and cgroup are durable before anything else can go wrong
        let pump = makePump(attempt: number, log: log, metrics: metrics)
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
        let preserved = Locked<[String]>([])
        let watcher = startWatching(attempt: number, preservedInto: preserved)
        return Running(child: child, pump: pump, log: log, watcher: watcher, preserved: preserved, cgroup: cgroup)
    }

    /// The attempt's end in its journal record: exit, leftovers, the log's troubles.
    private func record(
        _ end: AttemptEnd, of index: Int, child: ChildProcess, log: RotatingLog, leftovers: [LeftoverProcess]
    ) {
        journal.attempts[index].endedAt = child.exitedAt ?? clock.wallNow()
        journal.attempts[index].exit = end.status
        journal.attempts[index].leftovers =
            leftovers.isEmpty
            ? nil
            : leftovers.map { process in
                var shown = process
                shown.command = redactor.redact(process.command)
                return shown
            }
        if end.finishedDuringStop {
            journal.attempts[index].stopEvents =
                (journal.attempts[index].stopEvents ?? []) + [
                    Journal.StopEvent(
                        at: clock.wallNow(),
                        event: "the trainer finished (exit 0) before vigil sent it a terminating signal")
                ]
        }
        journal.computeSeconds += journal.attempts[index].duration ?? 0
        journal.attempts[index].logError = log.firstError
        journal.attempts[index].logBytesDropped = log.droppedBytes > 0 ? log.droppedBytes : nil
        if let error = log.firstError {
            note(
                "vigil: warning: \(error); \(log.droppedBytes) bytes of output were not logged (the trainer was not blocked)"
            )
        } else if log.droppedBytes > 0 {
            note("vigil: \(log.droppedBytes) bytes of output were not logged for lack of space (output.keepFree)")
        }
        let escaped = leftovers.filter { $0.foundBy != AttemptProcesses.Origin.group.rawValue }
        if !escaped.isEmpty {
            let list = escaped.map { process in
                let command = process.command.prefix(60).map { $0.isNewline || $0 == "\t" ? " " : String($0) }.joined()
                return "pid \(process.pid) (\(command), found by \(process.foundBy)): \(process.ended)"
            }
            note(
                "vigil: stopped \(escaped.count) process(es) that escaped the trainer's group: "
                    + list.joined(separator: "; "))
        }
    }

    /// The OOM kills during the attempt: in its own cgroup when the memory controller counts there,
    /// else the rise of vigil's cgroup's count; with where it was read.
    private func oomKills(since before: Int?, cgroup: ControlGroup?) -> (Int?, String?) {
        if let kills = cgroup?.oomKills {
            return (kills, "memory.events of the attempt's cgroup")
        }
        guard let before, let after = oomCounter.count() else { return (nil, nil) }
        return (after - before, oomCounter.source)
    }

    /// The deadlines that apply to an attempt starting at `start`.
    func attemptDeadlines(start: Instant) -> [(at: Instant, cause: StopCause)] {
        let limits = request.policy.limits
        var deadlines: [(at: Instant, cause: StopCause)] = []
        if let runtimeDeadline { deadlines.append((runtimeDeadline, .runtimeLimit)) }
        if let limit = limits.attempt { deadlines.append((start + limit, .attemptLimit)) }
        if let total = limits.total { deadlines.append((start + max(0, total - journal.computeSeconds), .totalBudget)) }
        return deadlines
    }

    private func deadlineReason(_ deadline: (at: Instant, cause: StopCause)) -> String {
        let limits = request.policy.limits
        switch deadline.cause {
        case .runtimeLimit: return "the runtime limit ends at \(Journal.timestamp(clock.date(at: deadline.at)))"
        case .attemptLimit:
            return "the attempt time limit (\(DurationFormat.string(from: limits.attempt ?? 0))) is reached"
        default:
            return "the run's total compute budget (\(DurationFormat.string(from: limits.total ?? 0))) is spent"
        }
    }
}
