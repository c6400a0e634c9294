import Foundation
import Testing

@testable import VigilCore

/// A clock whose two readings a test moves by hand: the monotonic one, and the wall clock, which can
/// also be stepped (NTP, `date -s`) without the monotonic one moving.
final class SteppingClock: SupervisorClock, @unchecked Sendable {
    // @unchecked: `state` is guarded by its lock.
    private let state = Locked((monotonic: 1_000.0, wall: Date(timeIntervalSince1970: 1_800_000_000)))

    func now() -> Instant { Instant(seconds: state.current.monotonic) }
    func wallNow() -> Date { state.current.wall }

    /// Time passes: both clocks advance.
    func pass(_ seconds: Double) {
        state.withLock {
            $0.monotonic += seconds
            $0.wall = $0.wall.addingTimeInterval(seconds)
        }
    }

    /// The wall clock is set, and nothing else happens.
    func stepWall(by seconds: Double) {
        state.withLock { $0.wall = $0.wall.addingTimeInterval(seconds) }
    }
}

@Suite("Wall-clock steps")
struct ClockStepTests {
    func machine(deadline: Instant, clock: SteppingClock, stall: Double? = nil) -> AttemptMachine {
        var stop = Policy.Stop()
        stop.checkpointLead = 10
        stop.termGrace = 2
        var configuration = AttemptMachine.Configuration(
            stop: stop, stall: stall, canSeeCheckpoints: true, started: clock.now())
        configuration.deadline = deadline
        configuration.deadlineCause = .runtimeLimit
        return AttemptMachine(configuration)
    }

    @Test("an absolute deadline becomes an instant once: a later step of the wall clock moves neither it nor the stop")
    func deadlineDoesNotMove() {
        let clock = SteppingClock()
        let deadline = clock.instant(at: clock.wallNow().addingTimeInterval(3600))  // --deadline in an hour
        var machine = machine(deadline: deadline, clock: clock)
        let trigger = machine.trigger
        clock.pass(60)
        clock.stepWall(by: 3 * 3600)  // NTP jumps three hours ahead
        #expect(machine.trigger == trigger)
        #expect(machine.handle(.tick(lastOutput: clock.now()), at: clock.now()).isEmpty, "no stop an hour early")
        clock.pass(3600 - 60 - 12)
        #expect(machine.handle(.tick(lastOutput: clock.now()), at: clock.now()).contains(.checkListeners(.user1)))
    }

    @Test("a step of the wall clock backwards does not postpone the stop either")
    func backwardsStep() {
        let clock = SteppingClock()
        var machine = machine(deadline: clock.now() + 100, clock: clock)
        clock.stepWall(by: -7200)
        clock.pass(88)
        #expect(machine.handle(.tick(lastOutput: clock.now()), at: clock.now()).contains(.checkListeners(.user1)))
    }

    @Test("a stall is silence on the monotonic clock: an hour's step of the wall clock is not an hour of silence")
    func stallDoesNotFire() {
        let clock = SteppingClock()
        var machine = machine(deadline: clock.now() + 100_000, clock: clock, stall: 60)
        clock.pass(30)
        let lastOutput = clock.now()
        clock.stepWall(by: 3600)
        clock.pass(30)
        #expect(machine.handle(.tick(lastOutput: lastOutput), at: clock.now()).isEmpty)
        #expect(machine.nextWake == lastOutput + 60)
    }

    @Test("the output pump and the event queue keep time on the monotonic clock")
    func monotonicSources() {
        let before = SystemClock.monotonicNow()
        let pump = OutputPump(log: nil, passthrough: false, tailBytes: 1024) {}
        #expect(pump.lastActivity >= before)
        let queue = EventQueue<Int>()
        let start = SystemClock.monotonicNow()
        #expect(queue.next(until: start + 0.05) == nil)
        #expect(SystemClock.monotonicNow().since(start) >= 0.05)
    }
}
