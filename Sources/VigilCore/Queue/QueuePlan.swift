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

/// What a `queue run` would do with each job, now, and why: a pure function of a `QueueView` and
/// the selection. The runner asks it again whenever something changed; `--dry-run` prints it.
///
/// Order: jobs whose runner died while their `vigil run` lives (taken over and waited for), then
/// jobs that were cut off (`stopped-resumable`), then pending and due jobs by priority (higher
/// first), then insertion order.
public struct QueuePlan: Sendable {
    /// Why a job is to be run.
    public enum Reason: Sendable, Equatable {
        /// Its runner died while its `vigil run` still supervises it: wait for that one.
        case watch
        /// It was cut off (the text: why); it continues where it stopped.
        case resume(String)
        /// It has not run yet (or was retried, or replaced).
        case pending
        /// Done, and due for retraining since then.
        case due(since: Date)
    }

    /// Why a job is not to be run.
    public enum Skip: Sendable, Equatable {
        /// One of its `after` jobs failed.
        case blocked([String])
        /// Its `after` jobs are not done yet.
        case waiting([String])
        /// Another live runner has it.
        case running
        /// Done; due for retraining then (nil: never).
        case done(dueAt: Date?)
        /// Due for retraining, and `--no-retrain` was given.
        case retrainSkipped(since: Date)
        /// Pending or cut off, and `--retrain-only` was given.
        case notDue
        case failed
        case gaveUp
        /// Stopped during this queue run (by `vigil stop`, or its vigil died): the next run continues it.
        case stoppedThisRun
        /// Not matched by `--only`.
        case notSelected
    }

    public struct Candidate: Sendable, Equatable {
        public var index: Int
        public var name: String
        public var reason: Reason
    }

    /// Jobs to run, in order.
    public var candidates: [Candidate] = []
    /// The others, in queue order, with why not.
    public var skipped: [(index: Int, skip: Skip)] = []

    /// - Parameter exclude: jobs this runner already has running, or stopped itself during this run.
    public init(view: QueueView, selection: QueueSelection, running: Set<String> = [], stopped: Set<String> = []) {
        var watch: [Candidate] = []
        var resume: [Candidate] = []
        var fresh: [(Candidate, QueueJob)] = []
        for row in view.rows {
            let job = view.queue.jobs[row.index]
            guard selection.selects(job.name) else {
                skipped.append((row.index, .notSelected))
                continue
            }
            if running.contains(job.name) { continue }
            switch QueuePlan.decide(job, row, selection: selection, stopped: stopped, now: view.now) {
            case .run(.watch): watch.append(Candidate(index: row.index, name: job.name, reason: .watch))
            case .run(let reason) where reason.isResume:
                resume.append(Candidate(index: row.index, name: job.name, reason: reason))
            case .run(let reason): fresh.append((Candidate(index: row.index, name: job.name, reason: reason), job))
            case .skip(let skip): skipped.append((row.index, skip))
            }
        }
        fresh.sort { a, b in
            a.1.priority != b.1.priority ? a.1.priority > b.1.priority : a.1.sequence < b.1.sequence
        }
        candidates = watch + resume + fresh.map(\.0)
    }

    private enum Decision {
        case run(Reason)
        case skip(Skip)
    }

    private static func decide(
        _ job: QueueJob, _ row: QueueView.Row, selection: QueueSelection, stopped: Set<String>, now: Date
    ) -> Decision {
        let onlyRetrain = selection.retrain == .only
        switch row.shown {
        case .running:
            return row.claim == .vigilOnly ? .run(.watch) : .skip(.running)
        case .stopped:
            if stopped.contains(job.name) { return .skip(.stoppedThisRun) }
            if onlyRetrain && !job.retraining { return .skip(.notDue) }
            return .run(.resume(job.reason ?? (job.state == .running ? "its queue runner died" : "it was stopped")))
        case .blocked:
            return .skip(.blocked(row.blockedBy))
        case .pending:
            if onlyRetrain { return .skip(.notDue) }
            return row.waitingFor.isEmpty ? .run(.pending) : .skip(.waiting(row.waitingFor))
        case .done:
            guard row.due, let since = job.dueAt else { return .skip(.done(dueAt: job.dueAt)) }
            return selection.retrain == .skip ? .skip(.retrainSkipped(since: since)) : .run(.due(since: since))
        case .failed:
            return .skip(.failed)
        case .gaveUp:
            return .skip(.gaveUp)
        }
    }

    /// One line per job for `--dry-run`: `would run  NAME  why`, then the others.
    public func describe(_ view: QueueView) -> [String] {
        var lines: [String] = []
        let names = view.queue.jobs.map(\.name)
        let width = min(48, (candidates.map(\.name.count) + skipped.map { names[$0.index].count }).max() ?? 0)
        func pad(_ name: String) -> String {
            name.padded(to: width)
        }
        for (order, candidate) in candidates.enumerated() {
            lines.append("would run  \(order + 1). \(pad(candidate.name))  \(QueuePlan.text(candidate.reason))")
        }
        for (index, skip) in skipped where skip != .notSelected {
            lines.append("not run    \(pad(names[index]))  \(QueuePlan.text(skip, now: view.now))")
        }
        return lines
    }

    public static func text(_ reason: Reason) -> String {
        switch reason {
        case .watch: return "running: its queue runner died, its vigil run is still supervising it; waited for"
        case .resume(let why): return "stopped-resumable (\(why)); continues first, where it stopped"
        case .pending: return "pending"
        case .due(let since): return "due for retraining since \(QueuePlan.display(since)); starts fresh"
        }
    }

    public static func text(_ skip: Skip, now: Date) -> String {
        switch skip {
        case .blocked(let jobs): return "blocked: after \(jobs.joined(separator: ", ")), which did not succeed"
        case .waiting(let jobs): return "waiting for \(jobs.joined(separator: ", ")) (not done yet)"
        case .running: return "running (another queue runner has it)"
        case .done(nil): return "done"
        case .done(let due?): return "done; due for retraining at \(QueuePlan.display(due))"
        case .retrainSkipped(let since):
            return "due for retraining since \(QueuePlan.display(since)), skipped (--no-retrain)"
        case .notDue: return "not due for retraining (--retrain-only)"
        case .failed: return "failed (vigil queue retry NAME runs it again)"
        case .gaveUp: return "gave up (vigil queue retry NAME runs it again)"
        case .stoppedThisRun: return "stopped during this queue run; the next one continues it"
        case .notSelected: return "not selected (--only)"
        }
    }

    /// `2026-11-23 09:41Z`.
    public static func display(_ date: Date) -> String {
        var stamp = Array(Journal.timestamp(date).utf8)  // 2026-12-01T14:57:16.123Z
        stamp[10] = UInt8(ascii: " ")
        stamp[16] = UInt8(ascii: "Z")
        return String(decoding: stamp[0..<17], as: UTF8.self)
    }
}

extension QueuePlan.Reason {
    /// Continues a run that was cut off (or waits for one), rather than starting one.
    var isResume: Bool {
        if case .resume = self { return true }
        return false
    }
}
