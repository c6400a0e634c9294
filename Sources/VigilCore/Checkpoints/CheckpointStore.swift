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

/// The checkpoint directory as the policy describes it: discovery, validity, quarantine, retention.
/// Works on real files; every decision it makes is returned as values for the journal.
public struct CheckpointStore: Sendable {
    public let directory: String
    public let settings: Policy.Checkpoints
    let pattern: CheckpointPattern

    public static let quarantineName = ".quarantine"
    public static let preservedName = "preserved"

    /// Nil when the policy names no pattern (no discovery).
    public init?(settings: Policy.Checkpoints, workingDirectory: String) throws {
        guard let source = settings.pattern else { return nil }
        self.settings = settings
        self.directory = Paths.absolute(settings.dir, in: workingDirectory)
        do {
            self.pattern = try CheckpointPattern(source)
        } catch {
            throw VigilError(.invalidPolicy, key: "checkpoints.pattern", "cannot use pattern \"\(source)\": \(error)")
        }
    }

    public var quarantineDirectory: String { directory + "/" + CheckpointStore.quarantineName }
    public var preservedDirectory: String { directory + "/" + CheckpointStore.preservedName }

    /// What is known about the trainer when scanning.
    public enum Moment: Sendable {
        /// A trainer may be writing right now: young checkpoints are "still being written".
        case live(now: Date)
        /// The trainer exited at `exitedAt`; `killed` when by a signal (a write may have been cut);
        /// `stopSignalAt` when Vigil sent its first terminating signal (SIGTERM, SIGKILL, the dump
        /// signal) to the attempt, if it did.
        case afterExit(exitedAt: Date, killed: Bool, stopSignalAt: Date? = nil)
    }

    /// What proves a checkpoint complete beyond its own bytes: what Vigil saw happen to it while the
    /// trainer ran, and proofs recorded in the journal by earlier attempts.
    public struct Evidence: Sendable {
        public var observed: [String: CheckpointObservation]
        public var proven: [String: CheckpointProof]

        public init(observed: [String: CheckpointObservation] = [:], proven: [String: CheckpointProof] = [:]) {
            self.observed = observed
            self.proven = proven
        }

        public static let none = Evidence()
    }

    /// A close this little before a trainer's death by a signal nobody announced (a foreign SIGKILL,
    /// the OOM killer) may be the kernel closing the file *as* the process dies: it proves nothing.
    /// (Vigil stamps the close and the exit on two threads; this is many times their spread.)
    public static let closeBeforeDeathMargin = 1.0

    /// The evidence that rests on what Vigil observed (not on the file itself): kept in the journal.
    public static let observedEvidence: Set<String> = ["renamed-in", "closed-before-stop", "closed"]

    /// Every checkpoint in `directory` (default: the checkpoint directory), by step then time. Another
    /// directory (`preserved/`) is scanned only when it is not a symbolic link: nothing from outside.
    public func scan(_ moment: Moment, in directory: String? = nil, evidence: Evidence = .none) -> [Checkpoint] {
        let dir = directory ?? self.directory
        guard let names = entryNames(in: dir) else { return [] }
        var found: [Checkpoint] = []
        for name in names {
            guard let step = pattern.step(of: name) else { continue }
            found.append(inspect(dir + "/" + name, name: name, step: step, moment: moment, evidence: evidence))
        }
        return found.sorted(by: Checkpoint.byStep)
    }

    /// Whether `name` is a checkpoint's name under the policy's pattern.
    public func matches(_ name: String) -> Bool {
        pattern.step(of: name) != nil
    }

    /// The checkpoint to resume from: the newest valid one (in the directory, else in `preserved/`),
    /// not older than `notBefore`.
    public func resumeTarget(in checkpoints: [Checkpoint], notBefore: Date? = nil) -> Checkpoint? {
        checkpoints.last { checkpoint in
            checkpoint.isValid && (notBefore.map { checkpoint.modified > $0 } ?? true)
        }
    }

    static let temporaryMarkers = [".tmp", ".temp", ".partial", ".part", ".incomplete", ".inprogress", ".lock", "~"]

    func inspect(_ path: String, name: String, step: Int, moment: Moment, evidence: Evidence = .none) -> Checkpoint {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            return Checkpoint(
                path: path, name: name, step: step, isDirectory: false, size: 0, modified: Date(),
                invalidReason: "vanished while being inspected")
        }
        let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        let isLink = (info.st_mode & S_IFMT) == S_IFLNK
        #if canImport(Glibc)
            let modified = Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
        #else
            let modified = Date(
                timeIntervalSince1970: Double(info.st_mtimespec.tv_sec) + Double(info.st_mtimespec.tv_nsec) / 1e9)
        #endif
        var checkpoint = Checkpoint(
            path: path, name: name, step: step, isDirectory: isDirectory,
            size: isDirectory ? CheckpointStore.treeSize(path) : Int(info.st_size),
            modified: modified)
        checkpoint.inode = UInt64(info.st_ino)
        if isLink {
            checkpoint.invalidReason = "is a symbolic link (never followed, never removed)"
            return checkpoint
        }
        let sidecar = metadataPath(for: checkpoint)
        if let sidecar, FileManager.default.fileExists(atPath: sidecar) { checkpoint.sidecars.append(sidecar) }
        if FileManager.default.fileExists(atPath: path + ".sha256") { checkpoint.sidecars.append(path + ".sha256") }
        switch judge(checkpoint, sidecar: sidecar, moment: moment, evidence: evidence) {
        case .invalid(let reason): checkpoint.invalidReason = reason
        case .valid(let proof): checkpoint.evidence = proof
        }
        if checkpoint.invalidReason == nil, let sidecar {
            checkpoint.metrics = CheckpointStore.metrics(in: sidecar)
        }
        return checkpoint
    }

    /// A checkpoint's judgement: what proves it complete, or why it cannot be resumed from.
    enum Judgement: Equatable {
        /// Complete: the evidence that decided (`renamed-in`, `closed-before-stop`, `sha256 sidecar`,
        /// `marker trainer_state.json`, `format: …`, `unproven` when nothing speaks against it).
        case valid(String)
        case invalid(String)
    }

    /// Judges `checkpoint`: its name, its size, its own bytes (marker, `.sha256`, format), its metadata
    /// sidecar, then what was observed of it and when the trainer died. Structure that shows it cut
    /// short always wins; otherwise the strongest proof decides; "possibly partial" is kept for a
    /// checkpoint of a killed trainer that nothing proves complete and that was being written as it died.
    func judge(_ checkpoint: Checkpoint, sidecar: String?, moment: Moment, evidence: Evidence) -> Judgement {
        let lower = checkpoint.name.lowercased()
        if let marker = CheckpointStore.temporaryMarkers.first(where: { lower.hasSuffix($0) })
            ?? (lower.hasPrefix(".") ? "." : nil)
        {
            return .invalid("temporary or partial name ('\(marker)')")
        }
        if checkpoint.size == 0 { return .invalid(checkpoint.isDirectory ? "empty directory" : "empty file") }
        let observed = evidence.observed[checkpoint.name]
        if case .live(let now) = moment {
            if observed?.kind == .writing {
                return .invalid("still being written (vigil saw it written, not yet closed)")
            }
            if observed == nil, now.timeIntervalSince(checkpoint.modified) < settings.settle {
                let age = DurationFormat.string(from: max(0, now.timeIntervalSince(checkpoint.modified)))
                return .invalid("still being written (modified \(age) ago)")
            }
        }
        var proof: String?
        if checkpoint.isDirectory, let marker = settings.marker {
            guard FileManager.default.fileExists(atPath: checkpoint.path + "/" + marker) else {
                return .invalid("completion marker '\(marker)' missing")
            }
            proof = "marker \(marker)"
        }
        if let verdict = CheckpointFormat.verifySHA256Sidecar(for: checkpoint.path, isDirectory: checkpoint.isDirectory)
        {
            switch verdict {
            case .incomplete(let why): return .invalid(why)
            case .complete: proof = "sha256 sidecar"
            case .unknown: break
            }
        }
        switch CheckpointFormat.check(checkpoint.path, isDirectory: checkpoint.isDirectory) {
        case .incomplete(let why): return .invalid(why)
        case .complete(let what): proof = proof ?? "format: \(what)"
        case .unknown: break
        }
        if let sidecar {
            if FileManager.default.fileExists(atPath: sidecar) {
                guard let data = FileManager.default.contents(atPath: sidecar),
                    JSONValue.parse(data) != nil
                else {
                    return .invalid("metadata sidecar \(Path.lastComponent(sidecar)) is not valid JSON")
                }
            } else if settings.metadataRequired {
                return .invalid("metadata sidecar \(Path.lastComponent(sidecar)) missing")
            }
        }
        if let proof { return .valid(proof) }
        if let recorded = evidence.proven[checkpoint.name], recorded.describes(checkpoint) {
            return .valid(recorded.evidence)
        }
        return judgeByObservation(checkpoint, observed, moment)
    }

    /// The part of the judgement that rests on what Vigil saw and when the trainer died.
    private func judgeByObservation(
        _ checkpoint: Checkpoint, _ observed: CheckpointObservation?, _ moment: Moment
    )
        -> Judgement
    {
        guard case .afterExit(let exitedAt, let killed, let stopSignalAt) = moment else {
            return .valid(observed.map { $0.kind.rawValue } ?? "unproven")
        }
        switch observed?.kind {
        case .renamedIn?:
            return .valid("renamed-in")
        case .closed?:
            guard killed else { return .valid("closed") }
            let close = observed!.at
            if let stopSignalAt, close < stopSignalAt { return .valid("closed-before-stop") }
            if close < exitedAt.addingTimeInterval(-CheckpointStore.closeBeforeDeathMargin) {
                return .valid("closed-before-stop")
            }
            return .invalid(
                "possibly partial: it was being written when the trainer was killed (closed only as it died), and nothing proves it complete"
            )
        case .writing?:
            if killed {
                return .invalid(
                    "possibly partial: still open for writing when the trainer was killed, and nothing proves it complete"
                )
            }
        case nil:
            break
        }
        if killed, exitedAt.timeIntervalSince(checkpoint.modified) < settings.settle {
            let age = DurationFormat.string(from: max(0, exitedAt.timeIntervalSince(checkpoint.modified)))
            return .invalid(
                "possibly partial: modified \(age) before the trainer was killed, and nothing proves it complete")
        }
        return .valid("unproven")
    }

    /// The metadata sidecar's path for `checkpoint`, when the policy names one.
    func metadataPath(for checkpoint: Checkpoint) -> String? {
        guard let template = settings.metadata else { return nil }
        let stem = checkpoint.isDirectory ? checkpoint.name : Path.deletingExtension(checkpoint.name)
        let name = template.replacing("{stem}", with: stem)
            .replacing("{name}", with: checkpoint.name)
            .replacing("{step}", with: String(checkpoint.step))
        let base = Path.parent(checkpoint.path)
        return base + "/" + name
    }

    /// Numeric values of a JSON sidecar (top level, and one level down: `{"metrics": {...}}`).
    static func metrics(in path: String) -> [String: Double] {
        guard let data = FileManager.default.contents(atPath: path),
            case .object(let object)? = JSONValue.parse(data)
        else { return [:] }
        var metrics: [String: Double] = [:]
        func take(_ dict: [String: JSONValue], prefix: String) {
            for (key, value) in dict {
                switch value {
                case .int(let number): metrics[prefix + key] = Double(number)
                case .double(let number): metrics[prefix + key] = number
                case .object(let nested) where prefix.isEmpty: take(nested, prefix: key + ".")
                default: continue
                }
            }
        }
        take(object, prefix: "")
        for (key, value) in metrics where metrics[key.split(separator: ".").last.map(String.init) ?? key] == nil {
            metrics[key.split(separator: ".").last.map(String.init) ?? key] = value
        }
        return metrics
    }

    static func treeSize(_ path: String) -> Int {
        var total = 0
        Paths.walk(path) { relative in
            var info = stat()
            if lstat(path + "/" + relative, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                total += Int(info.st_size)
            }
            return true
        }
        return total
    }
}
