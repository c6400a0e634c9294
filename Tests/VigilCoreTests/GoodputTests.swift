import Foundation
import Testing

@testable import VigilCore

/// Goodput from a journal, as plain values: every second in one part, the parts adding up.
@Suite("Goodput")
struct GoodputTests {
    let t0 = Date(timeIntervalSince1970: 2_000_000_000)
    func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    func attempt(
        _ number: Int, start: Double, progress: Double?, end: Double?, verdict: VerdictClass?, kept: [Double] = [],
        stop: Double? = nil, backoff: Double? = nil
    ) -> Journal.Attempt {
        var a = Journal.Attempt(number: number, argv: ["t"], startedAt: at(start), supervisorPID: 1, log: "a.log")
        a.endedAt = end.map(at)
        a.firstProgressAt = progress.map(at)
        a.verdict = verdict.map { Verdict(verdict: $0, rule: "r", reason: "x") }
        a.checkpointsWritten = kept.map { Journal.WrittenCheckpoint(name: "c\($0)", step: Int($0), at: at($0)) }
        if let stop {
            a.stopCause = "runtime-limit"
            a.stopEvents = [Journal.StopEvent(at: at(stop), event: "stop: the runtime limit")]
        }
        a.backoffSeconds = backoff
        return a
    }

    func journal(_ attempts: [Journal.Attempt], invocations: [(Double, Double?)]) -> Journal {
        var j = Journal(run: "r", runID: "id", command: ["t"], workingDirectory: "/", policy: "default", now: t0)
        j.attempts = attempts
        j.invocations = invocations.map { start, end in
            var invocation = Journal.Invocation(pid: 1, processStartTime: nil, host: "h", startedAt: at(start))
            invocation.endedAt = end.map(at)
            return invocation
        }
        return j
    }

    @Test("a crash, a backoff, a runtime stop with its emergency checkpoint: the parts add up to the wall time")
    func crashBackoffStop() {
        let j = journal(
            [
                attempt(1, start: 1, progress: 3, end: 30, verdict: .recoverable, kept: [10, 20], backoff: 5),
                attempt(2, start: 35, progress: 36, end: 95, verdict: .ignore, kept: [60, 93], stop: 90),
            ], invocations: [(0, 100)])
        let g = Goodput(journal: j, now: at(200))
        #expect(g.wallSeconds == 100)
        #expect(g.startupSeconds == 3)
        #expect(g.productiveSeconds == 17 + 54)
        #expect(g.redoneSeconds == 10, "after attempt 1's last checkpoint (20) until its crash (30)")
        #expect(g.lostSeconds == 0)
        #expect(g.backoffSeconds == 5)
        #expect(g.stoppingSeconds == 5)
        #expect(g.overheadSeconds == 6)
        let sum = g.productiveSeconds + g.losses.map(\.seconds).reduce(0, +)
        #expect(abs(sum - g.wallSeconds) < 1e-9)
        #expect(abs(g.ratio - 0.71) < 1e-9)
        #expect(
            g.line
                == "goodput 71% of 1m40s: productive 1m11s; start-up 3.0s, redone 10s, backoff 5.0s, stopping 5.0s, vigil 6.0s"
        )
    }

    @Test(
        "the last attempt's work after its checkpoint is lost; a success keeps everything; a live attempt counts so far"
    )
    func lostAndLive() {
        let failed = journal(
            [attempt(1, start: 0, progress: 1, end: 11, verdict: .unrecoverable, kept: [4])], invocations: [(0, 12)])
        let g = Goodput(journal: failed, now: at(100))
        #expect(g.productiveSeconds == 3 && g.lostSeconds == 7 && g.redoneSeconds == 0)
        let none = journal(
            [attempt(1, start: 0, progress: nil, end: 10, verdict: .recoverable)], invocations: [(0, 10)])
        #expect(Goodput(journal: none, now: at(100)).startupSeconds == 10, "no progress at all: all start-up")
        let live = journal([attempt(1, start: 0, progress: 2, end: nil, verdict: nil)], invocations: [(0, nil)])
        let now = Goodput(journal: live, now: at(50))
        #expect(now.wallSeconds == 50 && now.productiveSeconds == 48 && now.startupSeconds == 2)
        let success = journal([attempt(1, start: 0, progress: 1, end: 9, verdict: .success)], invocations: [(0, 10)])
        #expect(Goodput(journal: success, now: at(100)).productiveSeconds == 8)
    }

    @Test("across invocations the gaps between them are not wall time")
    func invocations() {
        let j = journal(
            [
                attempt(1, start: 0, progress: 0, end: 10, verdict: .ignore, kept: [9.5], stop: 9),
                attempt(2, start: 1000, progress: 1001, end: 1010, verdict: .success),
            ], invocations: [(0, 10), (1000, 1011)])
        let g = Goodput(journal: j, now: at(5000))
        #expect(g.wallSeconds == 21)
        #expect(g.productiveSeconds == 9 + 9)
        #expect(g.stoppingSeconds == 1 && g.startupSeconds == 1)
    }
}
