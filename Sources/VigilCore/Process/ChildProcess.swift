import CVigil
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Signal)

    public var description: String {
        switch self {
        case .exited(let code): return "exit code \(code)"
        case .signaled(let signal): return "killed by \(signal)"
        }
    }
}

/// A trainer process: the leader of its own process group, started with an empty signal mask and
/// default signal dispositions, stdin from /dev/null, stdout and stderr into pipes.
///
/// Not `Foundation.Process`: see docs/design.md. In short, Process passes the spawning thread's
/// signal mask and every SIG_IGN to the child (swift-corelibs-foundation#4772, #5176), learns of the
/// child's death through a socket every grandchild inherits (#4795), and reaps only after all of
/// them are gone. This type spawns with `posix_spawn` (as swift-subprocess and SwiftPM do) and reaps
/// the leader on its own thread the moment it exits.
public final class ChildProcess: Sendable {
    /// The pid, which is also the process group id.
    public let pid: pid_t
    /// The start time of the process (see `ProcessTable.startTime`), for telling it from a reused pid.
    public let startTime: UInt64?
    /// Read ends of the child's stdout and stderr; owned by whoever drains them.
    public let stdoutFD: Int32
    public let stderrFD: Int32

    private let state = Locked<(status: Termination?, exitedAt: Date?, signals: [SentSignal])>((nil, nil, []))

    /// A signal Vigil sent to the group, and when.
    public struct SentSignal: Sendable, Equatable {
        public var signal: Signal
        public var at: Date
    }

    /// Spawns `executable` (an absolute path) with `arguments` (argv[0] included) and `environment`.
    /// `onExit` runs on the reaper thread as soon as the leader has exited and been reaped. With
    /// `cgroup`, the child joins that cgroup before it execs (Linux, cgroup v2), so that every process
    /// it ever starts can be found there. With `workingDirectory`, the child starts there (else in ours).
    public static func spawn(
        executable: String,
        arguments: [String],
        environment: [String: String],
        cgroup: ControlGroup? = nil,
        workingDirectory: String? = nil,
        onExit: @escaping @Sendable (Termination) -> Void
    ) throws -> ChildProcess {
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard devNull >= 0 else { throw spawnError("cannot open /dev/null", errno) }
        defer { close(devNull) }
        let out = try makePipe()
        let err: (read: Int32, write: Int32)
        do { err = try makePipe() } catch {
            close(out.read); close(out.write)
            throw error
        }
        let procs = cgroup?.openProcs() ?? -1
        defer { if procs >= 0 { close(procs) } }

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // The child object does not exist until the spawn returned; an exit before that waits here.
        let box = Locked<(child: ChildProcess?, early: (Termination, Date)?)>((nil, nil))
        var failure: Int32 = 0
        var startTime: UInt64?
        let pid = ProcessReaper.shared.spawn(
            {
                var pid: pid_t = 0
                failure = cvigil_spawn_in(
                    &pid, executable, argv, envp, devNull, out.write, err.write, procs, workingDirectory)
                // Under the reaper's lock the child cannot be reaped yet, so its /proc entry is there.
                if failure == 0 { startTime = ProcessTable.startTime(of: pid) }
                return pid  // > 0 also when exec failed in a forked child: the reaper must still reap it
            },
            onExit: { status in
                let child = box.withLock { state -> ChildProcess? in
                    if state.child == nil { state.early = (status, Date()) }
                    return state.child
                }
                child?.exited(status, at: Date(), onExit)
            })
        close(out.write)
        close(err.write)
        guard failure == 0, pid > 0 else {
            close(out.read); close(err.read)
            throw spawnError("cannot start \(executable)", failure == 0 ? ECHILD : failure)
        }
        let child = ChildProcess(pid: pid, startTime: startTime, stdoutFD: out.read, stderrFD: err.read)
        let early = box.withLock { state -> (Termination, Date)? in
            state.child = child
            return state.early
        }
        if let early { child.exited(early.0, at: early.1, onExit) }
        return child
    }

    private init(pid: pid_t, startTime: UInt64?, stdoutFD: Int32, stderrFD: Int32) {
        self.pid = pid
        self.startTime = startTime
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
    }

    private func exited(_ status: Termination, at time: Date, _ onExit: @Sendable (Termination) -> Void) {
        state.withLock {
            $0.status = status
            $0.exitedAt = time
        }
        onExit(status)
    }

    /// The exit status once the leader has exited.
    public var exitStatus: Termination? { state.withLock { $0.status } }
    /// When the leader's exit was seen.
    public var exitedAt: Date? { state.withLock { $0.exitedAt } }
    /// Every signal Vigil sent to this child's group, in order.
    public var sentSignals: [SentSignal] { state.withLock { $0.signals } }

    /// Sends `signal` to the child's whole process group (the trainer and all its descendants that
    /// stayed in the group) and records it. Returns false when nothing of the group is left.
    @discardableResult
    public func signalGroup(_ signal: Signal) -> Bool {
        state.withLock { $0.signals.append(SentSignal(signal: signal, at: Date())) }
        return ProcessGroup.send(signal, to: pid)
    }

    /// Records `signal` as sent by Vigil to the group without sending it (the caller sends it to
    /// chosen members).
    public func noteSent(_ signal: Signal) {
        state.withLock { $0.signals.append(SentSignal(signal: signal, at: Date())) }
    }

    /// Sends `signal` to the trainer alone (not its group) and records it.
    public func signalLeader(_ signal: Signal) {
        state.withLock { $0.signals.append(SentSignal(signal: signal, at: Date())) }
        if exitStatus == nil { kill(pid, signal.rawValue) }
    }

    /// Whether any process of the group is still running (after the leader is reaped: its descendants).
    public var groupHasLiveMembers: Bool { ProcessGroup.hasLiveMembers(pid) }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let rc = cvigil_pipe_cloexec(&fds)
        guard rc == 0 else { throw spawnError("cannot create a pipe", rc) }
        return (fds[0], fds[1])
    }

    private static func spawnError(_ what: String, _ code: Int32) -> VigilError {
        let reason = String(cString: strerror(code))
        if code == ENOENT || code == EACCES || code == ENOEXEC {
            return VigilError(.notFound, "\(what): \(reason)")
        }
        return VigilError(.io, "\(what): \(reason)")
    }
}
