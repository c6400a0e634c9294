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

/// The only changes Vigil makes to a checkpoint directory: quarantine, retention, preservation.
///
/// Each change resolves the checkpoint directory once (it may be a symbolic link, e.g. to a bigger
/// disk), opens it by descriptor and works inside it through a `DirectoryHandle`: `.quarantine/`
/// and `preserved/` are opened (`O_NOFOLLOW`) before every move, link and removal, and are refused
/// when they are a symbolic link or not a directory. Nothing outside is ever touched; what could not
/// be done comes back as a `Failure`.
extension CheckpointStore {
    /// A checkpoint moved to quarantine, for the journal.
    public struct Quarantined: Sendable, Equatable, Codable {
        public var name: String
        public var step: Int
        public var reason: String
        public var movedTo: String
    }

    /// Something Vigil could not do, or refused to do, in the checkpoint directory: a warning for
    /// the user and an entry in the journal.
    public struct Failure: Error, Sendable, Equatable, Codable, CustomStringConvertible {
        /// Which change it was.
        public enum Operation: String, Sendable, Codable, CaseIterable {
            case quarantine, remove, preserve, scan
        }

        /// The checkpoint, sidecar or directory (`preserved`, `.quarantine`) concerned.
        public var name: String
        public var operation: Operation
        /// Why, naming the path: the system's error text, or what Vigil refused and why.
        public var reason: String

        /// A failure of `operation` on `name`.
        public init(name: String, operation: Operation, reason: String) {
            self.name = name
            self.operation = operation
            self.reason = reason
        }

        init(_ name: String, _ operation: Operation, _ error: any Error) {
            self.init(name: name, operation: operation, reason: "\(error)")
        }

        /// `cannot remove ckpt_step3.pt: …`
        public var description: String { "cannot \(operation.rawValue) \(name): \(reason)" }
    }

    /// What `quarantineInvalid` did.
    public struct QuarantineResult: Sendable, Equatable {
        /// The checkpoints moved to `.quarantine/`.
        public var moved: [Quarantined]
        /// What could not be moved (or written: a sidecar, the `.reason` file), and why.
        public var failures: [Failure]

        /// A result from its parts.
        public init(moved: [Quarantined] = [], failures: [Failure] = []) {
            self.moved = moved
            self.failures = failures
        }
    }

    /// What `apply(_:)` did.
    public struct RetentionResult: Sendable, Equatable {
        /// The names of the checkpoints removed.
        public var removed: [String]
        /// What could not be removed, and why.
        public var failures: [Failure]

        /// A result from its parts.
        public init(removed: [String] = [], failures: [Failure] = []) {
            self.removed = removed
            self.failures = failures
        }
    }

    /// What `preserve(_:)` did.
    public enum Preservation: Sendable, Equatable {
        /// Linked (or copied) into `preserved/` at this path, or already there.
        case preserved(String)
        /// Gone before it could be linked (the trainer removed or renamed it).
        case vanished
        /// Not preserved, and why.
        case failed(Failure)

        /// The failure, when it is one.
        public var failure: Failure? {
            if case .failed(let failure) = self { return failure }
            return nil
        }
    }

    // MARK: Quarantine

    /// Moves every invalid checkpoint (but symbolic links, and ones still being written) from the
    /// checkpoint directory or `preserved/` to `.quarantine/`, with its sidecars (as `NAME.SIDECAR`)
    /// and a `NAME.reason` file. Nothing is ever deleted here, nor replaced in `.quarantine/`.
    public func quarantineInvalid(_ checkpoints: [Checkpoint], now: Date = Date()) -> QuarantineResult {
        let invalid = checkpoints.compactMap { checkpoint -> (Checkpoint, String)? in
            guard let reason = checkpoint.invalidReason, !reason.hasPrefix("still being written"),
                !reason.hasPrefix("is a symbolic link")
            else { return nil }
            return (checkpoint, reason)
        }
        var result = QuarantineResult()
        guard !invalid.isEmpty else { return result }
        let root: DirectoryHandle
        do {
            root = try DirectoryHandle(resolving: directory)
        } catch {
            result.failures = invalid.map { Failure($0.0.name, .quarantine, error) }
            return result
        }
        for (checkpoint, reason) in invalid {
            do {
                if let moved = try quarantine(checkpoint, because: reason, root: root, now: now, &result.failures) {
                    result.moved.append(moved)
                }
            } catch {
                result.failures.append(Failure(checkpoint.name, .quarantine, error))
            }
        }
        return result
    }

    /// Moves one checkpoint and its sidecars to `.quarantine/`; nil when it vanished. Failures of
    /// its sidecars and of the `.reason` file go into `failures`; the checkpoint is moved all the same.
    private func quarantine(
        _ checkpoint: Checkpoint, because reason: String, root: DirectoryHandle, now: Date,
        _ failures: inout [Failure]
    ) throws -> Quarantined? {
        let source = try parent(of: checkpoint.path, root: root)
        let quarantine = try root.subdirectory(CheckpointStore.quarantineName, create: true)
        let entry = CheckpointStore.entryName(checkpoint.path)
        let target = try CheckpointStore.freeName(for: entry, in: quarantine, now: now)
        guard try source.move(entry, to: quarantine, as: target) else { return nil }
        for sidecar in checkpoint.sidecars {
            let name = CheckpointStore.entryName(sidecar)
            do {
                try CheckpointStore.checkSidecar(sidecar, of: checkpoint)
                try source.move(name, to: quarantine, as: target + "." + name)
            } catch {
                failures.append(Failure(name, .quarantine, error))
            }
        }
        do {
            try quarantine.createFile(target + ".reason", contents: Data("\(reason)\n".utf8))
        } catch {
            failures.append(Failure(target + ".reason", .quarantine, error))
        }
        return Quarantined(
            name: checkpoint.name, step: checkpoint.step, reason: reason, movedTo: quarantineDirectory + "/" + target)
    }

    /// `name`, or `name.TIMESTAMP` (then `-2`, `-3`…) when `name` or its `.reason` is in quarantine already.
    private static func freeName(for name: String, in quarantine: DirectoryHandle, now: Date) throws -> String {
        let stamp = Journal.timestamp(now).replacing(":", with: "")
        var candidate = name
        var tries = 0
        while try quarantine.status(of: candidate) != nil || quarantine.status(of: candidate + ".reason") != nil {
            tries += 1
            candidate = name + "." + stamp + (tries > 1 ? "-\(tries)" : "")
        }
        return candidate
    }

    // MARK: Retention

    /// Deletes what `plan` removes, with its sidecars: only regular files and directory trees
    /// directly inside the checkpoint directory or `preserved/`, by name through the opened
    /// directory, never through a symbolic link (a symbolic link inside a tree is unlinked, not
    /// followed). A checkpoint that could not be removed keeps its sidecars.
    @discardableResult
    public func apply(_ plan: RetentionPlan) -> RetentionResult {
        var result = RetentionResult()
        guard !plan.remove.isEmpty else { return result }
        let root: DirectoryHandle
        do {
            root = try DirectoryHandle(resolving: directory)
        } catch {
            result.failures = plan.remove.map { Failure($0.name, .remove, error) }
            return result
        }
        for checkpoint in plan.remove {
            do {
                let parent = try parent(of: checkpoint.path, root: root)
                guard try parent.remove(CheckpointStore.entryName(checkpoint.path)) else { continue }
                result.removed.append(checkpoint.name)
                for sidecar in checkpoint.sidecars {
                    do {
                        try CheckpointStore.checkSidecar(sidecar, of: checkpoint)
                        try parent.remove(CheckpointStore.entryName(sidecar))
                    } catch {
                        result.failures.append(Failure(CheckpointStore.entryName(sidecar), .remove, error))
                    }
                }
            } catch {
                result.failures.append(Failure(checkpoint.name, .remove, error))
            }
        }
        return result
    }

    // MARK: Preservation

    /// Hard-links (or copies, across file systems) the entry at `path`, directly inside the
    /// checkpoint directory, into `preserved/` under the same name. An existing file there is kept; a
    /// directory is merged into an existing one. Symbolic links are never followed: one as `path`
    /// is refused, one inside a directory is skipped.
    public func preserve(_ path: String) -> Preservation {
        let name = CheckpointStore.entryName(path)
        do {
            guard CheckpointStore.normalized(CheckpointStore.parentPath(path)) == CheckpointStore.normalized(directory)
            else {
                throw VigilError(.io, file: path, "is not directly inside \(directory): not preserved")
            }
            let root = try DirectoryHandle(resolving: directory)
            guard try root.kind(of: name) != nil else { return .vanished }
            let preserved = try root.subdirectory(CheckpointStore.preservedName, create: true)
            guard try root.link(name, into: preserved, as: name) else { return .vanished }
            return .preserved(preservedDirectory + "/" + name)
        } catch {
            return .failed(Failure(name, .preserve, error))
        }
    }

    // MARK: Layout

    /// Why Vigil refuses the subdirectory `name` (`CheckpointStore.preservedName` or
    /// `quarantineName`): it is a symbolic link or not a directory, so it is neither scanned nor
    /// changed. A `.scan` failure named `NAME/`; nil when it is a real directory, or is absent, or the
    /// checkpoint directory cannot be opened.
    public func refusal(of name: String) -> Failure? {
        guard let root = try? DirectoryHandle(resolving: directory), let refusal = root.refusal(of: name) else {
            return nil
        }
        return Failure(name + "/", .scan, refusal)
    }

    /// The names in `dir`, for `scan`: the checkpoint directory is listed by path (it may be a
    /// symbolic link); any other directory only when it is a real directory, not a symbolic link,
    /// so a resume target never comes from outside. Nil when it cannot be listed.
    func entryNames(in dir: String) -> [String]? {
        if CheckpointStore.normalized(dir) == CheckpointStore.normalized(directory) {
            return try? FileManager.default.contentsOfDirectory(atPath: dir)
        }
        return try? DirectoryHandle(resolving: CheckpointStore.parentPath(dir))
            .subdirectory(CheckpointStore.entryName(dir)).entries()
    }

    /// The handle for the directory `path` is directly inside: the checkpoint directory, or its
    /// `preserved/` (opened now, refused when it is a symbolic link).
    private func parent(of path: String, root: DirectoryHandle) throws -> DirectoryHandle {
        let parent = CheckpointStore.normalized(CheckpointStore.parentPath(path))
        if parent == CheckpointStore.normalized(directory) { return root }
        if parent == CheckpointStore.normalized(preservedDirectory) {
            return try root.subdirectory(CheckpointStore.preservedName)
        }
        throw VigilError(
            .io, file: path, "is not directly inside \(directory) or its \(CheckpointStore.preservedName)/: left alone")
    }

    /// Refuses a sidecar that is not next to its checkpoint (a metadata template with a `/`).
    private static func checkSidecar(_ sidecar: String, of checkpoint: Checkpoint) throws {
        guard normalized(parentPath(sidecar)) == normalized(parentPath(checkpoint.path)) else {
            throw VigilError(.io, file: sidecar, "is not next to its checkpoint \(checkpoint.name): left alone")
        }
    }

    /// The last path component.
    static func entryName(_ path: String) -> String { Path.lastComponent(path) }

    /// Everything but the last path component.
    static func parentPath(_ path: String) -> String { Path.parent(path) }

    /// `path` without empty and `.` components, for comparing (symbolic links are not resolved).
    static func normalized(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }
}
