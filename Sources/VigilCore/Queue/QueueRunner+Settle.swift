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

/// Recording how a job's `vigil run` ended: from its journal's state and its exit code, never a guess.
extension QueueRunner {
    /// What a job became, and why.
    struct Settlement: Equatable {
        var state: QueueJob.State
        var reason: String
        /// Another live vigil supervises the run (exit 69): wait for that one.
        var busy = false
    }

    /// The job's new state from its journal and its vigil's exit (a pure function of both).
    static func settlement(
        exit: Termination?, journal: Journal?, journalProblem: String?, lastLine: String?
    )
        -> Settlement
    {
        let outcome = journal?.outcome?.reason
        // The journal is the run's own record: a finished run is what it says, whatever the exit.
        if let journal, journal.state.isFinished {
            let reason = outcome ?? journal.state.rawValue
            switch journal.state {
            case .succeeded: return Settlement(state: .done, reason: reason)
            case .gaveUp: return Settlement(state: .gaveUp, reason: reason)
            default: return Settlement(state: .failed, reason: reason)
            }
        }
        let said = lastLine.map(cleaned) ?? "no message"
        switch exit {
        case .exited(0)?: return Settlement(state: .done, reason: outcome ?? "vigil run exited 0")
        case .exited(1)?: return Settlement(state: .failed, reason: outcome ?? "vigil run exited 1: \(said)")
        case .exited(2)?: return Settlement(state: .gaveUp, reason: outcome ?? "vigil run exited 2: \(said)")
        case .exited(75)?:
            return Settlement(state: .stopped, reason: outcome ?? "stopped, resumable (exit 75)")
        case .exited(69)?: return Settlement(state: .running, reason: said, busy: true)
        case .exited(let code)?:
            // 64, 66, 78: vigil refused the job (usage, a missing command or policy, an invalid one).
            return Settlement(state: .failed, reason: "vigil run exited \(code): \(said)")
        case .signaled(let signal)?:
            return Settlement(
                state: .stopped,
                reason: "its vigil run was killed by \(signal)\(journalProblem.map { " (\($0))" } ?? ""); "
                    + "the next queue run continues it")
        case nil:
            // A vigil this runner did not start, now gone: its journal says where the run stands.
            if let problem = journalProblem { return Settlement(state: .failed, reason: "its journal: \(problem)") }
            guard let journal else {
                return Settlement(state: .stopped, reason: "its vigil run ended before writing a journal")
            }
            if journal.state == .stopped { return Settlement(state: .stopped, reason: outcome ?? "stopped") }
            return Settlement(
                state: .stopped, reason: "its vigil run died (the journal says \(journal.state.rawValue))")
        }
    }

    /// `[job] vigil: the message` → `the message`.
    private static func cleaned(_ line: String) -> String {
        var text = Substring(line)
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") { text = text[text.index(after: close)...] }
        text = text.drop { $0 == " " }
        if text.hasPrefix("vigil: ") { text = text.dropFirst("vigil: ".count) }
        return String(text.prefix(400))
    }

    /// Records an ended job in the queue (only if it is still this runner's claim).
    func settle(_ ended: Ended, in queue: inout QueueFile) {
        guard let index = queue.index(of: ended.name) else { return }
        var job = queue.jobs[index]
        guard job.state == .running, job.claim?.runner == identity else { return }
        var settlement = QueueRunner.settlement(
            exit: ended.exit, journal: ended.journal, journalProblem: ended.journalProblem, lastLine: ended.lastLine)
        if settlement.busy {
            settlement = busy(ended, &job)
            if settlement.busy {
                queue.jobs[index] = job
                return
            }
        }
        let now = Date()
        job.state = settlement.state
        job.reason = settlement.reason
        job.claim = nil
        job.lastEndedAt = now
        job.timeUsedSeconds += ended.watched ? 0 : max(0, ended.seconds)
        if case .exited(let code)? = ended.exit { job.lastExitCode = code }
        if let journal = ended.journal {
            job.attempts = journal.attempts.count
            if let verdict = journal.attempts.last(where: { $0.verdict != nil })?.verdict {
                job.lastVerdict = QueueJob.LastVerdict(
                    verdict: verdict.verdict.rawValue, rule: verdict.rule, reason: verdict.reason)
            }
        }
        if job.state == .done {
            job.lastSucceededAt = ended.journal.flatMap { $0.state == .succeeded ? $0.updatedAt : nil } ?? now
        }
        if job.state != .stopped { job.retraining = false }
        if job.state == .stopped, !ended.watched { stoppedHere.insert(job.name) }
        queue.jobs[index] = job
        ledger[job.name, default: QueueSummary.Entry(name: job.name)].record(
            job, seconds: ended.seconds, retrain: ended.retrain,
            goodput: ended.journal.map { Goodput(journal: $0, now: now) })
        let verb = [
            "done": "done", "failed": "failed", "gave-up": "gave up", "stopped-resumable": "stopped, resumable",
        ]
        note(
            "vigil queue: \(job.name) \(verb[job.state.rawValue] ?? job.state.rawValue) "
                + "after \(DurationFormat.string(from: ended.seconds.rounded())) (\(job.attempts) attempt"
                + "\(job.attempts == 1 ? "" : "s")): \(job.reason ?? "")")
    }

    /// Exit 69: another live vigil supervises the job's run. Wait for it (its pid is the journal's
    /// last invocation); after three of these, leave the job stopped-resumable.
    private func busy(_ ended: Ended, _ job: inout QueueJob) -> Settlement {
        busyCount[job.name, default: 0] += 1
        if let invocation = ended.journal?.invocations.last, invocation.endedAt == nil,
            busyCount[job.name, default: 0] <= 3
        {
            let holder = QueueJob.ProcessIdentity(pid: invocation.pid, startTime: invocation.processStartTime)
            job.claim?.vigil = holder
            active[job.name] = ActiveJob(
                name: job.name, child: nil, pump: nil, watched: holder, slot: job.claim?.slot, startedAt: Date(),
                retrain: ended.retrain)
            note("vigil queue: \(job.name) is supervised by another vigil run (pid \(holder.pid)); waiting for it")
            return Settlement(state: .running, reason: "", busy: true)
        }
        return Settlement(state: .stopped, reason: "another vigil run kept supervising it: \(ended.lastLine ?? "")")
    }
}
