import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Supervisor {
    /// How an attempt went, for the run loop.
    struct AttemptResult {
        var record: Journal.Attempt
        /// Why vigil stopped it; nil when the trainer ended by itself (also when it finished during a
        /// stop, before vigil sent a terminating signal).
        var cause: StopCause?
    }

    /// Runs one attempt to its end and records it.
    func runAttempt(executable: String) throws -> AttemptResult {
        let number = journal.attempts.count + 1
        let plan = try planAttempt(number: number)
        let logName = directory.attemptLogName(number)
        var attempt = Journal.Attempt(
            number: number, argv: plan.argv, startedAt: Date(), supervisorPID: getpid(), log: logName)
        attempt.resumeFrom = plan.resumeFrom?.path
        attempt.resumeStep = plan.resumeFrom?.step
        attempt.quarantined = plan.quarantined.isEmpty ? nil : plan.quarantined
        attempt.record(plan.checkpointFailures)
        attempt.configHash = plan.configHash
        let errorFile = directory.errorFilePath(number)
        unlink(errorFile)
        let output = request.policy.output
        let index = journal.attempts.count
        let events = self.events
        let space = FreeSpaceGuard(path: directory.path, keepFree: output.keepFree) { suspended, free in
            events.post(.logSpace(attempt: number, suspended: suspended, free: free))
        }
        let log = RotatingLog(
            path: directory.path + "/" + logName, maxBytes: output.logMaxBytes, backups: output.logBackups,
            permissions: filePermissions, space: space)
        let metrics = try MetricsRecorder(
            path: directory.path + "/metrics.jsonl", progress: output.progress, metrics: output.metrics,
            attempt: number, permissions: filePermissions, space: space)
        let oomBefore = oomCounter.count()

        // The deadlines that apply to this attempt; the stop sequence starts `checkpointLead` before
        // the earliest.
        let start = Date()
        let earliest = attemptDeadlines(start: start).min { $0.date < $1.date }
        attempt.deadline = earliest?.date
        let cgroup = makeControlGroup(attempt: number)
        attempt.cgroup = cgroup?.path

        let shown = plan.argv.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        note("vigil: attempt \(number) of run '\(journal.run)': \(shown)")
        attempt.startedAt = Date()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable: executable, arguments: plan.argv,
                environment: environment(forAttempt: number, resumeFrom: plan.resumeFrom, deadline: earliest?.date),
                cgroup: cgroup,
                onExit: { status in events.post(.childExited(attempt: number, status)) })
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
        let preservedNames = Locked<[String]>([])
        let watcher = startWatching(attempt: number, preservedInto: preservedNames)
        let running = RunningAttempt(
            supervisor: self, number: number, index: index, child: child, pump: pump, watcher: watcher,
            processes: AttemptProcesses(leader: child.pid, cgroup: cgroup), metrics: metrics, earliest: earliest,
            started: start, resumeFrom: plan.resumeFrom)
        running.superviseUntilExit()
        running.stopLeftovers()
        running.drainOutput()
        log.close()
        let observed = watcher?.observations() ?? [:]
        watcher?.stop()

        // Record and classify.
        var result = journal.attempts[index]
        result.endedAt = child.exitedAt ?? Date()
        result.exit = running.status
        result.leftovers = running.leftovers.isEmpty ? nil : running.leftovers
        journal.computeSeconds += result.duration ?? 0
        let exit = trainerExit(result, child: child)
        quarantinePoisoned(after: running, exit: exit, into: &result)
        reviewCheckpoints(
            after: &result, exit: exit, observed: observed, watched: preservedNames.current,
            before: plan.checkpointsBefore)
        result.logError = log.firstError
        result.logBytesDropped = log.droppedBytes > 0 ? log.droppedBytes : nil
        if let error = log.firstError {
            note(
                "vigil: warning: \(error); \(log.droppedBytes) bytes of output were not logged (the trainer was not blocked)"
            )
        } else if log.droppedBytes > 0 {
            note("vigil: \(log.droppedBytes) bytes of output were not logged for lack of space (output.keepFree)")
        }
        let oomAfter = oomCounter.count()
        var outcome = AttemptOutcome(
            status: running.status!, signalSentByVigil: exit.killedByVigil, duration: result.duration ?? 0,
            tail: pump.tail, errorFile: TrainerErrorFile.read(at: errorFile),
            oomKills: oomBefore.flatMap { before in oomAfter.map { $0 - before } },
            resumeArguments: plan.resumeArguments)
        // A trainer that finished before vigil sent it anything that ends a process did finish: the
        // stop (a deadline's, a signal's) came too late to matter.
        var cause = running.stop?.cause
        if running.status == .exited(0), exit.stopSignalAt == nil, cause != nil {
            journal.attempts[index].stopEvents =
                (journal.attempts[index].stopEvents ?? []) + [
                    Journal.StopEvent(
                        at: Date(), event: "the trainer finished (exit 0) before vigil sent it a terminating signal")
                ]
            result.stopEvents = journal.attempts[index].stopEvents
            cause = nil
        }
        result.verdict = verdict(for: cause, running: running, outcome: &outcome, record: &result)
        journal.attempts[index] = result
        save()  // the verdict is durable before vigil touches the config
        try repairIfAsked(&result, cause: cause)
        journal.attempts[index] = result
        save()
        let verdict = result.verdict!
        if verdict.verdict != .success, verdict.rule != "stopped-by-vigil" {
            finishedAttempt(&result, tail: pump.tail)
            journal.attempts[index] = result
            save()
        }
        note(
            "vigil: attempt \(number) ended: \(running.status!) after \(DurationFormat.string(from: result.duration ?? 0)) → \(verdict.verdict.rawValue) [\(verdict.rule)]: \(verdict.reason)"
        )
        return AttemptResult(record: result, cause: cause)
    }

    /// The deadlines that apply to an attempt starting at `start`.
    func attemptDeadlines(start: Date) -> [(date: Date, cause: StopCause)] {
        let limits = request.policy.limits
        var deadlines: [(date: Date, cause: StopCause)] = []
        if let runtimeDeadline { deadlines.append((runtimeDeadline, .runtimeLimit)) }
        if let limit = limits.attempt { deadlines.append((start.addingTimeInterval(limit), .attemptLimit)) }
        if let total = limits.total {
            deadlines.append((start.addingTimeInterval(max(0, total - journal.computeSeconds)), .totalBudget))
        }
        return deadlines
    }

    /// The attempt's own cgroup, when the machine lets vigil make one (said once per invocation when not).
    func makeControlGroup(attempt number: Int) -> ControlGroup? {
        // VIGIL_NO_CGROUP=1: rely on the process group and the subreaper alone (as in most containers).
        if request.environment["VIGIL_NO_CGROUP"] == "1" { return nil }
        switch ControlGroup.create(name: "vigil-\(getpid())-attempt-\(number)") {
        case .success(let group):
            return group
        case .failure(let why):
            if !cgroupUnavailableNoted {
                cgroupUnavailableNoted = true
                cgroupUnavailable = why.reason
            }
            return nil
        }
    }

    private func makePump(attempt number: Int, log: RotatingLog, metrics: MetricsRecorder?) -> OutputPump {
        let policy = request.policy
        let liveRules = policy.rules.filter(\.live)
        let liveScanner = liveRules.isEmpty ? nil : OutputScanner(patterns: liveRules.flatMap { $0.output ?? [] })
        let events = self.events
        return OutputPump(
            log: log, passthrough: policy.output.passthrough, tailBytes: policy.output.tailBytes,
            liveScanner: liveScanner, metrics: metrics, statusLine: statusLine,
            onLiveMatch: { match, poisonedAfter in
                let rule =
                    liveRules.first { $0.output?.contains { $0.source == match.pattern } == true }?.name ?? "live"
                events.post(.liveMatch(attempt: number, rule: rule, line: match.line, poisonedAfter: poisonedAfter))
            }
        ) {
            events.post(.outputClosed(attempt: number))
        }
    }

    /// How the trainer died, as the checkpoint judgement needs it.
    func trainerExit(_ attempt: Journal.Attempt, child: ChildProcess) -> TrainerExit {
        let stopSignalAt = stopSignalTime(of: attempt)
        var killedByVigil = false
        if case .signaled(let signal)? = attempt.exit {
            killedByVigil = child.sentSignals.contains { $0.signal == signal }
        }
        return TrainerExit(
            at: attempt.endedAt ?? Date(), killed: attempt.exit?.isSignal ?? true, stopSignalAt: stopSignalAt,
            killedByVigil: killedByVigil)
    }

    /// After a live rule matched: checkpoints modified after the poisoning threshold go to quarantine
    /// (preserved copies are hard links with the same times: those too).
    private func quarantinePoisoned(
        after running: RunningAttempt, exit: TrainerExit, into result: inout Journal.Attempt
    ) {
        guard let poisonedAfter = running.poisonedAfter, let store = checkpointStore else { return }
        let moment = exit.moment
        let poisoned = (store.scan(moment) + store.scan(moment, in: store.preservedDirectory)).filter {
            $0.modified > poisonedAfter
        }
        .map { checkpoint -> Checkpoint in
            var marked = checkpoint
            marked.invalidReason =
                "poisoned: written after live rule '\(running.stop?.cause.liveRuleName ?? "")' matched"
            return marked
        }
        let quarantine = store.quarantineInvalid(poisoned)
        for item in quarantine.moved { note("vigil: quarantined checkpoint \(item.name): \(item.reason)") }
        result.record(warn(quarantine.failures + [store.refusal(of: CheckpointStore.preservedName)].compactMap { $0 }))
        if !quarantine.moved.isEmpty { result.quarantined = (result.quarantined ?? []) + quarantine.moved }
    }

    /// The verdict: the stop's cause decides for the stops that are vigil's own, the classifier for the rest.
    private func verdict(
        for cause: StopCause?, running: RunningAttempt, outcome: inout AttemptOutcome, record: inout Journal.Attempt
    ) -> Verdict {
        let reason = running.stop?.reason ?? ""
        switch cause {
        case .signal?, .runtimeLimit?, .totalBudget?:
            return Verdict(verdict: .ignore, rule: "stopped-by-vigil", reason: reason, exception: outcome.exception)
        case .liveRule(let name, let line)?:
            let rule = request.policy.rules.first { $0.name == name }
            let why = rule?.reason ?? name
            return Verdict(
                verdict: rule?.verdict ?? .recoverable, rule: name,
                reason: "\(why) (live: \(line.trimmingCharacters(in: .whitespaces)))", exception: outcome.exception)
        case .stall?:
            outcome.stalled = true
            record.stackDump = Supervisor.stackDump(in: outcome.tail.stderr)
            return classifier.classify(outcome)
        case .attemptLimit?:
            outcome.timedOut = true
            return classifier.classify(outcome)
        case .leftovers?, nil:
            return classifier.classify(outcome)
        }
    }

    /// Applies the matched rule's repairs; a repair that crosses a bound makes the verdict unrecoverable.
    private func repairIfAsked(_ result: inout Journal.Attempt, cause: StopCause?) throws {
        guard let verdict = result.verdict, verdict.verdict == .recoverable || verdict.verdict == .ignore,
            cause?.isSignal != true,
            let rule = request.policy.rules.first(where: { $0.name == verdict.rule }), !rule.repairs.isEmpty
        else { return }
        if let exhausted = try applyRepairs(of: rule, to: &result) {
            result.verdict = Verdict(
                verdict: .unrecoverable, rule: verdict.rule,
                reason: "\(exhausted.description) (after: \(verdict.reason))", exception: verdict.exception)
        }
    }

    /// The log volume ran short of `output.keepFree` (or has room again): said once each way, journaled.
    func logSpaceChanged(attempt index: Int, suspended: Bool, free: Int) {
        let keep = request.policy.output.keepFree
        let text =
            suspended
            ? "log writing paused: \(free) bytes free on the log volume, less than output.keepFree (\(keep) bytes); the trainer keeps running"
            : "log writing resumed: \(free) bytes free on the log volume"
        note("vigil: \(text)")
        guard journal.attempts.indices.contains(index) else { return }
        journal.attempts[index].logEvents =
            (journal.attempts[index].logEvents ?? []) + [Journal.StopEvent(at: Date(), event: text)]
        save()
    }

    /// The end of a faulthandler dump ("Fatal Python error" / "Thread 0x…") in a hung trainer's stderr.
    static func stackDump(in lines: [String]) -> String? {
        guard
            let start = lines.firstIndex(where: {
                $0.hasPrefix("Fatal Python error") || $0.hasPrefix("Current thread 0x") || $0.hasPrefix("Thread 0x")
            })
        else { return nil }
        return lines[start...].prefix(400).joined(separator: "\n")
    }
}

/// How a trainer ended, as far as its checkpoints are concerned.
struct TrainerExit {
    var at: Date
    /// Killed by a signal (a write may have been cut short).
    var killed: Bool
    /// When vigil sent its first signal that ends a process (not the checkpoint signal).
    var stopSignalAt: Date?
    /// The signal that killed it was one vigil sent.
    var killedByVigil: Bool

    var moment: CheckpointStore.Moment { .afterExit(exitedAt: at, killed: killed, stopSignalAt: stopSignalAt) }
}
