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

extension Supervisor {
    /// A previous vigil died (SIGKILL, power) mid-attempt. If its trainer still runs — same pid *and*
    /// start time, so a reused pid is never touched — it gets the stop it would have got: the
    /// checkpoint step first (when vigil can see checkpoints), then SIGTERM, grace, SIGKILL, to its
    /// group and to everything in the attempt's cgroup; each step journaled before it is taken. Then
    /// the attempt is closed (`ignore`, rule `orphaned`: it does not use the retry budget).
    func recoverOrphan() {
        guard let index = journal.attempts.lastIndex(where: \.isOpen) else { return }
        let attempt = journal.attempts[index]
        let died = "its supervisor (pid \(attempt.supervisorPID)) died"
        let during = attempt.stopCause.map { _ in " during a stop (\(attempt.stopReason ?? ""))" } ?? ""
        let cgroup = attempt.cgroup.map(ControlGroup.init(path:))
        var reason = "\(died)\(during); the trainer was gone when vigil came back"
        // A requeued SLURM job (or a pod) may run on another node: a pid there means nothing here.
        let localHost = ProcessInfo.processInfo.hostName
        let host = journal.invocations.last { $0.pid == attempt.supervisorPID && $0.startedAt <= attempt.startedAt }?
            .host
        if let host, host != localHost {
            reason = "\(died)\(during) on \(host); this vigil runs on \(localHost) and cannot reach what was left there"
            note(
                "vigil: attempt \(attempt.number) was left open by a vigil on \(host); closing it (nothing to stop here)"
            )
        } else if let pid = attempt.pid, ProcessTable.isAlive(pid, startTime: attempt.processStartTime) {
            note(
                "vigil: attempt \(attempt.number)'s trainer (pid \(pid)) outlived its supervisor\(during); stopping it"
                    + (checkpointStore != nil && request.policy.stop.checkpointSignal != nil
                        ? ", checkpoint first" : ""))
            var orphan = OrphanStop(supervisor: self, index: index, pid: pid, cgroup: cgroup)
            orphan.run()
            reason = "\(died)\(during); the orphaned trainer (pid \(pid)) was stopped by the next vigil"
        } else if let cgroup, cgroup.isPopulated {
            note("vigil: processes of attempt \(attempt.number) are still in its cgroup; stopping them")
            var orphan = OrphanStop(supervisor: self, index: index, pid: nil, cgroup: cgroup)
            orphan.run()
        }
        if host == nil || host == localHost { cgroup?.remove() }
        journal.attempts[index].endedAt = journal.attempts[index].endedAt ?? Date()
        journal.attempts[index].stopReason = reason
        journal.attempts[index].verdict = Verdict(verdict: .ignore, rule: "orphaned", reason: reason)
        journal.attempts[index].countedAgainstBudget = false
        save()
    }
}

/// The stop of a trainer whose supervisor died: like an attempt's graceful stop, but the trainer is
/// not vigil's child (its exit cannot be waited for, only seen gone) and its output goes nowhere.
struct OrphanStop {
    let supervisor: Supervisor
    let index: Int
    let pid: pid_t?
    let cgroup: ControlGroup?

    private var number: Int { supervisor.journal.attempts[index].number }

    mutating func run() {
        if let pid { checkpointStep(pid) }
        let events = supervisor.events
        let stopped = AttemptProcesses(leader: pid ?? 0, cgroup: cgroup).stopAll(
            grace: supervisor.request.policy.stop.termGrace, clock: supervisor.clock,
            interrupted: {
                // A second Ctrl-C meanwhile: SIGKILL at once.
                if case .signal(let signal)? = events.next(until: Instant(seconds: 0)),
                    Supervisor.stopSignalSet.contains(signal)
                {
                    supervisor.stopSignals.append(signal)
                    return true
                }
                return false
            },
            beforeSending: { signal, pids in
                let list = pids.map(String.init).joined(separator: ", ")
                announce(signal, "sent \(signal.name) to the orphaned attempt's \(pids.count) process(es): \(list)")
            })
        if !stopped.isEmpty {
            supervisor.journal.attempts[index].leftovers =
                (supervisor.journal.attempts[index].leftovers ?? []) + stopped
        }
        record("the orphaned attempt's processes are gone")
    }

    /// The checkpoint signal, and a bounded wait for the new checkpoint it asks for.
    private func checkpointStep(_ pid: pid_t) {
        let policy = supervisor.request.policy
        guard let store = supervisor.checkpointStore, let signal = policy.stop.checkpointSignal else { return }
        guard (ProcessTable.disposition(of: signal, in: pid) ?? .caught) == .caught else {
            record("skipped the checkpoint signal: the orphaned trainer does not handle \(signal)")
            return
        }
        let preserved = Locked<[String]>([])
        let watcher = supervisor.startWatching(attempt: number, preservedInto: preserved)
        defer { watcher?.stop() }
        func evidence() -> CheckpointStore.Evidence {
            CheckpointStore.Evidence(
                observed: watcher?.observations() ?? [:], proven: supervisor.journal.checkpointProofs ?? [:])
        }
        let before = Dictionary(
            store.scan(.live(now: Date()), evidence: evidence()).filter(\.isValid).map { ($0.name, $0.modified) },
            uniquingKeysWith: { a, _ in a })
        announce(signal, "sent \(signal.name) to the orphaned trainer's group: save a checkpoint")
        ProcessGroup.send(signal, to: pid)
        let deadline = Date().addingTimeInterval(policy.stop.checkpointTimeout)
        while Date() < deadline,
            ProcessTable.isAlive(pid, startTime: supervisor.journal.attempts[index].processStartTime)
        {
            let event = supervisor.events.next(until: min(deadline, Date().addingTimeInterval(0.25)))
            if case .signal(let received)? = event, Supervisor.stopSignalSet.contains(received) {
                supervisor.stopSignals.append(received)
                return
            }
            let found = store.scan(.live(now: Date()), evidence: evidence())
            if let fresh = found.last(where: { $0.isValid && before[$0.name] != $0.modified }) {
                record("the orphaned trainer saved \(fresh.name) (\(fresh.evidence ?? "valid"))")
                supervisor.note("vigil: the orphaned trainer saved \(fresh.name) (step \(fresh.step))")
                if let proof = fresh.evidence, proof == "renamed-in" || proof == "closed" {
                    // Seen completed while the trainer was still running: before any terminating signal.
                    var proofs = supervisor.journal.checkpointProofs ?? [:]
                    proofs[fresh.name] = CheckpointProof(
                        evidence: proof == "closed" ? "closed-before-stop" : proof, of: fresh)
                    supervisor.journal.checkpointProofs = proofs
                }
                return
            }
        }
        record(
            "no new checkpoint from the orphaned trainer within \(DurationFormat.string(from: policy.stop.checkpointTimeout))"
        )
    }

    private func record(_ event: String) {
        supervisor.journal.attempts[index].stopEvents =
            (supervisor.journal.attempts[index].stopEvents ?? []) + [Journal.StopEvent(at: Date(), event: event)]
        supervisor.save()
    }

    private func announce(_ signal: Signal, _ event: String) {
        supervisor.journal.attempts[index].signalsSent.append(
            Journal.SentSignal(signal: signal.name, at: Date(), reason: "orphaned trainer"))
        record(event)
    }
}
