import Foundation
import Testing

@testable import VigilCore

/// The drill's plan: a pure function of the seed and the reference's measurements.
@Suite("Drill plan")
struct DrillPlanTests {
    @Test("SplitMix64 gives the published sequence")
    func splitMix() {
        var zero = SplitMix64(seed: 0)
        #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
        #expect(zero.next() == 0x6E78_9E6A_A1B9_65F4)
        var known = SplitMix64(seed: 1_234_567)
        #expect(known.next() == 6_457_827_717_110_365_317)
        #expect(known.next() == 3_203_168_211_198_807_973)
        var draws = SplitMix64(seed: 9)
        for _ in 0..<1000 {
            let unit = draws.unit()
            #expect(unit >= 0 && unit < 1)
            #expect((0..<7).contains(draws.below(7)))
        }
    }

    func plan(seed: UInt64, count: Int = 3, kinds: [InterruptionKind] = [.kill, .terminate, .checkpoint]) -> DrillPlan {
        DrillPlan.make(
            seed: seed, count: count, kinds: kinds, firstStep: 1, lastStep: 100,
            checkpointSteps: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    }

    @Test("the same seed gives the same plan; another seed another")
    func deterministic() throws {
        #expect(plan(seed: 42) == plan(seed: 42))
        #expect(plan(seed: 42) != plan(seed: 43))
        // Encoded and decoded it stays the same: what the JSON report holds is the plan.
        let data = try JSONEncoder().encode(plan(seed: 42))
        #expect(try JSONDecoder().decode(DrillPlan.self, from: data) == plan(seed: 42))
    }

    @Test(
        "interruptions are spread: one in each equal segment of the first 90 % of the steps",
        arguments: [1, 2, 3, 5, 8])
    func spread(count: Int) {
        for seed in UInt64(0)..<50 {
            let steps = plan(seed: seed, count: count).interruptions.map(\.step)
            #expect(steps.count == count)
            for (index, step) in steps.enumerated() {
                let low = 1 + index * 90 / count
                let high = 1 + (index + 1) * 90 / count
                #expect(step >= low - 1 && step <= min(90, high), "seed \(seed): \(steps)")
            }
            #expect(steps == steps.sorted())
        }
    }

    @Test("every kind is used once there are as many interruptions, and two triggers of three wait for a checkpoint")
    func kindsAndTriggers() {
        for seed in UInt64(0)..<30 {
            let planned = plan(seed: seed, count: 3).interruptions
            #expect(Set(planned.map(\.kind)) == [.kill, .terminate, .checkpoint])
            #expect(Set(planned.map(\.trigger)) == Set(InterruptionTrigger.allCases))
            for interruption in planned where interruption.trigger == .duringSave {
                #expect(interruption.delaySteps == 0)
            }
            let four = plan(seed: seed, count: 4, kinds: [.kill, .terminate, .checkpoint, .vigil]).interruptions
            #expect(Set(four.map(\.kind)) == Set(InterruptionKind.allCases))
        }
    }

    @Test("without a checkpoint after its step (but the last one), a checkpoint-bound interruption waits for the step")
    func noCheckpointLeft() {
        for seed in UInt64(0)..<30 {
            let planned = DrillPlan.make(
                seed: seed, count: 3, kinds: [.kill], firstStep: 1, lastStep: 100, checkpointSteps: [5, 100])
            for interruption in planned.interruptions where interruption.step > 5 {
                #expect(interruption.trigger == .atStep)
            }
            let none = DrillPlan.make(
                seed: seed, count: 2, kinds: [.kill], firstStep: 1, lastStep: 40, checkpointSteps: [])
            #expect(none.interruptions.allSatisfy { $0.trigger == .atStep })
        }
    }

    @Test("--signals: names with or without SIG, any case, no duplicates; nonsense is nil")
    func signalList() {
        #expect(InterruptionKind.list("KILL,TERM,CHECKPOINT") == [.kill, .terminate, .checkpoint])
        #expect(InterruptionKind.list("sigkill, term,KILL") == [.kill, .terminate])
        #expect(InterruptionKind.list("VIGIL") == [.vigil])
        #expect(InterruptionKind.list("HUP") == nil)
        #expect(InterruptionKind.list("") == nil)
    }
}
