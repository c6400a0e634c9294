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

/// The parts an attempt is made of: its output pump, its cgroup, the room kept for its record.
extension Supervisor {
    /// The guard that pauses the attempt's log and metrics while the log volume is short of room.
    func makeSpaceGuard(attempt number: Int) -> FreeSpaceGuard {
        let events = self.events
        return FreeSpaceGuard(path: directory.path, keepFree: request.policy.output.keepFree) { suspended, free in
            events.post(.logSpace(attempt: number, suspended: suspended, free: free))
        }
    }

    /// The attempt's own cgroup, when the machine lets vigil make one (why not is kept once per invocation).
    func makeControlGroup(attempt number: Int) -> ControlGroup? {
        // VIGIL_NO_CGROUP=1: rely on the process group and the subreaper alone (as in most containers).
        if request.environment["VIGIL_NO_CGROUP"] == "1" { return nil }
        switch ControlGroup.create(name: "vigil-\(getpid())-attempt-\(number)") {
        case .success(let group):
            return group
        case .failure(let why):
            if !cgroupUnavailableNoted {
                cgroupUnavailableNoted = true
                cgroupUnavailable = why.reason
            }
            return nil
        }
    }

    /// Parses the attempt's progress and metrics into `metrics.jsonl`, and feeds the divergence watch:
    /// a divergence goes into `diverged` and, when a live rule watches for it, stops the attempt.
    func makeMetrics(
        attempt number: Int, space: FreeSpaceGuard, diverged: Locked<Divergence?>
    ) throws
        -> MetricsRecorder?
    {
        let policy = request.policy
        let liveRule = policy.rules.first { $0.live && $0.diverged == true }?.name
        let watch = divergenceWatch
        watch.beginAttempt()
        let events = self.events
        let started = clock.wallNow()
        return try MetricsRecorder(
            path: directory.path + "/metrics.jsonl", progress: policy.output.progress, metrics: policy.output.metrics,
            attempt: number, permissions: filePermissions, space: space, divergence: watch
        ) { divergence, line in
            diverged.withLock { $0 = $0 ?? divergence }
            guard let liveRule else { return }
            let match = LiveMatch(
                rule: liveRule, line: line, poisonedAfter: divergence.healthyUntil ?? started, divergence: divergence)
            events.post(.liveMatch(attempt: number, match))
        }
    }

    /// Reads the trainer's output: to the terminal and the log, through the live rules and the metrics.
    func makePump(attempt number: Int, log: RotatingLog, metrics: MetricsRecorder?) -> OutputPump {
        let policy = request.policy
        let liveRules = policy.rules.filter(\.live)
        let liveScanner = liveRules.isEmpty ? nil : OutputScanner(patterns: liveRules.flatMap { $0.output ?? [] })
        let events = self.events
        return OutputPump(
            log: log, passthrough: policy.output.passthrough, tailBytes: policy.output.tailBytes,
            liveScanner: liveScanner, metrics: metrics, statusLine: statusLine,
            onLiveMatch: { match, poisonedAfter in
                let rule =
                    liveRules.first { $0.output?.contains { $0.source == match.pattern } == true }?.name ?? "live"
                events.post(
                    .liveMatch(attempt: number, LiveMatch(rule: rule, line: match.line, poisonedAfter: poisonedAfter)))
            }
        ) {
            events.post(.outputClosed(attempt: number))
        }
    }

    /// The end of a faulthandler dump ("Fatal Python error" / "Thread 0x…") in a hung trainer's stderr.
    static func stackDump(in lines: [String]) -> String? {
        guard
            let start = lines.firstIndex(where: {
                $0.hasPrefix("Fatal Python error") || $0.hasPrefix("Current thread 0x") || $0.hasPrefix("Thread 0x")
            })
        else { return nil }
        return lines[start...].prefix(400).joined(separator: "\n")
    }
}

/// How a trainer ended, as far as its checkpoints are concerned.
struct TrainerExit {
    var at: Date
    /// Killed by a signal (a write may have been cut short).
    var killed: Bool
    /// When vigil sent its first signal that ends a process (not the checkpoint signal).
    var stopSignalAt: Date?
    /// The signal that killed it was one vigil sent.
    var killedByVigil: Bool

    var moment: CheckpointStore.Moment { .afterExit(exitedAt: at, killed: killed, stopSignalAt: stopSignalAt) }
}
