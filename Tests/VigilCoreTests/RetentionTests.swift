import Foundation
import Testing

@testable import VigilCore

/// Retention plans (`keepLast`, `keepEvery`, `keepBest`) and `vigil checkpoints summary`, both pure.
@Suite("Checkpoint retention")
struct RetentionTests {
    // MARK: Fixtures

    static let epoch = Date(timeIntervalSince1970: 1_700_000_000)

    /// A checkpoint at `step`; `second` orders ones with the same step.
    static func checkpoint(
        _ step: Int, _ metrics: [String: Double] = [:], invalid: String? = nil,
        second: Double = 0, name: String? = nil, size: Int = 1000
    ) -> Checkpoint {
        let name = name ?? "model_\(step).pt"
        return Checkpoint(
            path: "/ck/" + name, name: name, step: step, isDirectory: false, size: size,
            modified: epoch.addingTimeInterval(Double(step) + second), metrics: metrics,
            invalidReason: invalid)
    }

    static func path(_ step: Int) -> String { "/ck/model_\(step).pt" }

    /// Steps 10…100; step 50 is invalid (and would be the best by profit), step 70 has no metrics.
    static let fixture: [Checkpoint] = [
        checkpoint(10, ["profit": 5, "loss": 2.0]),
        checkpoint(20, ["profit": 9, "loss": 1.5]),
        checkpoint(30, ["profit": 3, "loss": 1.2]),
        checkpoint(40, ["profit": 12, "loss": 1.0]),
        checkpoint(50, ["profit": 100, "loss": 0.01], invalid: "partial write"),
        checkpoint(60, ["profit": 1, "loss": 0.9]),
        checkpoint(70),
        checkpoint(80, ["profit": 8, "loss": 0.7]),
        checkpoint(90, ["profit": 11, "loss": 0.65]),
        checkpoint(100, ["profit": 2, "loss": 0.6]),
    ]

    static let validSteps = [10, 20, 30, 40, 60, 70, 80, 90, 100]

    struct RetentionCase: Sendable, CustomTestStringConvertible {
        var label: String
        var rule: RetentionRule
        var resume: Int? = 100
        var kept: [Int]
        var testDescription: String { label }
    }

    static func best(
        _ order: RetentionRule.Order, _ count: Int,
        _ metric: String = "profit"
    ) -> RetentionRule.BestRule {
        RetentionRule.BestRule(metric: metric, order: order, count: count)
    }

    static let cases: [RetentionCase] = [
        RetentionCase(label: "keepLast 3", rule: RetentionRule(keepLast: 3), kept: [80, 90, 100]),
        RetentionCase(
            label: "keepLast 1, no resume target", rule: RetentionRule(keepLast: 1), resume: nil,
            kept: [100]),
        RetentionCase(label: "keepLast larger than the set", rule: RetentionRule(keepLast: 50), kept: validSteps),
        RetentionCase(
            label: "keepEvery 30 (+ resume target)", rule: RetentionRule(keepEvery: 30),
            kept: [30, 60, 90, 100]),
        RetentionCase(
            label: "keepEvery 20 skips the invalid one", rule: RetentionRule(keepEvery: 20),
            kept: [20, 40, 60, 80, 100]),
        RetentionCase(
            label: "keepEvery 30, no resume target", rule: RetentionRule(keepEvery: 30), resume: nil,
            kept: [30, 60, 90]),
        RetentionCase(
            label: "keepBest max 2 ignores the invalid best", rule: RetentionRule(keepBest: best(.max, 2)),
            kept: [40, 90, 100]),
        RetentionCase(label: "keepBest min 2", rule: RetentionRule(keepBest: best(.min, 2)), kept: [60, 100]),
        RetentionCase(label: "keepBest min 3", rule: RetentionRule(keepBest: best(.min, 3)), kept: [30, 60, 100]),
        RetentionCase(
            label: "keepBest min by loss", rule: RetentionRule(keepBest: best(.min, 1, "loss")),
            resume: nil, kept: [100]),
        RetentionCase(
            label: "keepBest count above the eligible ones skips the one without the metric",
            rule: RetentionRule(keepBest: best(.max, 20)), resume: nil,
            kept: [10, 20, 30, 40, 60, 80, 90, 100]),
        RetentionCase(
            label: "keepBest on a metric nobody has", rule: RetentionRule(keepBest: best(.max, 3, "acc")),
            kept: [100]),
        RetentionCase(
            label: "keepLast 2 + keepBest max 1", rule: RetentionRule(keepLast: 2, keepBest: best(.max, 1)),
            kept: [40, 90, 100]),
        RetentionCase(
            label: "keepLast 2 + keepEvery 40 + keepBest min 1",
            rule: RetentionRule(keepLast: 2, keepEvery: 40, keepBest: best(.min, 1)),
            kept: [40, 60, 80, 90, 100]),
        RetentionCase(
            label: "keepEvery 100 + keepBest max 1, resume target in the middle",
            rule: RetentionRule(keepEvery: 100, keepBest: best(.max, 1)), resume: 30, kept: [30, 40, 100]),
        RetentionCase(label: "keepEvery 0 keeps nothing by itself", rule: RetentionRule(keepEvery: 0), kept: [100]),
    ]

    // MARK: Table

    @Test("retention keeps the expected steps", arguments: cases)
    func table(_ c: RetentionCase) {
        let plan = RetentionPlan.make(Self.fixture.shuffled(), rule: c.rule, resumeTarget: c.resume.map(Self.path))
        #expect(plan.keep.map(\.step) == c.kept)
        #expect(plan.remove.map(\.step) == Self.validSteps.filter { !c.kept.contains($0) })
        #expect(!plan.remove.contains { !$0.isValid } && !plan.keep.contains { !$0.isValid })
        #expect(Set(plan.reasons.keys) == Set(plan.keep.map(\.path)))
        #expect(plan.keep.allSatisfy { !(plan.reasons[$0.path] ?? []).isEmpty })
    }

    @Test("an empty rule removes nothing and keeps every valid checkpoint")
    func emptyRule() {
        let rule = RetentionRule()
        #expect(rule.isEmpty)
        let plan = RetentionPlan.make(Self.fixture, rule: rule, resumeTarget: nil)
        #expect(plan.keep.map(\.step) == Self.validSteps)
        #expect(plan.remove.isEmpty)
        #expect(plan.reasons[Self.path(10)] == ["no retention rule"])
        #expect(plan.reasons[Self.path(50)] == nil)
        #expect(!RetentionRule(keepLast: 1).isEmpty)
        #expect(!RetentionRule(keepEvery: 10).isEmpty)
        #expect(!RetentionRule(keepBest: Self.best(.max, 1)).isEmpty)
    }

    @Test("reasons say every rule that keeps a checkpoint, in a fixed order")
    func reasons() {
        let rule = RetentionRule(keepLast: 2, keepEvery: 50, keepBest: Self.best(.min, 2))
        let plan = RetentionPlan.make(
            Self.fixture, rule: rule, resumeTarget: Self.path(100),
            protected: [Self.path(20)])
        #expect(plan.reasons[Self.path(100)] == ["resume target", "last 2", "best profit", "every 50"])
        #expect(plan.reasons[Self.path(90)] == ["last 2"])
        #expect(plan.reasons[Self.path(60)] == ["best profit"])
        #expect(plan.reasons[Self.path(20)] == ["protected"])
        #expect(plan.reasons[Self.path(50)] == nil, "invalid: neither kept nor removed")
        #expect(plan.remove.map(\.step) == [10, 30, 40, 70, 80])
    }

    @Test("protected paths are never removed; an invalid protected one stays out of the plan")
    func protectedPaths() {
        let plan = RetentionPlan.make(
            Self.fixture, rule: RetentionRule(keepLast: 1), resumeTarget: Self.path(100),
            protected: [Self.path(10), Self.path(50), "/elsewhere/x.pt"])
        #expect(plan.keep.map(\.step) == [10, 100])
        #expect(plan.remove.map(\.step) == [20, 30, 40, 60, 70, 80, 90])
        #expect(plan.reasons["/elsewhere/x.pt"] == nil)
        #expect(plan.reasons[Self.path(50)] == nil)
    }

    @Test("a resume target that is invalid or unknown changes nothing")
    func foreignResumeTarget() {
        let rule = RetentionRule(keepLast: 2)
        for target in [Self.path(50), "/ck/nothing.pt"] {
            let plan = RetentionPlan.make(Self.fixture, rule: rule, resumeTarget: target)
            #expect(plan.keep.map(\.step) == [90, 100])
            #expect(plan.reasons[target] == nil)
        }
    }

    @Test("checkpoints with the same step are separate files, ordered by modification time")
    func sameStep() {
        let older = Self.checkpoint(100, ["profit": 1], second: 0, name: "a_100.pt")
        let newer = Self.checkpoint(100, ["profit": 1], second: 5, name: "b_100.pt")
        let earlier = Self.checkpoint(90, ["profit": 0])
        let plan = RetentionPlan.make(
            [newer, earlier, older], rule: RetentionRule(keepLast: 1),
            resumeTarget: newer.path)
        #expect(plan.keep == [newer])
        #expect(plan.remove == [earlier, older])
        let two = RetentionPlan.make([newer, earlier, older], rule: RetentionRule(keepLast: 2), resumeTarget: nil)
        #expect(two.keep == [older, newer])
        // Equal metric values: the newer one ranks first.
        let best = RetentionPlan.make(
            [newer, earlier, older], rule: RetentionRule(keepBest: Self.best(.max, 1)),
            resumeTarget: nil)
        #expect(best.keep == [newer])
        let every = RetentionPlan.make(
            [newer, earlier, older], rule: RetentionRule(keepEvery: 100),
            resumeTarget: nil)
        #expect(every.keep == [older, newer])
    }

    @Test("NaN or infinite metric values are not eligible for best")
    func nonFiniteMetric() {
        let checkpoints = [
            Self.checkpoint(10, ["loss": .nan]), Self.checkpoint(20, ["loss": -.infinity]),
            Self.checkpoint(30, ["loss": 0.5]), Self.checkpoint(40, ["loss": 0.7]),
        ]
        let plan = RetentionPlan.make(
            checkpoints, rule: RetentionRule(keepBest: Self.best(.min, 1, "loss")),
            resumeTarget: Self.path(40))
        #expect(plan.keep.map(\.step) == [30, 40])
    }

    @Test("a path listed twice is planned for once")
    func duplicatePaths() {
        let c = Self.checkpoint(10)
        let plan = RetentionPlan.make(
            [c, c, Self.checkpoint(20)], rule: RetentionRule(keepLast: 1),
            resumeTarget: nil)
        #expect(plan.keep.map(\.step) == [20])
        #expect(plan.remove.map(\.step) == [10])
    }

    // MARK: Property

    /// A small, seedable generator (Steele, Lea and Flood's SplitMix64), so that failures reproduce.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// 60 checkpoints: mostly every 10 steps, sometimes two at one step or a skipped step; about 15 % lack the
    /// metric and 10 % are invalid (with metric values that would often win). Half the sequences draw from a
    /// handful of values so that ties are common.
    static func randomCheckpoints(_ rng: inout SplitMix64, metric: String) -> [Checkpoint] {
        let ties = Bool.random(using: &rng)
        let drift = Double.random(in: -2...2, using: &rng)
        var step = 0
        var result: [Checkpoint] = []
        for i in 0..<60 {
            let roll = Int.random(in: 0..<10, using: &rng)
            step += i > 0 && roll == 0 ? 0 : (roll == 9 ? 20 : 10)
            var metrics: [String: Double] = [:]
            if Int.random(in: 0..<100, using: &rng) >= 15 {
                metrics[metric] =
                    ties
                    ? Double(Int.random(in: -3...3, using: &rng))
                    : drift * Double(i) + Double.random(in: -50...50, using: &rng)
            }
            if Bool.random(using: &rng) { metrics["loss"] = Double.random(in: 0...5, using: &rng) }
            let invalid = Int.random(in: 0..<10, using: &rng) == 0 ? "partial write" : nil
            if invalid != nil, Bool.random(using: &rng) { metrics[metric] = 1e9 }
            result.append(
                Checkpoint(
                    path: "/ck/c\(i)_\(step).pt", name: "c\(i)_\(step).pt", step: step,
                    isDirectory: false, size: 100, modified: epoch.addingTimeInterval(Double(i)),
                    metrics: metrics, invalidReason: invalid))
        }
        result.shuffle(using: &rng)
        return result
    }

    @Test(
        "Retention with keepLast 5 + keepBest by total_profit max over 60 checkpoints keeps exactly the expected set")
    func keepLastAndBestProperty() throws {
        let metric = "total_profit"
        for seed in 0..<200 {
            var rng = SplitMix64(seed: UInt64(seed) &* 7919 &+ 1)
            let checkpoints = Self.randomCheckpoints(&rng, metric: metric)
            let count = Int.random(in: 1...4, using: &rng)
            let rule = RetentionRule(keepLast: 5, keepBest: .init(metric: metric, order: .max, count: count))

            // The oracle, stated independently of the implementation's sorting.
            let valid = checkpoints.filter(\.isValid)
            func later(_ a: Checkpoint, _ b: Checkpoint) -> Bool {
                (a.step, a.modified) > (b.step, b.modified)
            }
            let last5 = Set(valid.filter { c in valid.filter { later($0, c) }.count < 5 }.map(\.path))
            let resume = try #require(valid.first { c in !valid.contains { later($0, c) } })
            let eligible = valid.filter { $0.metrics[metric] != nil }
            func beats(_ d: Checkpoint, _ c: Checkpoint) -> Bool {
                let (x, y) = (d.metrics[metric]!, c.metrics[metric]!)
                return x > y || (x == y && later(d, c))
            }
            let best = Set(eligible.filter { c in eligible.filter { beats($0, c) }.count < count }.map(\.path))
            let expected = last5.union(best).union([resume.path])

            let plan = RetentionPlan.make(checkpoints, rule: rule, resumeTarget: resume.path)
            let kept = Set(plan.keep.map(\.path))
            let removed = Set(plan.remove.map(\.path))
            let context = Comment(rawValue: "seed \(seed)")
            #expect(kept.union(removed) == Set(valid.map(\.path)), context)
            #expect(kept.isDisjoint(with: removed), context)
            #expect(plan.keep.count == kept.count && plan.remove.count == removed.count, context)
            #expect(kept.contains(resume.path), context)
            #expect(best.count == min(count, eligible.count), context)
            #expect(best.isSubset(of: kept), context)
            #expect(last5.count == 5, context)
            #expect(kept == expected, context)
            #expect(plan.keep.count == expected.count, context)
            #expect(plan.remove.allSatisfy { $0.isValid }, context)
            #expect(plan.keep.allSatisfy { $0.isValid }, context)
            #expect(Set(plan.reasons.keys) == kept, context)
            for list in [plan.keep, plan.remove] {
                #expect(zip(list, list.dropFirst()).allSatisfy { !later($0, $1) }, context)
            }
            // The same plan whatever the input order.
            var shuffled = checkpoints
            shuffled.shuffle(using: &rng)
            #expect(RetentionPlan.make(shuffled, rule: rule, resumeTarget: resume.path) == plan, context)
        }
    }
}

/// `vigil checkpoints summary`.
@Suite("Checkpoint summary")
struct CheckpointSummaryTests {
    static func checkpoint(
        _ step: Int, _ metrics: [String: Double] = [:], invalid: String? = nil,
        size: Int = 1000
    ) -> Checkpoint {
        RetentionTests.checkpoint(step, metrics, invalid: invalid, size: size)
    }

    @Test("counts, size, step range, resume target and best")
    func basics() throws {
        let summary = CheckpointSummary(RetentionTests.fixture, bestMetric: .init(metric: "profit", order: .max))
        #expect(summary.count == 10)
        #expect(summary.validCount == 9)
        #expect(summary.invalidCount == 1)
        #expect(summary.totalSize == 10_000)
        #expect(summary.firstStep == 10)
        #expect(summary.lastStep == 100)
        #expect(summary.resumeTarget == RetentionTests.path(100))
        #expect(summary.resumeStep == 100)
        let best = try #require(summary.best)
        #expect(best.step == 40, "step 50 has 100 but is invalid")
        #expect(best.value == 12)
        #expect(best.path == RetentionTests.path(40))
        #expect(summary.metrics.map(\.name) == ["loss", "profit"])
        let profit = try #require(summary.metrics.last)
        #expect(profit.count == 8)
        #expect(profit.min == 1 && profit.max == 12)
        #expect(profit.first == 5 && profit.last == 2)
        #expect(profit.firstStep == 10 && profit.lastStep == 100)

        let byLoss = CheckpointSummary(RetentionTests.fixture, bestMetric: .init(metric: "loss", order: .min))
        #expect(byLoss.best?.step == 100)
        #expect(byLoss.best?.value == 0.6)
        #expect(CheckpointSummary(RetentionTests.fixture, bestMetric: nil).best == nil)
        let missing = CheckpointSummary(RetentionTests.fixture, bestMetric: .init(metric: "acc", order: .max))
        #expect(missing.best == nil)
        #expect(missing.rendered().contains("best acc (max): no valid checkpoint has it"))
    }

    @Test("the resume target is the newest valid one, by step then modification time")
    func resumeTarget() {
        let a = RetentionTests.checkpoint(30, second: 9, name: "a.pt")
        let b = RetentionTests.checkpoint(30, second: 1, name: "b.pt")
        let c = RetentionTests.checkpoint(40, invalid: "empty file")
        let summary = CheckpointSummary([c, a, b], bestMetric: nil)
        #expect(summary.resumeTarget == "/ck/a.pt")
        #expect(summary.resumeStep == 30)
        #expect(summary.lastStep == 40)
    }

    @Test("gaps: the median interval and the ranges more than 1.5× apart")
    func gaps() {
        let steps = [10, 20, 30, 40, 60, 70, 80, 110]
        let checkpoints = steps.map { Self.checkpoint($0) } + [Self.checkpoint(50, invalid: "partial write")]
        let summary = CheckpointSummary(checkpoints, bestMetric: nil)
        #expect(summary.interval == 10)
        #expect(
            summary.gaps == [
                .init(after: 40, before: 60, interval: 10, missing: 1),
                .init(after: 80, before: 110, interval: 10, missing: 2),
            ])
        #expect(
            summary.gaps.first?.description
                == "no checkpoint between steps 40 and 60: expected every 10, about 1 missing")
        #expect(summary.rendered().contains("every 10 steps; no checkpoint between steps 40 and 60"))
    }

    @Test(
        "gaps: regular, duplicate steps, an even number of intervals",
        arguments: [
            ([100, 200, 300, 400], 100.0, []),
            ([5, 10, 15, 20, 20, 25], 5.0, []),
            ([10, 20, 40, 60], 20.0, []),
            ([10, 20, 30, 45, 75], 12.5, [[45, 75]]),
            ([10, 20, 35, 80], 15.0, [[35, 80]]),
            ([0, 1000, 1001, 1002, 2000], 499.5, [[0, 1000], [1002, 2000]]),
        ] as [([Int], Double, [[Int]])])
    func gapCases(_ steps: [Int], _ interval: Double, _ gaps: [[Int]]) {
        let summary = CheckpointSummary(steps.map { Self.checkpoint($0) }, bestMetric: nil)
        #expect(summary.interval == interval)
        #expect(summary.gaps.map { [$0.after, $0.before] } == gaps)
    }

    @Test("no interval with fewer than two distinct valid steps")
    func noInterval() {
        #expect(CheckpointSummary([Self.checkpoint(10)], bestMetric: nil).interval == nil)
        #expect(
            CheckpointSummary([Self.checkpoint(10), Self.checkpoint(20, invalid: "x")], bestMetric: nil)
                .interval == nil)
        let empty = CheckpointSummary([], bestMetric: nil)
        #expect(empty.interval == nil && empty.gaps.isEmpty && empty.firstStep == nil && empty.resumeTarget == nil)
        #expect(empty.rendered() == "no checkpoints")
    }

    static func series(_ name: String, _ values: [Double]) -> [Checkpoint] {
        values.enumerated().map { checkpoint(($0.offset + 1) * 10, [name: $0.element]) }
    }

    @Test(
        "trend",
        arguments: [
            ([2.0, 1.5, 1.1, 0.8, 0.6], nil, .falling),
            ([2.0, 1.5, 1.1, 0.8, 0.6], .min, .improving),
            ([2.0, 1.5, 1.1, 0.8, 0.6], .max, .worsening),
            ([1.0, 3.0, 2.0, 5.0, 6.0], nil, .rising),
            ([1.0, 3.0, 2.0, 5.0, 6.0], .max, .improving),
            ([1.0, 3.0, 2.0, 5.0, 6.0], .min, .worsening),
            ([100.0, 100.3, 99.9, 100.5, 100.2], nil, .flat),
            ([100.0, 100.3, 99.9, 100.5, 100.2], .max, .flat),
            ([-5.0, -2.0, 0.0, 2.0, 5.0], nil, .rising),
            ([0.0, 0.0, 0.0], nil, .flat),
            ([3.0, 1.0, 3.0, 1.0, 3.0], nil, .flat),
            ([7.0], .max, .flat),
        ] as [([Double], RetentionRule.Order?, CheckpointSummary.Trend)])
    func trend(_ values: [Double], _ order: RetentionRule.Order?, _ trend: CheckpointSummary.Trend) throws {
        let summary = CheckpointSummary(
            Self.series("m", values) + Self.series("other", [1, 2, 3]),
            bestMetric: order.map { .init(metric: "m", order: $0) })
        let stats = try #require(summary.metrics.first { $0.name == "m" })
        #expect(stats.trend == trend)
        #expect(summary.metrics.first { $0.name == "other" }?.trend == .rising)
    }

    @Test("slope and relative change come from a least-squares fit over step")
    func slope() throws {
        let summary = CheckpointSummary(Self.series("loss", [1.0, 0.8, 0.6, 0.4]), bestMetric: nil)
        let stats = try #require(summary.metrics.first)
        #expect(abs(stats.slope - -0.02) < 1e-12)
        #expect(abs(stats.change - -0.6) < 1e-12)
    }

    @Test("non-finite values are counted apart and left out of the statistics")
    func nonFinite() throws {
        let checkpoints = Self.series("loss", [1.0, .nan, 0.5, .infinity])
        let summary = CheckpointSummary(checkpoints, bestMetric: .init(metric: "loss", order: .min))
        let stats = try #require(summary.metrics.first)
        #expect(stats.count == 2 && stats.nonFinite == 2)
        #expect(stats.min == 0.5 && stats.max == 1 && stats.last == 0.5)
        #expect(summary.best?.step == 30)
        #expect(summary.rendered().contains("2 not finite"))
        #expect(throws: Never.self) { try JSONEncoder().encode(summary) }
    }

    @Test("rendered text and JSON")
    func renderedAndJSON() throws {
        var checkpoints = Self.series("total_profit", [3.1, 10, 25, 53.2, 50.4])
        checkpoints.append(Self.checkpoint(60, invalid: "partial write", size: 1_000_000_000))
        let summary = CheckpointSummary(checkpoints, bestMetric: .init(metric: "total_profit", order: .max, count: 2))
        #expect(
            summary.rendered() == """
                6 checkpoints (5 valid, 1 invalid), 954 MB, steps 10–60
                resume target: step 50 (/ck/model_50.pt)
                best total_profit (max): 53.2 at step 40
                total_profit: 3.1 → 50.4 (min 3.1, max 53.2, 5 values), improving
                every 10 steps, no gaps
                """)
        let data = try JSONEncoder().encode(summary)
        let decoded = try JSONDecoder().decode(CheckpointSummary.self, from: data)
        #expect(decoded == summary)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["resumeTarget"] as? String == "/ck/model_50.pt")
        #expect((object["best"] as? [String: Any])?["step"] as? Int == 40)
        #expect(((object["metrics"] as? [[String: Any]])?.first)?["trend"] as? String == "improving")
    }

    @Test(
        "sizes and numbers are written compactly",
        arguments: [
            (0, "0 B"), (512, "512 B"), (1536, "1.5 KB"), (10 << 20, "10 MB"), (1_288_490_189, "1.2 GB"),
        ] as [(Int, String)])
    func bytes(_ count: Int, _ text: String) {
        #expect(CheckpointSummary.bytes(count) == text)
    }

    @Test(
        "numbers",
        arguments: [(53.2, "53.2"), (0.1 + 0.2, "0.3"), (12, "12"), (-4, "-4"), (1e-7, "1e-07")]
            as [(Double, String)])
    func numbers(_ value: Double, _ text: String) {
        #expect(CheckpointSummary.number(value) == text)
    }
}
