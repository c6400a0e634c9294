import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// Paths and helpers shared by the tests.
enum TestSupport {
    /// The repository root (Tests/VigilCoreTests/Support/TestSupport.swift → up four).
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let fixtureTrainer = repositoryRoot + "/Tests/Fixtures/trainer.py"
    /// The drill's toy trainer: deterministic, with flags that plant resume bugs.
    static let drillTrainer = repositoryRoot + "/Tests/Fixtures/drill_trainer.py"
    static let python =
        (try? CommandResolver.resolve(
            "python3", path: ProcessInfo.processInfo.environment["PATH"],
            workingDirectory: "/")) ?? "/usr/bin/python3"

    /// The `vigil` executable built next to the test bundle.
    static let vigilBinary: String = {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
        if directory.lastPathComponent == "MacOS" {  // macOS bundle layout: …/X.xctest/Contents/MacOS
            directory = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        }
        return directory.appendingPathComponent("vigil").path
    }()

    /// This process's environment without what would make a vigil under test behave as inside a
    /// scheduler (a CI runner may itself be a SLURM job or a Kubernetes pod): the tests that want
    /// SLURM or Kubernetes set it themselves.
    static var hermeticEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { name, _ in
            !name.hasPrefix("SLURM_") && name != "KUBERNETES_SERVICE_HOST"
        }
    }

    /// Exports the file at `source` as `r/weights.bin`, the archive's only member, to `path`, telling the
    /// writer it has `size` bytes; returns the member's digest and the archive's size.
    @discardableResult
    static func exportFile(_ source: String, to path: String, size: Int) throws -> (digest: String, bytes: Int) {
        var digest = ""
        let bytes = try CheckpointExport.atomically(path, permissions: 0o600) { writer in
            let input = try CheckpointExport.openRegular(source)
            defer { close(input) }
            digest = try writer.addFile(
                "r/weights.bin", input: input, source: source, size: size, mode: 0o644, modified: 0)
        }
        return (digest, bytes)
    }

    #if os(Linux)
        /// How many of the first `length` bytes of the file at `path` are in the page cache (mincore(2)).
        static func cachedBytes(of path: String, length: Int) throws -> Int {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            try #require(fd >= 0)
            defer { close(fd) }
            let mapped = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0)
            try #require(mapped != MAP_FAILED)
            defer { munmap(mapped, length) }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            var resident = [UInt8](repeating: 0, count: (length + page - 1) / page)
            try #require(mincore(mapped, length, &resident) == 0)
            return resident.filter { $0 & 1 != 0 }.count * page
        }
    #endif

    /// A fresh temporary directory, removed by the caller with `remove`.
    static func temporaryDirectory(_ label: String = "vigil-test") throws -> String {
        let path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Waits for `condition` to hold, re-checking every 20 ms, up to `timeout`. For facts that
    /// have no event to wait on (a file appearing, a process gone); never a fixed sleep.
    @discardableResult
    static func eventually(timeout: Double = 30, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() >= deadline { return false }
            usleep(20_000)
        }
        return true
    }

    static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    static func journal(_ logDir: String, _ run: String) throws -> Journal {
        try #require(try Journal.read(from: "\(logDir)/\(run)/journal.json"))
    }

    /// Pids listed in a fixture's pid file.
    static func pids(in file: String) -> [pid_t] {
        read(file).split(separator: "\n").compactMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }
    }
}

/// A process started for a test (the vigil binary or the fixture), with its output captured.
/// Started through VigilCore's own spawner, so it gets a clean signal mask from any test thread.
final class TestProcess: @unchecked Sendable {
    let child: ChildProcess
    private let pump: OutputPump
    private let condition = NSCondition()
    private var lines: [(OutputPump.Stream, String)] = []
    private var status: Termination?
    private var closed = false

    /// The callbacks' way back to the process: weak, or the process, its pump and its closures would
    /// keep each other alive for the rest of the test run.
    private struct WeakReference: @unchecked Sendable {
        weak var process: TestProcess?
    }

    init(
        _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        directory: String? = nil
    ) throws {
        let box = Locked(WeakReference())
        child = try ChildProcess.spawn(
            executable: arguments[0], arguments: arguments, environment: environment, workingDirectory: directory
        ) { status in box.current.process?.finished(status) }
        pump = OutputPump(
            log: nil, passthrough: false, tailBytes: 64 << 10,
            lineObserver: { stream, line in
                box.current.process?.append(stream, String(line))
            }, onClosed: { box.current.process?.outputClosed() })
        box.withLock { $0.process = self }
        if let status = child.exitStatus { finished(status) }
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
    }

    /// Runs the built vigil with `arguments`.
    static func vigil(
        _ arguments: [String], environment: [String: String] = TestSupport.hermeticEnvironment,
        directory: String? = nil
    )
        throws -> TestProcess
    {
        try TestProcess([TestSupport.vigilBinary] + arguments, environment: environment, directory: directory)
    }

    private func finished(_ status: Termination) {
        condition.lock()
        if self.status == nil { self.status = status }
        condition.broadcast()
        condition.unlock()
    }

    private func append(_ stream: OutputPump.Stream, _ line: String) {
        condition.lock()
        lines.append((stream, line))
        condition.broadcast()
        condition.unlock()
    }

    private func outputClosed() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    var pid: pid_t { child.pid }

    var stdout: String { condition.withLock { lines.filter { $0.0 == .stdout }.map(\.1).joined(separator: "\n") } }
    var stderr: String { condition.withLock { lines.filter { $0.0 == .stderr }.map(\.1).joined(separator: "\n") } }
    var output: String { condition.withLock { lines.map(\.1).joined(separator: "\n") } }

    /// Waits until a line containing `text` was printed; false on timeout or exit without it.
    @discardableResult
    func waitForLine(containing text: String, timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !lines.contains(where: { $0.1.contains(text) }) {
            if closed { return false }
            if !condition.wait(until: deadline) { return lines.contains(where: { $0.1.contains(text) }) }
        }
        return true
    }

    /// Waits for exit and for the output to be drained; nil on timeout (the process is then killed).
    func waitForExit(timeout: Double = 60) -> Termination? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        while status == nil || !closed {
            if !condition.wait(until: deadline) { break }
        }
        let result = closed ? status : nil
        condition.unlock()
        if result == nil { kill(-child.pid, SIGKILL) }
        return result
    }

    /// The exit code, when it exited normally.
    func exitCode(timeout: Double = 60) -> Int32? {
        if case .exited(let code)? = waitForExit(timeout: timeout) { return code }
        return nil
    }

    func send(_ signal: Signal) {
        kill(child.pid, signal.rawValue)
    }
}

extension NSCondition {
    func withLock<R>(_ body: () -> R) -> R {
        lock()
        defer { unlock() }
        return body()
    }
}
