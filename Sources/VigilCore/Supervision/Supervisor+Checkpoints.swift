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

/// What an attempt starts with: its argv, whether it resumes and from what.
struct AttemptPlan {
    var argv: [String]
    var resumeArguments: [String]
    var resumeFrom: Checkpoint?
    var quarantined: [CheckpointStore.Quarantined]
    /// What could not be quarantined, and a refused `preserved/`, for the journal.
    var checkpointFailures: [CheckpointStore.Failure] = []
    var configHash: String?
    /// Valid checkpoints (name → modification time) before the attempt: new ones are progress.
    var checkpointsBefore: [String: Date] = [:]
}

extension Supervisor {
    /// Decides the next attempt's argv: finds the checkpoint to resume from (quarantining invalid
    /// ones), checks the trainer's config for changes, and fills the resume templates.
    func planAttempt(number: Int) throws -> AttemptPlan {
        let policy = request.policy
        var quarantined: [CheckpointStore.Quarantined] = []
        var failures: [CheckpointStore.Failure] = []
        var target: Checkpoint?
        var forceFresh = false
        var checkpointsBefore: [String: Date] = [:]

        let configHash = try checkConfigChange(&forceFresh)
        if let store = checkpointStore {
            let moment = journal.attempts.last.map(exitMoment) ?? .afterExit(exitedAt: Date(), killed: false)
            let found = store.scan(moment, evidence: CheckpointStore.Evidence(proven: journal.checkpointProofs ?? [:]))
            let quarantine = store.quarantineInvalid(found)
            quarantined = quarantine.moved
            for item in quarantined {
                note("vigil: quarantined checkpoint \(item.name): \(item.reason) (moved to \(item.movedTo))")
            }
            failures += warn(quarantine.failures)
            target = store.resumeTarget(in: found.filter(\.isValid), notBefore: journal.freshSince)
            checkpointsBefore = Dictionary(
                found.filter(\.isValid).map { ($0.name, $0.modified) }, uniquingKeysWith: { a, _ in a })
            if target == nil {
                failures += warn([store.refusal(of: CheckpointStore.preservedName)].compactMap { $0 })
                let proven = CheckpointStore.Evidence(proven: journal.checkpointProofs ?? [:])
                target = store.resumeTarget(
                    in: store.scan(moment, in: store.preservedDirectory, evidence: proven),
                    notBefore: journal.freshSince)
            }
        }

        let command = Supervisor.applying(journal.argumentOverrides ?? [:], to: request.command)
        let templated = policy.resume.args.contains { $0.contains("{checkpoint}") || $0.contains("{step}") }
        var resume: Bool
        switch policy.resume.when {
        case .never: resume = false
        case .afterFailure: resume = number > 1 && (!templated || target != nil)
        case .whenCheckpointExists: resume = target != nil
        }
        if forceFresh { resume = false }
        if number > 1 && policy.resume.when == .afterFailure && templated && target == nil {
            note("vigil: no valid checkpoint to resume from; starting attempt \(number) fresh")
        }
        guard resume, !policy.resume.args.isEmpty else {
            return AttemptPlan(
                argv: command, resumeArguments: [], resumeFrom: nil,
                quarantined: quarantined, checkpointFailures: failures, configHash: configHash,
                checkpointsBefore: checkpointsBefore)
        }
        let arguments = policy.resume.args.map { argument in
            guard let target else { return argument }
            return argument.replacing("{checkpoint}", with: target.path)
                .replacing("{step}", with: String(target.step))
        }
        if let target { note("vigil: resuming from \(target.name) (step \(target.step))") }
        return AttemptPlan(
            argv: command + arguments, resumeArguments: arguments, resumeFrom: target,
            quarantined: quarantined, checkpointFailures: failures, configHash: configHash,
            checkpointsBefore: checkpointsBefore)
    }

    /// The trainer's config file: the policy's `config.path`, else the trainer's `--config` value.
    var configPath: String? {
        Supervisor.configPath(policy: request.policy, command: request.command, in: request.workingDirectory)
    }

    /// The config file of a run of `command` under `policy` in `directory` (absolute), if it names one.
    public static func configPath(policy: Policy, command: [String], in directory: String) -> String? {
        var path = policy.config.path
        if path == nil {
            for (index, argument) in command.enumerated() {
                if argument == "--config", index + 1 < command.count { path = command[index + 1] }
                if argument.hasPrefix("--config=") { path = String(argument.dropFirst("--config=".count)) }
            }
        }
        guard let path else { return nil }
        return Paths.absolute(path, in: directory)
    }

    /// Hashes the config and compares it with the last attempt's; acts on a change as the policy says.
    private func checkConfigChange(_ forceFresh: inout Bool) throws -> String? {
        guard let path = configPath, FileManager.default.fileExists(atPath: path) else { return nil }
        let hash = try SHA256.hex(ofFile: path)
        guard let last = journal.attempts.last(where: { $0.configHash != nil }),
            let before = journal.expectedConfigHash ?? last.configHash, before != hash
        else {
            journal.expectedConfigHash = hash
            return hash
        }
        journal.expectedConfigHash = hash
        let what = "the trainer's config \(path) changed since attempt \(last.number)"
        switch request.policy.config.onChange {
        case .resume:
            note("vigil: \(what); resuming anyway (config.onChange: resume)")
        case .fresh:
            note("vigil: \(what); starting fresh, older checkpoints are not resumed from (config.onChange: fresh)")
            journal.freshSince = Date()
            journal.highWaterStep = nil  // the steps start again
            forceFresh = true
        case .refuse:
            throw VigilError(
                .invalidConfig, file: path,
                "\(what) (config.onChange: refuse); restore it, or start over with --fresh")
        }
        return hash
    }

    /// How the trainer of a journaled attempt ended, as the checkpoint judgement needs it (an attempt
    /// whose end was never recorded counts as killed).
    func exitMoment(of attempt: Journal.Attempt) -> CheckpointStore.Moment {
        .afterExit(
            exitedAt: attempt.endedAt ?? Date(), killed: attempt.exit.map(\.isSignal) ?? true,
            stopSignalAt: stopSignalTime(of: attempt))
    }

    /// When vigil first sent the attempt a signal that ends a process (anything but the checkpoint signal).
    func stopSignalTime(of attempt: Journal.Attempt) -> Date? {
        let checkpointSignal = request.policy.stop.checkpointSignal
        return attempt.signalsSent.first { Signal(name: $0.signal) != checkpointSignal }?.at
    }

    /// After an attempt: judge what it wrote (journaled with the evidence that decided), quarantine
    /// what it left invalid, preserve, note progress, apply retention.
    func reviewCheckpoints(
        after attempt: inout Journal.Attempt, exit: TrainerExit, observed: [String: CheckpointObservation],
        watched: [String], before: [String: Date]
    ) {
        guard let store = checkpointStore else { return }
        let status = attempt.exit ?? .signaled(.kill)
        let evidence = CheckpointStore.Evidence(observed: observed, proven: journal.checkpointProofs ?? [:])
        let found = store.scan(exit.moment, evidence: evidence)
        recordEvidence(
            found, written: found.filter { before[$0.name] != $0.modified || observed[$0.name] != nil },
            observed: observed, into: &attempt)
        let quarantine = store.quarantineInvalid(found)
        let quarantined = quarantine.moved
        for item in quarantined {
            note("vigil: quarantined checkpoint \(item.name): \(item.reason) (moved to \(item.movedTo))")
        }
        if !quarantined.isEmpty { attempt.quarantined = (attempt.quarantined ?? []) + quarantined }
        attempt.record(warn(quarantine.failures))
        let valid = found.filter(\.isValid)
        attempt.checkpointAfter = valid.last?.path
        // Progress is a new valid checkpoint past the run's high-water step: repeating the same steps
        // (resumed from the same place, diverging again) never refills the retry budget.
        let highWater = journal.highWaterStep ?? Int.min
        let fresh = valid.filter { before[$0.name] != $0.modified }
        attempt.madeProgress = fresh.contains { $0.step > highWater }
        if let top = valid.map(\.step).max(), top > highWater { journal.highWaterStep = top }
        if store.settings.preserve {
            var preserved = (attempt.preserved ?? []) + watched
            var failures: [CheckpointStore.Failure] = []
            for checkpoint in valid {
                let outcomes = ([checkpoint.path] + checkpoint.sidecars).map(store.preserve)
                failures += outcomes.compactMap(\.failure)
                guard case .preserved = outcomes[0] else { continue }
                if !preserved.contains(checkpoint.name) { preserved.append(checkpoint.name) }
            }
            attempt.record(warn(failures))
            // Listed as preserved only what is whole there (a directory linked as it was created may
            // have been partial; linking it again after the attempt added what came since).
            let whole = Set(
                store.scan(
                    .afterExit(exitedAt: clock.wallNow(), killed: false), in: store.preservedDirectory,
                    evidence: evidence
                )
                .filter(\.isValid).map(\.name))
            preserved = preserved.filter(whole.contains)
            attempt.preserved = preserved.isEmpty ? nil : preserved
        }
        if status != .exited(0) || store.settings.onSuccess == .prune {
            attempt.pruned = applyRetention(store, exit.moment, evidence: evidence, into: &attempt)
        } else if store.settings.onSuccess == .remove {
            let plan = RetentionPlan(keep: [], remove: valid, reasons: [:])
            let result = store.apply(plan)
            attempt.pruned = result.removed
            attempt.record(warn(result.failures))
            note(
                "vigil: the run succeeded; removed its \(attempt.pruned?.count ?? 0) checkpoints (checkpoints.onSuccess: remove)"
            )
        }
    }

    /// Applies retention to the checkpoint directory and to preserved/; returns the removed names.
    /// What could not be removed, and a refused preserved/, is warned about and recorded in `attempt`.
    func applyRetention(
        _ store: CheckpointStore, _ moment: CheckpointStore.Moment, evidence: CheckpointStore.Evidence,
        into attempt: inout Journal.Attempt
    ) -> [String]? {
        let rule = store.settings.retention
        guard !rule.isEmpty else { return nil }
        var removed: [String] = []
        for directory in [store.directory, store.preservedDirectory] {
            // After a config change with onChange "fresh", older checkpoints are left alone: they are
            // not resumed from, and they must not crowd the new run's out of keepLast.
            let found = store.scan(moment, in: directory, evidence: evidence).filter { checkpoint in
                journal.freshSince.map { checkpoint.modified > $0 } ?? true
            }
            let target = store.resumeTarget(in: found)
            let protected = Set(found.filter { !$0.isValid }.map(\.path))
            let plan = RetentionPlan.make(found, rule: rule, resumeTarget: target?.path, protected: protected)
            let result = store.apply(plan)
            removed += result.removed
            attempt.record(warn(result.failures))
        }
        if let refusal = store.refusal(of: CheckpointStore.preservedName) { attempt.record(warn([refusal])) }
        if !removed.isEmpty {
            note("vigil: retention removed \(removed.count) checkpoint(s): \(removed.joined(separator: ", "))")
        }
        return removed.isEmpty ? nil : removed
    }

    /// Watches the checkpoint directory during attempt `number`: reports finished checkpoints to the
    /// event queue (the stop sequence and stall detection wait on them) and, when the policy asks,
    /// preserves each the moment it is written; the names preserved go into `preserved`.
    func startWatching(attempt number: Int, preservedInto preserved: Locked<[String]>) -> CheckpointWatcher? {
        guard let store = checkpointStore else { return nil }
        let events = self.events
        let preserving = store.settings.preserve
        let note = self.note
        let warned = Locked<Set<String>>([])
        try? FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        let pattern = store.pattern
        let sidecar = store.settings.metadata.flatMap { template -> RegexProgram? in
            let escaped = RegexProgram.escaped(template)
                .replacing("\\{stem\\}", with: ".+").replacing("\\{name\\}", with: ".+")
                .replacing("\\{step\\}", with: "[0-9]+")
            return try? RegexProgram("^" + escaped + "$")
        }
        return CheckpointWatcher(directory: store.directory, matches: store.matches) { name, complete in
            let matchesSidecar = sidecar.map { $0.firstMatch(in: name) != nil } ?? false
            let isCheckpoint = pattern.step(of: name) != nil
            if isCheckpoint && complete { events.post(.checkpointFinished(attempt: number, name: name)) }
            guard preserving, isCheckpoint || matchesSidecar || name.hasSuffix(".sha256") else { return }
            switch store.preserve(store.directory + "/" + name) {
            case .preserved where isCheckpoint: preserved.withLock { if !$0.contains(name) { $0.append(name) } }
            case .failed(let failure):
                // Once per reason: a refused preserved/ would otherwise warn for every file. The scan
                // after the attempt preserves again, and records what still fails in the journal.
                if warned.withLock({ $0.insert(failure.reason).inserted }) {
                    note("vigil: warning: \(failure) (reported once while the trainer runs)")
                }
            default: break
            }
        }
    }
}

extension Supervisor {
    /// Keeps in the journal what proved each checkpoint complete — under the attempt, for the ones it
    /// wrote; run-wide, the proofs that rest on what was observed (so later scans still know them) —
    /// and forgets proofs of files that are gone.
    func recordEvidence(
        _ found: [Checkpoint], written: [Checkpoint], observed: [String: CheckpointObservation] = [:],
        into attempt: inout Journal.Attempt
    ) {
        let records = written.map { checkpoint in
            Journal.WrittenCheckpoint(
                name: checkpoint.name, step: checkpoint.step, evidence: checkpoint.evidence,
                invalidReason: checkpoint.invalidReason,
                at: observed[checkpoint.name].flatMap { $0.kind == .writing ? nil : $0.at } ?? checkpoint.modified)
        }
        if !records.isEmpty { attempt.checkpointsWritten = (attempt.checkpointsWritten ?? []) + records }
        var proofs = (journal.checkpointProofs ?? [:]).filter { entry in
            found.contains { $0.name == entry.key }
                || FileManager.default.fileExists(atPath: (checkpointStore?.preservedDirectory ?? "") + "/" + entry.key)
        }
        for checkpoint in found where checkpoint.isValid {
            guard let evidence = checkpoint.evidence, CheckpointStore.observedEvidence.contains(evidence) else {
                continue
            }
            proofs[checkpoint.name] = CheckpointProof(evidence: evidence, of: checkpoint)
        }
        journal.checkpointProofs = proofs.isEmpty ? nil : proofs
    }

    /// Prints the failures as warnings, one line per reason (a refused preserved/ fails every
    /// checkpoint alike); returns them all, for the journal.
    func warn(_ failures: [CheckpointStore.Failure]) -> [CheckpointStore.Failure] {
        var reasons: [String] = []
        var byReason: [String: [CheckpointStore.Failure]] = [:]
        for failure in failures {
            if byReason[failure.reason] == nil { reasons.append(failure.reason) }
            byReason[failure.reason, default: []].append(failure)
        }
        for reason in reasons {
            let alike = byReason[reason]!
            note(
                "vigil: warning: \(alike[0])"
                    + (alike.count > 1 ? " (and \(alike.count - 1) more for the same reason)" : ""))
        }
        return failures
    }
}

extension Journal.Attempt {
    /// Adds `failures` to `checkpointFailures` (which stays nil while there are none).
    mutating func record(_ failures: [CheckpointStore.Failure]) {
        guard !failures.isEmpty else { return }
        checkpointFailures = (checkpointFailures ?? []) + failures
    }
}

extension Termination {
    var isSignal: Bool {
        if case .signaled = self { return true }
        return false
    }
}

extension Supervisor {
    /// How the trainer of `attempt` died, as the checkpoint judgement needs it.
    func trainerExit(_ attempt: Journal.Attempt, child: ChildProcess) -> TrainerExit {
        var killedByVigil = false
        if case .signaled(let signal)? = attempt.exit {
            killedByVigil = child.sentSignals.contains { $0.signal == signal }
        }
        return TrainerExit(
            at: attempt.endedAt ?? clock.wallNow(), killed: attempt.exit?.isSignal ?? true,
            stopSignalAt: stopSignalTime(of: attempt), killedByVigil: killedByVigil)
    }
}
