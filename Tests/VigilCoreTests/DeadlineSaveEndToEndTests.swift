import Foundation
import Testing

@testable import VigilCore

/// Saves that take time, with the fixture trainer (`--save-time`: each save is written in ten
/// pieces over that long): the checkpoint lead measured from them, the stall that waits for one.
@Suite("Slow saves and deadlines, end to end", .serialized, .timeLimit(.minutes(3)))
struct DeadlineSaveEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-saves")
    }

    func policy(_ stop: String, extra: String = "") throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try """
        {
          restart: { maxRetries: 3, backoff: { initial: "10ms" } },
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { pattern: "ckpt_step{step}.json" },
          stop: { \(stop) },
          \(extra)
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func vigil(_ name: String, policy: String, _ vigilArgs: [String], _ trainerArgs: [String]) throws -> TestProcess {
        try TestProcess.vigil(
            ["run", "--name", name, "--log-dir", logs, "--checkpoint-dir", checkpoints + "/" + name, "--policy", policy]
                + vigilArgs + ["--", TestSupport.python, TestSupport.fixtureTrainer] + trainerArgs)
    }

    /// Saves take 3 s. Two periodic saves early (steps 20 and 40), then none: the emergency save on
    /// the checkpoint signal is the only one left before the 20 s limit.
    let slowTrainer = [
        "--steps", "1000", "--step-time", "0.1", "--checkpoint-every", "20", "--periodic-saves", "2", "--save-time", "3",
    ]

    @Test("checkpointLead auto: after the 3 s saves the signal comes early enough; a fixed 1 s lead cuts the save")
    func adaptiveLead() throws {
        defer { TestSupport.remove(dir) }
        let auto = try vigil(
            "auto", policy: try policy(#"checkpointLead: "auto(min: 1s)", checkpointTimeout: "10s", termGrace: "1s""#),
            ["--time-limit", "20s"], slowTrainer)
        #expect(auto.exitCode() == 75, "\(auto.output)")
        let measured = try TestSupport.journal(logs, "auto")
        let first = try #require(measured.attempts.first)
        #expect(
            first.checkpointLead?.why.hasPrefix("auto: p95 of ") == true,
            "\(String(describing: first.checkpointLead)) \(measured.saveTimings ?? [])")
        #expect(first.checkpointLead.map { $0.seconds >= 6 } == true)
        #expect((measured.saveTimings ?? []).prefix(2).allSatisfy { $0.from == .firstWrite && $0.seconds >= 2.5 })
        #expect(first.stopReason?.contains("checkpoint ckpt_step") == true, "\(first.stopEvents ?? [])")
        let saved = try #require(first.checkpointAfter)
        #expect(!saved.hasSuffix("ckpt_step40.json"), "the emergency save is the newest checkpoint")
        #expect(auto.stderr.contains("vigil: checkpoint lead now"))

        // The next invocation starts with the measured lead.
        let again = try vigil(
            "auto", policy: try policy(#"checkpointLead: "auto(min: 1s)", checkpointTimeout: "10s", termGrace: "1s""#),
            ["--time-limit", "14s"], slowTrainer.dropLast(4) + ["--periodic-saves", "0", "--save-time", "3"])
        #expect(again.exitCode() == 75, "\(again.output)")
        let second = try #require(try TestSupport.journal(logs, "auto").attempts.last)
        #expect(second.checkpointLead?.why.hasPrefix("auto: p95 of") == true)
        #expect(second.stopReason?.contains("checkpoint ckpt_step") == true, "\(second.stopEvents ?? [])")

        // The same trainer with a fixed lead of 1 s: its emergency save cannot finish.
        let fixed = try vigil(
            "fixed", policy: try policy(#"checkpointLead: "1s", checkpointTimeout: "10s", termGrace: "1s""#),
            ["--time-limit", "20s"], slowTrainer)
        #expect(fixed.exitCode() == 75, "\(fixed.output)")
        let cut = try #require(try TestSupport.journal(logs, "fixed").attempts.first)
        #expect(cut.checkpointLead?.why == "stop.checkpointLead (1s)")
        #expect(cut.stopEvents?.contains { $0.event.contains("no new checkpoint within") } == true, "\(cut.stopEvents ?? [])")
        #expect(cut.stopEvents?.contains { $0.event.hasPrefix("a save is under way") } == true)
        #expect(cut.checkpointAfter?.hasSuffix("ckpt_step40.json") == true, "\(String(describing: cut.checkpointAfter))")
    }

    @Test("a save in progress when the stall timer would fire: no stall verdict")
    func saveHoldsStall() throws {
        defer { TestSupport.remove(dir) }
        // Silent for 4 s during each save, with a 2 s stall timeout.
        let vigil = try vigil(
            "quiet", policy: try policy(#"checkpointTimeout: "30s""#, extra: #"limits: { stall: "2s" },"#), [],
            ["--steps", "6", "--step-time", "0.05", "--checkpoint-every", "3", "--save-time", "4"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "quiet")
        #expect(journal.attempts.count == 1, "\(journal.attempts.map(\.verdict))")
        #expect(journal.attempts[0].stopCause == nil)
        #expect((journal.saveTimings ?? []).count == 2)
    }
}
