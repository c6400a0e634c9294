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

/// Hooks run on the worker thread, never on the deciding one: signals to vigil are answered while a
/// hook runs (and the hook is let finish, within `hooks.timeout`).
extension Supervisor {
    /// After a failed attempt: its error report (the attempt's record is complete: verdict, repairs,
    /// backoff), then the `onFailure` hook, started on the worker. Returns whether a hook is running.
    func reportFailure(_ index: Int, tail: OutputTail) -> Bool {
        let attempt = journal.attempts[index]
        let report = writeAttemptReport(attempt, tail: tail)
        guard let argv = request.policy.hooks.onFailure else { return false }
        startHook(
            "onFailure", argv, report: report, verdict: attempt.verdict?.verdict.rawValue ?? "",
            attempt: attempt.number)
        return true
    }

    /// When the run ends: its summary, then `onSuccess` or `onGiveUp`, waited for.
    func finishedRun() {
        let report = writeRunSummary()
        let hook: (String, [String]?)
        switch journal.state {
        case .succeeded: hook = ("onSuccess", request.policy.hooks.onSuccess)
        case .failed, .gaveUp: hook = ("onGiveUp", request.policy.hooks.onGiveUp)
        default: return
        }
        guard let argv = hook.1 else { return }
        startHook(hook.0, argv, report: report, verdict: journal.state.rawValue, attempt: journal.attempts.count)
        if let run = awaitHook() {
            journal.finalHooks = (journal.finalHooks ?? []) + [run]
            save()
        }
    }

    /// Waits for the hook started last; stop signals that come meanwhile are kept (the run stops after
    /// it). Nil when it did not report back in time (it is bounded by its own timeout).
    func awaitHook() -> Journal.HookRun? {
        let deadline = clock.now() + request.policy.hooks.timeout + 15
        while clock.now() < deadline {
            switch events.next(until: deadline) {
            case .hookFinished(let run)?: return run
            case .signal(let signal)? where Supervisor.stopSignalSet.contains(signal) || signal == .user1:
                stopSignals.append(signal)
                note("vigil: got \(signal); stopping once the hook has finished")
            default: continue
            }
        }
        return nil
    }

    private func startHook(_ name: String, _ argv: [String], report: String?, verdict: String, attempt: Int) {
        var environment = request.environment
        environment["VIGIL_RUN_ID"] = journal.runID
        environment["VIGIL_RUN_NAME"] = journal.run
        environment["VIGIL_HOOK"] = name
        environment["VIGIL_VERDICT"] = verdict
        environment["VIGIL_ATTEMPT"] = String(attempt)
        environment["VIGIL_REPORT"] = report ?? ""
        environment["VIGIL_JOURNAL"] = directory.journalPath
        let hookEnvironment = environment
        let log = directory.path + "/hooks.log"
        let timeout = request.policy.hooks.timeout
        let workingDirectory = request.workingDirectory
        let events = self.events
        let note = self.note
        worker.run {
            let run = HookRunner.run(
                name, argv: argv, environment: hookEnvironment, log: log, timeout: timeout,
                workingDirectory: workingDirectory)
            if !run.ok {
                note("vigil: warning: hook \(name) (\(argv.joined(separator: " "))): \(run.result); see \(log)")
            }
            events.post(.hookFinished(run))
        }
    }
}
