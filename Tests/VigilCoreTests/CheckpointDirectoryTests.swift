import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Quarantine, retention and preservation never reach outside the checkpoint directory: a symbolic
/// link as `preserved/` or `.quarantine` is refused and reported, a link inside a checkpoint is not
/// followed, and a change that fails is a failure, not silence. Real files in a temporary directory.
@Suite("Checkpoint directory safety", .serialized, .timeLimit(.minutes(1)))
struct CheckpointDirectoryTests {
    let root: String
    var checkpoints: String { root + "/ckpt" }
    var outside: String { root + "/outside" }

    init() throws {
        root = try TestSupport.temporaryDirectory("vigil-dirs")
        try FileManager.default.createDirectory(atPath: root + "/ckpt", withIntermediateDirectories: true)
    }

    // MARK: Fixtures

    /// A store for `ckpt_step{step}.json` with `{stem}.meta.json` sidecars in `directory`.
    func store(_ directory: String? = nil, pattern: String = "ckpt_step{step}.json") throws -> CheckpointStore {
        var settings = Policy.Checkpoints()
        settings.dir = directory ?? checkpoints
        settings.pattern = pattern
        settings.metadata = "{stem}.meta.json"
        return try #require(try CheckpointStore(settings: settings, workingDirectory: root))
    }

    /// Writes `text` to `path`, creating its directory.
    func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// Valid checkpoints `ckpt_step1…N.json` with sidecars in `directory`, plus an invalid `ckpt_step99.json`.
    func writeCheckpoints(_ count: Int, in directory: String) throws {
        for step in 1...count {
            try write("{\"step\": \(step)}", to: "\(directory)/ckpt_step\(step).json")
            try write("{\"loss\": \(1.0 / Double(step))}", to: "\(directory)/ckpt_step\(step).meta.json")
        }
        try write("{\"step\": 99, \"lo", to: "\(directory)/ckpt_step99.json")
    }

    /// A directory outside the checkpoint directory, with names a scan would take for checkpoints.
    func writeOutside() throws {
        try write("{\"step\": 100}", to: outside + "/ckpt_step100.json")
        try write("{\"loss\": 0.5}", to: outside + "/ckpt_step100.meta.json")
        try write("{\"step\": 101, \"lo", to: outside + "/ckpt_step101.json")
        try write("keep me", to: outside + "/notes.txt")
        try write("{\"step\": 102}", to: outside + "/nested/ckpt_step102.json")
        try write("weights", to: outside + "/ckpt_step103.json/model.bin")
    }

    /// Every entry under `directory`, recursively: path → kind, size and SHA-256 of each file.
    func snapshot(_ directory: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = try #require(FileManager.default.enumerator(atPath: directory))
        while let relative = enumerator.nextObject() as? String {
            let path = directory + "/" + relative
            var info = stat()
            try #require(lstat(path, &info) == 0)
            switch info.st_mode & S_IFMT {
            case S_IFREG: result[relative] = "file \(info.st_size) \(try SHA256.hex(ofFile: path))"
            case S_IFDIR: result[relative] = "directory"
            case S_IFLNK: result[relative] = "link " + (try FileManager.default.destinationOfSymbolicLink(atPath: path))
            default: result[relative] = "other"
            }
        }
        return result
    }

    func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    func names(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// A checkpoint value at `path`, as a scan of its directory would give it.
    func checkpoint(_ path: String, step: Int, sidecars: [String] = []) -> Checkpoint {
        Checkpoint(
            path: path, name: (path as NSString).lastPathComponent, step: step, isDirectory: false, size: 10,
            modified: Date(), sidecars: sidecars)
    }

    static let moment = CheckpointStore.Moment.afterExit(exitedAt: Date(), killed: false)

    // MARK: Symbolic links as preserved/ and .quarantine

    @Test("preserved/ and .quarantine linked to an outside directory: every change is refused, nothing outside changes")
    func symlinkedSubdirectories() throws {
        defer { TestSupport.remove(root) }
        try writeOutside()
        try writeCheckpoints(3, in: checkpoints)
        #expect(symlink(outside, checkpoints + "/preserved") == 0)
        #expect(symlink(outside, checkpoints + "/.quarantine") == 0)
        let before = try snapshot(outside)
        let store = try store()

        #expect(store.scan(Self.moment, in: store.preservedDirectory).isEmpty, "nothing from outside is scanned")
        let found = store.scan(Self.moment)
        #expect(found.map(\.name) == ["ckpt_step1.json", "ckpt_step2.json", "ckpt_step3.json", "ckpt_step99.json"])

        let quarantine = store.quarantineInvalid(found)
        #expect(quarantine.moved.isEmpty)
        let refused = try #require(quarantine.failures.first)
        #expect(quarantine.failures.count == 1)
        #expect(refused.name == "ckpt_step99.json" && refused.operation == .quarantine)
        #expect(refused.reason.contains(checkpoints + "/.quarantine: is a symbolic link (to \(outside))"), "\(refused)")
        #expect(refused.reason.contains("refused"))
        #expect(exists(checkpoints + "/ckpt_step99.json"), "the invalid checkpoint stays where it was")

        let preservation = store.preserve(checkpoints + "/ckpt_step3.json")
        let failure = try #require(preservation.failure)
        #expect(failure.operation == .preserve && failure.name == "ckpt_step3.json")
        #expect(failure.reason.contains(checkpoints + "/preserved: is a symbolic link (to \(outside))"), "\(failure)")

        // A plan naming entries of preserved/ (and one below it) as a stale scan might.
        let preserved = store.preservedDirectory
        let plan = RetentionPlan(
            keep: [],
            remove: [
                checkpoint(
                    preserved + "/ckpt_step100.json", step: 100, sidecars: [preserved + "/ckpt_step100.meta.json"]),
                checkpoint(preserved + "/nested/ckpt_step102.json", step: 102),
                checkpoint(
                    checkpoints + "/ckpt_step1.json", step: 1, sidecars: [checkpoints + "/ckpt_step1.meta.json"]),
            ], reasons: [:])
        let retention = store.apply(plan)
        #expect(retention.removed == ["ckpt_step1.json"], "the checkpoint directory itself is pruned as usual")
        #expect(!exists(checkpoints + "/ckpt_step1.json") && !exists(checkpoints + "/ckpt_step1.meta.json"))
        #expect(retention.failures.map(\.name) == ["ckpt_step100.json", "ckpt_step102.json"])
        #expect(retention.failures.allSatisfy { $0.operation == .remove })
        #expect(retention.failures[0].reason.contains("is a symbolic link"), "\(retention.failures[0])")
        #expect(retention.failures[1].reason.contains("is not directly inside"), "\(retention.failures[1])")

        for name in [CheckpointStore.preservedName, CheckpointStore.quarantineName] {
            let refusal = try #require(store.refusal(of: name))
            #expect(refusal.name == name + "/" && refusal.reason.contains("symbolic link (to \(outside))"))
        }
        #expect(try snapshot(outside) == before, "the outside directory is byte for byte unchanged")
    }

    @Test("a .quarantine or preserved/ that is a regular file is refused, and quarantine reports it")
    func nonDirectorySubdirectories() throws {
        defer { TestSupport.remove(root) }
        try writeCheckpoints(2, in: checkpoints)
        try write("not a directory", to: checkpoints + "/.quarantine")
        try write("not a directory", to: checkpoints + "/preserved")
        let store = try store()
        let quarantine = store.quarantineInvalid(store.scan(Self.moment))
        #expect(quarantine.moved.isEmpty)
        let failure = try #require(quarantine.failures.first)
        #expect(failure.name == "ckpt_step99.json")
        #expect(failure.reason.contains(".quarantine: is not a directory but a regular file: refused"), "\(failure)")
        #expect(failure.description.hasPrefix("cannot quarantine ckpt_step99.json: "))
        #expect(store.preserve(checkpoints + "/ckpt_step1.json").failure?.reason.contains("not a directory") == true)
        #expect(TestSupport.read(checkpoints + "/.quarantine") == "not a directory")
        #expect(exists(checkpoints + "/ckpt_step99.json"))
    }

    // MARK: Symbolic links inside a checkpoint

    @Test("a symbolic link inside a directory checkpoint: removal unlinks it, preservation skips it")
    func symlinkInsideCheckpoint() throws {
        defer { TestSupport.remove(root) }
        try writeOutside()
        let tree = checkpoints + "/checkpoint-7"
        try write("weights", to: tree + "/model.bin")
        try write("state", to: tree + "/optimizer/state.bin")
        #expect(symlink(outside, tree + "/escape") == 0)
        #expect(symlink(outside + "/notes.txt", tree + "/optimizer/notes") == 0)
        let before = try snapshot(outside)
        let store = try store(pattern: "checkpoint-{step}")
        let found = store.scan(Self.moment)
        #expect(found.map(\.name) == ["checkpoint-7"] && found.allSatisfy(\.isValid), "\(found)")

        #expect(store.preserve(tree) == .preserved(store.preservedDirectory + "/checkpoint-7"))
        let copy = store.preservedDirectory + "/checkpoint-7"
        #expect(TestSupport.read(copy + "/model.bin") == "weights")
        #expect(TestSupport.read(copy + "/optimizer/state.bin") == "state")
        #expect(!exists(copy + "/escape") && !exists(copy + "/optimizer/notes"), "links inside are not preserved")
        var original = stat()
        var linked = stat()
        #expect(lstat(tree + "/model.bin", &original) == 0 && lstat(copy + "/model.bin", &linked) == 0)
        #expect(original.st_ino == linked.st_ino, "preserved by hard link")

        let retention = store.apply(RetentionPlan(keep: [], remove: found, reasons: [:]))
        #expect(retention.removed == ["checkpoint-7"] && retention.failures.isEmpty, "\(retention.failures)")
        #expect(!exists(tree))
        #expect(try snapshot(outside) == before, "the links were removed, not what they point to")
        #expect(TestSupport.read(copy + "/model.bin") == "weights", "the preserved copy outlives the original")
    }

    @Test("a symbolic link as a sidecar is neither moved nor removed, and that is reported")
    func symlinkedSidecar() throws {
        defer { TestSupport.remove(root) }
        try writeOutside()
        try write("{\"step\": 1}", to: checkpoints + "/ckpt_step1.json")
        #expect(symlink(outside + "/ckpt_step100.meta.json", checkpoints + "/ckpt_step1.meta.json") == 0)
        let before = try snapshot(outside)
        let store = try store()
        let found = store.scan(Self.moment)
        #expect(found.first?.sidecars == [checkpoints + "/ckpt_step1.meta.json"])
        let retention = store.apply(RetentionPlan(keep: [], remove: found, reasons: [:]))
        #expect(retention.removed == ["ckpt_step1.json"])
        #expect(retention.failures.map(\.name) == ["ckpt_step1.meta.json"])
        #expect(retention.failures.first?.reason.contains("is a symbolic link: never removed") == true)
        #expect(exists(checkpoints + "/ckpt_step1.meta.json"))
        #expect(try snapshot(outside) == before)
    }

    // MARK: Failures

    /// Whether a directory can be made read-only for this process: by its mode when not root (root
    /// ignores it), else by the immutable attribute (needs CAP_LINUX_IMMUTABLE and ext4/xfs/btrfs).
    static let canMakeReadOnly: Bool = {
        guard let probe = try? TestSupport.temporaryDirectory("vigil-probe") else { return false }
        defer { TestSupport.remove(probe) }
        guard makeReadOnly(probe, true) else { return false }
        let blocked = mkdir(probe + "/x", 0o755) != 0
        _ = makeReadOnly(probe, false)
        return blocked
    }()

    /// Makes `path` read-only (or writable again) for this process; false when that is impossible.
    @discardableResult
    static func makeReadOnly(_ path: String, _ readOnly: Bool) -> Bool {
        if geteuid() != 0 { return chmod(path, readOnly ? 0o555 : 0o755) == 0 }
        #if os(Linux)
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            // FS_IOC_GETFLAGS / FS_IOC_SETFLAGS (_IOR/_IOW('f', 1/2, long)) and FS_IMMUTABLE_FL.
            var flags: Int32 = 0
            guard ioctl(fd, UInt(0x8008_6601), &flags) == 0 else { return false }
            flags = readOnly ? flags | 0x10 : flags & ~0x10
            return ioctl(fd, UInt(0x4008_6602), &flags) == 0
        #else
            return false
        #endif
    }

    @Test(
        "a read-only checkpoint directory: quarantine fails, and says so",
        .enabled(
            if: CheckpointDirectoryTests.canMakeReadOnly,
            "cannot make a directory read-only here (root without CAP_LINUX_IMMUTABLE or chattr support)"))
    func readOnlyDirectory() throws {
        defer { TestSupport.remove(root) }
        try writeCheckpoints(1, in: checkpoints)
        try FileManager.default.createDirectory(
            atPath: checkpoints + "/.quarantine", withIntermediateDirectories: true)
        let store = try store()
        let found = store.scan(Self.moment)
        #expect(Self.makeReadOnly(checkpoints, true))
        defer { Self.makeReadOnly(checkpoints, false) }
        let quarantine = store.quarantineInvalid(found)
        #expect(quarantine.moved.isEmpty)
        let failure = try #require(quarantine.failures.first)
        #expect(failure.name == "ckpt_step99.json" && failure.operation == .quarantine)
        #expect(failure.reason.contains("cannot move to \(checkpoints)/.quarantine/ckpt_step99.json"), "\(failure)")
        #expect(
            failure.reason.hasSuffix(String(cString: strerror(EPERM)))
                || failure.reason.hasSuffix(String(cString: strerror(EACCES))), "\(failure)")
        #expect(exists(checkpoints + "/ckpt_step99.json"))
    }

    // MARK: A symbolic link as the checkpoint directory

    @Test("the checkpoint directory itself may be a symbolic link: every change lands in the real directory")
    func symlinkedCheckpointDirectory() throws {
        defer { TestSupport.remove(root) }
        let real = root + "/bigdisk/ckpt"
        try writeCheckpoints(3, in: real)
        let link = root + "/linked"
        #expect(symlink(real, link) == 0)
        let store = try store(link)
        let found = store.scan(Self.moment)
        #expect(found.count == 4)

        let quarantine = store.quarantineInvalid(found)
        #expect(quarantine.failures.isEmpty, "\(quarantine.failures)")
        #expect(quarantine.moved.map(\.movedTo) == [link + "/.quarantine/ckpt_step99.json"])
        #expect(TestSupport.read(real + "/.quarantine/ckpt_step99.json.reason").contains("JSON"))
        try write("{\"step\": 99, \"again", to: real + "/ckpt_step99.json")
        let again = store.quarantineInvalid(store.scan(Self.moment))
        let second = try #require(again.moved.first?.movedTo)
        #expect(second.hasPrefix(link + "/.quarantine/ckpt_step99.json.") && again.failures.isEmpty, "\(second)")
        #expect(names(real + "/.quarantine").count == 4, "nothing in quarantine is replaced")

        let valid = found.filter(\.isValid)
        for checkpoint in valid {
            #expect(store.preserve(checkpoint.path) == .preserved(store.preservedDirectory + "/" + checkpoint.name))
            for sidecar in checkpoint.sidecars { #expect(store.preserve(sidecar).failure == nil) }
        }
        #expect(names(real + "/preserved").count == 6)
        #expect(store.scan(Self.moment, in: store.preservedDirectory).count == 3)

        let plan = RetentionPlan.make(valid, rule: RetentionRule(keepLast: 1), resumeTarget: nil)
        let retention = store.apply(plan)
        #expect(retention.removed == ["ckpt_step1.json", "ckpt_step2.json"] && retention.failures.isEmpty)
        #expect(names(real).filter { $0.hasPrefix("ckpt_step") } == ["ckpt_step3.json", "ckpt_step3.meta.json"])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == real, "the link itself stays")
        #expect(store.refusal(of: CheckpointStore.preservedName) == nil)
    }

    // MARK: DirectoryHandle

    @Test("DirectoryHandle refuses names that are not one path component, and links or files as directories")
    func handleRefusals() throws {
        defer { TestSupport.remove(root) }
        try writeOutside()
        #expect(symlink(outside, checkpoints + "/link") == 0)
        try write("x", to: checkpoints + "/file")
        let handle = try DirectoryHandle(resolving: checkpoints)
        for name in ["", ".", "..", "a/b", "../outside"] {
            #expect(throws: VigilError.self) { try handle.remove(name) }
        }
        let link = #expect(throws: VigilError.self) { try handle.subdirectory("link") }
        #expect(
            link?.description == checkpoints
                + "/link: is a symbolic link (to \(outside)): refused, nothing is done through it")
        let file = #expect(throws: VigilError.self) { try handle.subdirectory("file", create: true) }
        #expect(file?.description.contains("is not a directory but a regular file") == true)
        #expect(throws: VigilError.self) { try handle.createFile("file", contents: Data()) }
        #expect(try handle.remove("missing") == false)
        #expect(Set(try handle.entries()) == ["link", "file"])
        #expect(Set(try handle.entries()) == ["link", "file"], "a second listing starts from the beginning")
    }

    // MARK: End to end

    @Test("vigil checkpoints prune with a symlinked preserved/: warns, exits 1, leaves the outside alone")
    func pruneCommand() throws {
        defer { TestSupport.remove(root) }
        try writeOutside()
        try writeCheckpoints(4, in: checkpoints)
        #expect(symlink(outside, checkpoints + "/preserved") == 0)
        let before = try snapshot(outside)
        for name in names(checkpoints) where name != "preserved" {
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: checkpoints + "/" + name)
        }
        let policy = root + "/keep2.json5"
        try write(#"{ checkpoints: { pattern: "ckpt_step{step}.json", keepLast: 2 } }"#, to: policy)
        let common = [
            "--policy", policy, "--dir", checkpoints, "--pattern", "ckpt_step{step}.json", "--metadata",
            "{stem}.meta.json",
        ]
        let prune = try TestProcess.vigil(["checkpoints", "prune"] + common)
        #expect(prune.exitCode() == 1, "\(prune.output)")
        #expect(prune.stdout.contains("removed ckpt_step1.json") && prune.stdout.contains("removed ckpt_step2.json"))
        #expect(
            prune.stderr.contains(
                "vigil: warning: cannot scan preserved/: \(checkpoints)/preserved: is a symbolic link (to \(outside))"),
            "\(prune.stderr)")
        #expect(
            names(checkpoints).filter { $0.hasPrefix("ckpt_step") && !$0.contains("meta") } == [
                "ckpt_step3.json", "ckpt_step4.json", "ckpt_step99.json",
            ])

        let json = try TestProcess.vigil(["checkpoints", "prune", "--json"] + common)
        #expect(json.exitCode() == 1, "\(json.output)")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let failures = try #require(object?["failures"] as? [[String: Any]])
        #expect(failures.map { $0["name"] as? String } == ["preserved/"])
        #expect(failures.first?["operation"] as? String == "scan")
        #expect(try snapshot(outside) == before)
    }

    @Test("vigil run: a refused quarantine and preserved/ are warnings and go into the journal")
    func runRecordsFailures() throws {
        defer { TestSupport.remove(root) }
        try writeOutside()
        try write("{\"step\": 0, \"lo", to: checkpoints + "/ckpt_step0.json")
        try write("not a directory", to: checkpoints + "/.quarantine")
        #expect(symlink(outside, checkpoints + "/preserved") == 0)
        let before = try snapshot(outside)
        let policy = root + "/policy.json5"
        try write(
            """
            { checkpoints: { dir: "\(checkpoints)", pattern: "ckpt_step{step}.json", preserve: true, keepLast: 1,
                             onSuccess: "prune" } }
            """, to: policy)
        let vigil = try TestProcess.vigil(
            ["run", "--name", "refused", "--log-dir", root + "/logs", "--policy", policy, "--"]
                + [TestSupport.python, TestSupport.fixtureTrainer, "--checkpoint-dir", checkpoints, "--steps", "2"])
        #expect(vigil.exitCode() == 0, "\(vigil.output)")
        #expect(vigil.stderr.contains("vigil: warning: cannot quarantine ckpt_step0.json: "), "\(vigil.stderr)")
        #expect(vigil.stderr.contains("vigil: warning: cannot preserve ckpt_step"), "\(vigil.stderr)")
        let attempt = try #require(try TestSupport.journal(root + "/logs", "refused").attempts.first)
        let failures = attempt.checkpointFailures ?? []
        #expect(failures.contains { $0.operation == .quarantine && $0.name == "ckpt_step0.json" }, "\(failures)")
        #expect(failures.contains { $0.operation == .preserve && $0.reason.contains("symbolic link") })
        #expect(failures.contains { $0.operation == .scan && $0.name == "preserved/" })
        #expect(attempt.preserved == nil)
        #expect(exists(checkpoints + "/ckpt_step0.json"))
        #expect(try snapshot(outside) == before)
    }
}
