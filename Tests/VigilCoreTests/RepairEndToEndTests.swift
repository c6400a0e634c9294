import Foundation
import Testing

@testable import VigilCore

/// Config validation and repair with the fixture trainer reading a real config file.
@Suite("Config repair, end to end", .serialized, .timeLimit(.minutes(2)))
struct RepairEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var config: String { dir + "/config.yaml" }

    static let originalConfig = """
        # Training configuration
        model:
          name: "resnet50"   # backbone
          dropout: 0.1
        training:
          batch_size: 64     # per device
          grad_accum: 1
          lr: 3.0e-4
        data:
          path: '/data/imagenet'
          workers: 4
        """ + "\n"

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-repair")
        try RepairEndToEndTests.originalConfig.write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
    }

    func policy(_ body: String) throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    var rolesPolicy: String {
        get throws {
            try policy(
                """
                {
                  extends: "python",
                  restart: { maxRetries: 5, backoff: { initial: "10ms" } },
                  config: { roles: { batchSize: "training.batch_size", gradientAccumulation: "training.grad_accum" } },
                }
                """)
        }
    }

    func vigil(
        _ name: String, policy: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        _ trainerArgs: [String]
    ) throws -> TestProcess {
        try TestProcess.vigil(
            [
                "run", "--name", name, "--log-dir", logs, "--checkpoint-dir", dir + "/ckpt", "--policy", policy,
                "--", TestSupport.python, TestSupport.fixtureTrainer, "--steps", "1",
            ] + trainerArgs,
            environment: environment)
    }

    @Test("a memory error while batch_size > 16: runs with 64, 32, 16 and completes; backups and before → after right")
    func halvesTheBatch() throws {
        defer { TestSupport.remove(dir) }
        let vigil = try vigil(
            "oom", policy: try rolesPolicy, ["--config", config, "--fail-while", "training.batch_size>16"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "oom")
        #expect(journal.attempts.count == 3)
        #expect(journal.attempts.map { $0.verdict?.rule } == ["memory-error", "memory-error", "exit-0"])
        #expect(
            journal.attempts[0].repairs?.map(\.line) == ["training.batch_size: 64 → 32", "training.grad_accum: 1 → 2"])
        #expect(
            journal.attempts[1].repairs?.map(\.line) == ["training.batch_size: 32 → 16", "training.grad_accum: 2 → 4"])
        for (index, size) in [64, 32, 16].enumerated() {
            let log = TestSupport.read("\(logs)/oom/\(journal.attempts[index].log)")
            #expect(log.contains("\"training.batch_size\": \(size)"), "attempt \(index + 1) did not run with \(size)")
        }
        #expect(vigil.stderr.contains("repair (memory-error): training.batch_size: 64 → 32"))
        // Only the two values changed, byte for byte.
        let expected = RepairEndToEndTests.originalConfig
            .replacingOccurrences(of: "batch_size: 64", with: "batch_size: 16")
            .replacingOccurrences(of: "grad_accum: 1", with: "grad_accum: 4")
        #expect(TestSupport.read(config) == expected)
        #expect(
            TestSupport.read("\(logs)/oom/config-backups/config.yaml.original") == RepairEndToEndTests.originalConfig)
        #expect(
            TestSupport.read("\(logs)/oom/config-backups/config.yaml.before-attempt-003").contains("batch_size: 32"))
        // Vigil's own edits are not a user's change of the config.
        #expect(!vigil.stderr.contains("changed since attempt"))
    }

    @Test("a repair that would cross its bound: exit 1 with 'repair exhausted'")
    func repairExhausted() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(
            """
            {
              restart: { maxRetries: 5, backoff: { initial: "10ms" } },
              rules: [{ name: "oom", class: "recoverable", exception: ["MemoryError"],
                        repairs: [{ key: "training.batch_size", scale: 0.5, min: 32 }] }],
            }
            """)
        let vigil = try vigil(
            "exhaust", policy: policy, ["--config", config, "--fail-while", "training.batch_size>16"])
        #expect(vigil.exitCode() == 1, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "exhaust")
        #expect(journal.attempts.count == 2)
        let verdict = try #require(journal.attempts[1].verdict)
        #expect(verdict.verdict == .unrecoverable)
        #expect(verdict.reason.contains("repair exhausted: training.batch_size: 16 would cross its bound min 32"))
        #expect(TestSupport.read(config).contains("batch_size: 32     # per device"))
    }

    @Test("env: and arg: repairs reach the child")
    func environmentAndArguments() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(
            """
            {
              restart: { maxRetries: 3, backoff: { initial: "10ms" } },
              rules: [{ name: "oom", class: "recoverable", exception: ["MemoryError"],
                        repairs: [{ key: "env:VIGIL_TEST_ALLOC", set: "expandable_segments:True" },
                                  { key: "arg:--batch-size", scale: 0.5, min: 1 }] }],
            }
            """)
        let vigil = try vigil(
            "envarg", policy: policy,
            [
                "--batch-size", "64", "--fail-while-arg", "32", "--show-env", "VIGIL_TEST_ALLOC",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "envarg")
        #expect(journal.attempts.count == 2)
        #expect(journal.attempts[1].argv.contains("32"))
        let log = TestSupport.read("\(logs)/envarg/\(journal.attempts[1].log)")
        #expect(log.contains("env VIGIL_TEST_ALLOC=expandable_segments:True"))
        #expect(log.contains("arg batch-size=32"))
        #expect(
            journal.attempts[0].repairs?.map(\.line)
                == ["env:VIGIL_TEST_ALLOC: (absent) → expandable_segments:True", "arg:--batch-size: 64 → 32"])
    }

    @Test("schema: an out-of-range value is clamped before the first attempt")
    func schemaClamps() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(
            """
            { config: { schema: {
                "training.batch_size": { type: "int", min: 1, max: 32 },
                "training.lr": { type: "float", min: 1e-6, max: 1 },
                "training.warmup": { type: "int", default: 100 },
            } } }
            """)
        let vigil = try vigil("clamp", policy: policy, ["--config", config])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "clamp")
        #expect(
            journal.schemaRepairs?.map(\.line) == ["training.batch_size: 64 → 32", "training.warmup: (absent) → 100"])
        let log = TestSupport.read("\(logs)/clamp/attempt-001.log")
        #expect(log.contains("\"training.batch_size\": 32"))
        #expect(log.contains("\"training.warmup\": 100"))
    }

    @Test("an unparseable config or a missing required key: exit 78 naming line or key; the file untouched")
    func schemaRefuses() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(
            """
            { config: { schema: {
                "training.batch_size": { type: "int", min: 1 },
                "training.epochs": { type: "int", required: true },
                "model.name": { type: "enum", values: ["resnet18", "resnet50"] },
            } } }
            """)
        let missing = try vigil("missing", policy: policy, ["--config", config])
        #expect(missing.exitCode() == 78, "\(missing.output)")
        #expect(missing.stderr.contains("\(config): training.epochs: missing (required, an integer)"))
        #expect(TestSupport.read(config) == RepairEndToEndTests.originalConfig)

        let broken = RepairEndToEndTests.originalConfig.replacingOccurrences(
            of: "  dropout: 0.1", with: "  dropout: \"0.1")
        try broken.write(toFile: config, atomically: true, encoding: .utf8)
        let unparseable = try vigil("broken", policy: policy, ["--config", config])
        #expect(unparseable.exitCode() == 78, "\(unparseable.output)")
        #expect(unparseable.stderr.contains(config) && unparseable.stderr.contains("line 4"), "\(unparseable.stderr)")
        #expect(TestSupport.read(config) == broken)
        #expect(!unparseable.stdout.contains("step 1"), "the trainer ran despite a bad config")

        let check = try TestProcess.vigil(["config", "check", "--policy", policy, "--config", config])
        #expect(check.exitCode() == 78)
    }

    @Test("vigil killed between writing the repaired config and renaming it: the old config, whole")
    func killedMidRepair() throws {
        defer { TestSupport.remove(dir) }
        var environment = ProcessInfo.processInfo.environment
        environment["VIGIL_FAULT_INJECTION"] = "config-before-rename"
        let vigil = try vigil(
            "fault", policy: try rolesPolicy, environment: environment,
            ["--config", config, "--fail-while", "training.batch_size>16"])
        #expect(vigil.waitForExit() == .signaled(.kill))
        #expect(TestSupport.read(config) == RepairEndToEndTests.originalConfig)
        // The rerun (no fault) continues and completes with the repairs.
        let rerun = try self.vigil(
            "fault", policy: try rolesPolicy, ["--config", config, "--fail-while", "training.batch_size>16"])
        #expect(rerun.exitCode() == 0, "\(rerun.output)")
        #expect(TestSupport.read(config).contains("batch_size: 16     # per device"))
    }

    @Test("a NaN loss under the pytorch policy halves the learning rate its config.roles names")
    func nanHalvesLearningRate() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(
            """
            {
              extends: "pytorch",
              restart: { backoff: { initial: "10ms" } },
              config: { roles: { learningRate: "training.lr" } },
            }
            """)
        let vigil = try vigil(
            "nanlr", policy: policy,
            [
                "--config", config, "--steps", "4", "--step-time", "0.05", "--nan-at", "2", "--nan-times", "1",
                "--state-file", dir + "/state",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "nanlr")
        #expect(journal.attempts.first?.verdict?.rule == "diverged")
        let repair = try #require(journal.attempts.first?.repairs?.first)
        #expect(repair.key == "training.lr" && repair.before == "0.0003" && repair.after == "0.00015")
        // Written in the file's style (`3.0e-4` is an exponent form), the rest of the file byte for byte.
        #expect(
            TestSupport.read(config)
                == RepairEndToEndTests.originalConfig.replacingOccurrences(of: "lr: 3.0e-4", with: "lr: 1.5e-4"))
    }

    @Test("a NaN loss twice with lr: 3 halves it to 1.5, then 0.75 (a learning rate is not rounded to an integer)")
    func nanHalvesAnIntegerLearningRate() throws {
        defer { TestSupport.remove(dir) }
        let original = RepairEndToEndTests.originalConfig.replacingOccurrences(of: "lr: 3.0e-4", with: "lr: 3")
        try original.write(toFile: config, atomically: true, encoding: .utf8)
        let policy = try policy(
            """
            {
              extends: "pytorch",
              restart: { backoff: { initial: "10ms" } },
              config: { roles: { learningRate: "training.lr", batchSize: "training.batch_size" } },
            }
            """)
        let vigil = try vigil(
            "nanint", policy: policy,
            [
                "--config", config, "--steps", "4", "--step-time", "0.05", "--nan-at", "2", "--nan-times", "2",
                "--state-file", dir + "/state",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "nanint")
        #expect(journal.attempts.map { $0.verdict?.rule } == ["diverged", "diverged", "exit-0"])
        #expect(journal.attempts[0].repairs?.map(\.line) == ["training.lr: 3 → 1.5"])
        #expect(journal.attempts[1].repairs?.map(\.line) == ["training.lr: 1.5 → 0.75"])
        for (index, lr) in ["3", "1.5", "0.75"].enumerated() {
            let log = TestSupport.read("\(logs)/nanint/\(journal.attempts[index].log)")
            #expect(log.contains("\"training.lr\": \(lr)"), "attempt \(index + 1) did not run with \(lr)")
        }
        #expect(TestSupport.read(config) == original.replacingOccurrences(of: "lr: 3", with: "lr: 0.75"))
    }

    @Test("vigil config check lists what the schema would repair, and --repair writes it")
    func configCheck() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(#"{ config: { schema: { "training.batch_size": { type: "int", max: 32 } } } }"#)
        let check = try TestProcess.vigil(["config", "check", "--policy", policy, "--config", config])
        #expect(check.exitCode() == 0, "\(check.output)")
        #expect(check.stdout.contains("repairable: training.batch_size: 64 → 32"))
        #expect(TestSupport.read(config) == RepairEndToEndTests.originalConfig)
        let repair = try TestProcess.vigil(["config", "check", "--policy", policy, "--config", config, "--repair"])
        #expect(repair.exitCode() == 0)
        #expect(
            TestSupport.read(config)
                == RepairEndToEndTests.originalConfig.replacingOccurrences(of: "batch_size: 64", with: "batch_size: 32")
        )
    }

    @Test("a CUDA OOM twice without config.roles: the env repair applies once and never exhausts the retries")
    func repeatedOOMWithoutRoles() throws {
        defer { TestSupport.remove(dir) }
        let policy = try policy(#"{ extends: "pytorch", restart: { backoff: { initial: "10ms" } } }"#)
        let vigil = try vigil(
            "cuda", policy: policy,
            [
                "--crash-at", "1", "--exception", "torch.cuda.OutOfMemoryError", "--message", "CUDA out of memory.",
                "--crash-times", "2", "--state-file", dir + "/state", "--show-env", "PYTORCH_CUDA_ALLOC_CONF",
            ])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let attempts = try TestSupport.journal(logs, "cuda").attempts
        #expect(attempts.map { $0.verdict?.rule } == ["cuda-oom", "cuda-oom", "exit-0"])
        #expect(attempts[0].repairs?.map(\.key) == ["env:PYTORCH_CUDA_ALLOC_CONF"])
        #expect(attempts[1].repairs == nil)
        #expect(
            TestSupport.read("\(logs)/cuda/\(attempts[2].log)").contains(
                "env PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"))
    }
}
