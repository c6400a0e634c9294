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

/// The changes `queue add`, `remove`, `clear` and `retry` make to a queue: pure functions of the
/// queue value, run by the CLI inside `QueueStore.modify` (under the queue's lock).
public enum QueueEdit {
    /// What `add` did with each job.
    public struct AddResult: Sendable, Equatable {
        public var added: [String] = []
        /// Existed with other work (command, policy, options): replaced, and starts over.
        public var replaced: [String] = []
        /// Existed with the same work: its priority, `--after` and `--retrain-after` were updated, its
        /// state kept (`--replace`).
        public var updated: [String] = []
        /// Existed, and `--replace` was not given: left as it was.
        public var existing: [String] = []
    }

    /// Adds `jobs` (from `JobMatrix.expand`) to `queue`.
    /// - Throws: `.notFound` for an `--after` naming no job (did you mean…), `.usage` for an `--after`
    ///   cycle (the cycle named), `.runBusy` for replacing a running job. Nothing changes then.
    public static func add(_ jobs: [QueueJob], replace: Bool, to queue: inout QueueFile) throws -> AddResult {
        var result = AddResult()
        var updated = queue
        var byName = updated.byName
        for var job in jobs {
            guard let index = byName[job.name] else {
                job.sequence = updated.nextSequence
                updated.nextSequence += 1
                byName[job.name] = updated.jobs.count
                updated.jobs.append(job)
                result.added.append(job.name)
                continue
            }
            let old = updated.jobs[index]
            guard replace else {
                result.existing.append(job.name)
                continue
            }
            guard old.state != .running else {
                throw VigilError(
                    .runBusy, "job '\(job.name)' is running; replace it once it has stopped (vigil stop \(job.name))")
            }
            if old.definesSameWork(as: job) {
                var kept = old
                kept.after = job.after
                kept.priority = job.priority
                kept.retrainAfter = job.retrainAfter
                updated.jobs[index] = kept
                result.updated.append(job.name)
            } else {
                job.sequence = old.sequence
                job.fresh = old.runs > 0 || old.fresh
                updated.jobs[index] = job
                result.replaced.append(job.name)
            }
        }
        try checkDependencies(of: jobs.map(\.name), in: updated)
        queue = updated
        return result
    }

    /// Every `after` of the named jobs names a job, and there is no cycle.
    static func checkDependencies(of names: [String], in queue: QueueFile) throws {
        let byName = queue.byName
        let allNames = queue.jobs.map(\.name)
        for name in names {
            guard let index = byName[name] else { continue }
            for dependency in queue.jobs[index].after where byName[dependency] == nil {
                var message = "job '\(name)': --after '\(dependency)': no such job"
                if let near = Spelling.nearest(dependency, in: allNames) { message += " (did you mean '\(near)'?)" }
                throw VigilError(.notFound, message + "; add it first")
            }
        }
        if let cycle = QueueEdit.cycle(in: queue) {
            throw VigilError(
                .usage, "--after makes a cycle: \(cycle.joined(separator: " → ")); no job of it could ever start")
        }
    }

    /// A cycle of `after` edges (its names, the first repeated at the end), if there is one.
    public static func cycle(in queue: QueueFile) -> [String]? {
        let byName = queue.byName
        var state = [UInt8](repeating: 0, count: queue.jobs.count)  // 0 new, 1 on the path, 2 done
        var path: [Int] = []
        func visit(_ index: Int) -> [String]? {
            state[index] = 1
            path.append(index)
            for name in queue.jobs[index].after {
                guard let next = byName[name] else { continue }
                if state[next] == 1 {
                    let start = path.firstIndex(of: next)!
                    return (path[start...] + [next]).map { queue.jobs[$0].name }
                }
                if state[next] == 0, let found = visit(next) { return found }
            }
            path.removeLast()
            state[index] = 2
            return nil
        }
        for index in queue.jobs.indices where state[index] == 0 {
            if let found = visit(index) { return found }
        }
        return nil
    }

    /// The indices of the jobs `patterns` name (names or globs), in queue order.
    /// - Throws: `.notFound` (exit 66) for a name (or a glob) that matches no job, with the nearest name.
    public static func resolve(_ patterns: [String], in queue: QueueFile) throws -> [Int] {
        var chosen = Set<Int>()
        let byName = queue.byName
        for pattern in patterns {
            if !Glob.isPattern(pattern), let index = byName[pattern] {
                chosen.insert(index)
                continue
            }
            let matches = queue.jobs.indices.filter { Glob.matches(pattern, queue.jobs[$0].name) }
            guard !matches.isEmpty else { throw unknownJob(pattern, in: queue) }
            chosen.formUnion(matches)
        }
        return chosen.sorted()
    }

    /// "no job 'X' in the queue (did you mean 'Y'?)".
    public static func unknownJob(_ name: String, in queue: QueueFile) -> VigilError {
        var message = "no job '\(name)' in the queue"
        let names = queue.jobs.map(\.name)
        if let near = Spelling.nearest(name, in: names) {
            message += " (did you mean '\(near)'?)"
        } else if names.isEmpty {
            message += "; it is empty"
        }
        return VigilError(.notFound, message)
    }

    /// Removes the jobs `patterns` name.
    /// - Throws: `.runBusy` for a running job; `.usage` when a job left behind needs one removed
    ///   (its `--after`), unless that one is removed too.
    public static func remove(_ patterns: [String], from queue: inout QueueFile) throws -> [String] {
        let indices = try resolve(patterns, in: queue)
        let names = Set(indices.map { queue.jobs[$0].name })
        if let running = indices.first(where: { queue.jobs[$0].state == .running }) {
            throw VigilError(
                .runBusy,
                "job '\(queue.jobs[running].name)' is running; stop it first (vigil stop \(queue.jobs[running].name))")
        }
        for job in queue.jobs where !names.contains(job.name) {
            if let needed = job.after.first(where: names.contains), queue.jobs[queue.index(of: needed)!].state != .done
            {
                throw VigilError(
                    .usage, "job '\(job.name)' runs after '\(needed)'; remove both, or replace '\(job.name)' without it"
                )
            }
        }
        let removed = indices.map { queue.jobs[$0].name }
        queue.jobs.removeAll { names.contains($0.name) }
        return removed
    }

    /// `queue clear`: every job (`--done`: the done ones). Running jobs are never removed.
    /// - Throws: `.runBusy` when not `done` and some job is running.
    public static func clear(onlyDone: Bool, in queue: inout QueueFile) throws -> Int {
        if !onlyDone, let running = queue.jobs.first(where: { $0.state == .running }) {
            throw VigilError(
                .runBusy, "job '\(running.name)' is running; stop the queue first, or clear only --done jobs")
        }
        let before = queue.jobs.count
        queue.jobs.removeAll { !onlyDone || $0.state == .done }
        return before - queue.jobs.count
    }

    /// `queue retry`: failed and gave-up jobs (and blocked ones named) back to pending; their run
    /// starts over. Returns what was retried and what was left, with why.
    public static func retry(
        _ patterns: [String], in queue: inout QueueFile
    ) throws -> (
        retried: [String], left: [(String, String)]
    ) {
        var retried: [String] = []
        var left: [(String, String)] = []
        for index in try resolve(patterns, in: queue) {
            var job = queue.jobs[index]
            switch job.state {
            case .failed, .gaveUp:
                job.state = .pending
                job.fresh = true
                job.reason = "retried (was \(queue.jobs[index].state.rawValue): \(job.reason ?? "no reason recorded"))"
                queue.jobs[index] = job
                retried.append(job.name)
            case .pending: left.append((job.name, "pending already"))
            case .running: left.append((job.name, "running"))
            case .done: left.append((job.name, "done (it is retrained when due; or --replace it)"))
            case .stopped: left.append((job.name, "stopped-resumable: the next queue run continues it"))
            }
        }
        return (retried, left)
    }
}
