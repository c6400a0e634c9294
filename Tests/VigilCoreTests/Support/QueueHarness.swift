import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// A queue in a temporary directory, driven through the built `vigil` as a user would: jobs of the
/// fixture trainer (which appends a line to `starts.jsonl` each time it starts and ends), a policy
/// with short stop times, and readers for what the queue and the runs leave on disk.
struct QueueHarness {
    let dir: String
    var logs: String { dir + "/logs" }
    var startLog: String { dir + "/starts.jsonl" }
    var queuePath: String { logs + "/queue.json" }

    init(_ label: String) throws {
        dir = try TestSupport.temporaryDirectory(label)
    }

    func remove() { TestSupport.remove(dir) }

    /// A policy with a checkpoint pattern, quick restarts and a stop that fits in a second.
    func policy(_ sections: String = "") throws -> String {
        let path = dir + "/policy-\(UUID().uuidString.prefix(6)).json5"
        try """
        {
          restart: { maxRetries: 2, backoff: { initial: "10ms" } },
          resume: { args: ["--resume", "{checkpoint}"] },
          checkpoints: { dir: "\(dir)/ckpt", pattern: "ckpt_step{step}.json", settle: "1s" },
          stop: { checkpointLead: "300ms", checkpointTimeout: "5s", termGrace: "500ms" },
          \(sections)
        }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `vigil queue add OPTIONS -- python3 trainer.py --start-log … TRAINER`, waited for.
    @discardableResult
    func add(_ options: [String], _ trainer: [String], expect code: Int32 = 0) throws -> TestProcess {
        let vigil = try TestProcess.vigil(
            ["queue", "add", "--log-dir", logs] + options
                + ["--", TestSupport.python, TestSupport.fixtureTrainer, "--start-log", startLog] + trainer)
        #expect(vigil.exitCode() == code, "\(options): \(vigil.output)")
        return vigil
    }

    /// `vigil queue SUBCOMMAND --log-dir LOGS ARGS`, not waited for.
    func queue(_ subcommand: String, _ arguments: [String] = []) throws -> TestProcess {
        try TestProcess.vigil(["queue", subcommand, "--log-dir", logs] + arguments)
    }

    /// `vigil queue list --json`, parsed.
    func list() throws -> [[String: Any]] {
        let vigil = try queue("list", ["--json"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        let parsed = try JSONSerialization.jsonObject(with: Data(vigil.stdout.utf8))
        return try #require(parsed as? [[String: Any]], "\(vigil.stdout)")
    }

    /// The listed job called `name`.
    func listed(_ name: String, in list: [[String: Any]]) throws -> [String: Any] {
        try #require(list.first { $0["name"] as? String == name }, "\(name) not listed")
    }

    func journal(_ name: String) throws -> Journal? {
        try Journal.read(from: "\(logs)/\(name)/journal.json")
    }

    /// What the fixture logged: one entry per start and end of a trainer.
    struct Event {
        var event: String
        var run: String
        var step: Int
        var slot: String?
        var cuda: String?
        var pid: pid_t
        var time: Double
    }

    func events() -> [Event] {
        TestSupport.read(startLog).split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return nil
            }
            return Event(
                event: object["event"] as? String ?? "", run: object["run"] as? String ?? "",
                step: object["step"] as? Int ?? 0, slot: object["slot"] as? String, cuda: object["cuda"] as? String,
                pid: pid_t(object["pid"] as? Int ?? 0), time: object["time"] as? Double ?? 0)
        }
    }

    /// The trainer starts of run `name`, in order.
    func starts(_ name: String) -> [Event] { events().filter { $0.event == "start" && $0.run == name } }

    /// How many times each run's trainer started.
    func startCounts() -> [String: Int] {
        events().filter { $0.event == "start" }.reduce(into: [:]) { $0[$1.run, default: 0] += 1 }
    }

    /// The queue file as the store reads it.
    func queueFile() throws -> QueueFile {
        try #require(try QueueStore(path: queuePath).read())
    }
}
