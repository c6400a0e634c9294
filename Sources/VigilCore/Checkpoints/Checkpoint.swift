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

/// One checkpoint found in the checkpoint directory: a file or a directory whose name matches the
/// policy's pattern, with its step, its metadata sidecar's metrics and whether it can be resumed from.
public struct Checkpoint: Sendable, Equatable, Codable {
    /// Absolute path.
    public var path: String
    /// The name inside the checkpoint directory.
    public var name: String
    /// The number the pattern's `{step}` matched.
    public var step: Int
    public var isDirectory: Bool
    /// Total size in bytes (a directory's regular files added up).
    public var size: Int
    public var modified: Date
    /// Numeric metrics from the metadata sidecar (`{stem}.json`), if any.
    public var metrics: [String: Double]
    /// Paths of the files that belong with it (metadata sidecar, `.sha256`), moved and removed with it.
    public var sidecars: [String]
    /// Nil when valid; otherwise why it cannot be resumed from.
    public var invalidReason: String?
    /// When valid, what proves it complete (`renamed-in`, `closed-before-stop`, `format: …`,
    /// `sha256 sidecar`, `marker NAME`, or `unproven` when nothing speaks against it).
    public var evidence: String?
    /// The file's (or directory's) inode, to tell a checkpoint from another one under the same name.
    public var inode: UInt64 = 0

    public init(
        path: String, name: String, step: Int, isDirectory: Bool, size: Int, modified: Date,
        metrics: [String: Double] = [:], sidecars: [String] = [], invalidReason: String? = nil
    ) {
        self.path = path
        self.name = name
        self.step = step
        self.isDirectory = isDirectory
        self.size = size
        self.modified = modified
        self.metrics = metrics
        self.sidecars = sidecars
        self.invalidReason = invalidReason
    }

    public var isValid: Bool { invalidReason == nil }
}

/// A checkpoint proven complete by what Vigil observed (`renamed-in`, `closed-before-stop`), kept in
/// the journal so that later scans — a rerun after the runtime limit, after Vigil itself was killed —
/// still know it; it holds only while the file is the same one (inode, size, modification time).
public struct CheckpointProof: Sendable, Equatable, Codable {
    public var evidence: String
    public var inode: UInt64
    public var size: Int
    public var modified: Date

    public init(evidence: String, of checkpoint: Checkpoint) {
        self.evidence = evidence
        self.inode = checkpoint.inode
        self.size = checkpoint.size
        self.modified = checkpoint.modified
    }

    /// Whether `checkpoint` is still the file this proof was made for (the journal keeps times to the
    /// millisecond).
    public func describes(_ checkpoint: Checkpoint) -> Bool {
        inode == checkpoint.inode && size == checkpoint.size
            && abs(modified.timeIntervalSince(checkpoint.modified)) < 0.001
    }
}

/// Ordering used everywhere: by step, then by modification time.
extension Checkpoint {
    public static func byStep(_ a: Checkpoint, _ b: Checkpoint) -> Bool {
        a.step != b.step ? a.step < b.step : a.modified < b.modified
    }
}
