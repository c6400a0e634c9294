import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Who holds GPU memory, as `nvidia-smi` reports it: after an attempt, the next one waits until the
/// memory its processes held is released (a driver tears a dead process's context down in its own
/// time), so that it does not die of an allocation the last one left behind.
public enum GPUMemory {
    /// A process holding memory on a GPU.
    public struct Holder: Sendable, Equatable, CustomStringConvertible {
        public var pid: Int32
        public var mebibytes: Int
        public var description: String { "pid \(pid): \(mebibytes) MiB" }
    }

    /// `nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits` lines:
    /// `12345, 1024`; lines that are not two numbers (a `[N/A]`, an error) are skipped.
    public static func parse(_ text: String) -> [Holder] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 2, let pid = Int32(fields[0]), let mib = Int(fields[1]) else { return nil }
            return Holder(pid: pid, mebibytes: mib)
        }
    }

    /// The holders that belong to a finished attempt: its own processes, or processes that no longer
    /// exist (their memory is still being released).
    public static func leftBehind(_ holders: [Holder], attemptPIDs: Set<Int32>) -> [Holder] {
        holders.filter { attemptPIDs.contains($0.pid) || !ProcessTable.isRunning($0.pid) }
    }

    /// Runs `nvidia-smi` (found on `path`) for `devices` (`CUDA_VISIBLE_DEVICES`: indices or UUIDs;
    /// nil: all); nil when it cannot be run or fails.
    public static func query(nvidiaSMI: String, devices: String?, environment: [String: String]) -> [Holder]? {
        var arguments = [nvidiaSMI, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]
        if let devices, !devices.isEmpty { arguments.append("--id=" + devices) }
        guard let (status, output) = capture(arguments, environment: environment, timeout: 10),
            status == .exited(0)
        else { return nil }
        return parse(output)
    }

    /// Runs `arguments` (argv[0] an absolute path) to its end, at most `timeout` seconds; its exit
    /// and its standard output.
    static func capture(
        _ arguments: [String], environment: [String: String], timeout: Double
    ) -> (
        Termination, String
    )? {
        enum Event: Sendable {
            case exited(Termination)
            case closed
        }
        let events = EventQueue<Event>()
        let lines = Locked<[String]>([])
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable: arguments[0], arguments: arguments, environment: environment,
                onExit: { events.post(.exited($0)) })
        } catch {
            return nil
        }
        let pump = OutputPump(
            log: nil, passthrough: false, tailBytes: 4096,
            lineObserver: { stream, line in if stream == .stdout { lines.withLock { $0.append(String(line)) } } },
            onClosed: { events.post(.closed) })
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
        let deadline = SystemClock.monotonicNow() + timeout
        var status: Termination?
        var closed = false
        while status == nil || !closed, let event = events.next(until: deadline) {
            switch event {
            case .exited(let s): status = s
            case .closed: closed = true
            }
        }
        guard let status else {
            _ = child.signalGroup(.kill)
            pump.cancel()
            return nil
        }
        if !closed { pump.cancel() }
        return (status, lines.current.joined(separator: "\n"))
    }
}
