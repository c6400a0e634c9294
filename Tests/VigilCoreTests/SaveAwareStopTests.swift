import Foundation
import Testing

@testable import VigilCore

/// Saves and the stop: a save under way holds off the stall and SIGTERM; the lead follows measured
/// saves; the journal says when the trainer's own checkpoint is the last chance. Events in, effects
/// out, on an injected clock.
@Suite("Saves and the stop sequence")
struct SaveAwareStopTests {
    typealias Harness = AttemptMachineTests.Harness

    @Test("a save under way when the stall timer would fire: no stall while it is written to")
    func saveHoldsStall() {
        var h = Harness(timeout: 30, stall: 10)
        // Writing began at 105 and goes on: the stall (due at 110) waits for it.
        h.send(.saveState(SaveUnderWay(name: ".ckpt_step3.json.x.tmp", lastWrite: Instant(seconds: 108))), after: 8)
        #expect(
            h.machine.nextWake == Instant(seconds: 138), "the stall waits until checkpointTimeout after the last write")
        h.now = Instant(seconds: 120)
        #expect(h.machine.handle(.tick(lastOutput: Instant(seconds: 100)), at: h.now).isEmpty)
        #expect(h.machine.stop == nil)
        // The save finished: the stall fires at once (the trainer has been quiet for 20 s).
        h.send(.saveState(nil))
        #expect(h.tick().contains(.signalLeader(.abort)))
        #expect(h.machine.stop?.cause == .stall)
    }

    @Test("a save stuck longer than checkpointTimeout does not hide a hang")
    func stuckSaveIsAHang() {
        var h = Harness(timeout: 30, stall: 10)
        h.send(.saveState(SaveUnderWay(name: "model.pt", lastWrite: Instant(seconds: 101))), after: 1)
        h.tick()
        #expect(h.now == Instant(seconds: 131))
        #expect(h.machine.stop?.cause == .stall)
    }

    @Test("a deadline's SIGTERM waits for a save under way, and goes out the moment it finishes")
    func termWaitsForSave() throws {
        // Deadline at 200, grace 2: the hold ends at 198, when SIGTERM is due.
        var h = Harness(lead: 10, grace: 2, timeout: 30, deadlineIn: 100)
        h.tick()
        h.listen(false)  // the trainer does not answer the checkpoint signal
        h.send(.saveState(SaveUnderWay(name: "ckpt_step9.json", lastWrite: Instant(seconds: 197))), after: 0)
        let effects = h.tick()
        #expect(h.now == Instant(seconds: 198))
        #expect(!effects.contains(.signalGroup(.terminate)))
        #expect(h.events.last == "a save is under way (ckpt_step9.json): waiting for it, at most 2s, before SIGTERM")
        #expect(h.machine.nextWake == Instant(seconds: 200), "never past the deadline")
        let finished = h.send(.checkpointFinished(name: "ckpt_step9.json"), after: 0.5)
        #expect(finished.contains(.signalGroup(.terminate)))
        #expect(h.events.contains("the save finished; going on with the stop"))
    }

    @Test("a stop for a signal waits for a save that does not finish: SIGTERM at checkpointTimeout")
    func termAfterBound() {
        var h = Harness(lead: 10, grace: 2, timeout: 5)
        h.send(.saveState(SaveUnderWay(name: "big.pt", lastWrite: Instant(seconds: 100))))
        h.send(.signal(.terminate))
        h.listen(false)
        #expect(!h.effects.contains(.signalGroup(.terminate)))
        #expect(h.events.last?.hasPrefix("a save is under way (big.pt): waiting for it, at most 5s") == true)
        let late = h.tick()
        #expect(h.now == Instant(seconds: 105))
        #expect(late.contains(.signalGroup(.terminate)))
        #expect(h.events.contains("the save of big.pt did not finish in time; going on with the stop"))
    }

    @Test("a hang's or a live rule's SIGTERM does not wait for a save")
    func noWaitForHangOrLiveRule() {
        var h = Harness(timeout: 30)
        h.send(.saveState(SaveUnderWay(name: "x.pt", lastWrite: Instant(seconds: 100))))
        let effects = h.send(.liveMatch(LiveMatch(rule: "nan-loss", line: "loss=nan", poisonedAfter: Date())))
        #expect(effects.contains(.signalGroup(.terminate)))
    }

    @Test("the deadline's checkpoint signal waits until the attempt has run one save's time")
    func worthSaving() {
        var h = Harness(lead: 10, grace: 2, deadlineIn: 15)
        #expect(h.machine.trigger == Instant(seconds: 103))
        var configuration = h.machine.configuration
        configuration.minimumRunBeforeCheckpoint = 6
        h.machine = AttemptMachine(configuration)
        #expect(h.machine.trigger == Instant(seconds: 106))
        configuration.minimumRunBeforeCheckpoint = 60
        h.machine = AttemptMachine(configuration)
        #expect(h.machine.trigger == Instant(seconds: 113), "never after termGrace before the deadline")
    }

    @Test("no answer to the checkpoint signal, and the trainer's own checkpoint is due before SIGTERM: journaled")
    func secondChance() {
        var h = Harness(lead: 30, grace: 2, deadlineIn: 100)
        var configuration = h.machine.configuration
        configuration.checkpointInterval = 20
        h.machine = AttemptMachine(configuration)
        h.send(.checkpointFinished(name: "ckpt_step4.json"), after: 60)  // at 160: the next is due at 180
        h.tick()  // the trigger, at 168
        h.listen(false)
        #expect(
            h.events.contains {
                $0.hasPrefix("the trainer's own periodic checkpoint (every 20s) is due in 12s, before SIGTERM")
            })
    }

    @Test("the lead: fixed, the floor without measurements, the p95 of saves × 1.5 + 2 s above it")
    func lead() {
        var stop = Policy.Stop()
        stop.checkpointLead = 4
        stop.leadIsAuto = false
        #expect(CheckpointLead.inForce(stop, saves: []).seconds == 4)
        stop.leadIsAuto = true
        let none = CheckpointLead.inForce(stop, saves: [])
        #expect(none.seconds == 4 && none.why.contains("no save measured yet"))
        let saves = [3.0, 2.0, 3.1].map { SaveTiming(name: "x", seconds: $0, from: .firstWrite, at: Date()) }
        let measured = CheckpointLead.inForce(stop, saves: saves)
        #expect(abs(measured.seconds - (3.1 * 1.5 + 2)) < 1e-9)
        #expect(measured.why == "auto: p95 of 3 saves (3.1s) × 1.5 + 2s")
        stop.checkpointLead = 60
        #expect(CheckpointLead.inForce(stop, saves: saves).seconds == 60)
        #expect(CheckpointLead.percentile95(Array(stride(from: 1.0, through: 100, by: 1))) == 95)
        #expect(CheckpointLead.percentile95([]) == nil)
    }

    @Test("checkpointLead in a policy: a duration is fixed; auto and auto(min: …) measure")
    func leadInPolicy() throws {
        func stop(_ text: String) throws -> Policy.Stop {
            let dir = try TestSupport.temporaryDirectory("vigil-lead")
            defer { TestSupport.remove(dir) }
            try "{ stop: { checkpointLead: \(text) } }".write(
                toFile: dir + "/p.json5", atomically: true, encoding: .utf8)
            return try PolicyLoader(searchDirectories: []).load(dir + "/p.json5").stop
        }
        let fixed = try stop("\"90s\"")
        #expect(!fixed.leadIsAuto && fixed.checkpointLead == 90)
        let auto = try stop("\"auto\"")
        #expect(auto.leadIsAuto && auto.checkpointLead == 120)
        let floor = try stop("\"auto(min: 30s)\"")
        #expect(floor.leadIsAuto && floor.checkpointLead == 30)
        #expect(Policy.Stop().leadIsAuto, "auto is the default")
        #expect(throws: VigilError.self) { try stop("\"auto(min: soon)\"") }
        #expect(throws: VigilError.self) { try stop("\"automatic\"") }
    }
}
