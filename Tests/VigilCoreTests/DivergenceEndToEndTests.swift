import Foundation
import Testing

@testable import VigilCore

/// Divergences and checkpoints that will not load, with the fixture trainer: its loss climbs from a
/// step while its learning rate is above a threshold, its optimizer state may bring an old learning
/// rate back on resume, its checkpoints may be HF-style directories torn by a kill.
@Suite("Divergence and fallback, end to end", .serialized, .timeLimit(.minutes(3)))
struct DivergenceEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }
    var config: String { dir + "/config.json" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-divergence")
        try #"{"lr": 0.01, "batch_size": 32}"#.write(toFile: config, atomically: true, encoding: .utf8)
    }

    /// A policy over `base` with the checkpoint layout, a named resume, the config's roles.
    func policy(base: String = "python", maxRetries: Int = 3, _ extra: String = "") throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try """
        {
          extends: "\(base)",
          restart: { maxRetries: \(maxRetries), backoff: { initial: "10ms" } },
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { pattern: "ckpt_step{step}.json" },
          config: { path: "\(config)", roles: { learningRate: "lr", batchSize: "batch_size" } },
          \(extra)
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func vigil(_ name: String, policy: String, _ trainerArgs: [String]) throws -> TestProcess {
        try TestProcess.vigil(
            [
                "run", "--name", name, "--log-dir", logs, "--checkpoint-dir", checkpoints, "--policy", policy, "--",
                TestSupport.python, TestSupport.fixtureTrainer, "--config", config,
            ] + trainerArgs)
    }

    /// The trainer's learning rate when the config's is used: from 0.01, each halving.
    func configLearningRate() throws -> Double {
        let data = try Data(contentsOf: URL(fileURLWithPath: config))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(object["lr"] as? Double)
    }

    /// The last `step i/N loss=X` line of an attempt's log: its loss.
    func lastLoss(_ journal: Journal, _ run: String, attempt: Int) -> String? {
        let log = TestSupport.read("\(logs)/\(run)/\(journal.attempts[attempt].log)")
        return log.split(separator: "\n").last { $0.hasPrefix("step ") }?
            .split(separator: " ").first { $0.hasPrefix("loss=") }.map { String($0.dropFirst(5)) }
    }

    @Test(
        "a loss that climbs to 1e4 and then turns NaN: rolled back to before the climb, lr halved, the run ends healthy"
    )
    func climbThenNaN() throws {
        defer { TestSupport.remove(dir) }
        // The climb starts at step 20 while lr > 0.006: halving 0.01 once makes it stable.
        let vigil = try vigil(
            "climb", policy: try policy(),
            [
                "--steps", "40", "--step-time", "0.05", "--checkpoint-every", "5", "--climb-at", "20", "--stable-lr",
                "0.006",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "climb")
        #expect(journal.attempts.count == 2)
        let first = journal.attempts[0]
        #expect(first.verdict?.rule == "diverged")
        #expect(first.stopCause == "live-rule")
        let divergence = try #require(first.divergence)
        #expect(divergence.metric == "loss" && divergence.value == "nan" && divergence.step == 27)
        #expect(divergence.onsetStep == 20, "the climb began at step 20: \(divergence)")
        // Every checkpoint from the onset on is poisoned (20, 25, and any written before the stop).
        let poisoned = (first.quarantined ?? []).filter { $0.reason.hasPrefix("poisoned") }
        #expect(Set(poisoned.map(\.step)).isSuperset(of: [20, 25]), "\(poisoned)")
        #expect(poisoned.allSatisfy { $0.step >= 20 })
        #expect(first.rollback?.fromStep == 20 && first.rollback?.resumeTarget == "ckpt_step15.json")
        #expect(journal.attempts[1].resumeStep == 15)
        #expect(try configLearningRate() == 0.005)
        #expect(first.repairs?.map(\.line) == ["lr: 0.01 → 0.005"])
        // The retried attempt trained from step 16 with the halved rate and never climbed.
        let last = try #require(lastLoss(journal, "climb", attempt: 1))
        #expect(try #require(Double(last)) < 0.1, "final loss \(last)")
        #expect(!TestSupport.read("\(logs)/climb/\(journal.attempts[1].log)").contains("loss=nan"))
        #expect(journal.state == .succeeded)
    }

    @Test("a divergence every time: never twice from the same checkpoint, and the retry cap holds")
    func capHolds() throws {
        defer { TestSupport.remove(dir) }
        // Unstable at any learning rate: each attempt climbs at step 20 again.
        let vigil = try vigil(
            "again", policy: try policy(maxRetries: 2),
            ["--steps", "40", "--step-time", "0.02", "--checkpoint-every", "5", "--climb-at", "20"])
        #expect(vigil.exitCode() == 2, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "again")
        #expect(journal.state == .gaveUp)
        #expect(journal.attempts.count == 3, "maxRetries 2: three attempts, no budget refilled by repeated steps")
        #expect(journal.attempts.allSatisfy { $0.verdict?.rule == "diverged" })
        #expect(journal.attempts.allSatisfy { $0.countedAgainstBudget == true })
        #expect(
            journal.attempts.dropFirst().allSatisfy { $0.madeProgress != true }, "the same steps again are no progress")
        // Attempt 2 resumed from step 15; it diverged again, so attempt 3 went further back.
        #expect(journal.attempts[1].resumeStep == 15)
        #expect(journal.attempts[2].resumeStep == 10)
        let again = (journal.attempts[1].quarantined ?? []).filter { $0.reason.contains("went bad again") }
        #expect(again.map(\.name) == ["ckpt_step15.json"], "\(journal.attempts[1].quarantined ?? [])")
        #expect(journal.attempts.map(\.verdict?.reason).allSatisfy { $0?.contains("loss became nan") == true })
    }

    @Test(
        "a trainer that restores its optimizer: without the override its old rate comes back, with it the repair holds")
    func overrideReachesTrainer() throws {
        defer { TestSupport.remove(dir) }
        let common = [
            "--steps", "30", "--step-time", "0.03", "--checkpoint-every", "5", "--climb-at", "20", "--stable-lr",
            "0.006",
            "--restore-optimizer",
        ]
        // Without it: the checkpoint brings lr 0.01 back, and the trainer diverges again.
        let plain = try vigil("plain", policy: try policy(maxRetries: 1), common)
        #expect(plain.exitCode() == 2, "\(plain.output)")
        let failed = try TestSupport.journal(logs, "plain")
        let resumed = TestSupport.read("\(logs)/plain/\(failed.attempts[1].log)")
        #expect(resumed.contains("step 16/30 loss=") && resumed.contains("lr=0.01"), "\(resumed)")
        #expect(failed.attempts[1].verdict?.rule == "diverged")

        try #"{"lr": 0.01, "batch_size": 32}"#.write(toFile: config, atomically: true, encoding: .utf8)
        TestSupport.remove(checkpoints)
        // With the helper applying VIGIL_OVERRIDES after the restore: the repaired rate is the one in effect.
        let vigil = try vigil("override", policy: try policy(), common + ["--apply-overrides"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "override")
        #expect(journal.attempts.count == 2)
        let log = TestSupport.read("\(logs)/override/\(journal.attempts[1].log)")
        let step16 = try #require(log.split(separator: "\n").first { $0.hasPrefix("step 16/30 ") })
        #expect(step16.hasSuffix(" lr=0.005"), "\(step16)")
        #expect(!log.contains("loss=nan"))
    }

    @Test("the CPU allocator's error (PyTorch's message): batch size halved, the run completes")
    func cpuAllocator() throws {
        defer { TestSupport.remove(dir) }
        let message =
            "[enforce fail at alloc_cpu.cpp:121] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 17179869184 bytes. Error code 12 (Cannot allocate memory)"
        let vigil = try vigil(
            "cpu", policy: try policy(base: "pytorch"),
            [
                "--steps", "2", "--fail-while", "batch_size>8", "--fail-as", "--exception", "RuntimeError", "--message",
                message,
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "cpu")
        #expect(journal.attempts.count == 3)
        #expect(
            journal.attempts.prefix(2).allSatisfy { $0.verdict?.rule == "cpu-oom" },
            "\(journal.attempts.map(\.verdict))")
        #expect(journal.attempts[0].repairs?.map(\.line).first == "batch_size: 32 → 16")
        #expect(journal.attempts[1].repairs?.map(\.line).first == "batch_size: 16 → 8")
        #expect(TestSupport.read(config).contains(#""batch_size": 8"#))
    }
}

/// HF-style directory checkpoints (`checkpoint-N/` with model.safetensors, optimizer.bin and the
/// `trainer_state.json` marker) torn by a kill: vigil falls back to the one before.
@Suite("Torn directory checkpoints, end to end", .serialized, .timeLimit(.minutes(3)))
struct TornCheckpointEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-torn")
    }

    func policy(base: String, maxRetries: Int = 3) throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try """
        {
          extends: "\(base)",
          restart: { maxRetries: \(maxRetries), backoff: { initial: "10ms" } },
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { pattern: "checkpoint-{step}", marker: "trainer_state.json" },
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func vigil(_ name: String, policy: String, _ trainerArgs: [String]) throws -> TestProcess {
        try TestProcess.vigil(
            [
                "run", "--name", name, "--log-dir", logs, "--checkpoint-dir", checkpoints, "--policy", policy, "--",
                TestSupport.python, TestSupport.fixtureTrainer, "--layout", "directory", "--checkpoint-pattern",
                "checkpoint-{step}", "--checkpoint-every", "1", "--steps", "5", "--tear-at", "3", "--tear-times", "1",
                "--state-file", dir + "/state",
            ] + trainerArgs)
    }

    @Test("a cut-short model.safetensors (marker present): checkpoint-3 is quarantined, the resume uses checkpoint-2")
    func tornSafetensors() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try vigil("safetensors", policy: try policy(base: "python"), [])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "safetensors")
        #expect(journal.attempts.count == 2)
        #expect(journal.attempts[0].exit == .signaled(.kill))
        // Judged after the attempt that tore it, and set aside before the next one resumed.
        let torn = try #require(journal.attempts[0].quarantined?.first { $0.name == "checkpoint-3" })
        #expect(torn.reason.contains("model.safetensors"), "\(torn.reason)")
        #expect(journal.attempts[1].resumeFrom?.hasSuffix("/checkpoint-2") == true)
        #expect(FileManager.default.fileExists(atPath: checkpoints + "/.quarantine/checkpoint-3/model.safetensors"))
    }

    @Test(
        "a cut-short optimizer.bin vigil cannot judge: the load error makes checkpoint-3 suspect, the next attempt uses checkpoint-2"
    )
    func tornUnknownFile() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try vigil("optimizer", policy: try policy(base: "pytorch"), ["--tear-file", "optimizer.bin"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "optimizer")
        #expect(journal.attempts.count == 3)
        // Attempt 2 resumed from checkpoint-3, which vigil found whole; loading it failed.
        #expect(journal.attempts[1].resumeFrom?.hasSuffix("/checkpoint-3") == true)
        #expect(journal.attempts[1].verdict?.rule == "checkpoint-load-error")
        let suspect = try #require(journal.attempts[1].quarantined?.first { $0.name == "checkpoint-3" })
        #expect(suspect.reason.hasPrefix("suspect: "), "\(suspect.reason)")
        #expect(journal.attempts[2].resumeFrom?.hasSuffix("/checkpoint-2") == true)
    }

    @Test("a load failure no rule names, twice from the same checkpoint: it becomes suspect")
    func twiceFromTheSame() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try vigil("twice", policy: try policy(base: "default"), ["--tear-file", "optimizer.bin"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "twice")
        #expect(journal.attempts.count == 4)
        #expect(journal.attempts[1].resumeFrom == journal.attempts[2].resumeFrom)
        #expect(journal.attempts[1].quarantined?.contains { $0.name == "checkpoint-3" } != true)
        let suspect = try #require(journal.attempts[2].quarantined?.first { $0.name == "checkpoint-3" })
        #expect(suspect.reason.contains("attempts 2 and 3 resumed from it and failed the same way"))
        #expect(journal.attempts[3].resumeFrom?.hasSuffix("/checkpoint-2") == true)
    }
}
