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

/// One step of the runner: record the jobs that ended, then claim and start what the plan says, all
/// in one change of the queue file under its lock.
extension QueueRunner {
    /// How a job's `vigil run` ended, read from its journal (outside the lock: it is the child's).
    struct Ended {
        var name: String
        var exit: Termination?
        var journal: Journal?
        /// Why the journal could not be read, when it could not.
        var journalProblem: String?
        /// The last lines the vigil printed (for an exit before its journal says anything).
        var lastLine: String?
        var seconds: Double
        var retrain: Bool
        /// It was a vigil this runner did not start.
        var watched: Bool
    }

    /// Returns whether this runner could still start something now or later (false: only its running
    /// jobs are left to wait for).
    func step() throws -> Bool {
        enforceDeadline()
        let ended = active.values.filter(isOver).map(readEnded)
        for job in ended { active[job.name] = nil }
        return try request.store.modify { queue -> Bool in
            for job in ended { settle(job, in: &queue) }
            guard !stopping else { return false }
            return try startJobs(in: &queue)
        }
    }

    /// Whether a job's vigil is gone: ours exited (and its output is drained, or two seconds passed);
    /// one we wait for no longer runs and no longer holds the run.
    private func isOver(_ job: ActiveJob) -> Bool {
        if job.child != nil {
            guard let exitedAt = job.exitedAt else { return false }
            return job.outputClosed || SystemClock.monotonicNow().since(exitedAt) > 2
        }
        guard let watched = job.watched else { return true }
        if ProcessTable.isAlive(watched.pid, startTime: watched.startTime) { return false }
        return !RunLock.isHeld(RunDirectory(logDirectory: request.logDirectory, name: job.name).lockPath)
    }

    private func readEnded(_ job: ActiveJob) -> Ended {
        job.pump?.cancel()
        let directory = RunDirectory(logDirectory: request.logDirectory, name: job.name)
        var ended = Ended(
            name: job.name, exit: job.exit, journal: nil, journalProblem: nil, lastLine: nil,
            seconds: Date().timeIntervalSince(job.startedAt), retrain: job.retrain, watched: job.child == nil)
        do {
            ended.journal = try Journal.read(from: directory.journalPath)
        } catch let error as VigilError {
            ended.journalProblem = error.message
        } catch {
            ended.journalProblem = "\(error)"
        }
        if let pump = job.pump {
            let tail = pump.tail
            ended.lastLine = (tail.stderr + tail.stdout).last { !$0.trimmingSpaces().isEmpty }
        }
        return ended
    }

    // MARK: - Starting

    /// Claims and starts jobs while there is room: watches first, then what the plan orders.
    private func startJobs(in queue: inout QueueFile) throws -> Bool {
        let view = QueueView(queue: queue, now: Date(), liveness: QueueView.liveness(localHost: host))
        let plan = QueuePlan(
            view: view, selection: request.selection, running: Set(active.keys), stopped: stoppedHere)
        // A vigil whose runner died is running anyway: it is waited for whatever --jobs says.
        for candidate in plan.candidates where candidate.reason == .watch { adopt(candidate.index, in: &queue) }
        var started = false
        var lackedTime = 0
        for candidate in plan.candidates where candidate.reason != .watch {
            guard active.count < request.jobs else { return true }
            guard let slot = freeSlot(view) else { return true }  // wait for one
            guard enoughTime(for: queue.jobs[candidate.index]) else {
                lackedTime += 1
                continue
            }
            start(candidate, slot: slot.value, in: &queue)
            started = true
        }
        if lackedTime > 0 && !started {
            note("vigil queue: too little time is left before the deadline to start \(lackedTime) more job(s)")
            timeUp = true
            return false
        }
        return started
    }

    /// The slot a job would get.
    struct SlotChoice {
        /// Nil without `--slots`.
        var value: String?
    }

    /// A free slot: none of ours, and none that a live job of another runner holds (a claim whose
    /// processes are all gone holds nothing); nil when every slot is taken.
    private func freeSlot(_ view: QueueView) -> SlotChoice? {
        guard let slots = request.slots else { return SlotChoice(value: nil) }
        var held = Set(active.values.compactMap(\.slot))
        for row in view.rows where row.claim == .live || row.claim == .vigilOnly {
            if let slot = view.queue.jobs[row.index].claim?.slot { held.insert(slot) }
        }
        return slots.first { !held.contains($0) }.map { SlotChoice(value: $0) }
    }

    /// Whether a job's vigil could start an attempt before the deadline: more than its policy's
    /// `checkpointLead + termGrace` (and `limits.minAttempt`) left, as `vigil run` itself decides.
    private func enoughTime(for job: QueueJob) -> Bool {
        guard let deadline = request.deadline else { return true }
        let left = deadline.timeIntervalSinceNow
        guard left > 0 else { return false }
        let key = job.workingDirectory + "\u{0}" + (job.policy ?? "")
        if policies[key] == nil { policies[key] = .some(request.policyLoader(job.policy, job.workingDirectory)) }
        guard let policy = policies[key] ?? nil else { return true }
        return left > policy.stop.checkpointLead + policy.stop.termGrace && left >= max(policy.limits.minAttempt, 0.001)
    }

    /// Starts a job's `vigil run` and records the claim (with the vigil's pid) in the queue.
    private func start(_ candidate: QueuePlan.Candidate, slot: String?, in queue: inout QueueFile) {
        var job = queue.jobs[candidate.index]
        var retrain = false
        if case .due = candidate.reason { retrain = true }
        let now = Date()
        let arguments = vigilArguments(for: job, fresh: job.fresh || retrain)
        do {
            let (child, pump) = try spawn(job, arguments: arguments, slot: slot)
            var claim = QueueJob.Claim(
                runner: identity, host: host, vigil: .init(pid: child.pid, startTime: child.startTime), slot: slot,
                at: now)
            claim.retrain = retrain
            job.claim = claim
            job.state = .running
            job.fresh = false
            if retrain { job.retraining = true }
            job.runs += 1
            job.lastStartedAt = now
            active[job.name] = ActiveJob(
                name: job.name, child: child, pump: pump, watched: nil, slot: slot, startedAt: now, retrain: retrain)
            let slotText = slot.map { ", slot \($0)" } ?? ""
            note("vigil queue: starting \(job.name) (\(QueuePlan.text(candidate.reason))\(slotText))")
        } catch {
            job.state = .failed
            job.claim = nil
            job.reason = "could not start its vigil run: \(error)"
            job.lastEndedAt = now
            note("vigil queue: \(job.name) failed: \(job.reason!)")
            ledger[job.name, default: QueueSummary.Entry(name: job.name)].record(job, seconds: 0)
        }
        queue.jobs[candidate.index] = job
    }

    /// `vigil run --name JOB --log-dir LOGS [--policy P] [OPTIONS] [--fresh] [--quiet] [--deadline D] -- COMMAND`.
    func vigilArguments(for job: QueueJob, fresh: Bool) -> [String] {
        var arguments = [request.vigilExecutable, "run", "--name", job.name, "--log-dir", request.logDirectory]
        if let policy = job.policy { arguments += ["--policy", policy] }
        arguments += job.runArguments
        if fresh { arguments.append("--fresh") }
        if !request.trainerOutput { arguments.append("--quiet") }
        if let deadline = request.deadline {
            arguments += ["--deadline", String(cFormat: "%.3f", deadline.timeIntervalSince1970)]
        }
        return arguments + ["--"] + job.command
    }

    /// The job's environment: the runner's, and what tells the trainer which job it is.
    func environment(for job: QueueJob, slot: String?) -> [String: String] {
        var environment = request.environment
        environment["VIGIL_JOB_NAME"] = job.name
        environment["VIGIL_JOB_KEY"] = job.key
        for item in job.matrix { environment["VIGIL_MATRIX_" + item.key.uppercased()] = item.value }
        environment["VIGIL_QUEUE"] = request.store.path
        if let slot {
            environment["VIGIL_SLOT"] = slot
            environment["CUDA_VISIBLE_DEVICES"] = slot
        }
        return environment
    }

    private func spawn(_ job: QueueJob, arguments: [String], slot: String?) throws -> (ChildProcess, OutputPump) {
        let events = self.events
        let name = job.name
        let child = try ChildProcess.spawn(
            executable: request.vigilExecutable, arguments: arguments, environment: environment(for: job, slot: slot),
            workingDirectory: job.workingDirectory
        ) { status in events.post(.exited(job: name, status)) }
        let relay = self.relay
        let prefix = "[\(name)] "
        let pump = OutputPump(
            log: nil, passthrough: false, tailBytes: 8 << 10,
            lineObserver: { stream, line in relay(stream, prefix + line) },
            onClosed: { events.post(.outputClosed(job: name)) })
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
        return (child, pump)
    }

    /// Takes over a job whose runner died while its vigil lives: the claim becomes ours (slot kept),
    /// and the vigil is waited for.
    private func adopt(_ index: Int, in queue: inout QueueFile) {
        guard var claim = queue.jobs[index].claim, let vigil = claim.vigil else { return }
        let name = queue.jobs[index].name
        claim.runner = identity
        claim.host = host
        queue.jobs[index].claim = claim
        active[name] = ActiveJob(
            name: name, child: nil, pump: nil, watched: vigil, slot: claim.slot, startedAt: claim.at,
            retrain: claim.retrain)
        note(
            "vigil queue: \(name): its queue runner died, its vigil run (pid \(vigil.pid)) still runs it; waiting for it"
        )
    }
}
