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

/// Runs a short command of the machine's (`scontrol`, `squeue`) and collects what it printed: an argv
/// (never a shell), resolved through `PATH`, stdin `/dev/null`, its own process group, bounded by a
/// timeout. Spawned with `ChildProcess`, like the trainer (in a process that uses `ProcessReaper`,
/// nothing else may wait for children). Blocks the calling thread.
public enum ToolRunner {
    /// How a tool ended.
    public struct Result: Sendable, Equatable {
        public enum Status: Sendable, Equatable {
            /// It ran and exited (or was killed by a signal).
            case finished(Termination)
            /// It did not end within the timeout and was killed.
            case timedOut
            /// It could not be started: not on `PATH`, not executable, or the spawn failed.
            case notStarted(String)
        }

        public var status: Status
        /// What it printed on stdout, then on stderr (the last 64 KiB of each).
        public var stdout: String
        public var stderr: String

        public init(status: Status, stdout: String = "", stderr: String = "") {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }

        /// Whether it exited 0.
        public var succeeded: Bool { status == .finished(.exited(0)) }

        /// How it ended, in a few words (`exit code 1: Invalid job id specified`, `not found on PATH`).
        public var summary: String {
            // The last line that says something (scontrol frames its messages in lines of asterisks).
            let said = (stderr.isEmpty ? stdout : stderr).split(whereSeparator: \.isNewline)
                .last { $0.contains { $0.isLetter } }.map(String.init)
            let detail = said.map { ": " + $0.trimmingSpaces() } ?? ""
            switch status {
            case .finished(let termination): return termination.description + detail
            case .timedOut: return "did not finish in time; killed" + detail
            case .notStarted(let why): return why
            }
        }
    }

    private enum Event: Sendable {
        case exited(Termination)
        case outputClosed
    }

    /// Runs `argv` and waits for it (at most `timeout`, then SIGTERM to its group, 1 s, SIGKILL).
    public static func run(
        _ argv: [String], environment: [String: String], workingDirectory: String, timeout: Double
    ) -> Result {
        let executable: String
        do {
            executable = try CommandResolver.resolve(
                argv[0], path: environment["PATH"], workingDirectory: workingDirectory)
        } catch let error as VigilError {
            return Result(status: .notStarted(error.message))
        } catch {
            return Result(status: .notStarted("\(error)"))
        }
        let events = EventQueue<Event>()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(executable: executable, arguments: argv, environment: environment) {
                events.post(.exited($0))
            }
        } catch {
            return Result(status: .notStarted("could not start \(argv[0]): \(error)"))
        }
        let pump = OutputPump(log: nil, passthrough: false, tailBytes: 64 << 10) { events.post(.outputClosed) }
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
        var status: Termination?
        var closed = false
        func wait(until deadline: Instant) {
            while status == nil || !closed, let event = events.next(until: deadline) {
                switch event {
                case .exited(let termination): status = termination
                case .outputClosed: closed = true
                }
            }
        }
        wait(until: SystemClock.monotonicNow() + timeout)
        let timedOut = status == nil
        if timedOut {
            _ = child.signalGroup(.terminate)
            wait(until: SystemClock.monotonicNow() + 1)
            if status == nil { _ = child.signalGroup(.kill) }
        }
        // Whatever is left of its group does not outlive it, nor holds its pipes open.
        wait(until: SystemClock.monotonicNow() + 2)
        _ = AttemptProcesses(leader: child.pid, cgroup: nil).stopAll(grace: 1)
        pump.cancel()
        let tail = pump.tail
        let stdout = tail.stdout.joined(separator: "\n")
        let stderr = tail.stderr.joined(separator: "\n")
        if timedOut { return Result(status: .timedOut, stdout: stdout, stderr: stderr) }
        return Result(status: .finished(status ?? .signaled(.kill)), stdout: stdout, stderr: stderr)
    }
}
