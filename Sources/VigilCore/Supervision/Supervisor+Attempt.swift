import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Supervisor {
    /// A stop in progress: why, which sequence, which step, and when the step is over.
    struct StopProgress {
        var cause: StopCause
        var reason: String
        var sequence: StopSequence
        var step = 0
        var deadline = Date()
        var stepStarted = Date()
        /// Valid checkpoints (name → modification time) when the checkpoint signal was sent: a new
        /// checkpoint is one not among them. (File times come from a coarse clock and may read a few
        /// milliseconds *before* the signal, so comparing times would miss a fast trainer.)
        var checkpointsBefore: [String: Date] = [:]
    }

    /// How an attempt went, for the run loop.
    struct AttemptResult {
        var record: Journal.Attempt
        var cause: StopCause?
    }

    /// Runs one attempt to its end and records it.
    func runAttempt(executable: String) throws -> AttemptResult {
        let number = journal.attempts.count + 1
        let plan = try planAttempt(number: number)
        let argv = plan.argv
        let resumeArguments = plan.resumeArguments
        let logName = directory.attemptLogName(number)
        var attempt = Journal.Attempt(
            number: number, argv: argv, startedAt: Date(), supervisorPID: getpid(), log: logName)
        attempt.resumeFrom = plan.resumeFrom?.path
        attempt.resumeStep = plan.resumeFrom?.step
        attempt.quarantined = plan.quarantined.isEmpty ? nil : plan.quarantined
        attempt.record(plan.checkpointFailures)
        attempt.configHash = plan.configHash
        let errorFile = directory.errorFilePath(number)
        unlink(errorFile)
        let policy = request.policy
        let output = policy.output
        let log = RotatingLog(
            path: directory.path + "/" + logName, maxBytes: output.logMaxBytes, backups: output.logBackups,
            permissions: output.privateFiles ? 0o600 : 0o644)
        let metrics = try MetricsRecorder(
            path: directory.path + "/metrics.jsonl", progress: output.progress, metrics: output.metrics,
            attempt: number, permissions: output.privateFiles ? 0o600 : 0o644)
        let oomBefore = oomCounter.count()
        let events = self.events

        // The deadlines that apply to this attempt; the stop sequence starts `checkpointLead` before
        // the earliest.
        let start = Date()
        var deadlines: [(date: Date, cause: StopCause)] = []
        if let runtimeDeadline { deadlines.append((runtimeDeadline, .runtimeLimit)) }
        if let limit = policy.limits.attempt { deadlines.append((start.addingTimeInterval(limit), .attemptLimit)) }
        if let total = policy.limits.total {
            deadlines.append((start.addingTimeInterval(max(0, total - journal.computeSeconds)), .totalBudget))
        }
        let earliest = deadlines.min { $0.date < $1.date }
        attempt.deadline = earliest?.date
        let trigger = earliest.map { max(start, $0.date.addingTimeInterval(-policy.stop.checkpointLead)) }

        let shown = argv.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        note("vigil: attempt \(number) of run '\(journal.run)': \(shown)")
        attempt.startedAt = Date()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable: executable, arguments: argv,
                environment: environment(forAttempt: number, resumeFrom: plan.resumeFrom, deadline: earliest?.date),
                onExit: { status in events.post(.childExited(attempt: number, status)) })
        } catch {
            log.close()
            throw error
        }
        attempt.pid = child.pid
        attempt.processStartTime = child.startTime
        journal.attempts.append(attempt)
        try save()  // pid and start time are durable before anything else can go wrong

        let liveRules = policy.rules.filter(\.live)
        let liveScanner = liveRules.isEmpty ? nil : OutputScanner(patterns: liveRules.flatMap { $0.output ?? [] })
        let pump = OutputPump(
            log: log, passthrough: output.passthrough, tailBytes: output.tailBytes,
            liveScanner: liveScanner, metrics: metrics, statusLine: statusLine,
            onLiveMatch: { match, poisonedAfter in
                let rule =
                    liveRules.first { $0.output?.contains { $0.source == match.pattern } == true }?.name ?? "live"
                events.post(.liveMatch(attempt: number, rule: rule, line: match.line, poisonedAfter: poisonedAfter))
            }
        ) {
            events.post(.outputClosed(attempt: number))
        }
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
        let preservedNames = Locked<[String]>([])
        let watcher = startWatching(attempt: number, preservedInto: preservedNames)

        var status: Termination?
        var outputClosed = false
        var stop: StopProgress?
        var stopEvents: [Journal.StopEvent] = []
        var lastCheckpoint = attempt.startedAt
        var poisonedAfter: Date?
        var nextRedraw = Date()
        var firstStep: Int?
        var lastCheckpointName = plan.resumeFrom.map { ($0.name, $0.modified) }
        let lastFailure = journal.attempts.dropLast().last { $0.verdict?.verdict != .success }?.verdict?.reason
        let maxAttempts = number - journal.consecutiveFailures + policy.restart.maxRetries
        let invocationStarted = journal.invocations.last?.startedAt ?? start
        func redraw() {
            guard let statusLine else { return }
            let progress = metrics?.current
            if firstStep == nil, let step = progress?.step { firstStep = max(0, step - 1) }
            statusLine.draw(
                StatusLine.render(
                    attempt: number, maxAttempts: maxAttempts, step: progress?.step, total: progress?.total,
                    firstStep: firstStep,
                    attemptStarted: start, invocationStarted: invocationStarted, deadline: runtimeDeadline,
                    lastCheckpoint: lastCheckpointName.map { (name: $0.0, modified: $0.1) }, lastFailure: lastFailure,
                    now: Date()))
            nextRedraw = Date().addingTimeInterval(1)
        }
        func record(_ event: String) {
            stopEvents.append(Journal.StopEvent(at: Date(), event: event))
        }

        // 1. Until the trainer exits: deadlines, stalls, live rules, signals, and the stop sequence.
        while status == nil {
            var wake = stop?.deadline
            if let current = stop, case .checkpoint = current.sequence.steps[current.step] {
                wake = min(current.deadline, Date().addingTimeInterval(0.25))  // also re-scan (no inotify)
            }
            if stop == nil {
                wake = [
                    trigger, policy.limits.stall.map { max(pump.lastActivity, lastCheckpoint).addingTimeInterval($0) },
                ]
                .compactMap { $0 }.min()
            }
            if statusLine != nil { wake = min(wake ?? nextRedraw, nextRedraw) }
            guard let event = events.next(until: wake) else {
                let now = Date()
                if statusLine != nil && now >= nextRedraw { redraw() }
                if stop != nil {
                    if checkpointStepSatisfied(&stop) {
                        advance(&stop, child, record)
                    } else if now >= stop!.deadline {
                        if case .checkpoint = stop!.sequence.steps[stop!.step] {
                            record(
                                "no new checkpoint within \(DurationFormat.string(from: stop!.sequence.steps[stop!.step].wait))"
                            )
                        }
                        advance(&stop, child, record)
                    }
                } else if let stall = policy.limits.stall,
                    now.timeIntervalSince(max(pump.lastActivity, lastCheckpoint)) >= stall
                {
                    let quiet = DurationFormat.string(from: stall)
                    begin(
                        &stop, .stall, "stalled: no output and no new checkpoint for \(quiet)", .hung(policy.stop),
                        child, record)
                } else if let trigger, now >= trigger, let earliest {
                    let reason: String
                    switch earliest.cause {
                    case .runtimeLimit: reason = "the runtime limit ends at \(Journal.timestamp(earliest.date))"
                    case .attemptLimit:
                        reason =
                            "the attempt time limit (\(DurationFormat.string(from: policy.limits.attempt ?? 0))) is reached"
                    default:
                        reason =
                            "the run's total compute budget (\(DurationFormat.string(from: policy.limits.total ?? 0))) is spent"
                    }
                    begin(
                        &stop, earliest.cause, reason,
                        .graceful(policy.stop, checkpoint: true, canSeeCheckpoints: checkpointStore != nil), child,
                        record)
                }
                continue
            }
            switch event {
            case .childExited(let n, let s) where n == number:
                status = s
            case .outputClosed(let n) where n == number:
                outputClosed = true
            case .signal(let signal):
                handle(signal, &stop, child, record)
            case .checkpointFinished(let n, let name) where n == number:
                lastCheckpoint = Date()
                lastCheckpointName = (name, lastCheckpoint)
                if stop != nil, checkpointStepSatisfied(&stop, name: name) {
                    advance(&stop, child, record)
                }
            case .liveMatch(let n, let rule, let line, let after) where n == number:
                if stop == nil || stop!.cause.isGracefulStop {
                    poisonedAfter = after
                    note(
                        "vigil: live rule '\(rule)' matched: \(line.trimmingCharacters(in: .whitespaces)); stopping without a checkpoint"
                    )
                    begin(
                        &stop, .liveRule(rule: rule, line: line), "live rule '\(rule)' matched",
                        .graceful(policy.stop, checkpoint: false), child, record)
                }
            default:
                break
            }
        }
        if stop != nil { record("trainer exited: \(status!)") }
        statusLine?.clear()

        // 2. The leader is gone; its descendants must not outlive the attempt.
        if child.groupHasLiveMembers {
            // Continue a stop already at SIGTERM/SIGKILL; otherwise (none, or one still waiting for a
            // checkpoint or a stack dump) go straight to SIGTERM for what is left.
            var atGroupSignal = false
            if let current = stop, case .signalGroup = current.sequence.steps[current.step] { atGroupSignal = true }
            if !atGroupSignal {
                let cause = stop?.cause ?? .leftovers
                let reason = stop?.reason ?? "the trainer exited and left processes in its group"
                stop = nil
                begin(&stop, cause, reason, .graceful(policy.stop, checkpoint: false), child, record)
            }
            while child.groupHasLiveMembers {
                // Group membership has no event; re-check every 10 ms, staying responsive to signals.
                let tick = min(stop!.deadline, Date().addingTimeInterval(0.01))
                if let event = events.next(until: tick) {
                    if case .signal(let signal) = event { handle(signal, &stop, child, record) }
                    if case .outputClosed(let n) = event, n == number { outputClosed = true }
                } else if Date() >= stop!.deadline {
                    if stop!.step + 1 >= stop!.sequence.steps.count { break }
                    advance(&stop, child, record)
                }
            }
        }

        // 3. Drain what is left in the pipes; a process that escaped the group (setsid) may hold
        //    them open forever, so this wait is bounded.
        if !outputClosed {
            let deadline = Date().addingTimeInterval(2)
            while !outputClosed, let event = events.next(until: deadline) {
                if case .outputClosed(let n) = event, n == number { outputClosed = true }
                if case .signal(let signal) = event, Supervisor.stopSignalSet.contains(signal) {
                    stopSignals.append(signal)
                }
            }
            if !outputClosed {
                note("vigil: a process outside the trainer's group still holds its output open; no longer reading it")
                pump.cancel()
                while !outputClosed, let event = events.next(until: Date().addingTimeInterval(5)) {
                    if case .outputClosed(let n) = event, n == number { outputClosed = true }
                }
            }
        }
        log.close()
        watcher?.stop()

        // 4. Record and classify.
        let index = journal.attempts.count - 1
        var result = journal.attempts[index]
        result.endedAt = child.exitedAt ?? Date()
        result.exit = status
        journal.computeSeconds += result.duration ?? 0
        if let poisonedAfter, let store = checkpointStore {
            // Preserved copies are hard links with the same times: poisoned ones go to quarantine too.
            let moment = CheckpointStore.Moment.afterExit(exitedAt: result.endedAt!, killed: true)
            let poisoned = (store.scan(moment) + store.scan(moment, in: store.preservedDirectory)).filter {
                $0.modified > poisonedAfter
            }
            .map { checkpoint -> Checkpoint in
                var marked = checkpoint
                marked.invalidReason = "poisoned: written after live rule '\(stop?.cause.liveRuleName ?? "")' matched"
                return marked
            }
            let quarantine = store.quarantineInvalid(poisoned)
            let moved = quarantine.moved
            for item in moved { note("vigil: quarantined checkpoint \(item.name): \(item.reason)") }
            result.record(
                warn(quarantine.failures + [store.refusal(of: CheckpointStore.preservedName)].compactMap { $0 }))
            if !moved.isEmpty { result.quarantined = (result.quarantined ?? []) + moved }
        }
        reviewCheckpoints(
            after: &result, status: status!, exitedAt: result.endedAt!, watched: preservedNames.current,
            before: plan.checkpointsBefore)
        result.signalsSent = child.sentSignals.map { sent in
            Journal.SentSignal(signal: sent.signal.name, at: sent.at, reason: stop?.reason ?? "")
        }
        result.stopEvents = stopEvents.isEmpty ? nil : stopEvents
        result.stopCause = stop?.cause.name
        result.stopReason = stop?.reason
        result.logError = log.firstError
        result.logBytesDropped = log.droppedBytes > 0 ? log.droppedBytes : nil
        if let error = log.firstError {
            note(
                "vigil: warning: \(error); \(log.droppedBytes) bytes of output were not logged (the trainer was not blocked)"
            )
        }
        let sentByVigil: Bool
        if case .signaled(let signal)? = status {
            sentByVigil = child.sentSignals.contains { $0.signal == signal }
        } else {
            sentByVigil = false
        }
        let oomAfter = oomCounter.count()
        let tail = pump.tail
        var outcome = AttemptOutcome(
            status: status!, signalSentByVigil: sentByVigil, duration: result.duration ?? 0, tail: tail,
            errorFile: TrainerErrorFile.read(at: errorFile),
            oomKills: oomBefore.flatMap { before in oomAfter.map { $0 - before } },
            resumeArguments: resumeArguments)
        switch stop?.cause {
        case .signal?, .runtimeLimit?, .totalBudget?:
            result.verdict = Verdict(
                verdict: .ignore, rule: "stopped-by-vigil", reason: stop!.reason, exception: outcome.exception)
        case .liveRule(let name, let line)?:
            let rule = policy.rules.first { $0.name == name }
            let why = rule?.reason ?? name
            result.verdict = Verdict(
                verdict: rule?.verdict ?? .recoverable, rule: name,
                reason: "\(why) (live: \(line.trimmingCharacters(in: .whitespaces)))", exception: outcome.exception)
        case .stall?:
            outcome.stalled = true
            result.stackDump = Supervisor.stackDump(in: tail.stderr)
            result.verdict = classifier.classify(outcome)
        case .attemptLimit?:
            outcome.timedOut = true
            result.verdict = classifier.classify(outcome)
        case .leftovers?, nil:
            result.verdict = classifier.classify(outcome)
        }
        journal.attempts[index] = result
        try save()  // the verdict is durable before vigil touches the config
        if let verdict = result.verdict, verdict.verdict == .recoverable || verdict.verdict == .ignore,
            stop?.cause.isSignal != true,
            let rule = policy.rules.first(where: { $0.name == verdict.rule }), !rule.repairs.isEmpty
        {
            if let exhausted = try applyRepairs(of: rule, to: &result) {
                result.verdict = Verdict(
                    verdict: .unrecoverable, rule: verdict.rule,
                    reason: "\(exhausted.description) (after: \(verdict.reason))", exception: verdict.exception)
            }
        }
        journal.attempts[index] = result
        try save()
        let verdict = result.verdict!
        if verdict.verdict != .success, verdict.rule != "stopped-by-vigil" {
            finishedAttempt(&result, tail: tail)
            journal.attempts[index] = result
            try save()
        }
        note(
            "vigil: attempt \(number) ended: \(status!) after \(DurationFormat.string(from: result.duration ?? 0)) → \(verdict.verdict.rawValue) [\(verdict.rule)]: \(verdict.reason)"
        )
        return AttemptResult(record: result, cause: stop?.cause)
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

    /// Whether the current step is the checkpoint step and a new valid checkpoint (named `name`, or
    /// any) was modified after `since`; records it.
    private func checkpointStepSatisfied(_ stop: inout StopProgress?, name: String? = nil) -> Bool {
        guard let progress = stop, case .checkpoint = progress.sequence.steps[progress.step],
            let store = checkpointStore
        else { return false }
        // A name reported by the watcher was closed after writing or renamed into place: complete.
        // A checkpoint found by the periodic re-scan must also have settled (not still being written).
        let moment: CheckpointStore.Moment =
            name == nil ? .live(now: Date()) : .afterExit(exitedAt: Date(), killed: false)
        let found = store.scan(moment)
        guard
            let fresh = found.last(where: { checkpoint in
                checkpoint.isValid && progress.checkpointsBefore[checkpoint.name] != checkpoint.modified
                    && (name == nil || checkpoint.name == name)
            })
        else {
            return false
        }
        let after = DurationFormat.string(from: Date().timeIntervalSince(progress.stepStarted))
        stop!.reason += "; checkpoint \(fresh.name) saved"
        note("vigil: the trainer saved \(fresh.name) (step \(fresh.step)) \(after) after the checkpoint signal")
        return true
    }

    /// A signal to vigil: INT/TERM/HUP/USR1 start the stop sequence (checkpoint first); a second
    /// INT/TERM/HUP kills the group at once.
    private func handle(
        _ signal: Signal, _ stop: inout StopProgress?, _ child: ChildProcess,
        _ record: (String) -> Void
    ) {
        guard Supervisor.stopSignalSet.contains(signal) || signal == .user1 else { return }
        stopSignals.append(signal)
        guard let current = stop else {
            note(
                "vigil: got \(signal); asking the trainer to checkpoint, then stopping it (a second Ctrl-C kills it at once)"
            )
            begin(
                &stop, .signal(signal), "vigil received \(signal)",
                .graceful(request.policy.stop, checkpoint: true, canSeeCheckpoints: checkpointStore != nil),
                child, record)
            return
        }
        let interrupts = stopSignals.filter { $0 != .user1 }.count
        if signal != .user1, interrupts >= 2, current.sequence != .kill {
            note("vigil: got \(signal) again; killing the trainer's process group now")
            let reason = current.reason + ", then \(signal) twice"
            let cause = current.cause
            stop = nil
            begin(&stop, cause, reason, .kill, child, record)
        } else {
            record("got \(signal.name) during the stop; vigil exits 75 after it")
            note("vigil: got \(signal); already stopping the trainer (\(current.reason)); vigil will exit 75 after it")
        }
    }

    private func begin(
        _ stop: inout StopProgress?, _ cause: StopCause, _ reason: String, _ sequence: StopSequence,
        _ child: ChildProcess, _ record: (String) -> Void
    ) {
        record("stop: \(reason)")
        stop = StopProgress(cause: cause, reason: reason, sequence: sequence)
        perform(&stop, child, record)
    }

    /// Carries out the current step: its signal, and when it is over.
    private func perform(_ stop: inout StopProgress?, _ child: ChildProcess, _ record: (String) -> Void) {
        guard var progress = stop else { return }
        let step = progress.sequence.steps[progress.step]
        switch step {
        case .checkpoint(let signal, _):
            if let store = checkpointStore {
                let valid = store.scan(.afterExit(exitedAt: Date(), killed: false)).filter(\.isValid)
                progress.checkpointsBefore = Dictionary(
                    valid.map { ($0.name, $0.modified) }, uniquingKeysWith: { a, _ in a })
            }
            child.signalGroup(signal)
            record("sent \(signal.name) to the group: save a checkpoint")
        case .signalLeader(let signal, _):
            child.signalLeader(signal)
            record("sent \(signal.name) to the trainer: dump its stacks")
        case .signalGroup(let signal, _):
            child.signalGroup(signal)
            record("sent \(signal.name) to the group")
        }
        progress.stepStarted = Date()
        progress.deadline = progress.stepStarted.addingTimeInterval(step.wait)
        stop = progress
    }

    /// The next step, or SIGKILL again after the last (a process may have joined the group).
    private func advance(_ stop: inout StopProgress?, _ child: ChildProcess, _ record: (String) -> Void) {
        guard var progress = stop else { return }
        if progress.step + 1 < progress.sequence.steps.count {
            progress.step += 1
            stop = progress
            perform(&stop, child, record)
        } else {
            child.signalGroup(.kill)
            progress.deadline = Date().addingTimeInterval(1)
            stop = progress
        }
    }
}

extension StopCause {
    var isSignal: Bool {
        if case .signal = self { return true }
        return false
    }

    /// Stops that ask for a checkpoint first (and that a live rule may pre-empt).
    var isGracefulStop: Bool {
        switch self {
        case .runtimeLimit, .attemptLimit, .totalBudget: return true
        default: return false
        }
    }

    var liveRuleName: String? {
        if case .liveRule(let rule, _) = self { return rule }
        return nil
    }
}
