import Foundation

/// Runs a policy hook: an argv (never a shell), with the run's facts in its environment, its output
/// appended to `hooks.log`, bounded by a timeout (then its process group is killed). A hook that
/// fails or hangs is recorded and never changes how the run goes.
public enum HookRunner {
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
        let events = EventQueue<String>()
        let output = RotatingLog(path: log, maxBytes: 10 << 20, backups: 1)
        defer { output.close() }
        let header = "--- \(Journal.timestamp(started)) \(hook): \(argv.joined(separator: " "))\n"
        _ = header.withCString { output.write($0, count: strlen($0)) }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(executable: executable, arguments: argv, environment: environment) {
                status in
                events.post("exit \(status)")
            }
        } catch {
            return record("could not start: \(error)", ok: false)
        }
        let pump = OutputPump(log: output, passthrough: false, tailBytes: 4096) { events.post("closed") }
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
        let deadline = started.addingTimeInterval(timeout)
        var timedOut = false
        while child.exitStatus == nil {
            if events.next(until: deadline) == nil {
                timedOut = true
                child.signalGroup(.terminate)
                if events.next(until: Date().addingTimeInterval(2)) == nil || child.exitStatus == nil {
                    child.signalGroup(.kill)
                }
                break
            }
        }
        while child.exitStatus == nil, events.next(until: Date().addingTimeInterval(5)) != nil {}
        // Nothing a hook started outlives it: what is left in its group, or escaped it, is stopped.
        // (Whether the group is empty has no event: look again every few tens of milliseconds.)
        var sweep = LeftoverSweep(processes: AttemptProcesses(leader: child.pid, cgroup: nil), grace: 2)
        let ticks = EventQueue<Bool>()
        while !sweep.isDone {
            sweep.step()
            if !sweep.isDone { _ = ticks.next(until: sweep.nextLook) }
        }
        pump.cancel()
        _ = events.next(until: Date().addingTimeInterval(1))
        if timedOut { return record("timed out after \(DurationFormat.string(from: timeout)); killed", ok: false) }
        let status = child.exitStatus ?? .signaled(.kill)
        return record(status.description, ok: status == .exited(0))
    }
}
