import CVigil
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Watches the checkpoint directory while an attempt runs (inotify on Linux) and reports every
/// name that was finished there — closed after writing, or renamed into place — the moment it
/// happens, so a checkpoint the trainer deletes soon after can still be preserved. Elsewhere it
/// reports nothing, and the supervisor's scans between attempts do the work.
public final class CheckpointWatcher: @unchecked Sendable {
    private let fd: Int32
    private let wake: (read: Int32, write: Int32)
    private let stopped = Locked(false)

    /// Starts watching `directory`; `onFinished` runs on the watcher's thread with each name, and
    /// whether it is complete (closed after writing or renamed in) rather than a directory just created.
    /// Nil when watching is not possible (not Linux, or the directory cannot be watched).
    public init?(directory: String, onFinished: @escaping @Sendable (String, Bool) -> Void) {
        #if os(Linux)
            let fd = inotify_init1(Int32(IN_CLOEXEC))
            guard fd >= 0 else { return nil }
            let mask = UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_CREATE)
            guard inotify_add_watch(fd, directory, mask) >= 0 else {
                close(fd)
                return nil
            }
            var fds: [Int32] = [-1, -1]
            guard cvigil_pipe_cloexec(&fds) == 0 else {
                close(fd)
                return nil
            }
            self.fd = fd
            self.wake = (fds[0], fds[1])
            startThread(name: "vigil-checkpoints") { [self] in self.run(onFinished) }
        #else
            return nil
        #endif
    }

    /// Stops watching; returns once the thread has seen the request (events already queued are
    /// delivered first).
    public func stop() {
        stopped.withLock { $0 = true }
        var byte: UInt8 = 1
        _ = systemWrite(wake.write, &byte, 1)
    }

    deinit {
        close(fd)
        close(wake.read)
        close(wake.write)
    }

    private func run(_ onFinished: @Sendable (String, Bool) -> Void) {
        #if os(Linux)
            let capacity = 64 * 1024
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
            defer { buffer.deallocate() }
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
            ]
            while true {
                let ready = poll(&fds, 2, -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    return
                }
                if fds[0].revents != 0 {
                    let n = read(fd, buffer, capacity)
                    if n <= 0 { continue }
                    var offset = 0
                    while offset + MemoryLayout<inotify_event>.size <= n {
                        let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                        let nameStart = offset + MemoryLayout<inotify_event>.size
                        if event.len > 0 {
                            let name = String(
                                cString: buffer.advanced(by: nameStart).assumingMemoryBound(to: CChar.self))
                            let isDirectoryCreated =
                                event.mask & UInt32(IN_CREATE) != 0 && event.mask & UInt32(IN_ISDIR) != 0
                            if event.mask & (UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)) != 0 || isDirectoryCreated {
                                onFinished(name, !isDirectoryCreated)
                            }
                        }
                        offset = nameStart + Int(event.len)
                    }
                    continue
                }
                if fds[1].revents != 0 { return }
            }
        #endif
    }
}
