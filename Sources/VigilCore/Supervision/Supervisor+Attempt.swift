import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The steps that stop an attempt's process group: a value, walked one step at a time.
public struct StopSequence: Sendable, Equatable {
    public struct Step: Sendable, Equatable {
        public var signal: Signal
        /// How long to wait for the group to end before the next step.
        public var wait: Double
    }

    public var steps: [Step]

    /// SIGTERM, `termGrace`, then SIGKILL.
    public static func terminate(grace: Double) -> StopSequence {
        StopSequence(steps: [Step(signal: .terminate, wait: grace), Step(signal: .kill, wait: 10)])
    }

    /// SIGKILL at once (a second Ctrl-C).
    public static let kill = StopSequence(steps: [Step(signal: .kill, wait: 10)])
}

extension Supervisor {
    /// A stop in progress: which sequence, which step, and when the next one is due.
    struct StopProgress {
        var sequence: StopSequence
        var reason: String
        var step = 0
        var deadline = Date()
    }

    /// Runs one attempt to its end and records it; returns the closed journal entry.
    func runAttempt(executable: String) throws -> Journal.Attempt {
        let number = journal.attempts.count + 1
        let plan = try planAttempt(number: number)
        let argv = plan.argv
        let resumeArguments = plan.resumeArguments
        let logName = directory.attemptLogName(number)
        var attempt = Journal.Attempt(number: number, argv: argv, startedAt: Date(), supervisorPID: getpid(), log: logName)
        attempt.resumeFrom = plan.resumeFrom?.path
        attempt.resumeStep = plan.resumeFrom?.step
        attempt.quarantined = plan.quarantined.isEmpty ? nil : plan.quarantined
        attempt.configHash = plan.configHash
        let errorFile = directory.errorFilePath(number)
        unlink(errorFile)
        let output = request.policy.output
        let log = RotatingLog(path: directory.path + "/" + logName, maxBytes: output.logMaxBytes, backups: output.logBackups)
        let oomBefore = oomCounter.count()
        let events = self.events

        let shown = argv.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        note("vigil: attempt \(number) of run '\(journal.run)': \(shown)")
        attempt.startedAt = Date()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable: executable, arguments: argv, environment: environment(forAttempt: number, resumeFrom: plan.resumeFrom),
                onExit: { status in events.post(.childExited(attempt: number, status)) })
        } catch {
            log.close()
            throw error
        }
        attempt.pid = child.pid
        attempt.processStartTime = child.startTime
        journal.attempts.append(attempt)
        try save()  // pid and start time are durable before anything else can go wrong

        let pump = OutputPump(log: log, passthrough: output.passthrough, tailBytes: output.tailBytes) {
            events.post(.outputClosed(attempt: number))
        }
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
        let preservedNames = Locked<[String]>([])
        let watcher = startPreserving(into: preservedNames)

        var status: Termination?
        var outputClosed = false
        var stop: StopProgress?

        // 1. Until the trainer exits: react to signals, walk a stop sequence when one is running.
        while status == nil {
            guard let event = events.next(until: stop?.deadline) else {
                advance(&stop, child)
                continue
            }
            switch event {
            case .childExited(let n, let s) where n == number: status = s
            case .outputClosed(let n) where n == number: outputClosed = true
            case .signal(let signal): handle(signal, &stop, child)
            default: break
            }
        }

        // 2. The leader is gone; its descendants must not outlive the attempt.
        if child.groupHasLiveMembers {
            if stop == nil {
                stop = StopProgress(sequence: .terminate(grace: request.policy.stop.termGrace),
                                    reason: "the trainer exited and left processes in its group")
                begin(&stop, child)
            }
            while child.groupHasLiveMembers {
                // Group membership has no event; re-check every 10 ms, staying responsive to signals.
                let tick = min(stop!.deadline, Date().addingTimeInterval(0.01))
                if let event = events.next(until: tick) {
                    if case .signal(let signal) = event { handle(signal, &stop, child) }
                    if case .outputClosed(let n) = event, n == number { outputClosed = true }
                } else if Date() >= stop!.deadline {
                    if stop!.step + 1 >= stop!.sequence.steps.count { break }
                    advance(&stop, child)
                }
            }
        }

        // 3. Drain what is left in the pipes; a process that escaped the group (setsid) may hold
        //    them open forever, so this wait is bounded.
        if !outputClosed {
            let deadline = Date().addingTimeInterval(2)
            while !outputClosed, let event = events.next(until: deadline) {
                if case .outputClosed(let n) = event, n == number { outputClosed = true }
                if case .signal(let signal) = event, Supervisor.stopSignalSet.contains(signal) { stopSignals.append(signal) }
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
        var record = journal.attempts[index]
        record.endedAt = child.exitedAt ?? Date()
        reviewCheckpoints(after: &record, status: status!, exitedAt: record.endedAt!, watched: preservedNames.current)
        record.exit = status
        record.signalsSent = child.sentSignals.map { sent in
            Journal.SentSignal(signal: sent.signal.name, at: sent.at, reason: stop?.reason ?? "")
        }
        record.logError = log.firstError
        record.logBytesDropped = log.droppedBytes > 0 ? log.droppedBytes : nil
        if let error = log.firstError {
            note("vigil: warning: \(error); \(log.droppedBytes) bytes of output were not logged (the trainer was not blocked)")
        }
        let sentByVigil: Bool
        if case .signaled(let signal)? = status {
            sentByVigil = child.sentSignals.contains { $0.signal == signal }
        } else {
            sentByVigil = false
        }
        let oomAfter = oomCounter.count()
        let outcome = AttemptOutcome(
            status: status!, signalSentByVigil: sentByVigil, duration: record.duration ?? 0, tail: pump.tail,
            errorFile: TrainerErrorFile.read(at: errorFile),
            oomKills: oomBefore.flatMap { before in oomAfter.map { $0 - before } },
            resumeArguments: resumeArguments)
        if let stop, !stopSignals.isEmpty {
            record.stopReason = stop.reason
            record.verdict = Verdict(verdict: .ignore, rule: "stopped-by-vigil", reason: stop.reason, exception: outcome.exception)
        } else {
            record.verdict = classifier.classify(outcome)
        }
        journal.attempts[index] = record
        try save()
        let verdict = record.verdict!
        note("vigil: attempt \(number) ended: \(status!) after \(DurationFormat.string(from: record.duration ?? 0)) → \(verdict.verdict.rawValue) [\(verdict.rule)]: \(verdict.reason)")
        return record
    }

    /// A signal to vigil: the first INT/TERM/HUP starts the stop sequence, a second one escalates.
    private func handle(_ signal: Signal, _ stop: inout StopProgress?, _ child: ChildProcess) {
        guard Supervisor.stopSignalSet.contains(signal) else { return }
        stopSignals.append(signal)
        if stop == nil {
            note("vigil: got \(signal); stopping the trainer (a second Ctrl-C kills it at once)")
            stop = StopProgress(sequence: .terminate(grace: request.policy.stop.termGrace), reason: "vigil received \(signal)")
            begin(&stop, child)
        } else if stop!.sequence != .kill {
            note("vigil: got \(signal) again; killing the trainer's process group now")
            stop = StopProgress(sequence: .kill, reason: stop!.reason + ", then \(signal) again")
            begin(&stop, child)
        }
    }

    private func begin(_ stop: inout StopProgress?, _ child: ChildProcess) {
        guard var progress = stop else { return }
        progress.step = 0
        let step = progress.sequence.steps[0]
        child.signalGroup(step.signal)
        progress.deadline = Date().addingTimeInterval(step.wait)
        stop = progress
    }

    /// The current step's time is up: the next step's signal, or keep waiting after the last.
    private func advance(_ stop: inout StopProgress?, _ child: ChildProcess) {
        guard var progress = stop else { return }
        if progress.step + 1 < progress.sequence.steps.count {
            progress.step += 1
            let step = progress.sequence.steps[progress.step]
            note("vigil: the trainer's group did not end in time; sending \(step.signal)")
            child.signalGroup(step.signal)
            progress.deadline = Date().addingTimeInterval(step.wait)
        } else {
            // SIGKILL cannot be ignored; re-send in case a new process joined the group meanwhile.
            child.signalGroup(.kill)
            progress.deadline = Date().addingTimeInterval(1)
        }
        stop = progress
    }
}
