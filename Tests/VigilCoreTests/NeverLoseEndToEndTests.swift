import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// The night's work survives what Vigil itself does: its stops, its deadlines, its own death. Real
/// trainers (the fixture) writing real checkpoints — in a format vigil cannot read, so only what it
/// observed can prove them complete.
@Suite("Never lose work, end to end", .serialized, .timeLimit(.minutes(3)))
struct NeverLoseEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-never-lose")
    }

    func policy(
        _ sections: String, pattern: String = "step_{step}.ck", settle: String = "2s",
        resume: String = #"args: ["--resume", "{checkpoint}"]"#
    ) throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try """
        {
          restart: { maxRetries: 3, backoff: { initial: "10ms" } },
          resume: { \(resume) },
          checkpoints: { dir: "\(checkpoints)", pattern: "\(pattern)", settle: "\(settle)" },
          \(sections)
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func vigil(
        _ name: String, policy: String, _ vigilArgs: [String] = [], _ trainerArgs: [String],
        pattern: String = "step_{step}.ck"
    ) throws -> TestProcess {
        try TestProcess.vigil(
            ["run", "--name", name, "--log-dir", logs, "--policy", policy] + vigilArgs
                + [
                    "--", TestSupport.python, TestSupport.fixtureTrainer, "--checkpoint-dir", checkpoints,
                    "--checkpoint-pattern", pattern,
                ] + trainerArgs)
    }

    func events(_ attempt: Journal.Attempt) -> [String] { (attempt.stopEvents ?? []).map(\.event) }

    @Test("a trainer that finishes between the checkpoint signal and SIGTERM succeeded: exit 0, not 75")
    func finishesDuringTheStop() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(#"stop: { checkpointLead: "2s", checkpointTimeout: "5s", termGrace: "500ms" },"#)
        // The stop begins 2.5 s in: time for a loaded machine to start Python and its USR1 handler.
        let vigil = try vigil(
            "finish", policy: policy, ["--time-limit", "5s"],
            ["--steps", "400", "--step-time", "0.05", "--checkpoint-every", "0", "--finish-on-checkpoint-signal"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "finish")
        #expect(journal.state == .succeeded)
        let attempt = try #require(journal.attempts.first)
        #expect(journal.attempts.count == 1)
        #expect(attempt.exit == .exited(0))
        #expect(attempt.verdict?.verdict == .success)
        #expect(attempt.signalsSent.map(\.signal) == ["USR1"], "only the checkpoint signal was sent")
        #expect(events(attempt).contains { $0.contains("finished (exit 0) before vigil sent it a terminating signal") })
        #expect(
            TestSupport.read("\(logs)/finish/\(attempt.log)").contains("finishing early after the checkpoint signal"))
    }

    @Test(
        "checkpoints completed well before a foreign SIGKILL are resumed from, in place or atomic",
        arguments: ["in-place", "atomic"])
    func foreignKill(saveMode: String) throws {
        defer { TestSupport.remove(dir) }
        let pidFile = dir + "/pids"
        // settle 10s: by time alone, every checkpoint of this run would be "possibly partial".
        let policy = try policy("", settle: "10s")
        let vigil = try vigil(
            "foreign-\(saveMode)", policy: policy, [],
            ["--steps", "5", "--step-time", "1.5", "--save-mode", saveMode, "--pid-file", pidFile])
        #expect(vigil.waitForLine(containing: "step 4/5"), "\(vigil.output)")
        let trainer = try #require(TestSupport.pids(in: pidFile).first)
        kill(-trainer, SIGKILL)  // from outside: vigil did not send it
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "foreign-\(saveMode)")
        #expect(journal.attempts.count == 2)
        let killed = journal.attempts[0]
        #expect(killed.exit == .signaled(.kill))
        let written = try #require(killed.checkpointsWritten?.first { $0.name == "step_3.ck" }, "\(killed)")
        #expect(written.evidence == (saveMode == "atomic" ? "renamed-in" : "closed-before-stop"), "\(written)")
        // Step 4 was saved just before the kill: renamed in, it counts; closed in place, it cannot.
        let resumed = try #require(journal.attempts[1].resumeStep)
        #expect(saveMode == "atomic" ? (resumed == 3 || resumed == 4) : resumed == 3, "resumed from \(resumed)")
        #expect((killed.quarantined ?? []).filter { $0.step <= 3 }.isEmpty, "\(killed.quarantined ?? [])")
    }

    @Test(
        "an emergency checkpoint in an unknown format, saved atomically on USR1 and again on SIGTERM, carries a short runtime limit to completion"
    )
    func emergencyCheckpointsAcrossInvocations() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(#"stop: { checkpointLead: "1s", checkpointTimeout: "5s", termGrace: "500ms" },"#)
        let args = [
            "--steps", "40", "--step-time", "0.1", "--checkpoint-every", "0", "--on-term-die", "--checkpoint-on-term",
        ]
        var codes: [Int32] = []
        for _ in 0..<25 {  // a loaded machine starts python slowly: each invocation still progresses
            let vigil = try vigil("emergency", policy: policy, ["--time-limit", "2.5s"], args)
            let code = try #require(vigil.exitCode(), "\(vigil.output)")
            codes.append(code)
            if code != 75 { break }
            #expect(!vigil.stderr.contains("quarantined"), "\(vigil.stderr)")
        }
        #expect(codes.last == 0, "\(codes)")
        #expect(codes.count >= 2 && codes.dropLast().allSatisfy { $0 == 75 }, "\(codes)")
        let journal = try TestSupport.journal(logs, "emergency")
        #expect(journal.state == .succeeded)
        for (previous, next) in zip(journal.attempts, journal.attempts.dropFirst()) {
            #expect(previous.stopCause == "runtime-limit")
            #expect(previous.signalsSent.map(\.signal).prefix(2) == ["USR1", "TERM"])
            // Both the USR1 save and the one on SIGTERM were renamed into place: both count.
            let written = previous.checkpointsWritten ?? []
            #expect(written.count >= 2, "\(written)")
            #expect(written.allSatisfy { $0.evidence == "renamed-in" }, "\(written)")
            #expect(previous.quarantined == nil)
            // The next attempt resumes from the newest: the one saved on SIGTERM.
            let newest = try #require(written.max { $0.step < $1.step })
            #expect(next.resumeStep == newest.step, "\(next.resumeStep ?? -1) vs \(newest)")
        }
    }

    @Test(
        "SIGKILL while a checkpoint is half-written and still open: it is quarantined, the previous one is resumed from"
    )
    func halfWritten() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy("")
        let vigil = try vigil(
            "half", policy: policy, [],
            ["--steps", "5", "--die-writing-at", "3", "--die-writing-times", "1", "--state-file", dir + "/state"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "half")
        #expect(journal.attempts.count == 2)
        let first = journal.attempts[0]
        let quarantined = try #require(first.quarantined?.first, "\(first)")
        #expect(quarantined.name == "step_3.ck")
        #expect(
            quarantined.reason.contains("possibly partial")
                && quarantined.reason.contains("when the trainer was killed"), "\(quarantined.reason)")
        #expect(journal.attempts[1].resumeStep == 2)
        #expect(FileManager.default.fileExists(atPath: "\(checkpoints)/.quarantine/step_3.ck"))
    }

    @Test(
        "a trainer that does not handle USR1, or not yet: never killed by it; the journal says why it was skipped",
        arguments: [["--usr1", "default"], ["--handler-delay", "60"]])
    func deafToTheCheckpointSignal(trainerArgs: [String]) throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(#"stop: { checkpointTimeout: "5s", termGrace: "2s" },"#)
        let vigil = try vigil(
            "deaf", policy: policy, [], ["--steps", "3", "--hang-at", "1", "--workers", "1"] + trainerArgs)
        #expect(vigil.waitForLine(containing: "hanging"), "\(vigil.output)")
        vigil.send(.terminate)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        let attempt = try #require(try TestSupport.journal(logs, "deaf").attempts.first)
        #expect(attempt.exit == .signaled(.terminate), "killed by \(String(describing: attempt.exit)), not by SIGTERM")
        #expect(!attempt.signalsSent.contains { $0.signal == "USR1" })
        #expect(
            events(attempt).contains {
                $0.contains("skipped the checkpoint signal: the trainer does not handle SIGUSR1")
            })
        #expect(vigil.stderr.contains("not sending SIGUSR1"))
    }

    @Test("--time-limit no longer than checkpointLead + termGrace is refused (64); in a policy file, 78")
    func limitTooShort() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy("")
        let flag = try vigil("short", policy: policy, ["--time-limit", "3s"], ["--steps", "1"])
        #expect(flag.exitCode() == 64, "\(flag.output)")
        #expect(
            flag.stderr.contains("--time-limit 3s is not longer than stop.checkpointLead (2m) + stop.termGrace (10s)"))
        let file = try self.policy(#"limits: { runtime: "3s" },"#)
        let fromFile = try vigil("short-file", policy: file, [], ["--steps", "1"])
        #expect(fromFile.exitCode() == 78, "\(fromFile.output)")
        #expect(fromFile.stderr.contains("limits.runtime: 3s is not longer than"))
        #expect(!FileManager.default.fileExists(atPath: "\(logs)/short/journal.json"), "nothing started")
    }

    @Test("random bytes named model_5.pt are invalid, quarantined and not resumed from; the zip next to it is")
    func randomBytesNamedLikeACheckpoint() throws {
        defer { TestSupport.remove(dir) }
        try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
        let zipped = try TestProcess([
            TestSupport.python, "-c",
            "import zipfile, sys; z = zipfile.ZipFile(sys.argv[1], 'w'); z.writestr('archive/data.pkl', b'x' * 64); z.close()",
            "\(checkpoints)/model_3.pt",
        ])
        #expect(zipped.exitCode() == 0)
        var random = [UInt8](repeating: 0, count: 100)
        for index in random.indices { random[index] = UInt8.random(in: 0...255) }
        random[0] = 0x13  // neither a zip (PK) nor a pickle (0x80)
        try Data(random).write(to: URL(fileURLWithPath: "\(checkpoints)/model_5.pt"))
        let policy = try policy(
            "", pattern: "model_{step}.pt",
            resume: #"args: ["--resume", "{checkpoint}"], when: "when-checkpoint-exists""#)
        let vigil = try TestProcess.vigil(
            [
                "run", "--name", "random", "--log-dir", logs, "--policy", policy, "--checkpoint-dir", checkpoints, "--",
                TestSupport.python, "-c", "import sys; print('argv', sys.argv[1:])",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let attempt = try #require(try TestSupport.journal(logs, "random").attempts.first)
        #expect(attempt.resumeFrom == "\(checkpoints)/model_3.pt", "\(attempt)")
        let quarantined = try #require(attempt.quarantined?.first)
        #expect(quarantined.name == "model_5.pt")
        #expect(quarantined.reason.contains("not a PyTorch checkpoint"), "\(quarantined.reason)")
    }
}
