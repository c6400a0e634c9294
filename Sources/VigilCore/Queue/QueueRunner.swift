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

/// What `vigil queue run` was asked to do.
public struct QueueRunRequest: Sendable {
    public var store: QueueStore
    /// Where the jobs' run directories go (absolute): each job's `vigil run --log-dir`.
    public var logDirectory: String
    /// The `vigil` that runs each job (this very binary).
    public var vigilExecutable: String
    public var jobs = 1
    /// `--slots`: each running job holds one (`VIGIL_SLOT`, `CUDA_VISIBLE_DEVICES`).
    public var slots: [String]?
    /// The end of this queue run (`--time-limit`, `--deadline`).
    public var deadline: Date?
    public var selection = QueueSelection()
    /// Copy the trainers' output (each job's vigil without `--quiet`).
    public var trainerOutput = false
    /// The environment each job's vigil inherits (the runner's).
    public var environment: [String: String]
    /// `hooks.onQueueDone` and `hooks.timeout`, from `--policy`.
    public var hooks = Policy.Hooks()
    /// The runner's own working directory (hooks run there).
    public var workingDirectory: String
    /// The policy a job's vigil will load (its `--policy`, in its working directory), to know how much
    /// time its stop needs; nil when it cannot be loaded (the job's vigil then says why).
    public var policyLoader: @Sendable (_ policy: String?, _ workingDirectory: String) -> Policy?

    public init(
        store: QueueStore, logDirectory: String, vigilExecutable: String, environment: [String: String],
        workingDirectory: String, policyLoader: @escaping @Sendable (String?, String) -> Policy?
    ) {
        self.store = store
        self.logDirectory = logDirectory
        self.vigilExecutable = vigilExecutable
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.policyLoader = policyLoader
    }
}

/// What reaches the runner while it waits.
public enum QueueRunEvent: Sendable {
    /// A job's `vigil run` exited.
    case exited(job: String, Termination)
    /// Its output reached EOF.
    case outputClosed(job: String)
    /// A signal was sent to the runner.
    case signal(Signal)
}

/// Drives `vigil queue run`: claims jobs under the queue's lock, starts each as a child `vigil run
/// --name JOB` (its own subreaper, run lock, journal and orphan recovery), waits on their exits,
/// records how each ended from its journal and exit code, and passes the queue's own stop (signals,
/// the time limit) on to them. The queue file is the only shared state: another runner, or a
/// `queue add`, may change it between two steps.
public final class QueueRunner {
    public let request: QueueRunRequest
    public let events: EventQueue<QueueRunEvent>
    /// The runner's own lines (stderr).
    let note: @Sendable (String) -> Void
    /// A job's vigil's lines, already prefixed with `[job]`, on the stream they came on.
    let relay: @Sendable (OutputPump.Stream, String) -> Void
    let identity: QueueJob.ProcessIdentity
    let host = ProcessInfo.processInfo.hostName
    let startedAt = Date()

    /// The jobs this runner has running (its children) or is waiting for (vigils of a dead runner).
    var active: [String: ActiveJob] = [:]
    /// Jobs that stopped during this run (not started again before the next one).
    var stoppedHere: Set<String> = []
    /// Jobs found busy (another live vigil run holds their run), with how often.
    var busyCount: [String: Int] = [:]
    /// What happened to each job this runner touched, for the summary.
    var ledger: [String: QueueSummary.Entry] = [:]
    /// Signals that asked the queue to stop, in order.
    var stopSignals: [Signal] = []
    /// The deadline has come (or no job has the time left to start before it).
    var timeUp = false
    /// When the runner gave the jobs still running after the deadline a SIGTERM (and then SIGKILL).
    var lateSignals = 0
    /// Policies loaded for the time check, by working directory and name.
    var policies: [String: Policy?] = [:]
    /// Whether the last plan had candidates this runner could not start (no slot free).
    var waitingForSlot = false

    /// A job this runner has running, or waits for.
    struct ActiveJob {
        var name: String
        var child: ChildProcess?
        var pump: OutputPump?
        /// A `vigil run` this runner did not start (its runner died; or it held the run): waited for.
        var watched: QueueJob.ProcessIdentity?
        var slot: String?
        var startedAt: Date
        var retrain: Bool
        var exit: Termination?
        var exitedAt: Instant?
        var outputClosed = false
    }

    public init(
        request: QueueRunRequest, events: EventQueue<QueueRunEvent> = EventQueue(),
        note: @escaping @Sendable (String) -> Void, relay: @escaping @Sendable (OutputPump.Stream, String) -> Void
    ) {
        self.request = request
        self.events = events
        self.note = note
        self.relay = relay
        identity = QueueJob.ProcessIdentity(pid: getpid(), startTime: ProcessTable.startTime(of: getpid()))
    }

    /// Runs the queue until nothing is left that this runner can start and its jobs have ended.
    /// - Throws: `.notFound` without a queue file; `.invalidConfig` for a corrupt one.
    public func run() throws -> (code: ExitCode, summary: QueueSummary) {
        guard try request.store.read() != nil else {
            throw VigilError(
                .notFound, file: request.store.path, "no queue here; add jobs with `vigil queue add … -- COMMAND`")
        }
        note("vigil queue: \(describeStart())")
        while true {
            let canStart = try step()
            if active.isEmpty && !canStart { break }
            waitForEvents()
        }
        return try finish()
    }

    private func describeStart() -> String {
        var parts = ["running \(request.store.path)", "\(request.jobs) at once"]
        if let slots = request.slots { parts.append("slots \(slots.joined(separator: ","))") }
        if let deadline = request.deadline {
            parts.append(
                "until \(QueuePlan.display(deadline)) (\(DurationFormat.string(from: deadline.timeIntervalSinceNow.rounded())))"
            )
        }
        if !request.selection.only.isEmpty { parts.append("only \(request.selection.only.joined(separator: " "))") }
        if request.selection.retrain != .include { parts.append("retrain: \(request.selection.retrain.rawValue)") }
        return parts.joined(separator: ", ")
    }

    /// Waits for the next event (or the next look at the queue: a second while a slot is free, half
    /// a second while a vigil of another runner is waited for), and handles what came.
    private func waitForEvents() {
        var wake = SystemClock.monotonicNow() + 1
        if active.values.contains(where: { $0.watched != nil || ($0.exit != nil && !$0.outputClosed) }) {
            wake = SystemClock.monotonicNow() + 0.5
        }
        if let deadline = request.deadline, !timeUp {
            wake = min(wake, SystemClock().instant(at: deadline))
        }
        var event = events.next(until: wake)
        while let next = event {
            handle(next)
            event = events.next(until: SystemClock.monotonicNow())  // whatever else is queued, at once
        }
    }

    private func handle(_ event: QueueRunEvent) {
        switch event {
        case .exited(let job, let status):
            active[job]?.exit = status
            active[job]?.exitedAt = SystemClock.monotonicNow()
        case .outputClosed(let job):
            active[job]?.outputClosed = true
        case .signal(let signal):
            stop(for: signal)
        }
    }

    /// A stop signal: no job is started any more, and each running one's vigil gets SIGTERM (SIGUSR1
    /// as it came): it runs its stop sequence, checkpoint first, and exits 75. A second signal is
    /// passed on again (a vigil then kills its trainer at once).
    func stop(for signal: Signal) {
        guard [.interrupt, .terminate, .hangup, .user1].contains(signal) else { return }
        stopSignals.append(signal)
        let forwarded: Signal = signal == .user1 ? .user1 : .terminate
        let names = active.keys.sorted()
        if stopSignals.count == 1 {
            note(
                "vigil queue: got \(signal); no job is started any more"
                    + (names.isEmpty ? "" : ", stopping \(names.joined(separator: ", ")) (checkpoint first)"))
        } else {
            note("vigil queue: got \(signal) again; passing it on (the trainers are killed now)")
        }
        for name in names { signalJob(name, forwarded) }
    }

    /// Sends `signal` to a job's vigil: ours by pid; one we wait for only if it is still that process.
    func signalJob(_ name: String, _ signal: Signal) {
        guard let job = active[name], job.exit == nil else { return }
        if let child = job.child {
            kill(child.pid, signal.rawValue)
        } else if let watched = job.watched, ProcessTable.isAlive(watched.pid, startTime: watched.startTime) {
            kill(watched.pid, signal.rawValue)
        }
    }

    /// The deadline's end game: after it, the jobs' vigils have stopped their trainers (they got the
    /// deadline); one that is still there a minute later gets SIGTERM, and SIGKILL half a minute after.
    func enforceDeadline() {
        guard let deadline = request.deadline else { return }
        let late = Date().timeIntervalSince(deadline)
        if late >= 0 { timeUp = true }
        let due = late >= 90 ? 2 : late >= 60 ? 1 : 0
        guard due > lateSignals, !active.isEmpty else { return }
        lateSignals = due
        let names = active.keys.sorted()
        note(
            "vigil queue: \(names.joined(separator: ", ")) still running past the deadline; sending \(due == 1 ? "SIGTERM" : "SIGKILL")"
        )
        for name in names { signalJob(name, due == 1 ? .terminate : .kill) }
    }

    /// Whether the queue is stopping: a signal came, or the time is up.
    var stopping: Bool { !stopSignals.isEmpty || timeUp }
}
