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

/// Runs a policy hook: an argv (never a shell), with the run's facts in its environment, its output
/// appended to `hooks.log`, bounded by a timeout (then its process group is stopped). A hook that
/// fails or hangs is recorded and never changes how the run goes. Blocks its thread: the supervisor
/// runs it on its worker.
public enum HookRunner {
    /// What the hook's threads report.
    private enum Event: Sendable {
        case exited(Termination)
        case outputClosed
    }

    public static func run(
        _ hook: String, argv: [String], environment: [String: String], log: String, timeout: Double,
        workingDirectory: String
    ) -> Journal.HookRun {
        let started = Date()
        func record(_ result: String, ok: Bool) -> Journal.HookRun {
            Journal.HookRun(hook: hook, argv: argv, startedAt: started, result: result, ok: ok)
        }
        let executable: String
        do {
            executable = try CommandResolver.resolve(
                argv[0], path: environment["PATH"], workingDirectory: workingDirectory)
        } catch {
            return record("could not start: \(error)", ok: false)
        }
        let events = EventQueue<Event>()
        let output = RotatingLog(path: log, maxBytes: 10 << 20, backups: 1)
        defer { output.close() }
        let header = "--- \(Journal.timestamp(started)) \(hook): \(argv.joined(separator: " "))\n"
        _ = header.withCString { output.write($0, count: strlen($0)) }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(executable: executable, arguments: argv, environment: environment) {
                events.post(.exited($0))
            }
        } catch {
            return record("could not start: \(error)", ok: false)
        }
        let pump = OutputPump(log: output, passthrough: false, tailBytes: 4096) { events.post(.outputClosed) }
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
        let now = SystemClock.monotonicNow()
        var status = waitForExit(events, until: now + timeout)
        var timedOut = false
        if status == nil {
            timedOut = true
            child.signalGroup(.terminate)
            status = waitForExit(events, until: SystemClock.monotonicNow() + 2)
            if status == nil {
                child.signalGroup(.kill)
                status = waitForExit(events, until: SystemClock.monotonicNow() + 5)
            }
        }
        // Nothing a hook started outlives it: what is left in its group, or escaped it, is stopped.
        _ = AttemptProcesses(leader: child.pid, cgroup: nil).stopAll(grace: 2)
        pump.cancel()
        if timedOut { return record("timed out after \(DurationFormat.string(from: timeout)); killed", ok: false) }
        let final = status ?? .signaled(.kill)
        return record(final.description, ok: final == .exited(0))
    }

    /// The hook's exit status, once it has exited (its output may close before or after); nil at `deadline`.
    private static func waitForExit(_ events: EventQueue<Event>, until deadline: Instant) -> Termination? {
        while let event = events.next(until: deadline) {
            if case .exited(let status) = event { return status }
        }
        return nil
    }
}
