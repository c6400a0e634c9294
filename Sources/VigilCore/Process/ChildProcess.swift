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
    /// `onExit` runs on the reaper thread as soon as the leader has exited and been reaped.
    public static func spawn(
        executable: String,
        arguments: [String],
        environment: [String: String],
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

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = cvigil_spawn(&pid, executable, argv, envp, devNull, out.write, err.write)
        close(out.write)
        close(err.write)
        guard rc == 0 else {
            close(out.read); close(err.read)
            throw spawnError("cannot start \(executable)", rc)
        }
        let child = ChildProcess(pid: pid, stdoutFD: out.read, stderrFD: err.read)
        startThread(name: "vigil-reaper-\(pid)") { [child] in
            let status = child.reap()
            child.state.withLock {
                $0.status = status
                $0.exitedAt = Date()
            }
            onExit(status)
        }
        return child
    }

    private init(pid: pid_t, stdoutFD: Int32, stderrFD: Int32) {
        self.pid = pid
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        // The leader is ours until we reap it, so its /proc entry is there to read.
        self.startTime = ProcessTable.startTime(of: pid)
    }

    /// Blocks until the leader exits and reaps it (it is our child, so nobody else can).
    private func reap() -> Termination {
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, 0)
            if rc == pid { break }
            if rc < 0 && errno == EINTR { continue }
            // ECHILD cannot happen for our own child unless SIGCHLD were ignored; report it plainly.
            return .exited(-1)
        }
        if (status & 0x7f) == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(Signal(rawValue: status & 0x7f))
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
