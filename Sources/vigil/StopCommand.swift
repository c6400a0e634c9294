import Foundation
import VigilCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

let stopHelp = """
    usage: vigil stop [RUN] [--log-dir D] [--no-wait] [--timeout DURATION]

    Tells the live `vigil run` of RUN to stop: it asks the trainer for a checkpoint (stop.checkpointSignal),
    waits for it, stops the trainer's process group and exits 75 (resumable). The supervisor is found
    through the run's journal and signalled only if its pid still has the recorded start time. Without
    RUN, the only live run under the log directory. Waits until the supervisor has exited (up to
    --timeout, default 10m) unless --no-wait.

    exit codes: 0 stopped (or asked, with --no-wait) · 1 still running after the timeout ·
                64 several live runs and none named · 66 no such run, or it is not live
    """

func stopCommand(_ arguments: inout Arguments) throws -> Int32 {
    var name: String?
    var logDirectory = "logs"
    var wait = true
    var timeout = 600.0
    while let argument = arguments.next() {
        let (option, inline) = Arguments.split(argument)
        switch option {
        case "--help", "-h":
            print(stopHelp)
            return 0
        case "--log-dir": logDirectory = try arguments.value(for: option, inline: inline)
        case "--no-wait": wait = false
        case "--timeout": timeout = try Arguments.duration(arguments.value(for: option, inline: inline), option: option)
        default:
            if option.hasPrefix("-") {
                throw Arguments.unknown(option, known: ["--log-dir", "--no-wait", "--timeout", "--help"])
            }
            guard name == nil else { throw VigilError(.usage, "vigil stop: one run at a time") }
            name = argument
        }
    }
    guard let runs = try? FileManager.default.contentsOfDirectory(atPath: logDirectory).sorted() else {
        throw VigilError(
            .notFound, file: logDirectory, "no log directory: no run has been started here (or give --log-dir)")
    }
    func liveSupervisor(_ run: String) -> pid_t? {
        guard let journal = try? Journal.read(from: "\(logDirectory)/\(run)/journal.json"),
            let invocation = journal.invocations.last, invocation.endedAt == nil,
            let recorded = invocation.processStartTime, ProcessTable.startTime(of: invocation.pid) == recorded
        else { return nil }
        return invocation.pid
    }
    let target: String
    if let name {
        guard runs.contains(name) else { throw VigilError(.notFound, file: "\(logDirectory)/\(name)", "no such run") }
        target = name
    } else {
        let live = runs.filter { liveSupervisor($0) != nil }
        guard live.count == 1 else {
            throw VigilError(
                live.isEmpty ? .notFound : .usage,
                live.isEmpty
                    ? "no live run under \(logDirectory)"
                    : "several live runs: name one of \(live.joined(separator: ", "))")
        }
        target = live[0]
    }
    guard let pid = liveSupervisor(target) else {
        throw VigilError(
            .notFound, file: "\(logDirectory)/\(target)", "run '\(target)' is not live (no running supervisor)")
    }
    guard kill(pid, SIGTERM) == 0 else {
        throw VigilError(.io, "cannot signal vigil pid \(pid): \(String(cString: strerror(errno)))")
    }
    print("asked vigil pid \(pid) (run '\(target)') to checkpoint and stop")
    guard wait else { return 0 }
    let deadline = Date().addingTimeInterval(timeout)
    // The supervisor is not our child: nothing to wait on but its disappearance.
    while liveSupervisor(target) != nil {
        if Date() >= deadline {
            printError("vigil: run '\(target)' is still running after \(DurationFormat.string(from: timeout))")
            return 1
        }
        usleep(50_000)
    }
    if let journal = try? Journal.read(from: "\(logDirectory)/\(target)/journal.json"), let outcome = journal.outcome {
        print("run '\(target)': \(journal.state.rawValue): \(outcome.reason)")
    }
    return 0
}
