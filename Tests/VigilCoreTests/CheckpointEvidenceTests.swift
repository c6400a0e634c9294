import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// How a checkpoint is proven complete from what Vigil observed (renamed in, closed before the stop)
/// and when the trainer died: real files, observations and exits as plain values.
@Suite("Checkpoint completeness from evidence")
final class CheckpointEvidenceTests {
    let dir: String
    let store: CheckpointStore

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-evidence")
        var settings = Policy.Checkpoints()
        settings.dir = dir
        settings.pattern = "step_{step}.ck"  // a format vigil cannot read
        settings.settle = 2
        store = try #require(try CheckpointStore(settings: settings, workingDirectory: "/"))
    }

    deinit { TestSupport.remove(dir) }

    /// Writes `step_N.ck` and returns its modification time.
    @discardableResult
    func write(_ step: Int, _ text: String = "{\"step\": 1}\n") throws -> Date {
        let path = "\(dir)/step_\(step).ck"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return try #require(store.scan(.live(now: .distantFuture)).first { $0.step == step }?.modified)
    }

    func judged(
        _ step: Int, _ moment: CheckpointStore.Moment, _ evidence: CheckpointStore.Evidence = .none
    )
        throws -> Checkpoint
    {
        try #require(store.scan(moment, evidence: evidence).first { $0.step == step })
    }

    func observed(_ kind: CheckpointObservation.Kind, at: Date, step: Int = 19) -> CheckpointStore.Evidence {
        CheckpointStore.Evidence(observed: ["step_\(step).ck": CheckpointObservation(kind: kind, at: at)])
    }

    @Test("renamed in under its final name: complete, even 1 ms before vigil's own SIGTERM killed the trainer")
    func renamedIn() throws {
        let modified = try write(19)
        let exit = CheckpointStore.Moment.afterExit(
            exitedAt: modified.addingTimeInterval(0.001), killed: true, stopSignalAt: modified)
        #expect(try judged(19, exit).invalidReason?.hasPrefix("possibly partial") == true, "without evidence")
        let checkpoint = try judged(19, exit, observed(.renamedIn, at: modified))
        #expect(checkpoint.isValid)
        #expect(checkpoint.evidence == "renamed-in")
    }

    @Test("closed before vigil sent a terminating signal: complete; closed only as the trainer died: possibly partial")
    func closedBeforeStop() throws {
        let modified = try write(19)
        let term = modified.addingTimeInterval(0.5)
        let death = modified.addingTimeInterval(0.6)
        let stopped = CheckpointStore.Moment.afterExit(exitedAt: death, killed: true, stopSignalAt: term)
        let before = try judged(19, stopped, observed(.closed, at: modified.addingTimeInterval(0.01)))
        #expect(before.isValid)
        #expect(before.evidence == "closed-before-stop")
        let withDeath = try judged(19, stopped, observed(.closed, at: death))
        #expect(withDeath.invalidReason?.contains("closed only as it died") == true, "\(withDeath)")
    }

    @Test("a foreign SIGKILL: a close well before the death proves it, one within the margin does not")
    func foreignKill() throws {
        let modified = try write(30)
        let death = modified.addingTimeInterval(1.6)
        let killed = CheckpointStore.Moment.afterExit(exitedAt: death, killed: true)
        let early = try judged(30, killed, observed(.closed, at: modified, step: 30))
        #expect(early.isValid)
        #expect(early.evidence == "closed-before-stop")
        let late = try judged(30, killed, observed(.closed, at: death.addingTimeInterval(-0.2), step: 30))
        #expect(!late.isValid)
    }

    @Test("still open for writing when the trainer was killed: possibly partial, however old the file")
    func stillWriting() throws {
        let modified = try write(5)
        let death = modified.addingTimeInterval(60)
        let checkpoint = try judged(
            5, .afterExit(exitedAt: death, killed: true), observed(.writing, at: modified, step: 5))
        #expect(checkpoint.invalidReason?.contains("still open for writing") == true)
    }

    @Test("a trainer that exited by itself: unobserved checkpoints are valid but unproven")
    func cleanExit() throws {
        let modified = try write(3)
        let checkpoint = try judged(3, .afterExit(exitedAt: modified.addingTimeInterval(0.01), killed: false))
        #expect(checkpoint.isValid)
        #expect(checkpoint.evidence == "unproven")
    }

    @Test("a proof in the journal holds while the file is the same one, not once it was rewritten")
    func recordedProof() throws {
        let modified = try write(7)
        let exit = CheckpointStore.Moment.afterExit(exitedAt: modified.addingTimeInterval(0.01), killed: true)
        let found = try judged(7, .live(now: .distantFuture))
        // As the journal holds it: times to the millisecond.
        var proof = CheckpointProof(evidence: "renamed-in", of: found)
        proof.modified = Journal.date(fromTimestamp: Journal.timestamp(proof.modified))!
        let evidence = CheckpointStore.Evidence(proven: ["step_7.ck": proof])
        #expect(try judged(7, exit, evidence).evidence == "renamed-in")
        try write(7, "{\"step\": 7, \"rewritten\": true}\n")
        #expect(try !judged(7, exit, evidence).isValid, "a rewritten file keeps no old proof")
    }

    @Test("while the trainer runs: a name seen renamed in counts at once, one being written does not")
    func live() throws {
        let modified = try write(4)
        let now = modified.addingTimeInterval(0.01)
        #expect(try judged(4, .live(now: now)).invalidReason?.hasPrefix("still being written") == true)
        #expect(try judged(4, .live(now: now), observed(.renamedIn, at: now, step: 4)).isValid)
        #expect(try !judged(4, .live(now: now), observed(.writing, at: now, step: 4)).isValid)
    }

    @Test("a .sha256 sidecar is checked once per version of the file, and a rewrite is caught")
    func checksumCached() throws {
        let path = dir + "/weights.bin"
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: path))
        let digest = try SHA256.hex(ofFile: path)
        try "\(digest)  weights.bin\n".write(toFile: path + ".sha256", atomically: true, encoding: .utf8)
        #expect(CheckpointFormat.verifySHA256Sidecar(for: path, isDirectory: false) == .complete("sha256 verified"))
        #expect(CheckpointFormat.verifySHA256Sidecar(for: path, isDirectory: false) == .complete("sha256 verified"))
        // Same size, another content, another modification time: hashed again, and found out.
        try Data(repeating: 8, count: 4096).write(to: URL(fileURLWithPath: path))
        var times = [timespec(tv_sec: 2_000_000_000, tv_nsec: 0), timespec(tv_sec: 2_000_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &times, 0)
        guard case .incomplete(let why)? = CheckpointFormat.verifySHA256Sidecar(for: path, isDirectory: false) else {
            Issue.record("the rewritten file passed its old checksum")
            return
        }
        #expect(why.contains("sha256 mismatch"))
    }

    @Test("structure that shows a file cut short wins over any observation")
    func formatWins() throws {
        var settings = store.settings
        settings.pattern = "model_{step}.json"
        let json = try #require(try CheckpointStore(settings: settings, workingDirectory: "/"))
        try "{\"step\": 1, \"weights\": [1, 2".write(toFile: "\(dir)/model_1.json", atomically: false, encoding: .utf8)
        let evidence = CheckpointStore.Evidence(observed: [
            "model_1.json": CheckpointObservation(kind: .renamedIn, at: Date())
        ])
        let checkpoint = try #require(json.scan(.afterExit(exitedAt: Date(), killed: false), evidence: evidence).first)
        #expect(checkpoint.invalidReason?.contains("JSON") == true)
    }
}
