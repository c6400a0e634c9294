import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// What Vigil owns beyond the trainer: processes that escape its group, a stop interrupted by
/// Vigil's own death, a log volume that fills up, directories that are not what they seem.
@Suite("Processes, record and directories owned, end to end", .serialized, .timeLimit(.minutes(3)))
struct OwnershipEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-owned")
    }

    func policy(_ sections: String) throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try """
        {
          restart: { maxRetries: 3, backoff: { initial: "10ms" } },
          resume: { args: ["--resume", "{checkpoint}"] },
          \(sections)
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var checkpointSection: String { #"checkpoints: { dir: "\#(checkpoints)", pattern: "ckpt_step{step}.json" },"# }

    func vigil(
        _ name: String, policy: String, _ vigilArgs: [String] = [], _ trainerArgs: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> TestProcess {
        try TestProcess.vigil(
            ["run", "--name", name, "--log-dir", logs, "--policy", policy] + vigilArgs
                + ["--", TestSupport.python, TestSupport.fixtureTrainer, "--checkpoint-dir", checkpoints] + trainerArgs,
            environment: environment)
    }

    @Test(
        "a setsid grandchild and a double-fork daemon never outlive their attempt: three retries leave no escapee",
        arguments: ["attempt cgroup where possible", "subreaper only"])
    func escapees(tracking: String) throws {
        defer { TestSupport.remove(dir) }
        let escapeeFile = dir + "/escapees"
        let policy = try policy(checkpointSection + #"stop: { termGrace: "2s" },"#)
        var environment = ProcessInfo.processInfo.environment
        if tracking == "subreaper only" { environment["VIGIL_NO_CGROUP"] = "1" }
        let vigil = try vigil(
            "escape", policy: policy, [],
            [
                "--steps", "3", "--setsid-child", "--daemon", "--escapee-file", escapeeFile, "--crash-at", "2",
                "--crash-times", "3", "--state-file", dir + "/state",
            ], environment: environment)
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "escape")
        #expect(journal.attempts.count == 4)
        for attempt in journal.attempts {
            // Each attempt found none of the earlier attempts' escapees alive…
            let log = TestSupport.read("\(logs)/escape/\(attempt.log)")
            #expect(log.contains("escapees alive: 0 []"), "attempt \(attempt.number): \(log.prefix(300))")
            // …and its own two were stopped and recorded.
            let escaped = (attempt.leftovers ?? []).filter { $0.foundBy != "group" }
            #expect(escaped.count == 2, "attempt \(attempt.number): \(attempt.leftovers ?? [])")
            if tracking == "subreaper only" {
                #expect(attempt.cgroup == nil)
                #expect(escaped.allSatisfy { $0.foundBy == "reparented" }, "\(escaped)")
            }
            #expect(escaped.allSatisfy { $0.ended.contains("SIGTERM") }, "\(escaped)")
        }
        let all = TestSupport.pids(in: escapeeFile)
        #expect(all.count == 8)
        #expect(all.allSatisfy { !ProcessTable.isRunning($0) }, "escapees alive after vigil exited")
    }

    @Test(
        "vigil SIGKILLed during the checkpoint step: the journal shows the stop; the rerun checkpoints the orphan before SIGTERM"
    )
    func killedDuringTheCheckpointStep() throws {
        defer { TestSupport.remove(dir) }
        let signals = dir + "/signals"
        let policy = try policy(checkpointSection + #"stop: { checkpointTimeout: "20s", termGrace: "5s" },"#)
        let args = [
            "--steps", "4", "--hang-at", "2", "--hang-times", "1", "--state-file", dir + "/state", "--checkpoint-every",
            "0", "--checkpoint-delay", "3", "--signal-log", signals, "--on-term-exit", "143",
        ]
        let first = try vigil("orphan", policy: policy, [], args)
        #expect(first.waitForLine(containing: "hanging"), "\(first.output)")
        first.send(.terminate)
        #expect(TestSupport.eventually { TestSupport.read(signals).contains("SIGUSR1") })
        kill(first.pid, SIGKILL)
        _ = first.waitForExit()
        let interrupted = try #require(try TestSupport.journal(logs, "orphan").attempts.first)
        #expect(interrupted.isOpen)
        #expect(interrupted.stopCause == "signal", "the stop was journaled before its signal")
        #expect(interrupted.signalsSent.map(\.signal) == ["USR1"])

        let second = try vigil("orphan", policy: policy, [], args)
        #expect(second.exitCode() == 0, "\(second.output)")
        let journal = try TestSupport.journal(logs, "orphan")
        let orphan = journal.attempts[0]
        #expect(orphan.verdict?.rule == "orphaned")
        #expect(orphan.signalsSent.map(\.signal).prefix(3) == ["USR1", "USR1", "TERM"], "\(orphan.signalsSent)")
        // What the trainer itself received: the rerun's checkpoint signal before its SIGTERM.
        let received = TestSupport.read(signals).split(separator: "\n").map(String.init)
        #expect(received == ["SIGUSR1", "SIGUSR1", "SIGTERM"], "\(received)")
        #expect((orphan.stopEvents ?? []).contains { $0.event.contains("the orphaned trainer saved ckpt_step2.json") })
        #expect(journal.attempts[1].resumeStep == 2)
    }

    @Test("logs on a full 4 MiB tmpfs: logging pauses, the trainer finishes, the retry happens, the journal is right")
    func fullLogVolume() throws {
        defer {
            umount(logs)
            TestSupport.remove(dir)
        }
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        guard mount("tmpfs", logs, "tmpfs", 0, "size=4m") == 0 else {
            let why = String(cString: strerror(errno))
            #expect(ProcessInfo.processInfo.environment["CI"] != "true", "CI must be able to mount a tmpfs: \(why)")
            print("skipped: cannot mount a tmpfs here (\(why)); run as root")
            return
        }
        let policy = try policy(checkpointSection + #"output: { keepFree: "1MiB", logMaxBytes: 0 },"#)
        let vigil = try vigil(
            "full", policy: policy, ["--quiet"],
            [
                "--flood", "\(12 << 20)", "--flood-then-train", "--steps", "3", "--crash-at", "2", "--crash-times", "1",
                "--state-file", dir + "/state",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "full")
        #expect(journal.state == .succeeded)
        #expect(journal.attempts.count == 2)
        #expect(journal.attempts[0].verdict?.verdict == .recoverable)
        #expect(journal.attempts[1].verdict?.verdict == .success)
        for attempt in journal.attempts {
            #expect((attempt.logBytesDropped ?? 0) > 0, "\(attempt)")
            #expect((attempt.logEvents ?? []).contains { $0.event.hasPrefix("log writing paused") })
        }
        #expect(FileManager.default.fileExists(atPath: "\(logs)/full/report.md"))
        #expect(vigil.stderr.contains("log writing paused"))
    }

    @Test("preserved/ and .quarantine/ as symbolic links: nothing outside is touched, the refusals are journaled")
    func symlinkedSubdirectories() throws {
        defer { TestSupport.remove(dir) }
        let outside = dir + "/outside"
        try FileManager.default.createDirectory(atPath: outside + "/nested", withIntermediateDirectories: true)
        for name in ["ckpt_step1.json", "ckpt_step2.json", "notes.txt", "nested/ckpt_step3.json"] {
            try "{\"step\": 1}\n".write(toFile: "\(outside)/\(name)", atomically: false, encoding: .utf8)
        }
        func snapshot() -> [String: String] {
            var files: [String: String] = [:]
            for relative in FileManager.default.subpaths(atPath: outside) ?? [] {
                files[relative] = (try? SHA256.hex(ofFile: "\(outside)/\(relative)")) ?? "dir"
            }
            return files
        }
        let before = snapshot()
        try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(checkpoints)/preserved", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: "\(checkpoints)/.quarantine", withDestinationPath: outside)
        let policy = try policy(
            #"checkpoints: { dir: "\#(checkpoints)", pattern: "ckpt_step{step}.json", preserve: true, keepLast: 1 },"#)
        let vigil = try vigil(
            "links", policy: policy, [],
            ["--steps", "4", "--die-writing-at", "3", "--die-writing-times", "1", "--state-file", dir + "/state"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        #expect(snapshot() == before, "the directory behind the links changed")
        let journal = try TestSupport.journal(logs, "links")
        let failures = journal.attempts.flatMap { $0.checkpointFailures ?? [] }
        #expect(failures.contains { $0.reason.contains("symbolic link") }, "\(failures)")
        #expect(vigil.stderr.contains("symbolic link"))
    }
}
