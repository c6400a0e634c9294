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

/// Failures that make checkpoints unfit to resume from: a state that went bad (a divergence, a live
/// rule: roll back to before its onset, never twice to the same checkpoint) and a checkpoint that
/// would not load (suspect: fall back to the one before).
extension Supervisor {
    /// From where checkpoints hold a poisoned state, after an attempt whose verdict rolls back (a live
    /// match, a `diverged` rule, `rollback: true`); nil when it does not roll back. By step when the
    /// onset's step is known, else by modification time (after when vigil last read a healthy value,
    /// or the line the live rule matched); both nil: nothing is known to be poisoned.
    func poisonOnset(
        verdict: Verdict, end: AttemptEnd, divergence: Divergence?, attemptStarted: Date
    ) -> (step: Int?, after: Date?)? {
        let live = end.liveMatch.flatMap { $0.rule == verdict.rule ? $0 : nil }
        let rule = classifier.rules.first { $0.name == verdict.rule }
        guard live != nil || rule?.rollback == true else { return nil }
        if let divergence = live?.divergence ?? (rule?.diverged == true ? divergence : nil) {
            if let step = divergence.onsetStep { return (step, nil) }
            return (nil, divergence.healthyUntil ?? attemptStarted)
        }
        // A line (`loss=nan`) or an exception (SB3's invalid values) said it: the metrics' streak
        // under way, if any, says since when.
        let streak = divergenceWatch.onsetInProgress()
        if let step = streak?.step { return (step, nil) }
        if let live { return (nil, live.poisonedAfter) }
        if let streak { return (nil, streak.healthyUntil ?? attemptStarted) }
        return (nil, nil)
    }

    /// Quarantines the poisoned checkpoints (in the directory and in preserved/, whose copies are
    /// hard links of the same files), then the checkpoint an earlier rollback resumed from, should it
    /// be chosen again: the run diverged after resuming from it once already. Records the rollback.
    func rollBack(
        from onset: (step: Int?, after: Date?), rule: String, exit: TrainerExit,
        observed: [String: CheckpointObservation], into attempt: inout Journal.Attempt
    ) {
        guard let store = checkpointStore else { return }
        let moment = exit.moment
        let evidence = CheckpointStore.Evidence(observed: observed, proven: journal.checkpointProofs ?? [:])
        let all =
            store.scan(moment, evidence: evidence)
            + store.scan(moment, in: store.preservedDirectory, evidence: evidence)
        let poisoned = all.filter { checkpoint in
            guard checkpoint.isValid else { return false }
            if let step = onset.step { return checkpoint.step >= step }
            return onset.after.map { checkpoint.modified > $0 } ?? false
        }
        let why =
            onset.step.map { "poisoned: the state had left its healthy band by step \($0) (rule '\(rule)')" }
            ?? "poisoned: written after the state went bad (rule '\(rule)')"
        quarantine(poisoned, because: why, into: &attempt)
        let chosenBefore = journal.attempts.compactMap(\.rollback)
        var target = nextResumeTarget(store, moment, evidence)
        while let again = target,
            chosenBefore.contains(where: { $0.resumeTarget == again.name && $0.isTarget(modified: again.modified) })
        {
            quarantine(
                [again], because: "poisoned: the run went bad again after resuming from it (rule '\(rule)')",
                into: &attempt)
            target = nextResumeTarget(store, moment, evidence)
        }
        attempt.rollback = Journal.Rollback(
            fromStep: onset.step, after: onset.step == nil ? onset.after : nil, resumeTarget: target?.name,
            resumeTargetModified: target?.modified)
        let from = onset.step.map { "from step \($0) on" } ?? "written after it went bad"
        note(
            "vigil: rolling back (rule '\(rule)'): checkpoints \(from) are poisoned; "
                + (target.map { "the next attempt resumes from \($0.name) (step \($0.step))" }
                    ?? "no checkpoint from before it is left: the next attempt starts from the beginning"))
    }

    /// An attempt that resumed from `resumed` and failed (recoverable) before writing a valid
    /// checkpoint blames it when its rule says so (`suspectCheckpoint`: the checkpoint would not
    /// load), or when the attempt before also resumed from it and failed the same way, by itself
    /// (an exit code or a crash, not a signal someone sent) and under a rule with no repairs (a repair
    /// changes the conditions).
    /// Blamed, it is quarantined as suspect: the next attempt resumes from the one before.
    func blameResumeTarget(
        _ resumed: Checkpoint?, verdict: Verdict, index: Int, into attempt: inout Journal.Attempt
    ) {
        guard let resumed, verdict.verdict == .recoverable, !attempt.wroteValidCheckpoint else { return }
        let rule = classifier.rules.first { $0.name == verdict.rule }
        var why: String?
        if rule?.suspectCheckpoint == true {
            why =
                "suspect: the attempt that resumed from it failed before writing a checkpoint (rule '\(verdict.rule)')"
        } else if index > 0, rule?.repairs.isEmpty ?? true, attempt.exit?.isSelfInflicted == true {
            let previous = journal.attempts[index - 1]
            if previous.resumeFrom == resumed.path, previous.verdict?.rule == verdict.rule,
                previous.exit?.isSelfInflicted == true, !previous.wroteValidCheckpoint
            {
                why =
                    "suspect: attempts \(previous.number) and \(attempt.number) resumed from it and failed the same way (rule '\(verdict.rule)') before writing a checkpoint"
            }
        }
        guard let why else { return }
        quarantine([resumed], because: why, into: &attempt)
    }

    /// The checkpoint the next attempt would resume from: the newest valid one in the directory, else
    /// in preserved/ (as `planAttempt` chooses).
    private func nextResumeTarget(
        _ store: CheckpointStore, _ moment: CheckpointStore.Moment, _ evidence: CheckpointStore.Evidence
    ) -> Checkpoint? {
        store.resumeTarget(in: store.scan(moment, evidence: evidence), notBefore: journal.freshSince)
            ?? store.resumeTarget(
                in: store.scan(moment, in: store.preservedDirectory, evidence: evidence), notBefore: journal.freshSince)
    }

    private func quarantine(_ checkpoints: [Checkpoint], because reason: String, into attempt: inout Journal.Attempt) {
        guard let store = checkpointStore, !checkpoints.isEmpty else { return }
        let marked = checkpoints.map { checkpoint -> Checkpoint in
            var marked = checkpoint
            marked.invalidReason = reason
            return marked
        }
        let quarantine = store.quarantineInvalid(marked)
        for item in quarantine.moved { note("vigil: quarantined checkpoint \(item.name): \(item.reason)") }
        attempt.record(warn(quarantine.failures + [store.refusal(of: CheckpointStore.preservedName)].compactMap { $0 }))
        if !quarantine.moved.isEmpty { attempt.quarantined = (attempt.quarantined ?? []) + quarantine.moved }
    }
}

extension Journal.Rollback {
    /// Whether its target had this modification time (the journal keeps milliseconds).
    func isTarget(modified: Date) -> Bool {
        guard let resumeTargetModified else { return true }
        return abs(resumeTargetModified.timeIntervalSince(modified)) < 0.001
    }
}

extension Journal.Attempt {
    /// Whether the attempt wrote a checkpoint that is valid.
    var wroteValidCheckpoint: Bool {
        (checkpointsWritten ?? []).contains { $0.invalidReason == nil }
    }
}

extension Termination {
    /// The trainer failed by itself: an exit code other than 0, or a crash signal of its own making
    /// (SEGV, BUS, ABRT, FPE, ILL: a C++ loader aborting on a cut model file), never a signal someone
    /// sent (KILL, TERM, INT).
    var isSelfInflicted: Bool {
        switch self {
        case .exited(let code): return code != 0
        case .signaled(let signal): return [SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL].contains(signal.rawValue)
        }
    }
}
