#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `vigil checkpoints export`: one run's checkpoint, its sidecars, the run's `report.md` (and the
/// trainer's config) and a `MANIFEST.json`, in one `.tar.gz` written atomically.
public struct CheckpointExport: Sendable {
    /// Which checkpoint.
    public enum Selection: Sendable, Equatable {
        case latest
        /// The best by the policy's `checkpoints.keepBest`.
        case best
        case step(Int)
    }

    public var runDirectory: String
    public var journal: Journal
    public var policy: Policy
    public var selection = Selection.latest
    public var includeConfig = false
    public var redactor = Redactor.namesOnly

    public init(runDirectory: String, journal: Journal, policy: Policy) {
        self.runDirectory = runDirectory
        self.journal = journal
        self.policy = policy
    }

    /// What an export wrote.
    public struct Result: Sendable {
        public var path: String
        public var manifest: ExportManifest
        /// The archive's size.
        public var bytes: Int
    }

    /// One entry to write: where it goes in the archive and where it comes from.
    struct Member {
        enum Source {
            case file(String, size: Int)
            case directory
            case data(Data)
        }
        var path: String
        var source: Source
        var mode: mode_t
        var modified: Int
    }

    // MARK: - Choosing

    /// The checkpoint to export, and how it was chosen (`latest`, `best loss (min)`, `step 500`).
    /// - Throws: `.usage` when there is none (no pattern, no valid checkpoint, no such step, no keepBest).
    public func choose() throws -> (Checkpoint, String) {
        guard let store = try CheckpointStore(settings: policy.checkpoints, workingDirectory: journal.workingDirectory)
        else {
            throw VigilError(
                .usage, "the run's policy (\(policy.name)) has no checkpoints.pattern: vigil knows no checkpoints of it"
            )
        }
        let last = journal.attempts.last
        let live = journal.state == .running || journal.state == .backingOff
        let moment: CheckpointStore.Moment
        if let last, let ended = last.endedAt, !live {
            var killed = false
            if case .signaled? = last.exit { killed = true }
            moment = .afterExit(exitedAt: ended, killed: killed, stopSignalAt: last.signalsSent.first?.at)
        } else {
            moment = .live(now: Date())
        }
        let evidence = CheckpointStore.Evidence(proven: journal.checkpointProofs ?? [:])
        let valid = store.scan(moment, evidence: evidence).filter(\.isValid)
        guard !valid.isEmpty else {
            throw VigilError(.usage, file: store.directory, "no valid checkpoint of run \(journal.run) to export")
        }
        switch selection {
        case .latest:
            return (store.resumeTarget(in: valid)!, "latest")
        case .step(let step):
            guard let found = valid.last(where: { $0.step == step }) else {
                let steps = valid.map { String($0.step) }.suffix(12).joined(separator: ", ")
                throw VigilError(.usage, "no valid checkpoint of step \(step); the valid ones are of steps \(steps)")
            }
            return (found, "step \(step)")
        case .best:
            guard let rule = policy.checkpoints.retention.keepBest else {
                throw VigilError(
                    .usage,
                    "--best needs checkpoints.keepBest in the policy (\(policy.name)): the metric and order to rank by")
            }
            guard let best = rule.ranked(valid).first else {
                throw VigilError(
                    .usage,
                    "no valid checkpoint has the metric \(rule.metric) in its metadata sidecar (checkpoints.metadata)")
            }
            return (best.checkpoint, "best \(rule.metric) (\(rule.order.rawValue))")
        }
    }

    // MARK: - Writing

    /// Writes the archive to `path` (atomically: a temporary file beside it, fsync, rename).
    /// - Throws: `.io` for a symbolic link or anything not a regular file or directory in what would be
    ///   exported, and for I/O errors; `.usage` when `path` exists and `replace` is false.
    public func write(to path: String, replace: Bool = false) throws -> Result {
        let (checkpoint, selectedBy) = try choose()
        let root = Self.rootName(run: journal.run, step: checkpoint.step)
        var members = try checkpointMembers(checkpoint)
        let report = try reportMember()
        members.append(report.member)
        var config: (member: Member, source: String)?
        if includeConfig { config = try configMember() }
        if let config { members.append(config.member) }
        if FileManager.default.fileExists(atPath: path) && !replace {
            throw VigilError(.usage, file: path, "exists; give --force to replace it, or --output for another file")
        }
        let standardized = Path.standardized(path)
        guard !standardized.hasPrefix(Path.standardized(checkpoint.path) + "/") else {
            throw VigilError(.usage, file: path, "is inside the checkpoint being exported")
        }
        var manifest = ExportManifest(
            createdAt: Date(), run: journal.run, runID: journal.runID, command: redactor.redact(argv: journal.command),
            workingDirectory: journal.workingDirectory, policy: journal.policy,
            checkpoint: ExportManifest.Exported(
                name: checkpoint.name, step: checkpoint.step, isDirectory: checkpoint.isDirectory,
                selectedBy: selectedBy, evidence: checkpoint.evidence, metrics: checkpoint.metrics,
                modified: checkpoint.modified, path: "checkpoint/" + checkpoint.name),
            loggedMetrics: loggedMetrics(upTo: checkpoint.step), config: nil, reportGenerated: report.generated,
            files: [])
        let permissions: mode_t = policy.output.privateFiles ? 0o600 : 0o644
        let bytes = try Self.atomically(path, permissions: permissions) { writer in
            try writer.addDirectory(root, mode: 0o755, modified: Int(Date().timeIntervalSince1970))
            for member in members {
                if let file = try Self.add(member, root: root, to: writer) { manifest.files.append(file) }
            }
            if let config, let file = manifest.files.first(where: { $0.path == config.member.path }) {
                let last = journal.attempts.last(where: { $0.configHash != nil })?.configHash
                manifest.config = ExportManifest.Config(
                    path: config.member.path, source: config.source, sha256: file.sha256,
                    matchesLastAttempt: (journal.expectedConfigHash ?? last).map { $0 == file.sha256 })
            }
            var data = try ExportManifest.encoder.encode(manifest)
            data.append(0x0A)
            _ = try writer.addData(
                root + "/" + ExportManifest.fileName, data, mode: 0o644, modified: Int(Date().timeIntervalSince1970))
        }
        return Result(path: path, manifest: manifest, bytes: bytes)
    }

    /// `train-1a2b3c4d-step500`: the archive's top directory and default file name.
    public static func rootName(run: String, step: Int) -> String { "\(run)-step\(step)" }

    /// Writes one member; its manifest entry when it is a file.
    private static func add(_ member: Member, root: String, to writer: ArchiveWriter) throws -> ExportManifest.File? {
        let name = root + "/" + member.path
        switch member.source {
        case .directory:
            try writer.addDirectory(name, mode: member.mode, modified: member.modified)
            return nil
        case .data(let data):
            let digest = try writer.addData(name, data, mode: member.mode, modified: member.modified)
            return ExportManifest.File(path: member.path, size: data.count, sha256: digest)
        case .file(let source, let size):
            let input = try openRegular(source)
            defer { close(input) }
            let digest = try writer.addFile(
                name, input: input, source: source, size: size, mode: member.mode, modified: member.modified)
            return ExportManifest.File(path: member.path, size: size, sha256: digest)
        }
    }

    /// Creates a temporary file beside `path`, lets `body` fill it, fsyncs and renames it into place.
    static func atomically(_ path: String, permissions: mode_t, _ body: (ArchiveWriter) throws -> Void) throws -> Int {
        let directory = Path.parent(path)
        let name = Path.lastComponent(path)
        let folder = directory.isEmpty ? "." : directory
        let temporary = folder + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, permissions)
        guard fd >= 0 else { throw AtomicFile.ioError("cannot create", temporary) }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        let bytes: Int
        do {
            defer { close(fd) }
            let writer = try ArchiveWriter(fd: fd, path: temporary)
            try body(writer)
            try writer.finish()
            bytes = writer.bytesWritten
            guard fsync(fd) == 0 else { throw AtomicFile.ioError("cannot fsync", temporary) }
            fchmod(fd, permissions)
        }
        guard rename(temporary, path) == 0 else { throw AtomicFile.ioError("cannot rename into place", path) }
        renamed = true
        AtomicFile.syncDirectory(folder)
        return bytes
    }
}
