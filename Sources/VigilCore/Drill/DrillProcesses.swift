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

/// A `vigil run` the drill started (the same executable), its output drained into a log file.
final class ChildVigil: @unchecked Sendable {
    // @unchecked: the mutable state is behind `condition`; the rest is set once in init.
    let child: ChildProcess
    private let pump: OutputPump
    private let log: RotatingLog
    private let condition = Condition()
    private var status: Termination?
    private var closed = false

    /// Starts `arguments` (argv[0] the vigil executable) in `directory`, logging to `logPath`.
    init(_ arguments: [String], in directory: String, environment: [String: String], logPath: String) throws {
        log = RotatingLog(path: logPath, maxBytes: 16 << 20, backups: 1)
        let box = Locked<ChildVigil?>(nil)
        child = try ChildProcess.spawn(
            executable: arguments[0], arguments: arguments, environment: environment, workingDirectory: directory
        ) { status in box.current?.finished(status) }
        pump = OutputPump(
            log: log, passthrough: false, tailBytes: 16 << 10, onClosed: { box.current?.outputClosed() })
        box.withLock { $0 = self }
        if let status = child.exitStatus { finished(status) }
        pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
    }

    private func finished(_ status: Termination) {
        condition.lock()
        if self.status == nil { self.status = status }
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

    /// How it ended, once it has (its output may still be draining).
    var exitStatus: Termination? { condition.lock(); defer { condition.unlock() }; return status }

    /// The exit code: its own, or 128 + the signal that killed it.
    var exitCode: Int32? {
        switch exitStatus {
        case .exited(let code)?: return code
        case .signaled(let signal)?: return 128 + signal.rawValue
        case nil: return nil
        }
    }

    /// The last lines vigil printed (its notes and warnings), for a report on a run that went wrong.
    var tail: [String] { Array((pump.tail.stderr + pump.tail.stdout).suffix(20)) }

    /// Waits until it has exited and its output is drained, at most until `deadline`.
    @discardableResult
    func waitForExit(until deadline: Date) -> Termination? {
        condition.lock()
        defer { condition.unlock() }
        while status == nil || !closed {
            if !condition.wait(until: SystemClock().instant(at: deadline)) { break }
        }
        if status != nil && !closed { pump.cancel() }
        return status
    }

    /// Signals the vigil process itself (not its group: the trainer has a group of its own).
    func send(_ signal: Signal) {
        if exitStatus == nil { kill(child.pid, signal.rawValue) }
    }
}

/// What the drill sees of a supervised run while it goes: the journal (re-read when it changes), the
/// newest step of each attempt from `metrics.jsonl` (read as it grows), and the entries of the
/// checkpoint directory (listed each time). The drill polls it every few milliseconds: a progress
/// line or a checkpoint is seen at most that long after it appeared.
final class RunWatch {
    let runDirectory: String
    let checkpointDirectory: String
    let pattern: CheckpointPattern
    private(set) var journal: Journal?
    /// Attempt number → the newest step it printed.
    private(set) var latestStep: [Int: Int] = [:]
    private var journalStamp: [Int] = []
    private var metricsOffset: UInt64 = 0
    private var partialLine = Data()
    private var entries: [String: [Int]] = [:]

    /// A checkpoint-directory entry that appeared or changed since the previous look.
    struct Change: Equatable {
        var name: String
        /// Whether the name is a checkpoint's (matches the pattern); else a temporary file, a sidecar.
        var isCheckpoint: Bool
    }

    init(runDirectory: String, checkpointDirectory: String, pattern: CheckpointPattern) {
        self.runDirectory = runDirectory
        self.checkpointDirectory = checkpointDirectory
        self.pattern = pattern
        _ = refresh()
    }

    /// The attempt running now: the journal's last, open, with its pid recorded.
    var liveAttempt: Journal.Attempt? {
        guard let last = journal?.attempts.last, last.isOpen, last.pid != nil else { return nil }
        return last
    }

    /// Reads what changed; returns the checkpoint directory's new and changed entries.
    func refresh() -> [Change] {
        readJournal()
        readMetrics()
        return listCheckpoints()
    }

    private func readJournal() {
        let path = runDirectory + "/journal.json"
        let stamp = RunWatch.stamp(path)
        guard !stamp.isEmpty, stamp != journalStamp else { return }
        if let read = try? Journal.read(from: path) {
            journal = read
            journalStamp = stamp
        }
    }

    private func readMetrics() {
        let fd = open(runDirectory + "/metrics.jsonl", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        guard lseek(fd, off_t(metricsOffset), SEEK_SET) >= 0 else { return }
        let data = readToEnd(fd)
        guard !data.isEmpty else { return }
        metricsOffset += UInt64(data.count)
        partialLine.append(data)
        guard let lastNewline = partialLine.lastIndex(of: 0x0A) else { return }
        let complete = partialLine[partialLine.startIndex...lastNewline]
        for line in complete.split(separator: 0x0A) {
            guard let point = try? Journal.decoder.decode(MetricPoint.self, from: Data(line)), let step = point.step
            else { continue }
            latestStep[point.attempt] = max(latestStep[point.attempt] ?? step, step)
        }
        partialLine = Data(partialLine[(lastNewline + 1)...])
    }

    private func listCheckpoints() -> [Change] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: checkpointDirectory) else { return [] }
        var seen: [String: [Int]] = [:]
        var changes: [Change] = []
        for name in names where name != CheckpointStore.quarantineName && name != CheckpointStore.preservedName {
            let stamp = RunWatch.stamp(checkpointDirectory + "/" + name)
            guard !stamp.isEmpty else { continue }
            seen[name] = stamp
            if entries[name] != stamp {
                changes.append(Change(name: name, isCheckpoint: pattern.step(of: name) != nil))
            }
        }
        entries = seen
        return changes.sorted { $0.name < $1.name }
    }

    /// Inode, size and modification time: what changes when a file is written or replaced.
    static func stamp(_ path: String) -> [Int] {
        var info = stat()
        guard lstat(path, &info) == 0 else { return [] }
        #if canImport(Glibc)
            let modified = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
        #else
            let modified = Int(info.st_mtimespec.tv_sec) * 1_000_000_000 + Int(info.st_mtimespec.tv_nsec)
        #endif
        return [Int(info.st_ino), Int(info.st_size), modified]
    }
}
