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

/// What the uninterrupted reference run measured: how long it took, its steps and checkpoints, where
/// it ran. Kept as `.vigil-drill/reference.json` in its scratch copy, so a later drill can use it again
/// (`--reference DIR`) instead of training once more.
public struct DrillReference: Codable, Sendable, Equatable {
    /// The scratch copy it ran in (its `--compare` files and `metrics.jsonl` are there).
    public var directory: String
    public var command: [String]
    /// `vigil run`'s exit code.
    public var exitCode: Int32
    /// Why it ended, from its journal.
    public var reason: String?
    /// The trainer's own time: its attempt, start to end.
    public var trainerSeconds: Double
    public var firstStep: Int?
    public var lastStep: Int?
    /// Seconds per step, from the times its progress lines were read.
    public var secondsPerStep: Double?
    /// The steps of the checkpoints it wrote.
    public var checkpointSteps: [Int]

    /// Where it is kept inside the reference's copy.
    public static let fileName = ".vigil-drill/reference.json"

    public init(
        directory: String, command: [String], exitCode: Int32, reason: String?, trainerSeconds: Double,
        firstStep: Int?, lastStep: Int?, secondsPerStep: Double?, checkpointSteps: [Int]
    ) {
        self.directory = directory
        self.command = command
        self.exitCode = exitCode
        self.reason = reason
        self.trainerSeconds = trainerSeconds
        self.firstStep = firstStep
        self.lastStep = lastStep
        self.secondsPerStep = secondsPerStep
        self.checkpointSteps = checkpointSteps
    }
}

/// What the drill did for one planned interruption while the supervised run went.
public struct DeliveredInterruption: Codable, Sendable, Equatable {
    public var number: Int
    public var kind: InterruptionKind
    public var trigger: InterruptionTrigger
    /// The attempt it interrupted; nil when none was left (the run had ended).
    public var attempt: Int?
    public var pid: Int32?
    public var at: Date?
    /// The newest step the drill had seen when it acted.
    public var stepSeen: Int?
    /// What set it off: `step 13`, `model_step10.json appeared`, `a write to model_step15.json.tmp`.
    public var observed: String
    /// What was sent, in order: `SIGUSR1 to the trainer's group`, `SIGKILL to vigil (pid 123)`.
    public var actions: [String]
    /// Anything unusual: a checkpoint that did not come, a skipped signal.
    public var note: String?

    public init(number: Int, kind: InterruptionKind, trigger: InterruptionTrigger, observed: String) {
        self.number = number
        self.kind = kind
        self.trigger = trigger
        self.observed = observed
        self.actions = []
    }

    public var isDelivered: Bool { attempt != nil && !actions.isEmpty }
}

/// The drill's judgement of one interruption.
public struct InterruptionVerdict: Codable, Sendable, Equatable {
    /// How the trainer carried on after it.
    public enum Outcome: String, Codable, Sendable {
        /// The next attempt began where the checkpoint vigil resumed it from left off.
        case resumed
        /// No checkpoint existed yet: the next attempt rightly began at step 0.
        case startedFresh = "started-fresh"
        /// vigil resumed from a checkpoint, but the trainer began at step 0.
        case restartedFromZero = "restarted-from-zero"
        /// The trainer began at another step than the checkpoint vigil gave it.
        case resumedElsewhere = "resumed-elsewhere"
        /// No attempt after it made progress: the run ended.
        case notResumed = "not-resumed"
        /// It never reached the trainer (the run had finished, or the trainer finished first).
        case notDelivered = "not-delivered"
    }

    public var number: Int
    public var kind: InterruptionKind
    public var trigger: InterruptionTrigger
    public var plannedStep: Int
    public var observed: String
    public var attempt: Int?
    /// The newest step the interrupted attempt printed.
    public var interruptedAtStep: Int?
    /// How the interrupted attempt ended: `killed by SIGKILL`, `exit 143`, `orphaned (…)`.
    public var endedAs: String?
    /// The attempt that carried on (the first after it that printed progress).
    public var resumedBy: Int?
    /// The checkpoint vigil resumed that attempt from (its name), and the checkpoint's step.
    public var resumeFrom: String?
    public var resumeStep: Int?
    /// Where the trainer really began: the first step it printed, minus one.
    public var restartedAtStep: Int?
    public var outcome: Outcome
    /// Steps done again: the interrupted attempt's newest step minus where the next one began.
    public var stepsRedone: Int?
    /// From the interruption until the run was back at the step it had reached.
    public var secondsLost: Double?
    /// Whether the metrics after the resume equal the reference's at the same steps (nil: nothing to compare).
    public var continuesReference: Bool?
    /// The first metric that left the reference curve: `step 21: loss 0.51, the reference had 0.49`.
    public var deviation: String?
    /// Checkpoints set aside because a kill left them torn, or because the trainer could not load them.
    public var tornCheckpoints: [String]
    /// Attempts after it that failed before printing any progress: `attempt 3: exit 1 (JSONDecodeError: …)`.
    public var crashes: [String]
    public var actions: [String]
    public var note: String?

    /// Whether this interruption was survived as it should be.
    public var isOK: Bool {
        [.resumed, .startedFresh, .notDelivered].contains(outcome) && tornCheckpoints.isEmpty && crashes.isEmpty
            && continuesReference != false
    }
}

/// The final value of a metric in the interrupted run against the reference's.
public struct MetricComparison: Codable, Sendable, Equatable {
    public var name: String
    public var value: Double?
    public var reference: Double?
    public var matches: Bool
}

/// One finding of the drill, in plain words, with a stable code for machines and tests.
public struct DrillDiagnosis: Codable, Sendable, Equatable {
    /// `passed`, `resume-ignored`, `resumed-elsewhere`, `torn-checkpoint`, `crash-on-resume`,
    /// `state-not-restored`, `result-differs`, `missing-output`, `run-failed`, `nothing-tested`,
    /// `reference-failed`, `timed-out`, `interrupted`.
    public var code: String
    public var text: String

    public init(_ code: String, _ text: String) {
        self.code = code
        self.text = text
    }
}

/// The drill's result: `drill-report.json` (this, encoded), `drill-report.md`, the terminal table.
public struct DrillReport: Codable, Sendable, Equatable {
    public enum Verdict: String, Codable, Sendable {
        /// Every resume worked and the results match: exit 0.
        case passed
        /// A resume or a comparison failed: exit 1.
        case failed
        /// The drill could not tell (the reference failed, nothing was interrupted, a timeout): exit 2.
        case inconclusive
    }

    public var version = 1
    public var vigilVersion = VigilCore.vigilVersion
    public var command: [String]
    public var workingDirectory: String
    public var policy: String
    public var seed: UInt64
    public var kinds: [InterruptionKind]
    public var tolerance: Double
    public var startedAt: Date
    /// The drill's wall-clock time, start to end.
    public var seconds: Double
    public var reference: DrillReference
    public var plan: DrillPlan
    /// Whether the reference was an earlier drill's (`--reference`): its trainer time was not spent now.
    public var reusedReference: Bool
    /// The interrupted run's scratch copy, `vigil run` exit code and outcome.
    public var directory: String
    public var runExitCode: Int32?
    public var outcome: String?
    public var attempts: Int
    /// The trainer's time in the interrupted run: its attempts added up.
    public var trainerSeconds: Double
    public var interruptions: [InterruptionVerdict]
    public var comparisons: [FileComparison]
    public var metrics: [MetricComparison]
    public var diagnoses: [DrillDiagnosis]
    public var verdict: Verdict

    /// The exit code of `vigil drill`.
    public var drillExitCode: Int32 {
        switch verdict {
        case .passed: return 0
        case .failed: return 1
        case .inconclusive: return 2
        }
    }

    /// The time the drill spent beyond the trainer's own (both runs'), over the trainer's.
    public var overhead: Double? {
        let trainer = (reusedReference ? 0 : reference.trainerSeconds) + trainerSeconds
        guard trainer > 0 else { return nil }
        return max(0, seconds - trainer) / trainer
    }
}
