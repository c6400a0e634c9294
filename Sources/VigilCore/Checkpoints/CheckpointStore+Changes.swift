import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The only changes Vigil makes to a checkpoint directory: quarantine, retention, preservation.
extension CheckpointStore {
    /// A checkpoint moved to quarantine, for the journal.
    public struct Quarantined: Sendable, Equatable, Codable {
        public var name: String
        public var step: Int
        public var reason: String
        public var movedTo: String
    }

    /// Moves every invalid checkpoint (but symbolic links, and ones still being written) to
    /// `.quarantine/`, with its sidecars and a `.reason` file. Nothing is ever deleted here.
    public func quarantineInvalid(_ checkpoints: [Checkpoint], now: Date = Date()) -> [Quarantined] {
        var moved: [Quarantined] = []
        for checkpoint in checkpoints {
            guard let reason = checkpoint.invalidReason, !reason.hasPrefix("still being written"),
                !reason.hasPrefix("is a symbolic link")
            else { continue }
            try? FileManager.default.createDirectory(atPath: quarantineDirectory, withIntermediateDirectories: true)
            var target = quarantineDirectory + "/" + checkpoint.name
            if FileManager.default.fileExists(atPath: target) {
                target += "." + Journal.timestamp(now).replacingOccurrences(of: ":", with: "")
            }
            guard rename(checkpoint.path, target) == 0 else { continue }
            for sidecar in checkpoint.sidecars {
                rename(
                    sidecar,
                    quarantineDirectory + "/" + (target as NSString).lastPathComponent + "."
                        + (sidecar as NSString).lastPathComponent)
            }
            try? AtomicFile.write(Data("\(reason)\n".utf8), to: target + ".reason")
            moved.append(Quarantined(name: checkpoint.name, step: checkpoint.step, reason: reason, movedTo: target))
        }
        return moved
    }

    /// Deletes what `plan` removes: only regular files and directories directly inside the
    /// checkpoint directory (or `preserved/`), never through a symbolic link. Returns the names removed.
    @discardableResult
    public func apply(_ plan: RetentionPlan) -> [String] {
        var removed: [String] = []
        for checkpoint in plan.remove {
            let parent = (checkpoint.path as NSString).deletingLastPathComponent
            guard parent == directory || parent == preservedDirectory else { continue }
            for path in [checkpoint.path] + checkpoint.sidecars where CheckpointStore.removeSafely(path) {
                if path == checkpoint.path { removed.append(checkpoint.name) }
            }
        }
        return removed
    }

    /// Removes a regular file, or a directory tree without following any symbolic link in it.
    static func removeSafely(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return unlink(path) == 0
        case S_IFDIR:
            // FileManager.removeItem unlinks symbolic links inside a tree rather than following them.
            return (try? FileManager.default.removeItem(atPath: path)) != nil
        default: return false  // symbolic links, devices, sockets: not ours to remove
        }
    }

    /// Hard-links (or copies, across file systems) `path` and its sidecars into `preserved/`,
    /// unless already there. Returns the preserved path.
    @discardableResult
    public func preserve(_ path: String) -> String? {
        try? FileManager.default.createDirectory(atPath: preservedDirectory, withIntermediateDirectories: true)
        let target = preservedDirectory + "/" + (path as NSString).lastPathComponent
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFLNK else { return nil }
        let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        if lstat(target, &info) == 0 && !isDirectory { return target }
        return CheckpointStore.linkTree(path, to: target) ? target : nil
    }

    /// Hard-links a file, or every regular file of a directory tree (directories re-created);
    /// copies where a link is impossible (another file system). Existing targets are kept.
    static func linkTree(_ source: String, to target: String) -> Bool {
        var info = stat()
        guard lstat(source, &info) == 0 else { return false }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            if lstat(target, &info) == 0 { return true }
            if link(source, target) == 0 { return true }
            return (try? FileManager.default.copyItem(atPath: source, toPath: target)) != nil
        case S_IFDIR:
            mkdir(target, 0o755)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: source) else { return false }
            return names.map { linkTree(source + "/" + $0, to: target + "/" + $0) }.allSatisfy { $0 }
        default:
            return true  // symbolic links are not followed, nor preserved
        }
    }
}
