import CVigil
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Every process that belongs to an attempt, found three ways: the trainer's process group; what
/// escaped it (`setsid`, a double fork) and, Vigil being a child subreaper, was reparented to Vigil;
/// and the attempt's own cgroup when Vigil has one. Signals go to each process by a pidfd (Linux),
/// after checking its start time, so a pid reused by the system is never touched.
public struct AttemptProcesses: Sendable {
    /// The trainer's pid, which is also its process group.
    public let leader: pid_t
    public let cgroup: ControlGroup?
    /// The supervising process (whose unregistered children are escapees).
    let supervisor: pid_t

    public init(leader: pid_t, cgroup: ControlGroup?, supervisor: pid_t = getpid()) {
        self.leader = leader
        self.cgroup = cgroup
        self.supervisor = supervisor
    }

    /// How a process was found to belong to the attempt.
    public enum Origin: String, Sendable, Codable {
        /// In the trainer's process group.
        case group
        /// Outside the group, reparented to Vigil (or a descendant of such a process).
        case reparented
        /// In the attempt's cgroup.
        case cgroup
        /// A descendant of the trainer outside its group, while the trainer lives.
        case descendant
    }

    /// One live process of the attempt.
    public struct Member: Sendable, Equatable {
        public var pid: pid_t
        public var startTime: UInt64
        public var origin: Origin
    }

    /// The live processes of the attempt (the leader included while it runs), read from `/proc` once.
    public func live() -> [Member] {
        #if os(Linux)
            let entries = ProcessTable.snapshot()
            var byPid: [pid_t: Member] = [:]
            func add(_ entry: ProcessTable.Entry, _ origin: Origin) {
                guard !entry.isZombie, entry.pid != supervisor, byPid[entry.pid] == nil else { return }
                byPid[entry.pid] = Member(pid: entry.pid, startTime: entry.startTime, origin: origin)
            }
            if leader > 1 {  // no leader (an orphan's trainer already gone): its cgroup alone
                for entry in entries where entry.group == leader { add(entry, .group) }
                for entry in ProcessTable.descendants(of: leader, in: entries) { add(entry, .descendant) }
            }
            let index = Dictionary(entries.map { ($0.pid, $0) }, uniquingKeysWith: { a, _ in a })
            if let cgroup {
                for pid in cgroup.members { if let entry = index[pid] { add(entry, .cgroup) } }
            }
            // Children of Vigil that Vigil did not start were reparented to it: escapees of a trainer.
            for entry in entries where entry.parent == supervisor && !ProcessReaper.shared.isRegistered(entry.pid) {
                add(entry, .reparented)
                for below in ProcessTable.descendants(of: entry.pid, in: entries) { add(below, .reparented) }
            }
            return byPid.values.sorted { $0.pid < $1.pid }
        #else
            return leader > 1 && ProcessGroup.hasLiveMembers(leader)
                ? [Member(pid: leader, startTime: ProcessTable.startTime(of: leader) ?? 0, origin: .group)] : []
        #endif
    }

    /// Sends `signal` to `member` if it is still that process. Returns whether it was sent.
    @discardableResult
    public static func send(_ signal: Signal, to member: Member) -> Bool {
        #if os(Linux)
            let fd = cvigil_pidfd_open(member.pid)
            if fd >= 0 {
                defer { close(fd) }
                // The pidfd names one process for good; check it is the one we listed.
                guard ProcessTable.startTime(of: member.pid) == member.startTime else { return false }
                return cvigil_pidfd_send_signal(fd, signal.rawValue) == 0
            }
        #endif
        guard ProcessTable.startTime(of: member.pid) == member.startTime else { return false }
        return kill(member.pid, signal.rawValue) == 0
    }
}

/// A process Vigil stopped because it outlived its attempt's trainer, for the journal and reports.
public struct LeftoverProcess: Codable, Sendable, Equatable {
    public var pid: Int32
    /// Its command line when Vigil found it.
    public var command: String
    /// How Vigil found it: `group`, `reparented` (escaped the group), `cgroup`, `descendant`.
    public var foundBy: String
    /// How it ended: `killed by SIGTERM` (Vigil reaped it), `gone after SIGTERM`, `gone after SIGKILL`,
    /// or `still running` when even SIGKILL did not end it in time.
    public var ended: String

    public init(pid: Int32, command: String, foundBy: String, ended: String) {
        self.pid = pid
        self.command = command
        self.foundBy = foundBy
        self.ended = ended
    }
}

/// Stops what is left of an attempt after its trainer exited: SIGTERM to every process, a grace
/// period, SIGKILL (and `cgroup.kill`), until none is left; keeps a record of each. A value driven
/// by the supervisor's loop (`step(now:)`), so signals to Vigil stay answered meanwhile.
public struct LeftoverSweep: Sendable {
    public let processes: AttemptProcesses
    public let grace: Double
    /// How long to wait after SIGKILL before giving up on a process (it may be in uninterruptible sleep).
    public let killWait: Double
    private(set) var phase = Phase.term
    private(set) var phaseEnds: Date
    private var known: [pid_t: Tracked] = [:]

    enum Phase { case term, kill, done }

    private struct Tracked {
        var member: AttemptProcesses.Member
        var command: String
        var lastSignal: Signal?
        var ended: String?
    }

    public init(processes: AttemptProcesses, grace: Double, killWait: Double = 10, now: Date = Date()) {
        self.processes = processes
        self.grace = grace
        self.killWait = killWait
        self.phaseEnds = now.addingTimeInterval(grace)
    }

    public var isDone: Bool { phase == .done }
    /// When the sweep next needs to look (the caller waits on its events until then).
    public var nextLook: Date { min(phaseEnds, Date().addingTimeInterval(0.05)) }

    /// Goes straight to SIGKILL (a second Ctrl-C, or a stop already past SIGTERM).
    public mutating func escalate(now: Date = Date()) {
        guard phase == .term else { return }
        phase = .kill
        phaseEnds = now.addingTimeInterval(killWait)
    }

    /// Looks at what is left and signals it as the phase says; call until `isDone`. `beforeSending`
    /// is told which signal goes to which processes before it is sent (so it can be journaled first).
    public mutating func step(
        now: Date = Date(), beforeSending: (Signal, [AttemptProcesses.Member]) -> Void = { _, _ in }
    ) {
        guard phase != .done else { return }
        let live = processes.live()
        let livePids = Set(live.map(\.pid))
        for (pid, tracked) in known where tracked.ended == nil && !livePids.contains(pid) {
            known[pid]?.ended = LeftoverSweep.describeEnd(pid, after: tracked.lastSignal)
        }
        if live.isEmpty {
            phase = .done
            return
        }
        if phase == .term && now >= phaseEnds {
            phase = .kill
            phaseEnds = now.addingTimeInterval(killWait)
        } else if phase == .kill && now >= phaseEnds {
            for member in live { known[member.pid]?.ended = "still running after SIGKILL" }
            phase = .done
            return
        }
        let signal: Signal = phase == .term ? .terminate : .kill
        for member in live where known[member.pid] == nil {
            known[member.pid] = Tracked(
                member: member, command: ProcessTable.commandLine(of: member.pid) ?? "?", lastSignal: nil)
        }
        let due = live.filter { known[$0.pid]?.lastSignal != signal }
        guard !due.isEmpty else { return }
        beforeSending(signal, due)
        if signal == .kill { processes.cgroup?.killAll() }
        for member in due {
            AttemptProcesses.send(signal, to: member)
            known[member.pid]?.lastSignal = signal
        }
    }

    /// What was stopped, in pid order.
    public var record: [LeftoverProcess] {
        known.values.sorted { $0.member.pid < $1.member.pid }.map { tracked in
            LeftoverProcess(
                pid: tracked.member.pid, command: tracked.command, foundBy: tracked.member.origin.rawValue,
                ended: tracked.ended ?? LeftoverSweep.describeEnd(tracked.member.pid, after: tracked.lastSignal))
        }
    }

    static func describeEnd(_ pid: pid_t, after signal: Signal?) -> String {
        if let exit = ProcessReaper.shared.adoptedExit(of: pid) { return exit.status.description }
        return signal.map { "gone after \($0)" } ?? "gone"
    }
}
