import Foundation
import Testing

@testable import VigilCore

/// The Python that has numpy and LightGBM: `VIGIL_TEST_ML_PYTHON` (what .ci/run installs them
/// into), else python3 if it has them; nil when none does.
private let mlPython: String? = {
    let environment = ProcessInfo.processInfo.environment
    let candidate = environment["VIGIL_TEST_ML_PYTHON"] ?? TestSupport.python
    guard let probe = try? TestProcess([candidate, "-c", "import numpy, lightgbm"]), probe.exitCode() == 0 else {
        return nil
    }
    return candidate
}()

/// Without numpy and LightGBM these tests cannot run; `VIGIL_TEST_REQUIRE_ML=1` (set by .ci/run when
/// it could install them) makes that a failure instead of a skip.
private let runs: Bool = mlPython != nil || ProcessInfo.processInfo.environment["VIGIL_TEST_REQUIRE_ML"] == "1"

/// Real libraries under vigil, their own errors and output: numpy's _ArrayMemoryError, LightGBM's
/// evaluation lines and its LightGBMError on a damaged model file.
@Suite("Real numpy and LightGBM, end to end", .serialized, .timeLimit(.minutes(3)), .enabled(if: runs))
struct RealLibraryEndToEndTests {
    let dir: String
    var logs: String { dir + "/logs" }
    var checkpoints: String { dir + "/ckpt" }
    var config: String { dir + "/config.json" }
    static let trainer = TestSupport.repositoryRoot + "/Tests/Fixtures/real_library_trainer.py"

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-real")
    }

    func policy(_ base: String, roles: String) throws -> String {
        let path = dir + "/policy.json5"
        try """
        {
          extends: "\(base)",
          restart: { maxRetries: 3, backoff: { initial: "10ms" } },
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { pattern: "model_{step}.txt" },
          config: { roles: { \(roles) } },
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func vigil(_ name: String, policy: String, _ trainerArgs: [String]) throws -> TestProcess {
        let python = try #require(mlPython, "numpy and lightgbm are required (VIGIL_TEST_REQUIRE_ML=1)")
        return try TestProcess.vigil(
            [
                "run", "--name", name, "--log-dir", logs, "--checkpoint-dir", checkpoints, "--policy", policy, "--",
                python, RealLibraryEndToEndTests.trainer,
            ] + trainerArgs + ["--config", config])
    }

    @Test("numpy's real _ArrayMemoryError halves the batch until it fits: 64 → 32 → 16, then the run completes")
    func numpyMemory() throws {
        defer { TestSupport.remove(dir) }
        try #"{"batch_size": 64}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let vigil = try vigil(
            "numpy", policy: try policy("python", roles: #"batchSize: "batch_size""#), ["numpy-memory"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "numpy")
        #expect(journal.attempts.count == 3)
        for attempt in journal.attempts.prefix(2) {
            #expect(attempt.verdict?.rule == "memory-error")
            #expect(attempt.verdict?.exception?.type.hasSuffix("_exceptions._ArrayMemoryError") == true)
        }
        #expect(
            journal.attempts.prefix(2).compactMap { $0.repairs?.first?.line } == [
                "batch_size: 64 → 32", "batch_size: 32 → 16",
            ])
        #expect(TestSupport.read(config).contains(#""batch_size": 16"#))
    }

    @Test(
        "LightGBM's real LightGBMError on a damaged model: the checkpoint is suspect, the run resumes from the one before"
    )
    func lightgbmLoadError() throws {
        defer { TestSupport.remove(dir) }
        try #"{"learning_rate": 0.1}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let vigil = try vigil(
            "lgb", policy: try policy("lightgbm", roles: #"learningRate: "learning_rate""#),
            ["lightgbm", "--corrupt-once", dir + "/corrupted"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "lgb")
        #expect(journal.attempts.count == 3, "\(journal.attempts.map(\.verdict))")
        // Vigil judged the damaged file whole (its trees and `end of trees` are there); LightGBM did not.
        #expect(journal.attempts[1].resumeFrom?.hasSuffix("/model_20.txt") == true)
        #expect(journal.attempts[1].verdict?.rule == "lightgbm-checkpoint-load-error")
        #expect(journal.attempts[1].verdict?.reason.contains("LightGBMError: Wrong size of feature_names") == true)
        let suspect = try #require(journal.attempts[1].quarantined?.first { $0.name == "model_20.txt" })
        #expect(suspect.reason.hasPrefix("suspect: "))
        #expect(journal.attempts[2].resumeFrom?.hasSuffix("/model_16.txt") == true)
        #expect(TestSupport.read("\(logs)/lgb/\(journal.attempts[2].log)").contains("resumed from round 16"))
    }

    @Test(
        "LightGBM's loss climbing tenfold at learning rate 2.5: a divergence; the rate is halved and the run converges")
    func lightgbmDivergence() throws {
        defer { TestSupport.remove(dir) }
        try #"{"learning_rate": 2.5}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let vigil = try vigil(
            "climb", policy: try policy("lightgbm", roles: #"learningRate: "learning_rate""#), ["lightgbm"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let journal = try TestSupport.journal(logs, "climb")
        #expect(journal.attempts.count == 2)
        let first = journal.attempts[0]
        #expect(first.verdict?.rule == "diverged" && first.stopCause == "live-rule")
        let divergence = try #require(first.divergence)
        #expect(divergence.description.contains("rose to"), "\(divergence.description)")
        #expect(first.repairs?.map(\.line) == ["learning_rate: 2.5 → 1.25"])
        // Every checkpoint it wrote was past the onset: the second attempt starts over, and converges.
        #expect(journal.attempts[1].resumeFrom == nil)
        let log = TestSupport.read("\(logs)/climb/\(journal.attempts[1].log)")
        let last = try #require(log.split(separator: "\n").last { $0.hasPrefix("[20]") })
        let l2 = try #require(Double(last.split(separator: " ").last ?? ""))
        #expect(l2 < 0.1, "\(last)")
    }
}
