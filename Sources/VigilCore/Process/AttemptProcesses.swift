import CVigil

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

/// When what is left of an attempt gets which signal: SIGTERM to every process, a grace period,
/// SIGKILL to whatever is still there, a last wait — as a value (pids and instants in, signals due
/// out), for the attempt machine, the hook runner and an orphan's stop alike.
public struct LeftoverSweep: Sendable, Equatable {
    /// The signal due now.
    public private(set) var signal = Signal.terminate
    /// When the current phase (SIGTERM's grace, SIGKILL's wait) is over.
    public private(set) var phaseEnds: Instant
    public private(set) var isDone = false
    /// Processes still there when SIGKILL's wait ran out.
    public private(set) var survivors: [Int32] = []
    private let killWait: Double
    private let grace: Double
    private var termSent = false
    private var signalled: [Int32: Signal] = [:]

    /// A sweep beginning now with SIGTERM and `grace` before SIGKILL (or, `killing`, with SIGKILL).
    public init(grace: Double, killWait: Double = 10, killing: Bool = false, now: Instant) {
        self.killWait = killWait
        self.grace = grace
        if killing {
            signal = .kill
            phaseEnds = now + killWait
        } else {
            phaseEnds = now + grace
        }
    }

    /// `signal` went out now: SIGTERM's grace, or SIGKILL's wait, runs from its first sending.
    public mutating func sent(_ signal: Signal, now: Instant) {
        if signal == .terminate, self.signal == .terminate, !termSent {
            termSent = true
            phaseEnds = max(phaseEnds, now + grace)
        }
    }

    /// Straight to SIGKILL (a second Ctrl-C).
    public mutating func escalate(now: Instant) {
        guard signal != .kill else { return }
        signal = .kill
        phaseEnds = now + killWait
    }

    /// Given the processes alive now: the signal due and who is due it (nil when nobody is); done
    /// when none is left, or SIGKILL's wait ran out.
    public mutating func next(alive pids: [Int32], now: Instant) -> (signal: Signal, pids: [Int32])? {
        guard !isDone else { return nil }
        if pids.isEmpty {
            isDone = true
            return nil
        }
        if signal == .terminate && now >= phaseEnds {
            signal = .kill
            phaseEnds = now + killWait
        } else if signal == .kill && now >= phaseEnds {
            isDone = true
            survivors = pids
            return nil
        }
        let due = pids.filter { signalled[$0] != signal }
        for pid in due { signalled[pid] = signal }
        return due.isEmpty ? nil : (signal, due)
    }
}

/// Who was left of an attempt and how each ended, for the journal: the command line when first seen,
/// the last signal sent, and the exit status when Vigil reaped it (an escapee reparented to it).
public struct LeftoverRecorder: Sendable {
    private var tracked: [Int32: (member: AttemptProcesses.Member, command: String, lastSignal: Signal?)] = [:]
    private var ended: [Int32: String] = [:]

    public init() {}

    /// Notes the processes alive now (the ones gone since are recorded as ended).
    public mutating func saw(_ members: [AttemptProcesses.Member]) {
        let alive = Set(members.map(\.pid))
        for (pid, entry) in tracked where ended[pid] == nil && !alive.contains(pid) {
            ended[pid] = LeftoverRecorder.describeEnd(pid, after: entry.lastSignal)
        }
        for member in members where tracked[member.pid] == nil {
            tracked[member.pid] = (member, ProcessTable.commandLine(of: member.pid) ?? "?", nil)
        }
    }

    /// Notes that `signal` went to `pids`.
    public mutating func sent(_ signal: Signal, to pids: [Int32]) {
        for pid in pids { tracked[pid]?.lastSignal = signal }
    }

    /// The member behind `pid`, as last seen.
    public func member(_ pid: Int32) -> AttemptProcesses.Member? { tracked[pid]?.member }

    /// What was stopped, in pid order; `survivors` are still running.
    public func record(survivors: [Int32] = []) -> [LeftoverProcess] {
        tracked.keys.sorted().map { pid in
            let entry = tracked[pid]!
            let how =
                survivors.contains(pid)
                ? "still running after SIGKILL"
                : ended[pid] ?? LeftoverRecorder.describeEnd(pid, after: entry.lastSignal)
            return LeftoverProcess(
                pid: pid, command: entry.command, foundBy: entry.member.origin.rawValue, ended: how)
        }
    }

    static func describeEnd(_ pid: pid_t, after signal: Signal?) -> String {
        if let exit = ProcessReaper.shared.adoptedExit(of: pid) { return exit.status.description }
        return signal.map { "gone after \($0)" } ?? "gone"
    }
}

extension AttemptProcesses {
    /// Stops what is left now (outside any event loop: a hook, an orphan's processes): SIGTERM, `grace`,
    /// SIGKILL, looking every 50 ms; `beforeSending` is told first (to journal it). Returns the record.
    public func stopAll(
        grace: Double, clock: any SupervisorClock = SystemClock(), interrupted: () -> Bool = { false },
        beforeSending: (Signal, [Int32]) -> Void = { _, _ in }
    ) -> [LeftoverProcess] {
        var sweep = LeftoverSweep(grace: grace, now: clock.now())
        var recorder = LeftoverRecorder()
        let ticks = EventQueue<Bool>()
        while true {
            let members = live()
            recorder.saw(members)
            if interrupted() { sweep.escalate(now: clock.now()) }
            if let (signal, due) = sweep.next(alive: members.map(\.pid), now: clock.now()) {
                beforeSending(signal, due)
                recorder.sent(signal, to: due)
                if signal == .kill { cgroup?.killAll() }
                for pid in due { if let member = recorder.member(pid) { AttemptProcesses.send(signal, to: member) } }
            }
            if sweep.isDone { return recorder.record(survivors: sweep.survivors) }
            // Membership has no event: look again shortly (or when the phase is over).
            _ = ticks.next(until: min(sweep.phaseEnds, clock.now() + 0.05))
        }
    }
}
