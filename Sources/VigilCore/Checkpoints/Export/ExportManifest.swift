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

/// `MANIFEST.json`, the last member of an exported archive: what was exported, from which run, and
/// the size and SHA-256 of every other file in it, which `vigil checkpoints verify` checks.
public struct ExportManifest: Codable, Sendable, Equatable {
    public static let formatName = "vigil-checkpoint-export"
    public static let fileName = "MANIFEST.json"

    public var format = ExportManifest.formatName
    public var formatVersion = 1
    public var vigilVersion = VigilCore.vigilVersion
    public var createdAt: Date
    /// The run's name, id, trainer command (redacted), working directory and policy.
    public var run: String
    public var runID: String
    public var command: [String]
    public var workingDirectory: String
    public var policy: String
    public var checkpoint: Exported
    /// The values `metrics.jsonl` last recorded at or before the checkpoint's step, when it has any.
    public var loggedMetrics: [String: Double]?
    /// The trainer's config, with `--include-config`.
    public var config: Config?
    /// Whether `report.md` was written now from the journal (the run had not written one: still running).
    public var reportGenerated: Bool
    /// Every file of the archive but this one, relative to its top directory.
    public var files: [File]

    /// The checkpoint that was exported.
    public struct Exported: Codable, Sendable, Equatable {
        public var name: String
        public var step: Int
        public var isDirectory: Bool
        /// `latest`, `best eval_loss (min)`, `step 500`.
        public var selectedBy: String
        /// What proved it complete (`renamed-in`, `format: zip`, …).
        public var evidence: String?
        /// Its metadata sidecar's numbers.
        public var metrics: [String: Double]
        public var modified: Date
        /// Where it is in the archive (`checkpoint/NAME`).
        public var path: String
    }

    public struct Config: Codable, Sendable, Equatable {
        /// In the archive (`config/NAME`).
        public var path: String
        /// Where it was (absolute).
        public var source: String
        public var sha256: String
        /// Whether it is the version the run's last attempt started with (nil: the journal has no hash).
        public var matchesLastAttempt: Bool?
    }

    public struct File: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int
        public var sha256: String
    }

    static let encoder: JSONEncoder = DrillText.encoder
    static let decoder: JSONDecoder = Journal.decoder
}
