import Foundation
import Testing

@testable import VigilCore

/// The attempt machine, event by event on an injected monotonic clock: no processes, no files, no
/// sleeps. Each test drives the machine like the driver does and checks the effects it asks for.
@Suite("Attempt machine transitions")
struct AttemptMachineTests {
    /// Drives a machine: sends events at a moving `now`, collects effects.
    struct Harness {
        var machine: AttemptMachine
        var now = Instant(seconds: 100)
        var effects: [AttemptEffect] = []

        init(
            lead: Double = 10, grace: Double = 2, timeout: Double = 30, stall: Double? = nil,
            deadlineIn: Double? = nil, cause: StopCause = .runtimeLimit, canSee: Bool = true,
            checkpointSignal: Signal? = .user1, dump: Signal? = .abort
        ) {
            var stop = Policy.Stop()
            stop.checkpointLead = lead
            stop.termGrace = grace
            stop.checkpointTimeout = timeout
            stop.checkpointSignal = checkpointSignal
            stop.dumpSignal = dump
            var configuration = AttemptMachine.Configuration(
                stop: stop, stall: stall, canSeeCheckpoints: canSee, started: Instant(seconds: 100))
            if let deadlineIn {
                configuration.deadline = Instant(seconds: 100 + deadlineIn)
                configuration.deadlineCause = cause
                configuration.deadlineReason = "the deadline"
            }
            machine = AttemptMachine(configuration)
        }

        @discardableResult
        mutating func send(_ event: AttemptEvent, after seconds: Double = 0) -> [AttemptEffect] {
            now = now + seconds
            let out = machine.handle(event, at: now)
            effects += out
            return out
        }

        /// Ticks at the machine's next wake (with no output since the start).
        @discardableResult
        mutating func tick() -> [AttemptEffect] {
            guard let wake = machine.nextWake else { return [] }
            now = max(now, wake)
            let out = machine.handle(.tick(lastOutput: Instant(seconds: 100)), at: now)
            effects += out
            return out
        }

        /// Ticks until `effect` shows up (at most `limit` ticks); returns the time it did.
        @discardableResult
        mutating func tick(until match: (AttemptEffect) -> Bool, limit: Int = 200) -> Instant? {
            for _ in 0..<limit {
                if tick().contains(where: match) { return now }
            }
            return nil
        }

        var events: [String] {
            effects.compactMap { effect in
                if case .record(.event(let text)) = effect { return text }
                return nil
            }
        }

        var signalsRecorded: [Signal] {
            effects.compactMap { effect in
                if case .record(.signal(let signal, _)) = effect { return signal }
                return nil
            }
        }

        /// Answers `checkListeners` the way the driver would for a trainer that listens.
        mutating func listen(_ listens: Bool = true, deaf: Int = 0, why: String? = nil) {
            let why = why ?? (listens ? "" : "the trainer does not handle SIGUSR1")
            send(.listeners(trainerListens: listens, why: why, deafOthers: deaf))
        }

        /// The trainer exits and leaves nothing; the output closes.
        mutating func exitCleanly(_ status: Termination, after seconds: Double = 0) {
            send(.childExited(status), after: seconds)
            send(.leftoversFound([]))
            send(.outputClosed)
        }
    }

    static func isSignalGroup(_ signal: Signal) -> (AttemptEffect) -> Bool {
        { $0 == .signalGroup(signal) }
    }

    // MARK: - A deadline's stop

    @Test("nothing happens before the trigger: deadline − checkpointLead − termGrace")
    func trigger() {
        var h = Harness(lead: 10, grace: 2, deadlineIn: 60)
        #expect(h.machine.trigger == Instant(seconds: 148))
        #expect(h.machine.nextWake == Instant(seconds: 148))
        #expect(h.send(.tick(lastOutput: h.now), after: 40).isEmpty)
    }

    @Test("at the trigger the stop is journaled first, then the listeners are checked")
    func deadlineBegins() {
        var h = Harness(deadlineIn: 60)
        let effects = h.tick()
        #expect(effects.first == .record(.stop(.runtimeLimit, reason: "the deadline")))
        #expect(effects.contains(.record(.event("stop: the deadline"))))
        #expect(effects.last == .checkListeners(.user1))
        #expect(h.now == Instant(seconds: 148))
    }

    @Test("a listening trainer: the signal is recorded before it is sent")
    func checkpointSignalSent() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        let effects = h.send(.listeners(trainerListens: true, why: "", deafOthers: 0))
        #expect(
            effects == [
                .record(.signal(.user1, reason: "the deadline")),
                .record(.event("sent USR1 to the group: save a checkpoint")), .sendCheckpointSignal(.user1),
            ])
    }

    @Test("a launcher that does not handle the signal while what it started does: the journal says where it went")
    func listeningDescendants() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen(why: "the trainer does not handle SIGUSR1, so it went to the 2 process(es) it started that do")
        #expect(
            h.events.contains(
                "sent USR1: save a checkpoint; the trainer does not handle SIGUSR1, so it went to the 2 process(es) it started that do"
            ), "\(h.events)")
    }

    @Test("processes of the group that would die of the signal are left out, and the journal says so")
    func deafMembers() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen(deaf: 2)
        #expect(
            h.events.contains(
                "sent USR1 to the group: save a checkpoint; not to 2 process(es) of the group that do not handle it"))
    }

    @Test("a trainer that does not handle the signal is not sent it: skipped, said, and the stop goes on")
    func deafTrainer() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen(false)
        #expect(h.events.contains("skipped the checkpoint signal: the trainer does not handle SIGUSR1"))
        #expect(!h.signalsRecorded.contains(.user1))
        #expect(
            h.effects.contains(
                .note("vigil: not sending SIGUSR1: the trainer does not handle SIGUSR1; going on with the stop")))
        guard case .hold? = h.machine.stop?.currentStep else {
            Issue.record("expected the hold step, got \(String(describing: h.machine.stop?.currentStep))")
            return
        }
    }

    @Test("a checkpoint the watcher reports is looked at; a new one ends the checkpoint step")
    func checkpointArrives() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen()
        #expect(h.send(.checkpointFinished(name: "step_9.ck"), after: 0.3) == [.lookForCheckpoint(name: "step_9.ck")])
        let effects = h.send(.checkpointLooked(NewCheckpoint(name: "step_9.ck", step: 9, evidence: "renamed-in")))
        #expect(effects.first == .record(.stopReason("the deadline; checkpoint step_9.ck saved")))
        #expect(h.events.contains("the trainer saved step_9.ck (renamed-in)"))
        #expect(
            h.effects.contains(.note("vigil: the trainer saved step_9.ck (step 9) 300ms after the checkpoint signal")))
        guard case .hold? = h.machine.stop?.currentStep else {
            Issue.record("after the checkpoint: the hold step")
            return
        }
    }

    @Test("a look that finds nothing changes nothing")
    func lookFindsNothing() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen()
        #expect(h.send(.checkpointLooked(nil)).isEmpty)
        #expect(h.machine.stop?.isAtCheckpointStep == true)
    }

    @Test("the checkpoint step re-scans every 250 ms (the watch does not see everything)")
    func rescans() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen()
        #expect(h.machine.nextWake == h.now + 0.25)
        #expect(h.tick() == [.lookForCheckpoint(name: nil)])
        #expect(h.tick() == [.lookForCheckpoint(name: nil)])
    }

    @Test("no checkpoint within the timeout: said, and the stop goes on")
    func checkpointNeverArrives() {
        var h = Harness(lead: 10, grace: 2, timeout: 5, deadlineIn: 60)
        h.tick()
        h.listen()
        let at = h.tick(until: { $0 == .record(.event("no new checkpoint within 5s")) })
        #expect(at == Instant(seconds: 153))
    }

    @Test("the checkpoint wait never runs past termGrace before the deadline")
    func checkpointWaitCapped() {
        var h = Harness(lead: 4, grace: 2, timeout: 60, deadlineIn: 60)
        h.tick()
        #expect(h.machine.stop?.currentStep == .checkpoint(.user1, timeout: 4))
        h.listen()
        let at = h.tick(until: Self.isSignalGroup(.terminate))
        #expect(at == Instant(seconds: 158), "SIGTERM termGrace before the deadline")
    }

    @Test("a checkpoint arriving late (after the timeout) no longer changes the stop")
    func checkpointLate() {
        var h = Harness(lead: 10, grace: 2, timeout: 1, deadlineIn: 60)
        h.tick()
        h.listen()
        h.tick(until: { $0 == .record(.event("no new checkpoint within 1s")) })
        let effects = h.send(.checkpointLooked(NewCheckpoint(name: "a", step: 1, evidence: "renamed-in")))
        #expect(effects.isEmpty)
    }

    @Test("after the checkpoint the trainer runs on until termGrace before the deadline, then SIGTERM")
    func holdThenTerm() {
        var h = Harness(lead: 10, grace: 2, deadlineIn: 60)
        h.tick()
        h.listen()
        h.send(.checkpointLooked(NewCheckpoint(name: "a", step: 1, evidence: "renamed-in")), after: 1)
        #expect(h.events.contains("letting the trainer run 9s more, until termGrace before the deadline"))
        let at = h.tick(until: Self.isSignalGroup(.terminate))
        #expect(at == Instant(seconds: 158))
        #expect(h.signalsRecorded == [.user1, .terminate])
    }

    @Test("SIGTERM, the grace period, SIGKILL at the deadline, and SIGKILL again every second")
    func termThenKill() {
        var h = Harness(lead: 10, grace: 2, timeout: 1, deadlineIn: 60)
        h.tick()
        h.listen()
        #expect(h.tick(until: Self.isSignalGroup(.terminate)) == Instant(seconds: 158))
        #expect(h.tick(until: Self.isSignalGroup(.kill)) == Instant(seconds: 160))
        #expect(h.tick(until: Self.isSignalGroup(.kill)) == Instant(seconds: 170), "the last step waits 10 s")
        #expect(h.tick(until: Self.isSignalGroup(.kill)) == Instant(seconds: 171))
    }

    @Test("a step's wait runs from when its signal went out, not from when it was decided")
    func waitFromSending() {
        var h = Harness(lead: 10, grace: 2, timeout: 1, deadlineIn: 60)
        h.tick()
        h.listen()
        h.tick(until: Self.isSignalGroup(.terminate))
        h.send(.signalSent(.terminate), after: 0.4)  // the journal's writes took 0.4 s
        #expect(h.tick(until: Self.isSignalGroup(.kill)) == Instant(seconds: 160.4))
        h.send(.signalSent(.kill), after: 0.1)
        #expect(h.tick(until: Self.isSignalGroup(.kill)) == Instant(seconds: 170.5), "the last step still waits 10 s")
        h.send(.signalSent(.kill))
        #expect(h.tick(until: Self.isSignalGroup(.kill)) == Instant(seconds: 171.5), "then every second")
    }

    @Test("the leftovers' grace runs from their first SIGTERM")
    func leftoverGraceFromSending() {
        var h = Harness(grace: 2)
        h.send(.childExited(.exited(0)))
        h.send(.leftoversFound([41]), after: 0.5)  // the look took 0.5 s
        h.send(.signalSent(.terminate), after: 0.3)
        var killedAt: Instant?
        for _ in 0..<200 where killedAt == nil {
            h.tick()
            if h.send(.leftoversFound([41])).contains(.signalLeftovers(.kill, [41])) { killedAt = h.now }
        }
        #expect(killedAt == Instant(seconds: 102.8))
    }

    @Test(
        "a trainer that exits 0 before any terminating signal finished, whatever the stop",
        arguments: ["checkpoint step", "hold"])
    func finishesDuringStop(step: String) {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen()
        if step == "hold" { h.send(.checkpointLooked(NewCheckpoint(name: "a", step: 1, evidence: "closed"))) }
        h.exitCleanly(.exited(0), after: 0.5)
        #expect(h.machine.isDone)
        #expect(h.machine.end?.finishedDuringStop == true)
        #expect(h.machine.end?.stopCause == nil)
    }

    @Test("an exit 0 after vigil's SIGTERM is the stop's: not a success")
    func exitAfterTerm() {
        var h = Harness(timeout: 1, deadlineIn: 60)
        h.tick()
        h.listen()
        h.tick(until: Self.isSignalGroup(.terminate))
        h.exitCleanly(.exited(0))
        #expect(h.machine.end?.finishedDuringStop == false)
        #expect(h.machine.end?.stopCause == .runtimeLimit)
    }

    @Test("killed by a signal during the checkpoint step: the stop's cause stands")
    func killedDuringCheckpointStep() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen()
        h.exitCleanly(.signaled(.kill))
        #expect(h.machine.end?.stopCause == .runtimeLimit)
        #expect(h.events.contains("trainer exited: killed by SIGKILL"))
    }

    @Test("each deadline's cause is the stop's", arguments: [StopCause.runtimeLimit, .attemptLimit, .totalBudget])
    func deadlineCauses(cause: StopCause) {
        var h = Harness(deadlineIn: 60, cause: cause)
        h.tick()
        #expect(h.machine.stop?.cause == cause)
        #expect(h.effects.first == .record(.stop(cause, reason: "the deadline")))
    }

    @Test("without checkpoints to see, or without a checkpoint signal, the stop goes straight to the hold")
    func noCheckpointStep() {
        for harness in [Harness(deadlineIn: 60, canSee: false), Harness(deadlineIn: 60, checkpointSignal: nil)] {
            var h = harness
            h.tick()
            #expect(!h.effects.contains(.checkListeners(.user1)))
            #expect(h.tick(until: Self.isSignalGroup(.terminate)) == Instant(seconds: 158))
        }
    }

    @Test("a deadline nearer than lead + grace at the start: the stop begins at once")
    func deadlineAtOnce() {
        var h = Harness(lead: 10, grace: 2, deadlineIn: 5)
        #expect(h.machine.nextWake == Instant(seconds: 100))
        h.tick()
        #expect(h.machine.stop != nil)
        #expect(h.machine.stop?.currentStep == .checkpoint(.user1, timeout: 3))
    }

    // MARK: - Signals to vigil

    @Test("SIGTERM to vigil: said, journaled, the checkpoint first")
    func signalStop() {
        var h = Harness()
        let effects = h.send(.signal(.terminate), after: 5)
        #expect(
            effects.first
                == .note(
                    "vigil: got SIGTERM; asking the trainer to checkpoint, then stopping it (a second Ctrl-C kills it at once)"
                ))
        #expect(effects.contains(.record(.stop(.signal(.terminate), reason: "vigil received SIGTERM"))))
        #expect(effects.last == .checkListeners(.user1))
        #expect(h.machine.stopSignals == [.terminate])
    }

    @Test("without checkpoints to see, the note does not promise a checkpoint")
    func signalStopWithoutCheckpoints() {
        var h = Harness(canSee: false)
        let effects = h.send(.signal(.interrupt))
        #expect(effects.first == .note("vigil: got SIGINT; stopping the trainer (a second Ctrl-C kills it at once)"))
        #expect(effects.contains(.signalGroup(.terminate)))
    }

    @Test("a signal's stop has no hold: SIGTERM right after the checkpoint")
    func signalStopNoHold() {
        var h = Harness()
        h.send(.signal(.terminate))
        h.listen()
        let effects = h.send(.checkpointLooked(NewCheckpoint(name: "a", step: 1, evidence: "renamed-in")), after: 1)
        #expect(effects.contains(.signalGroup(.terminate)))
    }

    @Test("a second Ctrl-C kills the group at once")
    func secondInterrupt() {
        var h = Harness()
        h.send(.signal(.interrupt))
        h.listen()
        let effects = h.send(.signal(.interrupt), after: 1)
        #expect(effects.first == .note("vigil: got SIGINT again; killing the trainer's process group now"))
        #expect(effects.contains(.signalGroup(.kill)))
        #expect(h.machine.stop?.sequence == .kill)
    }

    @Test("USR1 twice (a scheduler's warnings) does not escalate")
    func user1Twice() {
        var h = Harness()
        h.send(.signal(.user1))
        h.listen()
        let effects = h.send(.signal(.user1))
        #expect(!effects.contains(.signalGroup(.kill)))
        #expect(effects.contains(.record(.event("got USR1 during the stop; vigil exits 75 after it"))))
    }

    @Test("SIGTERM while the trainer is given time before the deadline ends the hold: SIGTERM now")
    func signalDuringHold() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen()
        h.send(.checkpointLooked(NewCheckpoint(name: "a", step: 1, evidence: "renamed-in")))
        let effects = h.send(.signal(.terminate), after: 1)
        #expect(
            effects.contains(
                .record(.event("got TERM while the trainer was given time before the deadline; stopping it now"))))
        #expect(effects.contains(.signalGroup(.terminate)))
    }

    @Test("signals vigil does not stop for are ignored")
    func otherSignals() {
        var h = Harness()
        #expect(h.send(.signal(Signal(rawValue: 28))).isEmpty)  // SIGWINCH
        #expect(h.machine.stop == nil)
        #expect(h.machine.stopSignals.isEmpty)
    }

    // MARK: - Stalls

    @Test("no output and no checkpoint for limits.stall: the dump signal to the trainer alone")
    func stall() {
        var h = Harness(stall: 30)
        #expect(h.machine.nextWake == Instant(seconds: 130))
        let effects = h.tick()
        #expect(effects.first == .record(.stop(.stall, reason: "stalled: no output and no new checkpoint for 30s")))
        #expect(effects.contains(.signalLeader(.abort)))
    }

    @Test("output postpones the stall")
    func outputPostponesStall() {
        var h = Harness(stall: 30)
        #expect(h.send(.tick(lastOutput: Instant(seconds: 125)), after: 30).isEmpty)
        #expect(h.machine.nextWake == Instant(seconds: 155))
    }

    @Test("a finished checkpoint postpones the stall")
    func checkpointPostponesStall() {
        var h = Harness(stall: 30)
        h.send(.checkpointFinished(name: "a"), after: 20)
        #expect(h.machine.nextWake == Instant(seconds: 150))
    }

    @Test("a hung trainer: dump, min(grace, 5 s), SIGTERM, grace, SIGKILL")
    func hungSequence() {
        var h = Harness(grace: 8, stall: 30)
        h.tick()
        #expect(h.tick(until: Self.isSignalGroup(.terminate)) == Instant(seconds: 135))
        #expect(h.tick(until: Self.isSignalGroup(.kill)) == Instant(seconds: 143))
    }

    @Test("without a dump signal a hung trainer gets SIGTERM at once")
    func hungWithoutDump() {
        var h = Harness(stall: 30, dump: nil)
        #expect(h.tick().contains(.signalGroup(.terminate)))
    }

    // MARK: - Live rules

    @Test("a live match stops at once, without a checkpoint, and remembers when poisoning may have begun")
    func liveRule() {
        var h = Harness()
        let match = LiveMatch(rule: "nan-loss", line: " loss=nan ", poisonedAfter: Date(timeIntervalSince1970: 1_000))
        let effects = h.send(.liveMatch(match), after: 3)
        #expect(effects.first == .note("vigil: live rule 'nan-loss' matched: loss=nan; stopping without a checkpoint"))
        #expect(effects.contains(.signalGroup(.terminate)))
        #expect(!effects.contains(.checkListeners(.user1)))
        h.exitCleanly(.signaled(.terminate))
        #expect(h.machine.end?.liveMatch == match)
        #expect(h.machine.end?.stopCause == .liveRule(rule: "nan-loss", line: " loss=nan "))
    }

    @Test("a divergence's live match says what diverged and where it began")
    func liveDivergence() {
        var h = Harness()
        let divergence = Divergence(
            metric: "loss", value: "nan", step: 80, onsetStep: 60, healthyUntil: nil, best: 0.02,
            description: "loss became nan at step 80; above its band (3× the best) from step 60")
        let match = LiveMatch(rule: "diverged", line: "step 80 loss=nan", poisonedAfter: Date(), divergence: divergence)
        let effects = h.send(.liveMatch(match))
        #expect(
            effects.first
                == .note(
                    "vigil: live rule 'diverged' matched: loss became nan at step 80; above its band (3× the best) from step 60 (step 80 loss=nan); stopping without a checkpoint"
                ))
        #expect(effects.contains(.signalGroup(.terminate)))
    }

    @Test("a live match during a deadline's stop replaces it")
    func liveRuleReplacesDeadline() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen()
        h.send(.liveMatch(LiveMatch(rule: "nan-loss", line: "nan", poisonedAfter: Date())))
        #expect(h.machine.stop?.cause == .liveRule(rule: "nan-loss", line: "nan"))
    }

    @Test("a live match during a signal's or a stall's stop changes no step, and is kept for the verdict")
    func liveRuleIgnoredDuringOtherStops() {
        var h = Harness()
        h.send(.signal(.terminate))
        let match = LiveMatch(rule: "nan-loss", line: "nan", poisonedAfter: Date())
        #expect(h.send(.liveMatch(match)).isEmpty)
        #expect(h.machine.stop?.cause == .signal(.terminate))
        var s = Harness(stall: 1)
        s.tick()
        #expect(s.send(.liveMatch(match)).isEmpty)
        s.exitCleanly(.signaled(.terminate))
        #expect(s.machine.end?.liveMatch == match)
        #expect(s.machine.end?.stopCause == .stall)
    }

    @Test("a live match after the trainer exited stops nothing, and is kept: it decides the verdict")
    func liveRuleAfterExit() {
        var h = Harness()
        h.send(.childExited(.exited(0)))
        let match = LiveMatch(rule: "diverged", line: "[9] valid-rmse:inf", poisonedAfter: Date())
        #expect(h.send(.liveMatch(match)).isEmpty)
        #expect(h.send(.liveMatch(LiveMatch(rule: "other", line: "x", poisonedAfter: Date()))).isEmpty)
        h.send(.leftoversFound([]))
        h.send(.outputClosed)
        #expect(h.machine.end?.liveMatch == match)
        #expect(h.machine.end?.stopCause == nil)
    }

    // MARK: - After the trainer exited

    @Test("an exit with nothing left and the output closed: done, no stop")
    func cleanExit() {
        var h = Harness()
        #expect(h.send(.childExited(.exited(3)), after: 4) == [.lookForLeftovers])
        #expect(h.send(.leftoversFound([])).isEmpty)
        #expect(h.machine.phase == .draining)
        h.send(.outputClosed)
        #expect(h.machine.isDone)
        #expect(
            h.machine.end
                == AttemptEnd(
                    status: .exited(3), stopCause: nil, stopReason: nil, liveMatch: nil, finishedDuringStop: false))
    }

    @Test("output that closed before the exit: done once nothing is left")
    func outputClosedFirst() {
        var h = Harness()
        h.send(.outputClosed)
        h.send(.childExited(.exited(0)))
        h.send(.leftoversFound([]))
        #expect(h.machine.isDone)
    }

    @Test("output held open by a process out of reach: cancelled after 2 s, given up 5 s later")
    func outputHeldOpen() {
        var h = Harness()
        h.send(.childExited(.exited(0)))
        h.send(.leftoversFound([]))
        let effects = h.tick()
        #expect(h.now == Instant(seconds: 102))
        #expect(effects.contains(.cancelOutput))
        h.tick()
        #expect(h.now == Instant(seconds: 107))
        #expect(h.machine.isDone)
    }

    @Test("processes left behind: a leftovers stop, journaled, SIGTERM to each")
    func leftovers() {
        var h = Harness(grace: 2)
        h.send(.childExited(.exited(0)))
        let effects = h.send(.leftoversFound([41, 42]))
        #expect(
            effects.first == .record(.stop(.leftovers, reason: "the trainer exited and left 2 process(es) running")))
        #expect(effects.last == .signalLeftovers(.terminate, [41, 42]))
        #expect(h.events.contains("sent TERM to 2 process(es) left by the trainer: 41, 42"))
        #expect(h.machine.nextWake == h.now + 0.05, "looked at again soon")
        h.tick()
        h.send(.leftoversFound([]))
        h.send(.outputClosed)
        #expect(h.machine.end?.stopCause == .leftovers)
    }

    @Test("leftovers that outlive the grace get SIGKILL; ones that outlive that are recorded and given up")
    func leftoversSurvive() {
        var h = Harness(grace: 2)
        h.send(.childExited(.exited(0)))
        h.send(.leftoversFound([41]))
        var killedAt: Instant?
        for _ in 0..<200 {
            h.tick()
            if h.send(.leftoversFound([41])).contains(.signalLeftovers(.kill, [41])) {
                killedAt = h.now
                break
            }
        }
        #expect(killedAt == Instant(seconds: 102))
        for _ in 0..<400 where !h.machine.isDone {
            h.tick()
            h.send(.leftoversFound([41]))
            h.send(.outputClosed)
        }
        #expect(h.events.contains("still running after SIGKILL: 41"))
        #expect(h.machine.isDone)
    }

    @Test("a process that appears during the sweep gets SIGTERM too; those already signalled do not again")
    func leftoverAppears() {
        var h = Harness(grace: 5)
        h.send(.childExited(.exited(0)))
        h.send(.leftoversFound([41]))
        h.tick()
        #expect(h.send(.leftoversFound([41, 43])).last == .signalLeftovers(.terminate, [43]))
        h.tick()
        #expect(h.send(.leftoversFound([41, 43])).isEmpty)
    }

    @Test("while a look is on its way the machine waits for it rather than ask again")
    func oneLookAtATime() {
        var h = Harness()
        h.send(.childExited(.exited(0)))
        #expect(h.machine.nextWake == nil)
        #expect(h.send(.signal(.interrupt)).isEmpty, "the look already asked for will see the SIGKILL due")
    }

    @Test("the trainer exits during SIGTERM's grace: its leftovers keep that deadline for SIGKILL")
    func exitDuringTerm() {
        var h = Harness(grace: 4, timeout: 1, deadlineIn: 60)
        h.tick()
        h.listen()
        h.tick(until: Self.isSignalGroup(.terminate))
        h.send(.childExited(.signaled(.terminate)), after: 1)
        h.send(.leftoversFound([50]))
        var killedAt: Instant?
        for _ in 0..<200 where killedAt == nil {
            h.tick()
            if h.send(.leftoversFound([50])).contains(.signalLeftovers(.kill, [50])) { killedAt = h.now }
        }
        #expect(killedAt == Instant(seconds: 160), "the TERM step's end, not a new grace")
    }

    @Test("the trainer exits after SIGKILL: what is left gets SIGKILL at once")
    func exitAfterKill() {
        var h = Harness(grace: 1, timeout: 1, deadlineIn: 60)
        h.tick()
        h.listen()
        h.tick(until: Self.isSignalGroup(.kill))
        h.send(.childExited(.signaled(.kill)))
        #expect(h.send(.leftoversFound([60])).last == .signalLeftovers(.kill, [60]))
    }

    @Test("a Ctrl-C during the sweep goes straight to SIGKILL")
    func interruptDuringSweep() {
        var h = Harness(grace: 30)
        h.send(.childExited(.exited(0)))
        h.send(.leftoversFound([70]))
        h.tick()
        h.send(.leftoversFound([70]))
        #expect(h.send(.signal(.interrupt)) == [.lookForLeftovers])
        #expect(h.send(.leftoversFound([70])).last == .signalLeftovers(.kill, [70]))
    }

    @Test("the trainer exits during the checkpoint step: what it left gets SIGTERM at once")
    func exitDuringCheckpointStep() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.listen()
        h.send(.childExited(.exited(1)))
        #expect(h.send(.leftoversFound([80])).last == .signalLeftovers(.terminate, [80]))
    }

    @Test("answers that come after the trainer exited are ignored")
    func lateAnswers() {
        var h = Harness(deadlineIn: 60)
        h.tick()
        h.send(.childExited(.exited(1)))
        #expect(h.send(.listeners(trainerListens: true, why: "", deafOthers: 0)).isEmpty)
        #expect(h.send(.checkpointLooked(NewCheckpoint(name: "a", step: 1, evidence: "x"))).isEmpty)
        #expect(h.send(.checkpointFinished(name: "a")).isEmpty)
    }

    @Test("every terminating signal is recorded before it is sent")
    func recordBeforeSend() {
        var h = Harness(timeout: 1, deadlineIn: 60)
        h.tick()
        h.listen()
        h.tick(until: Self.isSignalGroup(.kill))
        for (index, effect) in h.effects.enumerated() {
            guard case .signalGroup(let signal) = effect else { continue }
            let before = h.effects[..<index]
            #expect(before.contains { $0 == .record(.signal(signal, reason: "the deadline")) })
        }
    }
}
