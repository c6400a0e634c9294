import Foundation

/// Everything that decides how a run is supervised, resolved from the embedded default, the chosen
/// policy file (and what it extends) and command-line flags. docs/policy.md documents every key.
public struct Policy: Sendable {
    /// The policy's name (the file's base name, or `default`).
    public var name: String
    /// The files this policy was resolved from, most general first.
    public var sources: [String]
    public var restart = Restart()
    public var resume = Resume()
    public var output = Output()
    public var stop = Stop()
    public var checkpoints = Checkpoints()
    /// Ordered; the first rule that matches a failed attempt decides its verdict.
    public var rules: [Rule] = []

    public init(name: String, sources: [String] = []) {
        self.name = name
        self.sources = sources
    }

    /// `restart`: how many times, and how soon, a failed trainer is started again.
    public struct Restart: Sendable, Equatable {
        /// Consecutive recoverable failures allowed before giving up (exit 2): attempts = 1 + maxRetries.
        public var maxRetries = 3
        /// Delay before restart k (1-based) = min(max, initial × factor^(k−1)) × (1 ± jitter).
        public var backoffInitial = 1.0
        public var backoffFactor = 2.0
        public var backoffMax = 60.0
        /// Fraction of the delay to randomise, 0 … 1.
        public var backoffJitter = 0.1
        /// An attempt that lived at least this long counts as healthy: its failure starts a fresh
        /// series (the consecutive-failure count and the backoff start over).
        public var healthyAfter = 600.0
        public init() {}
    }

    /// `resume`: how the trainer is told to continue.
    public struct Resume: Sendable, Equatable {
        /// Arguments appended to the trainer command when resuming.
        public var args = ["--resume"]
        public enum When: String, Sendable, CaseIterable { case afterFailure = "after-failure", never }
        public var when = When.afterFailure
        public init() {}
    }

    /// `output`: the per-attempt log files and the tail kept for classification.
    public struct Output: Sendable, Equatable {
        /// Size at which `attempt-NNN.log` is rotated; 0 = never.
        public var logMaxBytes = 100 * 1024 * 1024
        /// How many rotated files (`.1`, `.2`, …) to keep.
        public var logBackups = 3
        /// How much of each stream's end is kept in memory for classification.
        public var tailBytes = 64 * 1024
        /// Whether the trainer's output is copied to Vigil's own stdout/stderr.
        public var passthrough = true
        public init() {}
    }

    /// `stop`: how an attempt is stopped.
    public struct Stop: Sendable, Equatable {
        /// Time between SIGTERM to the trainer's group and SIGKILL.
        public var termGrace = 10.0
        public init() {}
    }

    /// `checkpoints`: where the trainer writes them.
    public struct Checkpoints: Sendable, Equatable {
        public var dir = "checkpoints"
        public init() {}
    }
}
