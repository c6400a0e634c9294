import Foundation

extension Supervisor {
    /// After a failed attempt: its error report, then the `onFailure` hook.
    func finishedAttempt(_ attempt: inout Journal.Attempt, tail: OutputTail) {
        let report = writeAttemptReport(attempt, tail: tail)
        if let argv = request.policy.hooks.onFailure {
            let run = runHook(
                "onFailure", argv, report: report, verdict: attempt.verdict?.verdict.rawValue ?? "",
                attempt: attempt.number)
            attempt.hooks = (attempt.hooks ?? []) + [run]
        }
    }

    /// When the run ends: its summary, then `onSuccess` or `onGiveUp`.
    func finishedRun() {
        let report = writeRunSummary()
        let hook: (String, [String]?)
        switch journal.state {
        case .succeeded: hook = ("onSuccess", request.policy.hooks.onSuccess)
        case .failed, .gaveUp: hook = ("onGiveUp", request.policy.hooks.onGiveUp)
        default: return
        }
        guard let argv = hook.1 else { return }
        let run = runHook(
            hook.0, argv, report: report, verdict: journal.state.rawValue, attempt: journal.attempts.count)
        journal.finalHooks = (journal.finalHooks ?? []) + [run]
        save()
    }

    private func runHook(
        _ name: String, _ argv: [String], report: String?, verdict: String, attempt: Int
    ) -> Journal.HookRun {
        var environment = request.environment
        environment["VIGIL_RUN_ID"] = journal.runID
        environment["VIGIL_RUN_NAME"] = journal.run
        environment["VIGIL_HOOK"] = name
        environment["VIGIL_VERDICT"] = verdict
        environment["VIGIL_ATTEMPT"] = String(attempt)
        environment["VIGIL_REPORT"] = report ?? ""
        environment["VIGIL_JOURNAL"] = directory.journalPath
        let run = HookRunner.run(
            name, argv: argv, environment: environment, log: directory.path + "/hooks.log",
            timeout: request.policy.hooks.timeout, workingDirectory: request.workingDirectory)
        if !run.ok {
            note(
                "vigil: warning: hook \(name) (\(argv.joined(separator: " "))): \(run.result); see \(directory.path)/hooks.log"
            )
        }
        return run
    }
}
