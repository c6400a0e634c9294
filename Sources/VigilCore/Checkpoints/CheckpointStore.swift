import Foundation

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
        self.directory = settings.dir.hasPrefix("/") ? settings.dir : workingDirectory + "/" + settings.dir
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
        /// The trainer exited at `exitedAt`; `killed` when by a signal (a write may have been cut).
        case afterExit(exitedAt: Date, killed: Bool)
    }

    /// Every checkpoint in `directory` (default: the checkpoint directory), by step then time. Another
    /// directory (`preserved/`) is scanned only when it is not a symbolic link: nothing from outside.
    public func scan(_ moment: Moment, in directory: String? = nil) -> [Checkpoint] {
        let dir = directory ?? self.directory
        guard let names = entryNames(in: dir) else { return [] }
        var found: [Checkpoint] = []
        for name in names {
            guard let step = pattern.step(of: name) else { continue }
            found.append(inspect(dir + "/" + name, name: name, step: step, moment: moment))
        }
        return found.sorted(by: Checkpoint.byStep)
    }

    /// The checkpoint to resume from: the newest valid one (in the directory, else in `preserved/`),
    /// not older than `notBefore`.
    public func resumeTarget(in checkpoints: [Checkpoint], notBefore: Date? = nil) -> Checkpoint? {
        checkpoints.last { checkpoint in
            checkpoint.isValid && (notBefore.map { checkpoint.modified > $0 } ?? true)
        }
    }

    static let temporaryMarkers = [".tmp", ".temp", ".partial", ".part", ".incomplete", ".inprogress", ".lock", "~"]

    func inspect(_ path: String, name: String, step: Int, moment: Moment) -> Checkpoint {
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
        if isLink {
            checkpoint.invalidReason = "is a symbolic link (never followed, never removed)"
            return checkpoint
        }
        let sidecar = metadataPath(for: checkpoint)
        if let sidecar, FileManager.default.fileExists(atPath: sidecar) { checkpoint.sidecars.append(sidecar) }
        if FileManager.default.fileExists(atPath: path + ".sha256") { checkpoint.sidecars.append(path + ".sha256") }
        checkpoint.invalidReason = problem(with: checkpoint, sidecar: sidecar, moment: moment)
        if checkpoint.invalidReason == nil, let sidecar {
            checkpoint.metrics = CheckpointStore.metrics(in: sidecar)
        }
        return checkpoint
    }

    /// Why `checkpoint` cannot be resumed from, or nil.
    func problem(with checkpoint: Checkpoint, sidecar: String?, moment: Moment) -> String? {
        let lower = checkpoint.name.lowercased()
        if let marker = CheckpointStore.temporaryMarkers.first(where: { lower.hasSuffix($0) })
            ?? (lower.hasPrefix(".") ? "." : nil)
        {
            return "temporary or partial name ('\(marker)')"
        }
        if checkpoint.size == 0 { return checkpoint.isDirectory ? "empty directory" : "empty file" }
        if case .live(let now) = moment, now.timeIntervalSince(checkpoint.modified) < settings.settle {
            return
                "still being written (modified \(DurationFormat.string(from: max(0, now.timeIntervalSince(checkpoint.modified)))) ago)"
        }
        var proven: String?
        if checkpoint.isDirectory, let marker = settings.marker {
            guard FileManager.default.fileExists(atPath: checkpoint.path + "/" + marker) else {
                return "completion marker '\(marker)' missing"
            }
            proven = "marker present"
        }
        if let verdict = CheckpointFormat.verifySHA256Sidecar(for: checkpoint.path, isDirectory: checkpoint.isDirectory)
        {
            switch verdict {
            case .incomplete(let why): return why
            case .complete(let what): proven = what
            case .unknown: break
            }
        }
        switch CheckpointFormat.check(checkpoint.path, isDirectory: checkpoint.isDirectory) {
        case .incomplete(let why): return why
        case .complete(let what): proven = proven ?? what
        case .unknown: break
        }
        if let sidecar {
            if FileManager.default.fileExists(atPath: sidecar) {
                guard let data = FileManager.default.contents(atPath: sidecar),
                    (try? JSONSerialization.jsonObject(with: data)) != nil
                else { return "metadata sidecar \((sidecar as NSString).lastPathComponent) is not valid JSON" }
            } else if settings.metadataRequired {
                return "metadata sidecar \((sidecar as NSString).lastPathComponent) missing"
            }
        }
        if case .afterExit(let exitedAt, let killed) = moment, killed, proven == nil,
            exitedAt.timeIntervalSince(checkpoint.modified) < settings.settle
        {
            let age = DurationFormat.string(from: max(0, exitedAt.timeIntervalSince(checkpoint.modified)))
            return "possibly partial: modified \(age) before the trainer was killed, and nothing proves it complete"
        }
        return nil
    }

    /// The metadata sidecar's path for `checkpoint`, when the policy names one.
    func metadataPath(for checkpoint: Checkpoint) -> String? {
        guard let template = settings.metadata else { return nil }
        let stem = checkpoint.isDirectory ? checkpoint.name : (checkpoint.name as NSString).deletingPathExtension
        let name = template.replacingOccurrences(of: "{stem}", with: stem)
            .replacingOccurrences(of: "{name}", with: checkpoint.name)
            .replacingOccurrences(of: "{step}", with: String(checkpoint.step))
        let base = (checkpoint.path as NSString).deletingLastPathComponent
        return base + "/" + name
    }

    /// Numeric values of a JSON sidecar (top level, and one level down: `{"metrics": {...}}`).
    static func metrics(in path: String) -> [String: Double] {
        guard let data = FileManager.default.contents(atPath: path),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return [:] }
        var metrics: [String: Double] = [:]
        func take(_ dict: [String: Any], prefix: String) {
            for (key, value) in dict {
                if let number = value as? NSNumber, !(value is Bool) {
                    metrics[prefix + key] = number.doubleValue
                } else if let nested = value as? [String: Any], prefix.isEmpty {
                    take(nested, prefix: key + ".")
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
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total = 0
        while let relative = enumerator.nextObject() as? String {
            var info = stat()
            if lstat(path + "/" + relative, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                total += Int(info.st_size)
            }
        }
        return total
    }
}
