import Foundation

/// Everything that decides how a run is supervised, resolved from the embedded default, the chosen
/// policy file (and what it extends) and command-line flags. docs/policy.md documents every key.
public struct Policy: Sendable {
    /// The policy's name (the file's base name, or `default`).
    public var name: String
    /// The files this policy was resolved from, most general first.
    public var sources: [String]
    public var limits = Limits()
    public var restart = Restart()
    public var resume = Resume()
    public var output = Output()
    public var divergence = Divergence()
    public var stop = Stop()
    public var checkpoints = Checkpoints()
    public var config = Config()
    public var hooks = Hooks()
    /// Extra regular expressions whose matches are scrubbed from reports, status and HTML.
    public var redact: [String] = []
    /// Ordered; the first rule that matches a failed attempt decides its verdict.
    public var rules: [Rule] = []

    public init(name: String, sources: [String] = []) {
        self.name = name
        self.sources = sources
    }

    /// A time limit the stop sequence cannot fit in: `limits.runtime` or `limits.attempt` not longer
    /// than `stop.checkpointLead + stop.termGrace` (the stop would begin the moment the trainer starts,
    /// every time). Nil when both fit.
    public var limitThatCannotWork: (key: String, message: String)? {
        let needed = stop.checkpointLead + stop.termGrace
        for (key, value) in [("limits.runtime", limits.runtime), ("limits.attempt", limits.attempt)] {
            guard let value, value <= needed else { continue }
            let lead = DurationFormat.string(from: stop.checkpointLead)
            let grace = DurationFormat.string(from: stop.termGrace)
            return (
                key,
                "\(DurationFormat.string(from: value)) is not longer than stop.checkpointLead (\(lead)) + stop.termGrace (\(grace)): "
                    + "the stop sequence would begin as soon as the trainer starts; give a longer limit or shorten the lead and the grace"
            )
        }
        return nil
    }

    /// `limits`: the time budgets (nil = none).
    public struct Limits: Sendable, Equatable {
        /// This invocation's wall clock (a CI job's 6 hours); at its end: stop, exit 75.
        public var runtime: Double?
        /// An absolute end for this invocation (`--deadline`, a SLURM job's end), as Unix time.
        public var deadline: Double?
        /// One attempt's wall clock; past it the attempt is stopped and classified `timedOut`.
        public var attempt: Double?
        /// Compute across all attempts and invocations of the run; when spent: exit 2.
        public var total: Double?
        /// Don't start an attempt with less than this left before the runtime deadline.
        public var minAttempt: Double = 0
        /// No output and no new checkpoint for this long: the attempt is hung.
        public var stall: Double?
        /// Before a retry, wait at most this long for the GPUs to release the last attempt's memory
        /// (with `nvidia-smi`); 0 = do not wait.
        public var gpuRelease: Double = 60
        public init() {}
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
        /// A failure after the attempt wrote a new valid checkpoint starts a fresh series too.
        public var resetOnProgress = true
        public init() {}

        /// The number of the last attempt the budget allows, as attempt `attempt` starts after
        /// `consecutiveFailures` failures in a row (`VIGIL_MAX_ATTEMPTS`, the status line): attempt − failures +
        /// maxRetries. Saturates instead of trapping, whatever a journal says.
        public func lastAttempt(attempt: Int, consecutiveFailures: Int) -> Int {
            let (first, overflow) = attempt.subtractingReportingOverflow(consecutiveFailures)
            if overflow { return consecutiveFailures < 0 ? Int.max : Int.min }
            let (last, overflowed) = first.addingReportingOverflow(maxRetries)
            return overflowed ? (maxRetries < 0 ? Int.min : Int.max) : last
        }
    }

    /// `resume`: how the trainer is told to continue.
    public struct Resume: Sendable, Equatable {
        /// Arguments appended to the trainer command when resuming; `{checkpoint}` and `{step}` are
        /// replaced by the resume target's path and step.
        public var args = ["--resume"]
        public enum When: String, Sendable, CaseIterable {
            /// From the second attempt of a run on.
            case afterFailure = "after-failure"
            /// Whenever a valid checkpoint exists, the run's first attempt included.
            case whenCheckpointExists = "when-checkpoint-exists"
            case never
        }
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
        /// Logs stop being written while the log volume has less than this free (and go on when it has
        /// again): room kept for the journal and the reports. 0 = never stop.
        public var keepFree = 64 * 1024 * 1024
        /// Run directory 0700, logs, journal and reports 0600 (false: 0755 / 0644).
        public var privateFiles = true
        /// Regular expressions with named groups (`step`, `total`, any metric) parsed from output
        /// into `metrics.jsonl`: progress (`Episode (?<step>\d+)/(?<total>\d+)`) and metrics.
        public var progress: String?
        public var metrics: [String] = []
        public init() {}
    }

    /// `divergence`: which metrics are losses, and when one has gone bad (read from the values
    /// `output.metrics` parses). See `DivergenceWatch`.
    public struct Divergence: Sendable, Equatable {
        /// Names of loss-like metrics (globs, `*` for any run of characters, case ignored). A NaN or
        /// infinite value of one is a divergence.
        public var metrics = ["*loss*", "*mse*", "*mae*", "*error*", "*gradnorm*", "*perplexity*", "*ppl*"]
        /// A value above `best + (band − 1)·|best|` has left the healthy band: the first of a streak of
        /// such values is the divergence's onset. 0 = no band (the onset is the bad value itself).
        public var band = 3.0
        /// A value above `best + (spike − 1)·|best|` is a divergence though finite. 0 = off.
        public var spike = 0.0
        /// The metrics `spike` applies to (globs): the losses, not gradient norms, which jump tenfold
        /// in healthy training.
        public var spikeMetrics = ["*loss*", "*mse*", "*mae*", "*error*", "*perplexity*", "*ppl*"]
        public init() {}
    }

    /// `stop`: how an attempt is stopped: checkpoint signal → new checkpoint (bounded) → SIGTERM →
    /// grace → SIGKILL.
    public struct Stop: Sendable, Equatable {
        /// "Save a checkpoint now and keep going" (`VIGIL_CHECKPOINT_SIGNAL`); nil = never ask.
        public var checkpointSignal: Signal? = .user1
        /// How long before SIGTERM (which goes out `termGrace` before a deadline) to send the checkpoint
        /// signal: the lead itself, or with `leadIsAuto` the floor of the lead measured from the
        /// run's saves (`"auto"`, `"auto(min: 2m)"`; see `CheckpointLead`).
        public var checkpointLead = 120.0
        /// `checkpointLead: "auto"`: the lead follows the measured save durations, never below
        /// `checkpointLead`. The default; a duration makes the lead fixed.
        public var leadIsAuto = true
        /// How long to wait for the new checkpoint after the signal.
        public var checkpointTimeout = 60.0
        /// Time between SIGTERM to the trainer's group and SIGKILL.
        public var termGrace = 10.0
        /// Signal that makes a hung trainer print its stack (Python's faulthandler answers SIGABRT).
        public var dumpSignal: Signal? = .abort
        public init() {}
    }

    /// `checkpoints`: where the trainer writes them, which are valid, which are kept.
    public struct Checkpoints: Sendable, Equatable {
        public var dir = "checkpoints"
        /// File or directory name with a `{step}` placeholder (`model_ep{step}.pt`); nil = no discovery.
        public var pattern: String?
        /// Metadata sidecar: `{stem}.json` or a name with `{step}` (`metrics_iter_{step}.json`).
        public var metadata: String?
        /// Whether a checkpoint without its metadata sidecar is invalid (trainers that write it last).
        public var metadataRequired = false
        /// For directory checkpoints: a file that must exist inside (`trainer_state.json`).
        public var marker: String?
        /// A checkpoint modified more recently than this is still being written.
        public var settle = 2.0
        public var retention = RetentionRule()
        public enum OnSuccess: String, Sendable, CaseIterable { case keep, prune, remove }
        public var onSuccess = OnSuccess.keep
        /// Hard-link every new checkpoint into `<dir>/preserved/` as soon as it appears.
        public var preserve = false
        public init() {}
    }

    /// `hooks`: commands (argv, never a shell) run when something happens, bounded by `timeout`.
    public struct Hooks: Sendable, Equatable {
        public var onFailure: [String]?
        public var onGiveUp: [String]?
        public var onSuccess: [String]?
        public var timeout = 60.0
        public init() {}
    }

    /// `config`: the trainer's configuration file.
    public struct Config: Sendable, Equatable {
        /// Its path; nil = the value of the trainer's `--config` argument, if any.
        public var path: String?
        /// What to do when it changed since the last attempt (not by vigil's own repairs).
        public enum OnChange: String, Sendable, CaseIterable { case resume, fresh, refuse }
        public var onChange = OnChange.resume
        /// What each key must be; checked (and clamped, defaulted) before the first attempt.
        public var schema: [String: KeySchema] = [:]
        /// Names for the keys shipped repairs refer to (`batchSize` → `training.batch_size`):
        /// a repair of `@batchSize` applies only when the policy names it.
        public var roles: [String: String] = [:]
        public init() {}
    }
}
