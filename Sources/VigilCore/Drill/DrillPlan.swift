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

/// How the drill interrupts the supervised run.
public enum InterruptionKind: String, Codable, Sendable, CaseIterable {
    /// SIGKILL to the trainer's process group: a crash, the OOM killer, a preemption without warning.
    case kill = "KILL"
    /// SIGTERM to the trainer's process group: a scheduler's stop (the trainer may save, then exits).
    case terminate = "TERM"
    /// The checkpoint signal (`stop.checkpointSignal`) to the group, a bounded wait for the checkpoint
    /// it asks for, then SIGTERM: a well-announced stop.
    case checkpoint = "CHECKPOINT"
    /// SIGKILL to the supervising vigil itself, then `vigil run` again, which finds the orphaned trainer
    /// through the journal, stops it (checkpoint first) and resumes.
    case vigil = "VIGIL"

    /// How the report names it.
    public var title: String {
        switch self {
        case .kill: return "SIGKILL"
        case .terminate: return "SIGTERM"
        case .checkpoint: return "checkpoint+TERM"
        case .vigil: return "kill vigil"
        }
    }

    /// `KILL,TERM,CHECKPOINT` as `--signals` takes it (`SIGKILL`, lower case and `VIGIL` accepted).
    public static func list(_ text: String) -> [InterruptionKind]? {
        let words = text.split(separator: ",").map { $0.trimmingSpaces().uppercased() }
        guard !words.isEmpty else { return nil }
        var kinds: [InterruptionKind] = []
        for word in words {
            let bare = word.hasPrefix("SIG") ? String(word.dropFirst(3)) : word
            guard let kind = InterruptionKind(rawValue: bare) else { return nil }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        return kinds
    }
}

/// What the drill waits for before it interrupts, once the trainer has reached the planned step.
public enum InterruptionTrigger: String, Codable, Sendable, CaseIterable {
    /// The step itself (then the delay): anywhere in the run.
    case atStep = "at-step"
    /// The first checkpoint to appear after the step (then a short delay): the work since the last
    /// checkpoint is small, and the checkpoint is as fresh as it gets.
    case afterCheckpoint = "after-checkpoint"
    /// The first write in the checkpoint directory after the step, at once: a save in progress.
    case duringSave = "during-save"

    /// How the report names it.
    public var title: String {
        switch self {
        case .atStep: return "at a step"
        case .afterCheckpoint: return "after a checkpoint"
        case .duringSave: return "during a save"
        }
    }
}

/// One interruption of the plan.
public struct PlannedInterruption: Codable, Sendable, Equatable {
    /// 1-based, in the order they happen.
    public var number: Int
    public var kind: InterruptionKind
    public var trigger: InterruptionTrigger
    /// Not before the attempt that runs then has printed this step.
    public var step: Int
    /// After the trigger, wait this many of the reference run's step durations.
    public var delaySteps: Double

    public init(number: Int, kind: InterruptionKind, trigger: InterruptionTrigger, step: Int, delaySteps: Double) {
        self.number = number
        self.kind = kind
        self.trigger = trigger
        self.step = step
        self.delaySteps = delaySteps
    }
}

/// Where and how the drill interrupts the supervised run: a pure function of the seed, the number of
/// interruptions, their kinds and what the reference run measured (its steps and checkpoint steps), so
/// that one `--seed` gives one plan on every machine and every rerun, however fast the trainer runs.
public struct DrillPlan: Codable, Sendable, Equatable {
    public var seed: UInt64
    public var interruptions: [PlannedInterruption]

    public init(seed: UInt64, interruptions: [PlannedInterruption]) {
        self.seed = seed
        self.interruptions = interruptions
    }

    /// The fraction of the run the interruptions are spread over: the last tenth is left alone, so the
    /// trainer is still running when the last one is due.
    static let window = 0.9

    /// The plan for `count` interruptions of `kinds` over a run whose progress went from `firstStep` to
    /// `lastStep` and which checkpointed at `checkpointSteps`.
    ///
    /// The window `firstStep … 0.9 × lastStep` is cut into `count` equal segments and each interruption
    /// gets a random step in its own, so they spread over the whole run. Kinds and triggers are dealt
    /// from seeded shuffles, cycled: every kind is used once `count` reaches their number, and two of the
    /// three triggers are bound to checkpoints (just after one appears, during a save), where resume
    /// bugs live. A checkpoint-bound trigger whose step no reference checkpoint follows (but the one at
    /// the very end) waits for the step instead.
    public static func make(
        seed: UInt64, count: Int, kinds: [InterruptionKind], firstStep: Int, lastStep: Int, checkpointSteps: [Int]
    ) -> DrillPlan {
        precondition(count >= 0 && !kinds.isEmpty, "a plan needs kinds")
        var random = SplitMix64(seed: seed)
        let dealtKinds = random.shuffled(kinds)
        let dealtTriggers = random.shuffled(InterruptionTrigger.allCases)
        let low = max(0, firstStep)
        let high = max(low, Int((Double(lastStep) * window).rounded(.down)))
        let span = Double(high - low + 1)
        // The checkpoint written as the run ends is followed by nothing to resume: not a trigger.
        let lastCheckpoint = checkpointSteps.filter { $0 < lastStep }.max()
        var interruptions: [PlannedInterruption] = []
        for index in 0..<count {
            let fraction = (Double(index) + random.unit()) / Double(count)
            let step = min(high, low + Int((fraction * span).rounded(.down)))
            var trigger = dealtTriggers[index % dealtTriggers.count]
            if trigger != .atStep, lastCheckpoint.map({ $0 < step }) ?? true { trigger = .atStep }
            let delay: Double
            switch trigger {
            case .atStep: delay = random.unit()
            case .afterCheckpoint: delay = random.unit() * 0.5
            case .duringSave: delay = 0
            }
            interruptions.append(
                PlannedInterruption(
                    number: index + 1, kind: dealtKinds[index % dealtKinds.count], trigger: trigger, step: step,
                    delaySteps: (delay * 1000).rounded() / 1000))
        }
        return DrillPlan(seed: seed, interruptions: interruptions)
    }
}
