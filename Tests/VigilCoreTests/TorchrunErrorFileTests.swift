import Foundation
import Testing

@testable import VigilCore

/// torchrun under vigil. Its root cause: vigil points `TORCHELASTIC_ERROR_FILE` at its error file,
/// torchrun (whose main is wrapped in `@record`) copies the failed rank's error file there, and the
/// classifier reads it as it reads the trainer's own. Its ranks: each in a session of its own, they
/// handle the checkpoint signal while torchrun does not, so they get it and torchrun does not.
@Suite("torchrun under Vigil", .serialized, .timeLimit(.minutes(1)))
struct TorchrunErrorFileTests {
    /// What `torch.distributed.elastic.multiprocessing.errors.ErrorHandler.record_exception` writes
    /// (and `dump_error_file` copies, adding the rank's exit code).
    static let rankError: String = {
        let traceback = """
            Traceback (most recent call last):
              File "/workspace/train_ddp.py", line 61, in main
                out = model(x, mask)
            TypeError: Net.forward() takes 2 positional arguments but 3 were given

            """
        let object: [String: Any] = [
            "message": [
                "message": "TypeError: Net.forward() takes 2 positional arguments but 3 were given",
                "extraInfo": ["py_callstack": traceback, "timestamp": "1732353164"], "errorCode": 1,
            ] as [String: Any]
        ]
        let data = try! JSONSerialization.data(withJSONObject: object)
        return String(decoding: data, as: UTF8.self)
    }()

    @Test("torchelastic's error file: the type, the message and the traceback; vigil's own form unchanged")
    func parse() throws {
        let rank = try #require(TrainerErrorFile.parse(Data(TorchrunErrorFileTests.rankError.utf8)))
        #expect(rank.type == "TypeError")
        #expect(rank.message == "Net.forward() takes 2 positional arguments but 3 were given")
        #expect(rank.traceback?.hasPrefix("Traceback (most recent call last):") == true)
        let plain = try #require(
            TrainerErrorFile.parse(
                Data(#"{"message": "torch.OutOfMemoryError: CUDA out of memory", "timestamp": 1}"#.utf8)))
        #expect(plain.type == "torch.OutOfMemoryError" && plain.message == "CUDA out of memory")
        let words = try #require(TrainerErrorFile.parse(Data(#"{"message": {"message": "the rank died"}}"#.utf8)))
        #expect(words.type == nil && words.message == "the rank died")
        let own = try #require(
            TrainerErrorFile.parse(Data(#"{"type": "ValueError", "message": "bad: value", "traceback": "T"}"#.utf8)))
        #expect(own == TrainerErrorFile(type: "ValueError", message: "bad: value", traceback: "T"))
        #expect(TrainerErrorFile.parse(Data("[1]".utf8)) == nil)
    }

    @Test("pytorch: torchrun's summary alone is a generic rank failure; with the root cause, the rank's error decides")
    func rootCauseDecides() throws {
        let policy = try PolicyLoader(searchDirectories: [TestSupport.repositoryRoot + "/policies"]).load("pytorch")
        let summary = TrainerOutput.torchrunReport(after: "step 12/100 loss=0.42")
        let classifier = Classifier(policy: policy)
        let alone = classifier.classify(
            AttemptOutcome(status: .exited(1), tail: OutputTail(stderr: summary.components(separatedBy: "\n"))))
        #expect(alone.rule == "torchrun-child-failed" && alone.verdict == .recoverable, "\(alone)")
        let rank = TrainerErrorFile.parse(Data(TorchrunErrorFileTests.rankError.utf8))
        let explained = classifier.classify(
            AttemptOutcome(
                status: .exited(1), tail: OutputTail(stderr: summary.components(separatedBy: "\n")), errorFile: rank))
        #expect(explained.rule == "programming-error" && explained.verdict == .unrecoverable, "\(explained)")
        #expect(explained.exception?.type == "TypeError")
    }

    @Test("the trainer gets TORCHELASTIC_ERROR_FILE = VIGIL_ERROR_FILE, unless it is set already")
    func environment() throws {
        let dir = try TestSupport.temporaryDirectory("vigil-torchrun")
        defer { TestSupport.remove(dir) }
        func shown(_ environment: [String: String], name: String) throws -> String {
            let vigil = try TestProcess.vigil(
                [
                    "run", "--name", name, "--log-dir", dir + "/logs", "--", TestSupport.python,
                    TestSupport.fixtureTrainer, "--steps", "1", "--checkpoint-dir", dir + "/ckpt", "--show-env",
                    "TORCHELASTIC_ERROR_FILE",
                ], environment: environment)
            #expect(vigil.exitCode() == 0, "\(vigil.output)")
            return vigil.stdout
        }
        let set = try shown(TestSupport.hermeticEnvironment, name: "set")
        #expect(set.contains("TORCHELASTIC_ERROR_FILE=\(dir)/logs/set/attempt-001.error.json"), "\(set)")
        var own = TestSupport.hermeticEnvironment
        own["TORCHELASTIC_ERROR_FILE"] = "/tmp/mine.json"
        #expect(try shown(own, name: "own").contains("TORCHELASTIC_ERROR_FILE=/tmp/mine.json"))
    }

    @Test("a launcher that does not handle USR1 (torchrun): its workers that do get the checkpoint signal")
    func checkpointSignalReachesTheRanks() throws {
        let dir = try TestSupport.temporaryDirectory("vigil-launcher")
        defer { TestSupport.remove(dir) }
        let policy = dir + "/policy.json5"
        try """
        {
          checkpoints: { dir: "\(dir)/ckpt", pattern: "ckpt_step{step}.json", settle: "1s" },
          stop: { checkpointTimeout: "10s", termGrace: "2s" },
        }
        """.write(toFile: policy, atomically: true, encoding: .utf8)
        let vigil = try TestProcess.vigil([
            "run", "--name", "ranks", "--log-dir", dir + "/logs", "--policy", policy, "--", TestSupport.python,
            TestSupport.repositoryRoot + "/Tests/Fixtures/launcher.py", "--max-restarts", "0", "--", TestSupport.python,
            TestSupport.fixtureTrainer, "--steps", "400", "--step-time", "0.05", "--checkpoint-every", "0",
            "--checkpoint-dir", dir + "/ckpt",
        ])
        #expect(vigil.waitForLine(containing: "step 3/"), "\(vigil.output)")
        vigil.send(.user1)
        #expect(vigil.exitCode() == 75, "\(vigil.output)")
        #expect(vigil.output.contains("launcher: worker exited"), "the launcher was not killed by USR1")
        let attempt = try #require(try TestSupport.journal(dir + "/logs", "ranks").attempts.first)
        let events = (attempt.stopEvents ?? []).map(\.event)
        #expect(events.contains { $0.contains("so it went to the 1 process(es) it started that do") }, "\(events)")
        #expect(events.contains { $0.hasPrefix("the trainer saved ckpt_step") }, "\(events)")
        #expect(attempt.checkpointAfter != nil)
    }
}
