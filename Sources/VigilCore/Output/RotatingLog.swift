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
    private let memoryIsShort: @Sendable () -> Bool
    /// Where in the current file writeback was last started, and up to where its pages were dropped.
    private var writebackFrom = 0
    private var droppedUpTo = 0

    /// Every window written (32 MiB), the kernel is asked to start writing it out, so a flood of output
    /// piles up neither dirty pages for the close's fsync nor the wait of being throttled for them (which
    /// would stall the trainer on its full pipe). When the machine is short of free memory
    /// (`memoryIsShort(free:total:)`), what is two windows behind (written by then) also leaves the page
    /// cache, so the log does not push the trainer's data out; with memory to spare it stays, as any
    /// file's pages do: dropping them would cost CPU (a tenth of the output path's, measured) and save
    /// nothing. Only hints: the fsync at `close` is what makes the log durable.
    public static let defaultWindow = 32 << 20

    /// Short of free memory: less than a sixteenth of the RAM (at least 256 MiB) is free, so new page
    /// cache pages would push others out rather than take free memory.
    static func memoryIsShort(free: UInt64, total: UInt64) -> Bool {
        free < max(total / 16, 256 << 20)
    }

    /// `memoryIsShort` of this machine now; false where it cannot be known (off Linux).
    @Sendable public static func systemMemoryIsShort() -> Bool {
        var free: UInt64 = 0
        var total: UInt64 = 0
        guard cvigil_memory(&free, &total) == 0 else { return false }
        return memoryIsShort(free: free, total: total)
    }

    /// Opens (appending to) `path`. `maxBytes <= 0` means no cap. With `space`, bytes are dropped
    /// (and counted) while the volume is short of its reserve. `window` and `memoryIsShort` are the
    /// writeback's (above); tests change them.
    public init(
        path: String, maxBytes: Int, backups: Int, permissions: mode_t = 0o600, space: FreeSpaceGuard? = nil,
        window: Int = RotatingLog.defaultWindow,
        memoryIsShort: @escaping @Sendable () -> Bool = RotatingLog.systemMemoryIsShort
    ) {
        self.path = path
        self.maxBytes = maxBytes
        self.backups = max(0, backups)
        self.permissions = permissions
        self.space = space
        self.window = max(1, window)
        self.memoryIsShort = memoryIsShort
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
        if behind > droppedUpTo, memoryIsShort() {  // all that is behind, when memory has just run short
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
