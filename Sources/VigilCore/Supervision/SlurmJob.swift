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

/// The SLURM job vigil runs in, read from its environment: inside a job `SLURM_JOB_ID` is set (in the
/// batch shell and in every step). Plain values: what the environment says, and how `scontrol show job`
/// answers are read; running `scontrol` is the supervisor's (Supervisor+Slurm.swift).
public struct SlurmJob: Sendable, Equatable {
    /// `SLURM_JOB_ID`: this job's id (for a task of an array, the task's own).
    public var jobID: String
    /// `SLURM_ARRAY_JOB_ID` and `SLURM_ARRAY_TASK_ID`, for a task of a job array.
    public var arrayJobID: String?
    public var arrayTaskID: String?
    /// `SLURM_RESTART_COUNT`: how many times the job was requeued before this run (unset, 0, on the first).
    public var restartCount: Int
    /// `SLURM_JOB_END_TIME` (Unix seconds; set by Slurm 23.02 and later).
    public var endTime: Double?

    /// The job vigil runs in, or nil outside SLURM.
    public init?(environment: [String: String]) {
        guard let id = environment["SLURM_JOB_ID"].map(Self.trimmed), !id.isEmpty else { return nil }
        jobID = id
        arrayJobID = environment["SLURM_ARRAY_JOB_ID"].map(Self.trimmed).flatMap { $0.isEmpty ? nil : $0 }
        arrayTaskID = environment["SLURM_ARRAY_TASK_ID"].map(Self.trimmed).flatMap { $0.isEmpty ? nil : $0 }
        restartCount = environment["SLURM_RESTART_COUNT"].flatMap { Int(Self.trimmed($0)) }.map { max(0, $0) } ?? 0
        endTime = environment["SLURM_JOB_END_TIME"].flatMap { Double(Self.trimmed($0)) }.flatMap { $0 > 0 ? $0 : nil }
    }

    private static func trimmed(_ text: String) -> String { text.trimmingSpaces() }

    /// The job as `scontrol` names it: `ARRAYJOBID_TASKID` for a task of an array (what `squeue` shows,
    /// and what `scontrol requeue` takes for that one task), else the job id.
    public var id: String {
        if let arrayJobID, let arrayTaskID { return "\(arrayJobID)_\(arrayTaskID)" }
        return jobID
    }

    /// What `scontrol show job -o JOB` says about the job, as far as vigil needs it.
    public struct Status: Sendable, Equatable {
        /// `JobState`: `RUNNING`, `COMPLETING` (cancelled, timed out or ending), `PENDING` …
        public var state: String?
        /// `RunTime` and `TimeLimit` in seconds; `timeLimit` nil when `UNLIMITED` (or not given).
        public var runTime: Double?
        public var timeLimit: Double?
        /// `Restarts`.
        public var restarts: Int?

        /// What is left of the time limit: the job's end, relative (no clock or time zone involved).
        public var timeLeft: Double? {
            guard let runTime, let timeLimit else { return nil }
            return max(0, timeLimit - runTime)
        }

        /// Reads the one-line form (`-o`) of `scontrol show job`: `KEY=VALUE` fields separated by spaces.
        /// For an array the first record is used (a task's, when a task was asked for).
        public init(scontrolOutput text: String) {
            let line = text.split(whereSeparator: \.isNewline).first { $0.contains("JobId=") } ?? ""
            var fields: [String: String] = [:]
            for token in line.split(separator: " ") {
                guard let equals = token.firstIndex(of: "=") else { continue }
                let key = String(token[..<equals])
                if fields[key] == nil { fields[key] = String(token[token.index(after: equals)...]) }
            }
            state = fields["JobState"]
            runTime = fields["RunTime"].flatMap(Status.seconds)
            timeLimit = fields["TimeLimit"].flatMap(Status.seconds)
            restarts = fields["Restarts"].flatMap { Int($0) }
        }

        /// SLURM's durations, as it writes and reads them: `HH:MM:SS`, `MM:SS`, `MM`, and with days
        /// `DAYS-HH:MM:SS`, `DAYS-HH:MM`, `DAYS-HH`; nil for `UNLIMITED`, `INVALID`, `NONE` and the like.
        public static func seconds(_ text: String) -> Double? {
            var rest = Substring(text)
            var days: Int?
            if let dash = rest.firstIndex(of: "-") {
                guard let value = Int(rest[..<dash]), value >= 0, value < 1_000_000 else { return nil }
                days = value
                rest = rest[rest.index(after: dash)...]
            }
            var parts: [Int] = []
            for part in rest.split(separator: ":", omittingEmptySubsequences: false) {
                guard part.allSatisfy(\.isASCII), let value = Int(part), value >= 0, value < 1_000_000 else {
                    return nil
                }
                parts.append(value)
            }
            guard (1...3).contains(parts.count) else { return nil }
            if days != nil {
                parts += [Int](repeating: 0, count: 3 - parts.count)  // hours first
            } else if parts.count < 3 {
                parts = [0] + parts + (parts.count == 1 ? [0] : [])  // minutes first
            }
            return Double((days ?? 0) * 86_400 + parts[0] * 3600 + parts[1] * 60 + parts[2])
        }
    }
}

/// The requeue budget (`slurm.maxRequeues`): a requeue counts only when no attempt wrote a new
/// checkpoint since the previous requeue of the run (for the first, since the run began), so a job that
/// keeps making progress is requeued for as long as it needs, and one that cannot is not requeued for
/// ever. Counted across invocations through the journal.
public struct RequeueBudget: Sendable, Equatable {
    /// Whether this requeue would count.
    public var counts: Bool
    /// Counted requeues the run has had.
    public var used: Int
    /// Whether the budget allows this requeue.
    public var allows: Bool

    public init(journal: Journal, maxRequeues: Int) {
        let earlier = journal.invocations.compactMap(\.requeue).filter(\.requeued)
        used = earlier.filter(\.counted).count
        let since = min(max(earlier.last?.attempts ?? 0, 0), journal.attempts.count)
        counts = !journal.attempts[since...].contains { $0.madeProgress == true }
        allows = !counts || used < maxRequeues
    }
}
