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

/// The queue as a person (and `queue run`) sees it at one moment: each job's shown state —
/// `blocked` for a pending job whose `after` job failed, `stopped-resumable` for a running job
/// whose runner and `vigil run` both died — whether it is due for retraining, and what it waits
/// for. A pure function of the queue file, the time and the liveness of the claims' processes.
public struct QueueView: Sendable {
    /// What a job's state is shown as.
    public enum Shown: String, Sendable, CaseIterable {
        case pending, running, done, failed
        case gaveUp = "gave-up"
        case stopped = "stopped-resumable"
        case blocked
    }

    /// Whether the processes of a running job's claim are alive.
    public enum ClaimStatus: String, Sendable {
        /// Its runner is alive (or on another host, where this one cannot look).
        case live
        /// Its runner died, but its `vigil run` still supervises the job.
        case vigilOnly = "vigil-only"
        /// Its runner and its `vigil run` are gone: the job is resumable.
        case stale
    }

    /// One job, seen.
    public struct Row: Sendable {
        public var index: Int
        public var shown: Shown
        /// Done, with `retrainAfter`, and its last success older than that.
        public var due: Bool
        /// For a running job: are its processes alive.
        public var claim: ClaimStatus?
        /// `after` jobs that failed, gave up or are blocked themselves (it is blocked).
        public var blockedBy: [String]
        /// `after` jobs that are not done yet (it waits).
        public var waitingFor: [String]
    }

    public let queue: QueueFile
    public let now: Date
    public let rows: [Row]

    /// - Parameter liveness: how the claim of a running job stands (`QueueView.liveness` for the
    ///   real processes; a plain function in tests).
    public init(queue: QueueFile, now: Date, liveness: (QueueJob.Claim) -> ClaimStatus) {
        self.queue = queue
        self.now = now
        let byName = queue.byName
        var blocked = [Bool?](repeating: nil, count: queue.jobs.count)
        var rows: [Row] = []
        rows.reserveCapacity(queue.jobs.count)
        for (index, job) in queue.jobs.enumerated() {
            var row = Row(
                index: index, shown: QueueView.shown(job.state), due: job.isDue(at: now), claim: nil, blockedBy: [],
                waitingFor: [])
            if job.state == .running {
                let status = job.claim.map(liveness) ?? .stale
                row.claim = status
                if status == .stale { row.shown = .stopped }
            }
            if job.state == .pending {
                for dependency in job.after {
                    guard let other = byName[dependency] else { continue }  // cleared: it was done
                    if QueueView.isBlocked(other, queue.jobs, byName, &blocked, depth: 0) {
                        row.blockedBy.append(dependency)
                    } else if queue.jobs[other].state != .done {
                        row.waitingFor.append(dependency)
                    }
                }
                if !row.blockedBy.isEmpty { row.shown = .blocked }
            }
            rows.append(row)
        }
        self.rows = rows
    }

    static func shown(_ state: QueueJob.State) -> Shown {
        switch state {
        case .pending: return .pending
        case .running: return .running
        case .done: return .done
        case .failed: return .failed
        case .gaveUp: return .gaveUp
        case .stopped: return .stopped
        }
    }

    /// Whether job `index` failed, gave up, or waits on one that did (memoised; cycles, which `queue
    /// add` refuses, count as not blocked).
    private static func isBlocked(
        _ index: Int, _ jobs: [QueueJob], _ byName: [String: Int], _ memo: inout [Bool?], depth: Int
    ) -> Bool {
        if let known = memo[index] { return known }
        let job = jobs[index]
        var result = job.state == .failed || job.state == .gaveUp
        if !result, job.state == .pending, depth < 1000 {
            memo[index] = false  // a cycle ends here
            result = job.after.contains { name in
                byName[name].map { isBlocked($0, jobs, byName, &memo, depth: depth + 1) } ?? false
            }
        }
        memo[index] = result
        return result
    }

    /// How a claim stands, from the process table: its runner's pid with its start time, else its
    /// `vigil run`'s. A claim made on another host is taken as live (this host cannot look).
    public static func liveness(localHost: String) -> (QueueJob.Claim) -> ClaimStatus {
        { claim in
            guard claim.host == localHost else { return .live }
            if ProcessTable.isAlive(claim.runner.pid, startTime: claim.runner.startTime) { return .live }
            if let vigil = claim.vigil, ProcessTable.isAlive(vigil.pid, startTime: vigil.startTime) {
                return .vigilOnly
            }
            return .stale
        }
    }

    /// The counts of each shown state, in a fixed order: `3 done, 1 failed, 2 pending`.
    public func counts(_ rows: [Row]? = nil) -> [(Shown, Int)] {
        var counts: [Shown: Int] = [:]
        for row in rows ?? self.rows { counts[row.shown, default: 0] += 1 }
        return Shown.allCases.compactMap { shown in counts[shown].map { (shown, $0) } }
    }
}

/// Which jobs a `queue run` (or `list`) looks at: names or globs (`--only`), and whether due jobs
/// are retrained (`--no-retrain`, `--retrain-only`).
public struct QueueSelection: Sendable, Equatable {
    public enum Retrain: String, Sendable { case include, skip, only }

    public var only: [String] = []
    public var retrain = Retrain.include

    public init(only: [String] = [], retrain: Retrain = .include) {
        self.only = only
        self.retrain = retrain
    }

    /// Whether `--only` lets job `name` in.
    public func selects(_ name: String) -> Bool {
        only.isEmpty || only.contains { Glob.matches($0, name) }
    }
}

/// Shell-style name patterns (`train-*-lstm`, `eval-?`, `[AB]*`), as `fnmatch(3)` reads them.
public enum Glob {
    /// Whether `pattern` has a wildcard at all (else it is a plain name).
    public static func isPattern(_ pattern: String) -> Bool {
        pattern.contains { "*?[".contains($0) }
    }

    public static func matches(_ pattern: String, _ name: String) -> Bool {
        guard isPattern(pattern) else { return pattern == name }
        return fnmatch(pattern, name, 0) == 0
    }
}
