import Foundation

/// Where a run's wall time went: the time that produced progress it kept, and the rest by cause.
/// Every second of every invocation of vigil is in exactly one part, so the parts add up to the
/// wall time. Read from the journal alone: attempts' starts and ends, their first progress, the
/// checkpoints they finished (and when), their stop sequences, the backoff between them.
public struct Goodput: Codable, Sendable, Equatable {
    /// Seconds vigil ran (all invocations; an open one until now).
    public var wallSeconds = 0.0
    /// Training whose result was kept: up to the attempt's last valid checkpoint (to its end when it
    /// succeeded).
    public var productiveSeconds = 0.0
    /// From an attempt's start to its first progress (a progress or metrics line, a checkpoint).
    public var startupSeconds = 0.0
    /// Training after an attempt's last checkpoint that a later attempt had to do again.
    public var redoneSeconds = 0.0
    /// The same for the run's last attempt: not (yet) redone.
    public var lostSeconds = 0.0
    /// Waiting before a retry.
    public var backoffSeconds = 0.0
    /// Stop sequences: from the first step (the checkpoint signal) until the trainer was gone.
    public var stoppingSeconds = 0.0
    /// Waiting for GPU memory to be released after an attempt.
    public var gpuWaitSeconds = 0.0
    /// Vigil's own time outside attempts: checks before the first, the sweep after each, the end.
    public var overheadSeconds = 0.0

    /// productive ÷ wall (0 for no wall time).
    public var ratio: Double { wallSeconds > 0 ? productiveSeconds / wallSeconds : 0 }

    /// The parts other than productive time, named as the reports show them, in order.
    public var losses: [(name: String, seconds: Double)] {
        [
            ("start-up", startupSeconds), ("redone", redoneSeconds), ("lost", lostSeconds),
            ("backoff", backoffSeconds), ("stopping", stoppingSeconds), ("GPU wait", gpuWaitSeconds),
            ("vigil", overheadSeconds),
        ]
    }

    public init() {}

    /// The goodput of `journal`'s run at `now`.
    public init(journal: Journal, now: Date) {
        for invocation in journal.invocations {
            wallSeconds += max(0, (invocation.endedAt ?? now).timeIntervalSince(invocation.startedAt))
        }
        let attempts = journal.attempts.sorted { $0.startedAt < $1.startedAt }
        for (index, attempt) in attempts.enumerated() {
            add(attempt, redoneLater: index + 1 < attempts.count, now: now)
            if index + 1 < attempts.count, let ended = attempt.endedAt {
                // The backoff and the wait for the GPUs run at once: the wait counts past the backoff.
                let gap = max(0, attempts[index + 1].startedAt.timeIntervalSince(ended))
                let backoff = min(gap, attempt.backoffSeconds ?? 0)
                backoffSeconds += backoff
                gpuWaitSeconds += max(0, min(gap, attempt.gpuWait?.seconds ?? 0) - backoff)
            }
        }
        let accounted =
            productiveSeconds + startupSeconds + redoneSeconds + lostSeconds + backoffSeconds + stoppingSeconds
            + gpuWaitSeconds
        overheadSeconds = max(0, wallSeconds - accounted)
        // Clocks that disagree (an attempt's end read after the invocation's) cannot make more
        // than the wall time: the parts are scaled down to fit.
        if accounted > wallSeconds, accounted > 0 {
            let scale = wallSeconds / accounted
            productiveSeconds *= scale
            startupSeconds *= scale
            redoneSeconds *= scale
            lostSeconds *= scale
            backoffSeconds *= scale
            stoppingSeconds *= scale
            gpuWaitSeconds *= scale
        }
    }

    /// One attempt: [start, first progress) start-up; then training, kept up to its last valid
    /// checkpoint (its end when it succeeded), the rest redone or lost; [stop's first step, end)
    /// stopping.
    private mutating func add(_ attempt: Journal.Attempt, redoneLater: Bool, now: Date) {
        let start = attempt.startedAt
        let end = max(start, attempt.endedAt ?? now)
        let stopStart = attempt.stopCause == nil ? nil : attempt.stopEvents?.first?.at
        let active = min(end, max(start, stopStart ?? end))
        let progress = min(active, max(start, attempt.firstProgressAt ?? active))
        startupSeconds += progress.timeIntervalSince(start)
        stoppingSeconds += end.timeIntervalSince(active)
        let training = active.timeIntervalSince(progress)
        let kept: Double
        if attempt.verdict?.verdict == .success || attempt.isOpen {
            kept = training
        } else {
            let lastKept = (attempt.checkpointsWritten ?? []).filter { $0.invalidReason == nil }.compactMap(\.at).max()
            kept = lastKept.map { min(training, max(0, $0.timeIntervalSince(progress))) } ?? 0
        }
        productiveSeconds += kept
        if redoneLater { redoneSeconds += training - kept } else { lostSeconds += training - kept }
    }

    /// `goodput 72% of 1h2m: productive 45m; start-up 3m, redone 5m, backoff 2s, stopping 1m, vigil 10s`
    /// (parts of zero left out).
    public var line: String {
        typealias Format = AttemptReport.Format
        let percent = Int((ratio * 100).rounded())
        let parts = losses.filter { $0.seconds >= 0.5 }.map { "\($0.name) \(Format.duration($0.seconds))" }
        return
            "goodput \(percent)% of \(Format.duration(wallSeconds)): productive \(Format.duration(productiveSeconds))"
            + (parts.isEmpty ? "" : "; " + parts.joined(separator: ", "))
    }
}
