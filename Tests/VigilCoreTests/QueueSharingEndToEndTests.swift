import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// `vigil queue` shared and scheduled: two runners on one queue, a job added while it runs, jobs in
/// parallel on their own slots, retraining when due, and what bad input gets.
@Suite("vigil queue: runners, slots, retraining, bad input", .serialized, .timeLimit(.minutes(3)))
struct QueueSharingEndToEndTests {
    let harness: QueueHarness

    init() throws {
        harness = try QueueHarness("vigil-queue-share")
    }

    @Test("two queue runs at once never run a job twice, and a job added while they run is picked up")
    func twoRunners() throws {
        let h = harness
        defer { h.remove() }
        let policy = try h.policy()
        try h.add(
            ["--policy", policy, "--matrix", "n=1,2,3,4,5,6", "--checkpoint-dir", h.dir + "/ckpt/{n}"],
            ["--steps", "4", "--step-time", "0.15", "--say", "{n}"])
        let first = try h.queue("run")
        let second = try h.queue("run")
        #expect(first.waitForLine(containing: "vigil queue: starting", timeout: 30), "\(first.output)")
        try h.add(["--name", "late", "--policy", policy, "--checkpoint-dir", h.dir + "/ckpt/late"], ["--steps", "1"])
        #expect(first.exitCode(timeout: 90) == 0, "\(first.output)")
        #expect(second.exitCode(timeout: 90) == 0, "\(second.output)")
        let counts = h.startCounts()
        #expect(counts.count == 7 && counts.values.allSatisfy { $0 == 1 }, "\(counts)")
        #expect(try h.list().allSatisfy { $0["state"] as? String == "done" })
        #expect(first.stderr.contains("vigil queue: starting") && second.stderr.contains("vigil queue: starting"))
        #expect((first.stderr + second.stderr).contains("starting late"))
    }

    @Test("--jobs 2 --slots 0,1: two jobs overlap in time, each with its own CUDA_VISIBLE_DEVICES")
    func slots() throws {
        let h = harness
        defer { h.remove() }
        let policy = try h.policy()
        try h.add(
            ["--policy", policy, "--matrix", "n=1,2", "--checkpoint-dir", h.dir + "/ckpt/{n}"],
            ["--steps", "8", "--step-time", "0.15", "--say", "{n}"])
        let run = try h.queue("run", ["--jobs", "2", "--slots", "0,1"])
        #expect(run.exitCode(timeout: 60) == 0, "\(run.output)")
        let events = h.events()
        let one = events.filter { $0.run == "trainer-1" }
        let two = events.filter { $0.run == "trainer-2" }
        let (start1, end1) = (
            try #require(one.first { $0.event == "start" }), try #require(one.first { $0.event == "end" })
        )
        let (start2, end2) = (
            try #require(two.first { $0.event == "start" }), try #require(two.first { $0.event == "end" })
        )
        #expect(start1.time < end2.time && start2.time < end1.time, "they did not overlap: \(events)")
        #expect(Set([start1.cuda, start2.cuda]) == ["0", "1"], "\(events)")
        #expect(start1.slot == start1.cuda && start2.slot == start2.cuda)
    }

    @Test(
        "--retrain-after: a done job becomes due once its success is older; dry-run says so; the run retrains it fresh")
    func retrain() throws {
        let h = harness
        defer { h.remove() }
        let policy = try h.policy()
        try h.add(
            ["--name", "r", "--policy", policy, "--retrain-after", "1h", "--checkpoint-dir", h.dir + "/ckpt/r"],
            ["--steps", "2", "--checkpoint-every", "1"])
        #expect(try h.queue("run").exitCode(timeout: 60) == 0)
        var dry = try h.queue("run", ["--dry-run"])
        #expect(dry.exitCode() == 0)
        #expect(dry.stdout.contains("done; due for retraining at"), "\(dry.stdout)")
        #expect(try h.listed("r", in: try h.list())["due"] as? Bool == false)

        // Back-date the success by two hours.
        let past = Date().addingTimeInterval(-7200)
        try QueueStore(path: h.queuePath).modify { $0.jobs[0].lastSucceededAt = past }
        #expect(try h.listed("r", in: try h.list())["due"] as? Bool == true)
        dry = try h.queue("run", ["--dry-run"])
        #expect(dry.exitCode() == 0)
        #expect(
            dry.stdout.contains("would run  1. r") && dry.stdout.contains("due for retraining since"), "\(dry.stdout)")
        let skipped = try h.queue("run", ["--no-retrain"])
        #expect(skipped.exitCode(timeout: 60) == 0)
        #expect(h.starts("r").count == 1)

        let retrain = try h.queue("run")
        #expect(retrain.exitCode(timeout: 60) == 0, "\(retrain.output)")
        #expect(
            retrain.stderr.contains("retrained   r") || retrain.stderr.contains("retrained    r"), "\(retrain.stderr)")
        let starts = h.starts("r")
        #expect(starts.map(\.step) == [1, 1], "the retraining starts fresh: \(starts)")
        let archived = try FileManager.default.contentsOfDirectory(atPath: h.logs).filter { $0.hasPrefix("r.") }
        #expect(archived.count == 1, "the previous run directory is kept")
        let job = try #require(try h.queueFile().jobs.first)
        #expect(job.state == .done && (job.lastSucceededAt ?? past) > past.addingTimeInterval(3600))
        #expect(try h.journal("r")?.freshSince != nil)
    }

    @Test("bad input: unknown jobs (did you mean), an unused matrix key, an --after cycle, a corrupt queue file")
    func badInput() throws {
        let h = harness
        defer { h.remove() }
        try h.add(["--name", "prep"], ["--steps", "1"])
        for (subcommand, name) in [("show", "prepp"), ("retry", "perp"), ("remove", "prep2")] {
            let vigil = try h.queue(subcommand, [name])
            #expect(vigil.exitCode() == 66, "\(subcommand): \(vigil.output)")
            #expect(vigil.stderr.contains("no job '\(name)' in the queue (did you mean 'prep'?)"), "\(vigil.stderr)")
        }
        let unused = try h.add(["--name", "fit", "--matrix", "lr=1,2"], ["--steps", "1"])
        #expect(unused.stderr.contains("warning: matrix key 'lr' is not used"), "\(unused.stderr)")
        #expect(try h.list().count == 3)
        try h.add(["--name", "train", "--after", "prep"], ["--steps", "1"])
        let cycle = try h.add(["--name", "prep", "--replace", "--after", "train"], ["--steps", "1"], expect: 64)
        #expect(cycle.stderr.contains("--after makes a cycle: prep → train → prep"), "\(cycle.stderr)")
        let unknownAfter = try h.add(["--name", "x", "--after", "trian"], ["--steps", "1"], expect: 66)
        #expect(unknownAfter.stderr.contains("did you mean 'train'?"))

        let garbage = Data(#"{"version": 1, "jobs": [{"name": "prep", "comand": []}]}"#.utf8)
        try garbage.write(to: URL(fileURLWithPath: h.queuePath))
        for arguments in [["list"], ["run"], ["show", "prep"]] {
            let vigil = try h.queue(arguments[0], Array(arguments.dropFirst()))
            #expect(vigil.exitCode() == 78, "\(arguments): \(vigil.output)")
            #expect(
                vigil.stderr.contains(
                    h.queuePath + ": not a valid queue file: line 1, column 52: unknown key 'comand'"),
                "\(vigil.stderr)")
            #expect(vigil.stderr.contains("vigil queue clear --fresh"))
        }
        try h.add(["--name", "more"], ["--steps", "1"], expect: 78)
        #expect(FileManager.default.contents(atPath: h.queuePath) == garbage, "the file was changed")
        let fresh = try h.queue("clear", ["--fresh"])
        #expect(fresh.exitCode() == 0 && fresh.stdout.contains("moved the queue file to"), "\(fresh.output)")
        #expect(try h.list().isEmpty)
        let moved = try FileManager.default.contentsOfDirectory(atPath: h.logs).filter {
            $0.hasPrefix("queue.json.") && !$0.hasSuffix(".lock")
        }
        #expect(moved.count == 1)
        #expect(try h.queue("run").exitCode() == 66)  // no queue file any more
    }
}
