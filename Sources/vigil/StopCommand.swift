import VigilCLI
import VigilCore

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

func stopCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = StopCommand
    let name = arguments.positional(Option.run)
    let logDirectory = arguments.text(Option.logDirectory) ?? "logs"
    let wait = !arguments.flag(Option.noWait)
    let timeout = arguments.duration(Option.timeout) ?? 600
    guard let runs = try? FileManager.default.contentsOfDirectory(atPath: logDirectory).sorted() else {
        throw VigilError(
            .notFound, file: logDirectory, "no log directory: no run has been started here (or give --log-dir)")
    }
    func liveSupervisor(_ run: String) -> pid_t? {
        guard let journal = try? Journal.read(from: "\(logDirectory)/\(run)/journal.json"),
            let invocation = journal.invocations.last, invocation.endedAt == nil, invocation.processStartTime != nil,
            ProcessTable.isAlive(invocation.pid, startTime: invocation.processStartTime)
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
