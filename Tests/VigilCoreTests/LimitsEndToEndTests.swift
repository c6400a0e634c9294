import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// Time limits, the stop sequence with its checkpoint signal, stalls and live rules, with the
/// fixture trainer. Durations are tiny through the policy; nothing waits on a fixed sleep.
@Suite("Limits and stops, end to end", .serialized, .timeLimit(.minutes(2)))
struct LimitsEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-limits")
    }

    func policy(_ sections: String, base: String? = nil) throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try """
        {
          \(base.map { "extends: \"\($0)\"," } ?? "")
          restart: { maxRetries: 3, backoff: { initial: "10ms" } },
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { dir: "\(checkpoints)", pattern: "ckpt_step{step}.json", settle: "1s" },
          \(sections)
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func vigil(
        _ name: String, policy: String, _ vigilArgs: [String] = [], _ trainerArgs: [String]
    ) throws -> TestProcess {
        try TestProcess.vigil(
            ["run", "--name", name, "--log-dir", logs, "--policy", policy] + vigilArgs
                + ["--", TestSupport.python, TestSupport.fixtureTrainer, "--checkpoint-dir", checkpoints] + trainerArgs)
    }

    func seconds(_ a: Date, _ b: Date) -> Double { b.timeIntervalSince(a) }

    func event(_ attempt: Journal.Attempt, _ text: String) throws -> Journal.StopEvent {
        try #require(
            attempt.stopEvents?.first { $0.event.contains(text) },
            "no stop event '\(text)' in \(attempt.stopEvents ?? [])")
    }

    @Test("attempt limit: USR1 first, the new checkpoint is waited for, then TERM; the next attempt resumes from it")
    func attemptLimit() throws {
        defer { TestSupport.remove(dir) }
        // The stop begins 2.5 s in: time for a loaded machine to start Python and its USR1 handler.
        let policy = try policy(
            #"limits: { attempt: "4s" }, stop: { checkpointLead: "500ms", checkpointTimeout: "5s", termGrace: "1s" },"#)
        let vigil = try vigil(
            "limit", policy: policy, [], ["--steps", "100", "--step-time", "0.05", "--checkpoint-every", "0"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let attempts = try TestSupport.journal(logs, "limit").attempts
        #expect(attempts.count >= 2)
        let first = attempts[0]
        #expect(first.stopCause == "attempt-limit")
        #expect(first.verdict?.rule == "attempt-time-limit")
        let usr1 = try event(first, "sent USR1")
        let term = try event(first, "sent TERM")
        #expect(
            first.stopEvents?.firstIndex { $0.event.contains("USR1") }
                ?? 0 < first.stopEvents?.firstIndex { $0.event.contains("TERM") } ?? 0)
        // The phases, each within its bound: USR1 at limit − lead − grace, TERM once the checkpoint is
        // there (and not before limit − grace).
        #expect(seconds(first.startedAt, usr1.at) >= 2.4 && seconds(first.startedAt, usr1.at) < 3.5)
        #expect(seconds(first.startedAt, term.at) >= 2.95)
        #expect(seconds(usr1.at, term.at) < 5, "TERM waited for the whole checkpoint timeout")
        #expect(first.stopReason?.contains("checkpoint ckpt_step") == true)
        let saved = try #require(first.checkpointAfter)
        #expect(attempts[1].resumeFrom == saved)
        #expect(attempts[1].argv.suffix(2) == ["--resume", saved])
        #expect(first.signalsSent.map(\.signal).prefix(2) == ["USR1", "TERM"])
    }

    @Test("a trainer ignoring USR1 and TERM: USR1 skipped, TERM at once, KILL after the grace; no process left")
    func ignoresEverything() throws {
        defer { TestSupport.remove(dir) }
        let pidFile = dir + "/pids"
        let policy = try policy(#"stop: { checkpointTimeout: "600ms", termGrace: "600ms" },"#)
        let vigil = try vigil(
            "deaf", policy: policy, [],
            [
                "--usr1", "ignore", "--ignore-term", "--workers", "2", "--workers-ignore-term", "--pid-file", pidFile,
                "--hang-at", "1",
            ])
        #expect(vigil.waitForLine(containing: "hanging"))
        let pids = TestSupport.pids(in: pidFile)
        vigil.send(.terminate)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        #expect(pids.allSatisfy { !ProcessTable.isRunning($0) })
        let attempt = try TestSupport.journal(logs, "deaf").attempts[0]
        // It ignores USR1: asking would be pointless, so the stop goes on at once.
        _ = try event(attempt, "skipped the checkpoint signal: the trainer ignores SIGUSR1")
        let term = try event(attempt, "sent TERM")
        let kill = try event(attempt, "sent KILL")
        #expect(!attempt.signalsSent.contains { $0.signal == "USR1" })
        #expect(seconds(term.at, kill.at) >= 0.59 && seconds(term.at, kill.at) < 3)
        #expect(attempt.exit == .signaled(.kill))
    }

    @Test("runtime limit: exit 75 after an emergency checkpoint; rerunning continues each time and completes")
    func runtimeLimitAndReruns() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(#"stop: { checkpointLead: "300ms", checkpointTimeout: "5s", termGrace: "500ms" },"#)
        // 6 s of work; the stop begins 800 ms before each 3 s limit, so no two invocations can do it.
        let args = ["--steps", "60", "--step-time", "0.1", "--checkpoint-every", "0"]
        var codes: [Int32] = []
        for _ in 0..<20 {  // a loaded machine starts python slowly: each invocation still progresses
            let vigil = try vigil("budget", policy: policy, ["--time-limit", "3s"], args)
            let code = try #require(vigil.exitCode(), "\(vigil.output)")
            codes.append(code)
            if code != 75 { break }
            #expect(vigil.stderr.contains("saved ckpt_step"), "no emergency checkpoint: \(vigil.stderr)")
        }
        #expect(codes.last == 0, "\(codes)")
        #expect(codes.dropLast().allSatisfy { $0 == 75 } && codes.count >= 3)
        let journal = try TestSupport.journal(logs, "budget")
        #expect(journal.state == .succeeded)
        #expect(journal.invocations.count == codes.count)
        // No work redone beyond the last checkpoint: each attempt starts right after the step its
        // predecessor saved on the signal.
        for (previous, next) in zip(journal.attempts, journal.attempts.dropFirst()) {
            #expect(previous.stopCause == "runtime-limit" || previous.verdict?.verdict == .success)
            #expect(next.resumeFrom == previous.checkpointAfter)
            let log = TestSupport.read("\(logs)/budget/\(next.log)")
            let step = try #require(next.resumeStep)
            #expect(log.contains("resumed from step \(step)"))
            #expect(log.contains("step \(step + 1)/60"))
            #expect(!log.contains("step \(step)/60 "), "step \(step) was trained twice")
        }
    }

    @Test("limits.total spent across invocations: exit 2 with the reason")
    func totalBudget() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(
            #"limits: { total: "2s" }, stop: { checkpointLead: "200ms", checkpointTimeout: "3s", termGrace: "500ms" },"#
        )
        let args = ["--steps", "100", "--step-time", "0.05", "--checkpoint-every", "0"]
        let first = try vigil("total", policy: policy, ["--time-limit", "1.2s"], args)
        #expect(first.exitCode() == 75, "\(first.output)")
        let second = try vigil("total", policy: policy, ["--time-limit", "10s"], args)
        #expect(second.exitCode() == 2, "\(second.output)")
        #expect(second.stderr.contains("total compute budget (2s) is spent"))
        let journal = try TestSupport.journal(logs, "total")
        #expect(journal.state == .gaveUp)
        // The second invocation's stop began checkpointLead + termGrace before the budget's end, and
        // SIGTERM went out termGrace before it.
        #expect(journal.computeSeconds >= 1.45 && journal.computeSeconds < 4, "\(journal.computeSeconds)")
        #expect(journal.attempts.last?.stopCause == "total-budget")
    }

    @Test(
        "SIGTERM and SIGUSR1 to vigil run the checkpoint sequence, then exit 75", arguments: [Signal.terminate, .user1])
    func signalsToVigil(signal: Signal) throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(#"stop: { checkpointTimeout: "5s", termGrace: "2s" },"#)
        let vigil = try vigil("sig", policy: policy, [], ["--steps", "3", "--hang-at", "2", "--checkpoint-every", "0"])
        #expect(vigil.waitForLine(containing: "hanging"))
        vigil.send(signal)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        let attempt = try TestSupport.journal(logs, "sig").attempts[0]
        #expect(attempt.stopCause == "signal")
        #expect(attempt.signalsSent.map(\.signal).prefix(2) == ["USR1", "TERM"])
        #expect(attempt.checkpointAfter == "\(checkpoints)/ckpt_step2.json")
        #expect(attempt.stopEvents?.contains { $0.event.hasPrefix("stop: vigil received \(signal)") } == true)
    }

    @Test("a hung trainer (a Pool whose worker died) is detected, its stacks are in the journal, and it is restarted")
    func stall() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(#"limits: { stall: "1s" }, stop: { termGrace: "1s" },"#, base: "python")
        let vigil = try vigil(
            "hung", policy: policy, [],
            [
                "--steps", "3", "--pool-hang-at", "2", "--hang-times", "1", "--state-file", dir + "/state",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let attempts = try TestSupport.journal(logs, "hung").attempts
        #expect(attempts.count == 2)
        let hung = attempts[0]
        #expect(hung.stopCause == "stall")
        #expect(hung.verdict?.rule == "hung")
        #expect(hung.verdict?.verdict == .recoverable)
        let dump = try #require(hung.stackDump)
        #expect(dump.contains("Fatal Python error"))
        #expect(dump.contains("in pool_hang"), "\(dump)")
        #expect(dump.contains("multiprocessing/pool.py"))
        let abort = try event(hung, "sent ABRT to the trainer")
        #expect(seconds(hung.startedAt, abort.at) >= 1)
        #expect(attempts[1].resumeStep == 1)  // it hung in step 2, before checkpointing it
    }

    @Test(
        "a loss turning to nan: the live rule stops the trainer within a line, the post-NaN checkpoint is not resumed from"
    )
    func nanLoss() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy("", base: "pytorch")
        let vigil = try vigil(
            "nan", policy: policy, [],
            [
                "--steps", "8", "--step-time", "0.2", "--nan-at", "4", "--nan-times", "1", "--state-file",
                dir + "/state",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let attempts = try TestSupport.journal(logs, "nan").attempts
        #expect(attempts.count == 2)
        let first = attempts[0]
        #expect(first.stopCause == "live-rule")
        #expect(first.verdict?.rule == "diverged")
        #expect(first.verdict?.reason.contains("loss=nan") == true)
        #expect(first.signalsSent.first?.signal == "TERM", "a poisoned state gets no checkpoint signal")
        let log = TestSupport.read("\(logs)/nan/\(first.log)")
        #expect(log.contains("step 4/8 loss=nan"))
        #expect(!log.contains("step 5/8"), "the trainer ran on after the NaN line")
        let resumed = try #require(attempts[1].resumeStep)
        #expect(resumed < 4)
    }

    @Test("checkpoints written after the NaN line are quarantined as poisoned and never resumed from")
    func poisonedCheckpoints() throws {
        defer { TestSupport.remove(dir) }
        // The trainer ignores SIGTERM, so it writes more checkpoints after the NaN until SIGKILL.
        let policy = try policy(#"stop: { termGrace: "700ms" },"#, base: "pytorch")
        let vigil = try vigil(
            "poison", policy: policy, [],
            [
                "--steps", "12", "--step-time", "0.1", "--nan-at", "4", "--nan-times", "1", "--state-file",
                dir + "/state",
                "--ignore-term",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let attempts = try TestSupport.journal(logs, "poison").attempts
        #expect(attempts.count == 2)
        let poisoned = (attempts[0].quarantined ?? []).filter { $0.reason.hasPrefix("poisoned") }.map(\.name)
        #expect(poisoned.contains("ckpt_step4.json"), "\(attempts[0].quarantined ?? [])")
        #expect(poisoned.contains("ckpt_step5.json"))
        #expect(!poisoned.contains("ckpt_step2.json"))
        for name in poisoned {
            #expect(FileManager.default.fileExists(atPath: "\(checkpoints)/.quarantine/\(name)"))
        }
        let resumed = try #require(attempts[1].resumeStep)
        #expect(resumed == 3 || resumed == 2, "resumed from step \(resumed)")
        #expect(TestSupport.read("\(logs)/poison/\(attempts[1].log)").contains("step 12/12 loss="))
    }

    @Test("no attempt starts with less than limits.minAttempt left: exit 75 at once")
    func minAttempt() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(#"limits: { minAttempt: "10m" },"#)
        let vigil = try vigil("short", policy: policy, ["--time-limit", "5m"], ["--steps", "1"])
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        #expect(vigil.stderr.contains("less than limits.minAttempt (10m) is left"))
        let journal = try TestSupport.journal(logs, "short")
        #expect(journal.attempts.isEmpty)
        #expect(journal.state == .stopped)
    }

    @Test("the runtime deadline: the earliest of runtime and --deadline; a SLURM job's end when neither is given")
    func runtimeDeadline() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        var limits = Policy.Limits()
        #expect(Supervisor.runtimeDeadline(limits, environment: [:], start: start) == nil)
        let slurm = ["SLURM_JOB_END_TIME": "1003600"]
        #expect(
            Supervisor.runtimeDeadline(limits, environment: slurm, start: start)
                == Date(timeIntervalSince1970: 1_003_600))
        limits.runtime = 60
        #expect(Supervisor.runtimeDeadline(limits, environment: slurm, start: start) == start.addingTimeInterval(60))
        limits.deadline = 1_000_030
        #expect(
            Supervisor.runtimeDeadline(limits, environment: [:], start: start) == Date(timeIntervalSince1970: 1_000_030)
        )
    }

    @Test("--deadline: a time already past stops before any attempt (75); a malformed one is a usage error (64)")
    func deadlineFlag() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy("")
        let past = String(Int(Date().timeIntervalSince1970) - 60)
        let late = try vigil("late", policy: policy, ["--deadline", past], ["--steps", "1"])
        #expect(late.exitCode() == 75, "\(late.output)")
        #expect(try TestSupport.journal(logs, "late").attempts.isEmpty)
        let iso = Journal.timestamp(Date().addingTimeInterval(-60))
        let lateISO = try vigil("late-iso", policy: policy, ["--deadline", iso], ["--steps", "1"])
        #expect(lateISO.exitCode() == 75, "\(lateISO.output)")
        let bad = try vigil("bad", policy: policy, ["--deadline", "tomorrow-ish"], ["--steps", "1"])
        #expect(bad.exitCode() == 64)
        #expect(bad.stderr.contains("--deadline expects Unix seconds"))
    }
}
