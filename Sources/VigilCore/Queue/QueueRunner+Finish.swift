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

/// The end of a queue run: the summary (stderr and `queue-report.md`), `hooks.onQueueDone`, the
/// exit code.
extension QueueRunner {
    func finish() throws -> (code: ExitCode, summary: QueueSummary) {
        let queue = try request.store.load()
        let view = QueueView(queue: queue, now: Date(), liveness: QueueView.liveness(localHost: host))
        let (code, reason) = QueueSummary.outcome(
            view: view, selection: request.selection, stopSignals: stopSignals, timeUp: timeUp)
        let summary = QueueSummary(
            queue: request.store.path, view: view, selection: request.selection, entries: Array(ledger.values),
            startedAt: startedAt, endedAt: Date(), exitCode: code, outcome: reason)
        do {
            try AtomicFile.write(Data(summary.markdown().utf8), to: request.store.reportPath, permissions: 0o600)
        } catch {
            note("vigil queue: warning: cannot write \(request.store.reportPath): \(error)")
        }
        note(summary.text())
        note("vigil queue: summary in \(request.store.reportPath)")
        runDoneHook(summary)
        return (code, summary)
    }

    /// `hooks.onQueueDone`, with the counts in its environment; its output in `queue-hooks.log`.
    private func runDoneHook(_ summary: QueueSummary) {
        guard let argv = request.hooks.onQueueDone else { return }
        var environment = request.environment
        environment["VIGIL_HOOK"] = "onQueueDone"
        environment["VIGIL_QUEUE"] = request.store.path
        environment["VIGIL_REPORT"] = request.store.reportPath
        for (name, value) in summary.environment { environment[name] = value }
        let log = request.store.directory + "/queue-hooks.log"
        let run = HookRunner.run(
            "onQueueDone", argv: argv, environment: environment, log: log, timeout: request.hooks.timeout,
            workingDirectory: request.workingDirectory)
        if !run.ok {
            note("vigil queue: warning: hook onQueueDone (\(argv.joined(separator: " "))): \(run.result); see \(log)")
        }
    }
}
