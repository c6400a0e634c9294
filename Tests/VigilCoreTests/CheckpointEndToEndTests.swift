import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// Checkpoint discovery, validity, quarantine, templates, progress, retention and preservation with
/// the fixture trainer writing real files.
@Suite("Checkpoints, end to end", .serialized, .timeLimit(.minutes(2)))
struct CheckpointEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-ckpt")
    }

    /// A policy file with a checkpoint section for the fixture's `ckpt_step{step}.json`.
    func policy(_ extra: String = "", resume: String = #"args: ["--resume", "{checkpoint}"]"#) throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try """
        {
          restart: { maxRetries: 3, backoff: { initial: "10ms" } },
          resume: { \(resume) },
          checkpoints: { dir: "\(checkpoints)", pattern: "ckpt_step{step}.json", metadata: "{stem}.meta.json", settle: "1s", \(extra) },
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

    func names(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    @Test(
        "killed while writing its newest checkpoint: resumes from the previous valid one, the partial one is quarantined"
    )
    func killedMidWrite() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try vigil(
            "partial", policy: try policy(), [],
            [
                "--steps", "5", "--die-writing-at", "3", "--die-writing-times", "1", "--state-file", dir + "/state",
                "--print-env", "--metadata",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "partial")
        #expect(journal.attempts.count == 2)
        let first = journal.attempts[0]
        #expect(first.exit == .signaled(.kill))
        let quarantined = try #require(first.quarantined?.first)
        #expect(quarantined.name == "ckpt_step3.json")
        #expect(quarantined.reason.contains("JSON") || quarantined.reason.contains("partial"), "\(quarantined.reason)")
        #expect(FileManager.default.fileExists(atPath: "\(checkpoints)/.quarantine/ckpt_step3.json"))
        #expect(TestSupport.read("\(checkpoints)/.quarantine/ckpt_step3.json.reason").contains(quarantined.reason))
        #expect(first.checkpointAfter == "\(checkpoints)/ckpt_step2.json")
        let second = journal.attempts[1]
        #expect(second.resumeFrom == "\(checkpoints)/ckpt_step2.json")
        #expect(second.resumeStep == 2)
        #expect(second.argv.suffix(2) == ["--resume", "\(checkpoints)/ckpt_step2.json"])
        // VIGIL_RESUME_FROM is the same path the template got.
        let log = TestSupport.read("\(logs)/partial/attempt-002.log")
        let envLine = try #require(log.split(separator: "\n").first { $0.hasPrefix("env: ") })
        let env = try JSONDecoder().decode([String: String].self, from: Data(envLine.dropFirst(5).utf8))
        #expect(env["VIGIL_RESUME_FROM"] == "\(checkpoints)/ckpt_step2.json")
        #expect(log.contains("resumed from step 2"))
        #expect(vigil.stderr.contains("quarantined checkpoint ckpt_step3.json"))
    }

    @Test("a new checkpoint refills the budget: crashing after every checkpoint still completes with max-retries 1")
    func progressRefillsBudget() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try vigil(
            "progress", policy: try policy(), ["--max-retries", "1"], ["--steps", "6", "--crash-after-checkpoint"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "progress")
        #expect(journal.attempts.count == 6)
        #expect(journal.attempts.dropLast().allSatisfy { $0.madeProgress == true })
        #expect(journal.attempts.map(\.resumeStep) == [nil, 1, 2, 3, 4, 5])

        let noRefill = dir + "/no-refill.json5"
        try TestSupport.read(try policy()).replacingOccurrences(
            of: "maxRetries: 3", with: "maxRetries: 1, resetOnProgress: false"
        )
        .write(toFile: noRefill, atomically: true, encoding: .utf8)
        TestSupport.remove(checkpoints)
        let strict = try self.vigil("strict", policy: noRefill, [], ["--steps", "6", "--crash-after-checkpoint"])
        #expect(strict.exitCode() == 2, "\(strict.output)")
        #expect(try TestSupport.journal(logs, "strict").attempts.count == 2)
    }

    @Test("preserve: a trainer deleting each checkpoint after writing the next loses none of them")
    func preserve() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try vigil(
            "keep", policy: try policy("preserve: true"), [],
            ["--steps", "6", "--delete-previous", "--metadata", "--step-time", "0.02"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        #expect(names(checkpoints).filter { $0.hasPrefix("ckpt_step") } == ["ckpt_step6.json", "ckpt_step6.meta.json"])
        let preserved = names(checkpoints + "/preserved")
        for step in 1...6 {
            #expect(preserved.contains("ckpt_step\(step).json"), "step \(step) was lost: \(preserved)")
            #expect(preserved.contains("ckpt_step\(step).meta.json"))
            let text = TestSupport.read("\(checkpoints)/preserved/ckpt_step\(step).json")
            #expect(text.contains("\"step\": \(step)"))
        }
        #expect(try TestSupport.journal(logs, "keep").attempts[0].preserved?.count == 6)
    }

    @Test("retention keeps the last N and the best, in the directory and in preserved/")
    func retentionAfterAttempts() throws {
        defer { TestSupport.remove(dir) }
        let rules =
            #"keepLast: 2, keepBest: { metric: "total_profit", order: "max" }, onSuccess: "prune", preserve: true"#
        let vigil = try vigil("retain", policy: try policy(rules), [], ["--steps", "9", "--metadata"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        // total_profit = 100·sin(0.7·step) + step peaks at step 2 among 1…9.
        let kept = names(checkpoints).filter { $0.hasSuffix(".json") && !$0.contains("meta") }
        #expect(kept == ["ckpt_step2.json", "ckpt_step8.json", "ckpt_step9.json"])
        #expect(names(checkpoints + "/preserved").filter { !$0.contains("meta") } == kept)
        #expect(!names(checkpoints).contains("ckpt_step5.meta.json"), "sidecars go with their checkpoint")
    }

    @Test("a symbolic link in the checkpoint directory is never followed, moved or deleted through")
    func symlinksAreLeftAlone() throws {
        defer { TestSupport.remove(dir) }
        let outside = dir + "/outside"
        try FileManager.default.createDirectory(atPath: outside + "/tree", withIntermediateDirectories: true)
        try "{\"step\": 99}".write(toFile: outside + "/precious.json", atomically: true, encoding: .utf8)
        try "x".write(toFile: outside + "/tree/file", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
        symlink(outside + "/precious.json", checkpoints + "/ckpt_step99.json")
        symlink(outside + "/tree", checkpoints + "/ckpt_step0.json")
        let vigil = try vigil("links", policy: try policy(#"keepLast: 1, onSuccess: "remove""#), [], ["--steps", "3"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        #expect(TestSupport.read(outside + "/precious.json") == "{\"step\": 99}")
        #expect(TestSupport.read(outside + "/tree/file") == "x")
        var info = stat()
        #expect(lstat(checkpoints + "/ckpt_step99.json", &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK)
        #expect(lstat(checkpoints + "/ckpt_step0.json", &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK)
        #expect(!names(checkpoints).contains("ckpt_step3.json"), "onSuccess remove deletes the run's own checkpoints")
    }

    @Test("when-checkpoint-exists resumes even the first attempt of a fresh run")
    func autoResume() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(resume: #"args: ["--resume", "{checkpoint}"], when: "when-checkpoint-exists""#)
        let first = try vigil("auto1", policy: policy, [], ["--steps", "3"])
        #expect(first.exitCode() == 0)
        #expect(try TestSupport.journal(logs, "auto1").attempts[0].resumeFrom == nil)
        let second = try vigil("auto2", policy: policy, [], ["--steps", "5"])
        #expect(second.exitCode() == 0, "\(second.output)")
        let attempt = try TestSupport.journal(logs, "auto2").attempts[0]
        #expect(attempt.resumeStep == 3)
        #expect(second.stdout.contains("resumed from step 3"))
        #expect(!second.stdout.contains("step 2/5"))
    }

    @Test(
        "a config changed between invocations: resume, fresh and refuse each do what they say",
        arguments: ["resume", "fresh", "refuse"])
    func configChange(onChange: String) throws {
        defer { TestSupport.remove(dir) }
        let config = dir + "/config.yaml"
        try "lr: 0.1\nbatch_size: 64\n".write(toFile: config, atomically: true, encoding: .utf8)
        let policy = try policy(resume: #"args: ["--resume", "{checkpoint}"]"#)
        let withConfig = dir + "/with-config.json5"
        try TestSupport.read(policy).replacingOccurrences(
            of: "restart:", with: "config: { path: \"\(config)\", onChange: \"\(onChange)\" },\n  restart:"
        )
        .write(toFile: withConfig, atomically: true, encoding: .utf8)
        let args = ["--steps", "4", "--hang-at", "2", "--hang-times", "1", "--state-file", dir + "/state"]
        let first = try vigil("cfg", policy: withConfig, [], args)
        #expect(first.waitForLine(containing: "hanging"))
        first.send(.terminate)
        #expect(first.exitCode() == 75)
        try "lr: 0.05\nbatch_size: 64\n".write(toFile: config, atomically: true, encoding: .utf8)

        let second = try vigil("cfg", policy: withConfig, [], args)
        let journal: () throws -> Journal = { try TestSupport.journal(self.logs, "cfg") }
        switch onChange {
        case "resume":
            #expect(second.exitCode() == 0, "\(second.output)")
            #expect(second.stderr.contains("changed since attempt 1; resuming anyway"))
            // It hung in step 2; the stop's checkpoint signal made it save step 2 before SIGTERM.
            #expect(try journal().attempts[1].resumeStep == 2)
        case "fresh":
            #expect(second.exitCode() == 0, "\(second.output)")
            #expect(second.stderr.contains("starting fresh"))
            #expect(try journal().attempts[1].resumeFrom == nil)
            #expect(second.stdout.contains("step 1/4"))
        default:
            #expect(second.exitCode() == 78, "\(second.output)")
            #expect(second.stderr.contains("\(config): the trainer's config \(config) changed since attempt 1"))
            #expect(try journal().attempts.count == 1)
        }
        let hashes = try journal().attempts.compactMap(\.configHash)
        if onChange != "refuse" {
            #expect(hashes.count == 2 && hashes[0] != hashes[1])
            #expect(hashes[1] == (try SHA256.hex(ofFile: config)))
        }
    }

    @Test("vigil checkpoints list, summary and prune work on a directory without a run")
    func checkpointsCommand() throws {
        defer { TestSupport.remove(dir) }
        let run = try vigil("cli", policy: try policy(), [], ["--steps", "6", "--metadata"])
        #expect(run.exitCode() == 0)
        try "{\"step\": 7, \"lo".write(toFile: checkpoints + "/ckpt_step7.json", atomically: true, encoding: .utf8)
        // Written moments ago: age them past the settle time, as a checkpoint directory looks later.
        for name in names(checkpoints) {
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: -60)],
                ofItemAtPath: checkpoints + "/" + name)
        }
        let common = ["--dir", checkpoints, "--pattern", "ckpt_step{step}.json", "--metadata", "{stem}.meta.json"]
        let list = try TestProcess.vigil(["checkpoints", "list", "--metric", "total_profit"] + common)
        #expect(list.exitCode() == 0, "\(list.output)")
        #expect(list.stdout.contains(">  step 6"), "\(list.stdout)")
        #expect(list.stdout.contains(" * step 2"), "\(list.stdout)")
        #expect(list.stdout.contains("ckpt_step7.json  INVALID"), "\(list.stdout)")
        let json = try TestProcess.vigil(["checkpoints", "list", "--json"] + common)
        #expect(json.exitCode() == 0)
        let rows = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.count == 7)
        let summary = try TestProcess.vigil(["checkpoints", "summary", "--metric", "total_profit"] + common)
        #expect(summary.exitCode() == 0, "\(summary.output)")
        #expect(!summary.stdout.isEmpty)
        let policyFile = try policy("keepLast: 2")
        let dry = try TestProcess.vigil(["checkpoints", "prune", "--dry-run", "--policy", policyFile])
        #expect(dry.exitCode() == 0, "\(dry.output)")
        #expect(dry.stdout.contains("would remove ckpt_step1.json"))
        #expect(names(checkpoints).contains("ckpt_step1.json"))
        let prune = try TestProcess.vigil(["checkpoints", "prune", "--policy", policyFile])
        #expect(prune.exitCode() == 0)
        #expect(
            names(checkpoints).filter { $0.hasPrefix("ckpt_step") && !$0.contains("meta") }
                == ["ckpt_step5.json", "ckpt_step6.json", "ckpt_step7.json"])
    }
}
