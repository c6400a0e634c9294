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

/// After the trainer exited: what it left behind is stopped, then its output is drained.
extension AttemptMachine {
    mutating func childExited(_ status: Termination, _ now: Instant) -> [AttemptEffect] {
        guard phase == .running else { return [] }
        self.status = status
        phase = .sweeping
        // A stop already at SIGKILL goes on with SIGKILL; one at SIGTERM keeps its grace period.
        var leftovers = LeftoverSweep(
            grace: configuration.stop.termGrace, killWait: configuration.killWait, now: now)
        if let current = stop, case .signalGroup(let sent, _) = current.currentStep {
            leftovers =
                sent == .kill
                ? LeftoverSweep(grace: 0, killWait: configuration.killWait, killing: true, now: now)
                : LeftoverSweep(
                    grace: max(0, current.deadline.since(now)), killWait: configuration.killWait, now: now)
        }
        sweep = Sweep(leftovers: leftovers, nextLook: now)
        let exited: [AttemptEffect] = stop == nil ? [] : [.record(.event("trainer exited: \(status)"))]
        return exited + look(now)
    }

    /// Asks for a look at what is left, unless one is on its way.
    mutating func look(_ now: Instant) -> [AttemptEffect] {
        guard phase == .sweeping, sweep?.looking == false else { return [] }
        sweep?.looking = true
        return [.lookForLeftovers]
    }

    /// What is left of the attempt came back: signal whoever has not had the signal due, or, when
    /// nothing is left, go on to the output.
    mutating func leftoversFound(_ pids: [Int32], _ now: Instant) -> [AttemptEffect] {
        guard phase == .sweeping, var current = sweep else { return [] }
        current.looking = false
        current.nextLook = now + configuration.sweepEvery
        let due = current.leftovers.next(alive: pids, now: now)
        sweep = current
        if current.leftovers.isDone {
            sweep = nil
            let survivors = current.leftovers.survivors
            let still: [AttemptEffect] =
                survivors.isEmpty ? [] : [.record(.event("still running after SIGKILL: \(list(survivors))"))]
            return still + startDraining(now)
        }
        guard let (signal, pids) = due else { return [] }
        var effects: [AttemptEffect] = []
        if stop == nil {
            let reason = "the trainer exited and left \(pids.count) process(es) running"
            stop = StopProgress(
                cause: .leftovers, reason: reason, sequence: .graceful(configuration.stop, checkpoint: false),
                deadline: current.leftovers.phaseEnds, stepStarted: now)
            effects += [.record(.stop(.leftovers, reason: reason)), .record(.event("stop: \(reason)"))]
        }
        sentTerminatingSignal = true
        return effects + [
            .record(.signal(signal, reason: stop?.reason ?? "")),
            .record(.event("sent \(signal.name) to \(pids.count) process(es) left by the trainer: \(list(pids))")),
            .signalLeftovers(signal, pids),
        ]
    }

    private func list(_ pids: [Int32]) -> String {
        pids.map(String.init).joined(separator: ", ")
    }

    mutating func startDraining(_ now: Instant) -> [AttemptEffect] {
        if outputClosed {
            phase = .done
            return []
        }
        phase = .draining
        drainEnds = now + configuration.drainWait
        return []
    }

    /// The output did not close in time: a process outside vigil's reach holds it. Stop reading it.
    mutating func drainTick(_ now: Instant) -> [AttemptEffect] {
        guard let ends = drainEnds, now >= ends else { return [] }
        if cancelled {
            phase = .done
            return []
        }
        cancelled = true
        drainEnds = now + configuration.cancelWait
        return [
            .note("vigil: a process outside the trainer's reach still holds its output open; no longer reading it"),
            .cancelOutput,
        ]
    }
}
