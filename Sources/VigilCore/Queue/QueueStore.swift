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

/// The queue file on disk: read whole (a rename makes every read see one whole version), changed
/// only under its lock (read, change, write atomically), so concurrent `queue add`s never lose a
/// job and two `queue run`s never claim the same one.
public struct QueueStore: Sendable {
    /// `logs/queue.json`, absolute.
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// `logs/queue.json.lock`: flocked for the few milliseconds of each change.
    public var lockPath: String { path + ".lock" }

    /// `logs/queue-report.md`: the summary of the last `queue run`.
    public var reportPath: String {
        let base = path.hasSuffix(".json") ? String(path.dropLast(5)) : path
        return base + "-report.md"
    }

    /// The directory the file is in.
    public var directory: String { Path.parent(path) }

    /// The queue, or nil when there is no file.
    /// - Throws: `.invalidConfig` (exit 78) when the file cannot be read as a queue, naming the file,
    ///   the line and column, and the way out; the file is left as it is.
    public func read() throws -> QueueFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw VigilError(.io, file: path, "cannot read the queue: \(String(cString: strerror(errno)))")
        }
        let data = readToEnd(fd)
        close(fd)
        do {
            return try QueueFile.decode(data)
        } catch let problem as QueueJSON.Problem {
            throw VigilError(
                .invalidConfig, file: path,
                "not a valid queue file: \(problem.description). It was left as it is: fix it, or move it aside "
                    + "and start an empty queue with `vigil queue clear --fresh`")
        }
    }

    /// The queue; empty when there is no file.
    public func load() throws -> QueueFile { try read() ?? QueueFile() }

    /// Runs `body` on the queue under the lock and writes the result when it changed.
    @discardableResult
    public func modify<Result>(_ body: (inout QueueFile) throws -> Result) throws -> Result {
        let lock = try QueueLock.acquire(lockPath)
        defer { withExtendedLifetime(lock) {} }
        let before = try load()
        var queue = before
        let result = try body(&queue)
        if queue != before { try write(queue) }
        return result
    }

    /// Writes the queue atomically (private: commands and their arguments are in it).
    public func write(_ queue: QueueFile) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try AtomicFile.write(queue.encoded(), to: path, permissions: 0o600)
    }

    /// Moves the file aside (`queue.json.<timestamp>`), under the lock; nil when there is none.
    public func moveAside(now: Date) throws -> String? {
        let lock = try QueueLock.acquire(lockPath)
        defer { withExtendedLifetime(lock) {} }
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let stamp = Journal.timestamp(now).replacing(":", with: "").replacing(".", with: "-")
        let target = "\(path).\(stamp)"
        guard rename(path, target) == 0 else {
            throw VigilError(.io, file: path, "cannot move the queue aside: \(String(cString: strerror(errno)))")
        }
        AtomicFile.syncDirectory(directory)
        return target
    }

    /// Identifies the file's current version without reading it (inode, size, modification time):
    /// a runner re-reads the queue only when it changed.
    public func version() -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_ino)-\(info.st_size)-\(info.st_mtim.tv_sec)-\(info.st_mtim.tv_nsec)"
    }
}

/// An exclusive `flock` on the queue's lock file, waited for (changes hold it for milliseconds);
/// released when the value goes away, or by the kernel when the process dies.
public final class QueueLock: Sendable {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Takes the lock, waiting up to `timeout` seconds for whoever holds it.
    /// - Throws: `.runBusy` (exit 69) when it stays held, `.io` when the file cannot be opened.
    public static func acquire(_ path: String, timeout: Double = 30) throws -> QueueLock {
        let directory = Path.parent(path)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw VigilError(.io, file: path, "cannot open the queue's lock: \(String(cString: strerror(errno)))")
        }
        let deadline = SystemClock.monotonicNow() + timeout
        var pause: UInt32 = 200
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                close(fd)
                throw VigilError(.io, file: path, "cannot lock the queue: \(String(cString: strerror(errno)))")
            }
            if SystemClock.monotonicNow() >= deadline {
                close(fd)
                throw VigilError(
                    .runBusy, file: path,
                    "the queue has been locked for \(DurationFormat.string(from: timeout)) by another vigil; try again")
            }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
        return QueueLock(fd: fd)
    }

    deinit { close(fd) }
}
