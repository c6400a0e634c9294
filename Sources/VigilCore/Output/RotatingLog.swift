import CVigil

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

/// An attempt's log file, size-capped: past `maxBytes` it is renamed to `NAME.1` (older ones shift to
/// `.2` … `.backups`, the oldest dropped) and a new file starts. Writes never throw: a failing disk is
/// recorded (`firstError`) and the caller keeps draining the trainer.
public final class RotatingLog: @unchecked Sendable {
    // @unchecked: the descriptor, sizes and counters are guarded by `lock`.
    public let path: String
    public let maxBytes: Int
    public let backups: Int
    private let permissions: mode_t
    private let lock = Lock()
    private var fd: Int32 = -1
    private var size = 0
    private var error: String?
    private var bytesDropped = 0
    private var totalBytes = 0
    private let space: FreeSpaceGuard?
    private let window: Int
    /// Where in the current file writeback was last started, and up to where its pages were dropped.
    private var writebackFrom = 0
    private var droppedUpTo = 0

    /// Every window written (32 MiB), the kernel is asked to start writing it out, and what is two
    /// windows behind (written by then) leaves the page cache. A flood of output then piles up neither
    /// dirty pages for the close's fsync nor the wait of being throttled for them (which would stall
    /// the trainer on its full pipe); the log, written once and read back rarely, keeps at most three
    /// windows of the page cache rather than pushing the trainer's data out; and its writes reuse the
    /// pages it has just freed, which on a VM whose balloon hands free memory back to the host is much
    /// of the output path's CPU (docs/design.md, Footprint). Only hints: the fsync at `close` is what
    /// makes the log durable.
    public static let defaultWindow = 32 << 20

    /// Opens (appending to) `path`. `maxBytes <= 0` means no cap. With `space`, bytes are dropped
    /// (and counted) while the volume is short of its reserve. `window` is the writeback's (above);
    /// tests change it.
    public init(
        path: String, maxBytes: Int, backups: Int, permissions: mode_t = 0o600, space: FreeSpaceGuard? = nil,
        window: Int = RotatingLog.defaultWindow
    ) {
        self.path = path
        self.maxBytes = maxBytes
        self.backups = max(0, backups)
        self.permissions = permissions
        self.space = space
        self.window = max(1, window)
        openFile()
    }

    /// The first write error, as a sentence; nil when every byte reached the file.
    public var firstError: String? { lock.withLock { error } }
    /// How many bytes could not be written.
    public var droppedBytes: Int { lock.withLock { bytesDropped } }
    /// How many bytes were handed to the log.
    public var receivedBytes: Int { lock.withLock { totalBytes } }

    /// Appends `count` bytes. Thread-safe; returns whether they were written.
    @discardableResult
    public func write(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        totalBytes += count
        if let space, !space.allows(count) {
            bytesDropped += count
            return false
        }
        if fd < 0 {
            openFile()  // the disk may have recovered
            if fd < 0 {
                bytesDropped += count
                return false
            }
        }
        var offset = 0
        while offset < count {
            if maxBytes > 0 && size >= maxBytes { rotate() }
            if fd < 0 {
                bytesDropped += count - offset
                return false
            }
            var chunk = count - offset
            if maxBytes > 0 { chunk = min(chunk, maxBytes - size) }
            let n = systemWrite(fd, bytes + offset, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                record("cannot write \(path): \(String(cString: strerror(errno)))")
                bytesDropped += count - offset
                return false
            }
            offset += n
            size += n
        }
        if size - writebackFrom >= window { startWriteback() }
        return true
    }

    private func startWriteback() {
        _ = cvigil_start_writeback(fd, Int64(writebackFrom), Int64(size - writebackFrom))
        writebackFrom = size
        let behind = writebackFrom - 2 * window
        if behind > droppedUpTo {
            _ = cvigil_drop_written(fd, Int64(droppedUpTo), Int64(behind - droppedUpTo))
            droppedUpTo = behind
        }
    }

    /// Closes the file (fsyncing it first so the attempt's output survives a crash of the machine).
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 {
            fsync(fd)
            #if canImport(Glibc)
                Glibc.close(fd)
            #else
                Darwin.close(fd)
            #endif
            fd = -1
        }
    }

    private func openFile() {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, permissions)
        if fd < 0 {
            record("cannot open \(path): \(String(cString: strerror(errno)))")
            return
        }
        var info = stat()
        size = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        writebackFrom = size
        droppedUpTo = size
    }

    private func rotate() {
        #if canImport(Glibc)
            Glibc.close(fd)
        #else
            Darwin.close(fd)
        #endif
        fd = -1
        if backups == 0 {
            unlink(path)
        } else {
            unlink("\(path).\(backups)")
            if backups > 1 {
                for index in stride(from: backups - 1, through: 1, by: -1) {
                    rename("\(path).\(index)", "\(path).\(index + 1)")
                }
            }
            rename(path, "\(path).1")
        }
        openFile()
    }

    private func record(_ message: String) {
        if error == nil { error = message }
    }
}
