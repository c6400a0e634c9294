import Foundation
import Testing

@testable import VigilCore

/// The divergence watch, value by value; metric values as trainers print them; verdicts on an
/// attempt that diverged.
@Suite("Divergence from metrics")
struct DivergenceTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    /// Feeds `(step, loss)` pairs one second apart; returns the first divergence.
    func feed(_ watch: DivergenceWatch, _ points: [(Int, Double)], metric: String = "loss") -> Divergence? {
        var found: Divergence?
        for (index, (step, value)) in points.enumerated() {
            let d = watch.observe(step: step, values: [metric: value], at: t0.addingTimeInterval(Double(index)))
            found = found ?? d
        }
        return found
    }

    @Test("a loss that climbs to 1e4 and then turns NaN diverges at the NaN, with the onset where the climb began")
    func climbThenNaN() throws {
        let watch = DivergenceWatch(Policy.Divergence())
        let healthy = (1...19).map { ($0, 2.5 * pow(0.85, Double($0)) + 0.05) }
        #expect(feed(watch, healthy) == nil)
        var value = healthy.last!.1
        let climb = (20...28).map { step -> (Int, Double) in
            value *= 4
            return (step, value)
        }
        #expect(feed(watch, climb) == nil, "a finite climb is no divergence while spike is off")
        let d = try #require(watch.observe(step: 29, values: ["loss": .nan], at: t0.addingTimeInterval(100)))
        #expect(d.metric == "loss" && d.value == "nan" && d.step == 29)
        #expect(d.onsetStep == 20)
        // The last healthy value was step 19's, read 18 s after the first.
        #expect(d.healthyUntil == t0.addingTimeInterval(18))
        #expect(d.description == "loss became nan at step 29; above its band (3× the best) from step 20")
        // Once per attempt.
        #expect(watch.observe(step: 30, values: ["loss": .nan], at: t0) == nil)
    }

    @Test("a sudden NaN: the onset is the NaN's own step")
    func suddenNaN() throws {
        let watch = DivergenceWatch(Policy.Divergence())
        _ = feed(watch, [(1, 1.0), (2, 0.8), (3, 0.7)])
        let d = try #require(watch.observe(step: 4, values: ["loss": .infinity], at: t0))
        #expect(d.onsetStep == 4 && d.value == "inf")
        #expect(d.description == "loss became inf at step 4")
    }

    @Test("a value back inside the band ends a streak: only the streak under way at the NaN counts")
    func streakEnds() throws {
        let watch = DivergenceWatch(Policy.Divergence())
        _ = feed(watch, [(1, 1.0), (2, 0.5), (3, 2.0), (4, 0.6), (5, 0.5), (6, 1.8), (7, 9.0)])
        let d = try #require(watch.observe(step: 8, values: ["loss": .nan], at: t0))
        #expect(d.onsetStep == 6)
    }

    @Test("band 0: no band, the onset is the divergence itself")
    func noBand() throws {
        var settings = Policy.Divergence()
        settings.band = 0
        let watch = DivergenceWatch(settings)
        _ = feed(watch, [(1, 1.0), (2, 50.0), (3, 900.0)])
        let d = try #require(watch.observe(step: 4, values: ["loss": .nan], at: t0))
        #expect(d.onsetStep == 4)
    }

    @Test("spike: a finite value far above the best diverges, once the metric has a history")
    func spike() throws {
        var settings = Policy.Divergence()
        settings.spike = 10
        let watch = DivergenceWatch(settings)
        // Early noise does not count: fewer than spikeWarmUp values.
        #expect(feed(watch, [(1, 0.1), (2, 5.0)]) == nil)
        _ = feed(watch, (3...12).map { ($0, 0.1) })
        #expect(watch.observe(step: 13, values: ["loss": 0.9], at: t0) == nil)  // 9×: below the spike
        let d = try #require(watch.observe(step: 14, values: ["loss": 1.5], at: t0))
        #expect(d.value == "1.5" && d.best == 0.1)
        #expect(d.onsetStep == 13)  // 0.9 had already left the band (3×)
        #expect(d.description.hasPrefix("loss rose to 1.5, above 10× its best 0.1 at step 14"))
    }

    @Test("a negative best: the band is as far above it as it is from zero")
    func negativeBest() {
        #expect(DivergenceWatch.ceiling(-5, factor: 3) == 5)
        #expect(DivergenceWatch.ceiling(2, factor: 3) == 6)
    }

    @Test("only watched metrics count: accuracy may be anything, grad_norm may not be NaN")
    func watchedMetrics() throws {
        let watch = DivergenceWatch(Policy.Divergence())
        #expect(watch.observe(step: 1, values: ["accuracy": .nan], at: t0) == nil)
        #expect(watch.watches("evalLoss") && watch.watches("validrmse") && watch.watches("gradnorm"))
        #expect(!watch.watches("accuracy") && !watch.watches("lr"))
        let d = try #require(watch.observe(step: 2, values: ["gradnorm": .nan, "loss": 0.3], at: t0))
        #expect(d.metric == "gradnorm")
    }

    @Test("a new attempt starts its streaks over and keeps the run's best; a step going back does too")
    func attempts() throws {
        let watch = DivergenceWatch(Policy.Divergence())
        _ = feed(watch, [(1, 1.0), (2, 0.2), (3, 0.9)])
        #expect(watch.onsetInProgress()?.step == 3)
        watch.beginAttempt()
        #expect(watch.onsetInProgress() == nil)
        // The best is still 0.2: 0.9 is out of band at once.
        _ = watch.observe(step: 2, values: ["loss": 0.9], at: t0)
        #expect(watch.onsetInProgress()?.step == 2)
        #expect(watch.onsetInProgress()?.healthyUntil == nil, "nothing healthy in this attempt")
        _ = watch.observe(step: 1, values: ["loss": 0.9], at: t0)
        #expect(watch.onsetInProgress()?.step == 1, "the trainer went back: a new streak")
        let d = try #require(watch.observe(step: 3, values: ["loss": .nan], at: t0))
        #expect(d.healthyUntil == nil)
    }

    @Test("globs: * for any run of characters, case ignored")
    func globs() {
        #expect(DivergenceWatch.glob("*loss*", matches: "valLoss"))
        #expect(DivergenceWatch.glob("loss", matches: "LOSS"))
        #expect(!DivergenceWatch.glob("loss", matches: "lossy"))
        #expect(DivergenceWatch.glob("train*", matches: "trainrmse"))
        #expect(DivergenceWatch.glob("*rmse", matches: "validrmse"))
        #expect(!DivergenceWatch.glob("*rmse", matches: "rmsex"))
        #expect(DivergenceWatch.glob("a*b*c", matches: "axxbyyc"))
        #expect(!DivergenceWatch.glob("a*b*c", matches: "axxcyyb"))
    }

    @Test(
        "metric values as frameworks print them",
        arguments: [
            ("0.42", 0.42), ("1e-4", 1e-4), ("nan", Double.nan), ("NaN", .nan), ("'nan'", .nan), ("\"inf\"", .infinity),
            ("-inf", -.infinity), ("Infinity", .infinity), ("1.9e34,", 1.9e34), ("0.5}", 0.5), ("'0.25',", 0.25),
            ("nan.0", .nan), ("inf.0", .infinity),
            ("6.680", 6.68), ("8.89e+3", 8890),
        ])
    func numbers(text: String, expected: Double) throws {
        let value = try #require(MetricsRecorder.number(text))
        #expect(value == expected || (value.isNaN && expected.isNaN))
    }

    @Test("not numbers: words, empty, a lone quote")
    func notNumbers() {
        for text in ["", "'", "n/a", "None", "loss"] { #expect(MetricsRecorder.number(text) == nil, "\(text)") }
    }

    @Test("the recorder hands NaN values to the watch, and keeps them out of metrics.jsonl")
    func recorderFeedsWatch() throws {
        let dir = try TestSupport.temporaryDirectory("divergence-recorder")
        defer { TestSupport.remove(dir) }
        let watch = DivergenceWatch(Policy.Divergence())
        let seen = Locked<[(Divergence, String)]>([])
        let recorder = try #require(
            try MetricsRecorder(
                path: dir + "/metrics.jsonl", progress: "step (?<step>\\d+)",
                metrics: ["'loss': '?(?<loss>[^,}']+)", "'grad_norm': '?(?<gradnorm>[^,}']+)"], attempt: 1,
                divergence: watch
            ) { d, line in seen.withLock { $0.append((d, line)) } })
        let text = """
            step 1 {'loss': 0.9, 'grad_norm': 1.2}
            step 2 {'loss': 0.7, 'grad_norm': 'nan', 'learning_rate': 1e-05}
            step 3 {'loss': 'nan', 'grad_norm': 'nan'}

            """
        Array(text.utf8).withUnsafeBytes { recorder.record($0) }
        let found = seen.current
        #expect(found.count == 1)
        #expect(found.first?.0.metric == "gradnorm" && found.first?.0.step == 2)
        #expect(found.first?.1 == "step 2 {'loss': 0.7, 'grad_norm': 'nan', 'learning_rate': 1e-05}")
        let lines = TestSupport.read(dir + "/metrics.jsonl").split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[1].contains(#""values":{"loss":0.7}"#))
        #expect(lines[2].contains(#""values":{}"#))
    }
}

@Suite("Verdicts on a divergence")
struct DivergenceVerdictTests {
    let divergence = Divergence(
        metric: "validrmse", value: "inf", step: 9, onsetStep: 7, healthyUntil: nil, best: 1.2,
        description: "validrmse became inf at step 9; above its band (3× the best) from step 7")

    func rules() throws -> [Rule] {
        try PolicyLoader(searchDirectories: []).load("python").rules
    }

    @Test("a live divergence decides even though the trainer then exited 0")
    func liveAfterExitZero() throws {
        var outcome = AttemptOutcome(status: .exited(0))
        outcome.liveMatch = LiveMatch(
            rule: "diverged", line: "[9]\tvalid-rmse:inf", poisonedAfter: Date(), divergence: divergence)
        outcome.divergence = divergence
        let verdict = Classifier(rules: try rules()).classify(outcome)
        #expect(verdict.verdict == .recoverable && verdict.rule == "diverged")
        #expect(verdict.reason.hasSuffix("(live: \(divergence.description): [9]\tvalid-rmse:inf)"))
    }

    @Test("a divergence without a live rule: the diverged rules come before exit 0")
    func nonLiveRule() throws {
        var rule = Rule(name: "went-bad", verdict: .unrecoverable, reason: "diverged")
        rule.diverged = true
        var outcome = AttemptOutcome(status: .exited(0))
        outcome.divergence = divergence
        let verdict = Classifier(rules: [rule]).classify(outcome)
        #expect(verdict.rule == "went-bad" && verdict.verdict == .unrecoverable)
        #expect(verdict.reason == "diverged (\(divergence.description))")
        outcome.divergence = nil
        #expect(Classifier(rules: [rule]).classify(outcome).verdict == .success)
    }

    @Test("a stop by vigil still comes first: a NaN during a runtime limit's stop is no failure")
    func vigilStopFirst() throws {
        var outcome = AttemptOutcome(
            status: .signaled(.terminate), stop: VigilStop(cause: .runtimeLimit, reason: "the runtime limit"))
        outcome.liveMatch = LiveMatch(rule: "diverged", line: "loss=nan", poisonedAfter: Date())
        #expect(Classifier(rules: try rules()).classify(outcome).rule == "stopped-by-vigil")
    }
}

@Suite("metrics.jsonl")
struct MetricsLineTests {
    /// Numbers as trainers print them, each of a shape a JSON writer may get wrong: integral, tiny,
    /// huge, exponent forms, negative zero, the smallest subnormal.
    static let numbers = [
        "0.123456", "1e-05", "1.0", "2", "1e20", "-0.0", "1234567890123456", "1e16", "5e-324", "-2.5", "3.0e22",
        "0.001", "1234.5", "1.7976931348623157e308",
    ]

    @Test("each line is what JSONEncoder with sorted keys writes for the same values, byte for byte")
    func linesAsTheEncoderWritesThem() throws {
        let dir = try TestSupport.temporaryDirectory("metrics-lines")
        defer { TestSupport.remove(dir) }
        let recorder = try #require(
            try MetricsRecorder(
                path: dir + "/metrics.jsonl", progress: "step (?<step>\\d+)(?:/(?<total>\\d+))?",
                metrics: ["loss=(?<loss>\\S+)", "Acc=(?<Acc>\\S+)", "odd=(?<Zeta9>\\S+)"], attempt: 3))
        var text = Self.numbers.enumerated().map { "step \($0.offset)/20 loss=\($0.element) Acc=0.5" }
        text += ["no step here loss=0.25", "step 40 nothing to record", "step 41/50 odd=7 loss=1 Acc=2"]
        Array((text.joined(separator: "\n") + "\n").utf8).withUnsafeBytes { recorder.record($0) }

        let lines = TestSupport.read(dir + "/metrics.jsonl").split(separator: "\n").map(String.init)
        try #require(lines.count == Self.numbers.count + 3)
        func expected(_ line: String, step: Int?, total: Int?, values: [String: Double]) throws -> String {
            let written = try #require(JSONValue.parse(Data(line.utf8)), "not JSON: \(line)")
            guard case .object(let members) = written, case .string(let time)? = members["time"] else {
                Issue.record("no time in \(line)")
                return ""
            }
            var object: [String: JSONValue] = [
                "attempt": .int(3), "time": .string(time), "values": .object(values.mapValues { .double($0) }),
            ]
            if let step { object["step"] = .int(step) }
            if let total { object["total"] = .int(total) }
            return try #require(JSONValue.object(object).jsonText())
        }
        for (index, number) in Self.numbers.enumerated() {
            let value = try #require(Double(number))
            #expect(
                lines[index]
                    == (try expected(lines[index], step: index, total: 20, values: ["loss": value, "Acc": 0.5])))
        }
        #expect(
            lines[Self.numbers.count]
                == (try expected(lines[Self.numbers.count], step: nil, total: nil, values: ["loss": 0.25])))
        #expect(
            lines[Self.numbers.count + 1]
                == (try expected(lines[Self.numbers.count + 1], step: 40, total: nil, values: [:])))
        #expect(
            lines[Self.numbers.count + 2]
                == (try expected(
                    lines[Self.numbers.count + 2], step: 41, total: 50, values: ["Zeta9": 7, "loss": 1, "Acc": 2])))
    }
}
