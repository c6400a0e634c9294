import CVigil
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What Vigil saw happen to a checkpoint's name while the trainer ran: the evidence that a
/// checkpoint is complete (`renamedIn`, `closed` before the trainer was stopped) or that it was
/// still being written (`writing`) when the trainer died.
public struct CheckpointObservation: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// Written to (created, modified) and not closed since.
        case writing
        /// Closed after writing (a directory: every file written inside it closed).
        case closed
        /// Renamed into place under its final name (the atomic-save idiom), not written since.
        case renamedIn = "renamed-in"
    }

    public var kind: Kind
    /// When Vigil saw the event that made it so.
    public var at: Date
    /// When the current writing began (the first write Vigil saw after the last completion).
    public var writeStarted: Date?

    public init(kind: Kind, at: Date, writeStarted: Date? = nil) {
        self.kind = kind
        self.at = at
        self.writeStarted = writeStarted
    }
}

/// Watches the checkpoint directory while an attempt runs (inotify on Linux), reports every
/// checkpoint name finished there — closed after writing or renamed into place — the moment it
/// happens (so it can be preserved before the trainer deletes it), and keeps, per name, what was
/// last seen (`observations()`): the evidence the checkpoint store judges completeness by.
/// Directory checkpoints are watched inside, recursively, so a directory is `writing` while any
/// file in it is. Elsewhere (no inotify) it reports nothing and the supervisor's scans do the work.
public final class CheckpointWatcher: @unchecked Sendable {
    // @unchecked: `fd` and `wake` are set once; the rest is in `state`, behind its lock.
    private let fd: Int32
    private let wake: (read: Int32, write: Int32)
    private let matches: @Sendable (String) -> Bool
    private let onFinished: @Sendable (String, Bool) -> Void
    private let state = Locked(State())
    private let synced = NSCondition()
    private var syncsDone = 0
    private var finished = false

    private struct State {
        var observations: [String: CheckpointObservation] = [:]
        /// Watch descriptor of a directory inside a directory checkpoint → (checkpoint name, path inside).
        var inner: [Int32: (checkpoint: String, path: String)] = [:]
        /// Per directory checkpoint: the files inside it being written now.
        var openInside: [String: Set<String>] = [:]
        /// Temporary files (`.name.tmp`, `tmp-checkpoint-N/`…) being written now: an atomic save
        /// before its rename, with when its writing began and when it was last written.
        var temporary: [String: (started: Date, lastWrite: Date)] = [:]
        /// When the first write of a temporary file began since the last checkpoint was finished: an
        /// atomic save's start, which the final name never shows.
        var temporaryWriteStarted: Date?
        var syncsRequested = 0
    }

    /// A save the watcher sees under way: a checkpoint name (or a temporary file in the checkpoint
    /// directory) written to and not closed or renamed in since.
    public struct SaveInProgress: Sendable, Equatable {
        public var name: String
        public var started: Date
        public var lastWrite: Date
    }

    /// The save under way, if any (the one written to last).
    public func saveInProgress() -> SaveInProgress? {
        state.withLock { s in
            var saves = s.temporary.map {
                SaveInProgress(name: $0.key, started: $0.value.started, lastWrite: $0.value.lastWrite)
            }
            for (name, observation) in s.observations where observation.kind == .writing {
                saves.append(
                    SaveInProgress(
                        name: name, started: observation.writeStarted ?? observation.at, lastWrite: observation.at))
            }
            return saves.max { $0.lastWrite < $1.lastWrite }
        }
    }

    /// Whether `name` looks like a temporary file a save writes before renaming it into place.
    static func isTemporary(_ name: String) -> Bool {
        let lower = name.lowercased()
        return name.hasPrefix(".") || lower.hasPrefix("tmp")
            || CheckpointStore.temporaryMarkers.contains(where: { lower.hasSuffix($0) })
    }

    private static let topMask =
        UInt32(IN_CREATE) | UInt32(IN_MODIFY) | UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)
        | UInt32(IN_MOVED_FROM) | UInt32(IN_DELETE)
    private static let innerMask =
        UInt32(IN_CREATE) | UInt32(IN_MODIFY) | UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_ONLYDIR)

    /// Starts watching `directory`. `matches` says which names are checkpoints (others are reported
    /// to `onFinished` too, so sidecars can be preserved, but get no observation); `onFinished` runs on
    /// the watcher's thread with each finished name and whether it is complete (closed or renamed in)
    /// rather than a directory just created. Nil when watching is not possible.
    public init?(
        directory: String, matches: @escaping @Sendable (String) -> Bool,
        onFinished: @escaping @Sendable (String, Bool) -> Void
    ) {
        #if os(Linux)
            let fd = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
            guard fd >= 0 else { return nil }
            guard inotify_add_watch(fd, directory, CheckpointWatcher.topMask) >= 0 else {
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
            self.matches = matches
            self.onFinished = onFinished
            self.directory = directory
            startThread(name: "vigil-checkpoints") { [self] in self.run() }
        #else
            return nil
        #endif
    }

    private let directory: String

    /// What was last seen of each checkpoint name, once every event that happened before this call
    /// has been read.
    public func observations() -> [String: CheckpointObservation] {
        sync()
        return state.withLock { $0.observations }
    }

    /// What was last seen of `name`, as far as the watcher's thread has read (no wait).
    public func lastObservation(of name: String) -> CheckpointObservation? {
        state.withLock { $0.observations[name] }
    }

    /// Returns once the watcher's thread has read every event the kernel had queued at the call.
    public func sync() {
        let ticket = state.withLock { s -> Int in
            s.syncsRequested += 1
            return s.syncsRequested
        }
        var byte: UInt8 = 1
        _ = systemWrite(wake.write, &byte, 1)
        synced.lock()
        let deadline = Date().addingTimeInterval(5)
        while syncsDone < ticket && !finished {
            if !synced.wait(until: deadline) { break }
        }
        synced.unlock()
    }

    /// Stops watching and waits until the thread is done (events already queued are delivered first).
    public func stop() {
        var byte: UInt8 = 2
        _ = systemWrite(wake.write, &byte, 1)
        synced.lock()
        let deadline = Date().addingTimeInterval(5)
        while !finished {
            if !synced.wait(until: deadline) { break }
        }
        synced.unlock()
    }

    deinit {
        close(fd)
        close(wake.read)
        close(wake.write)
    }

    private func run() {
        #if os(Linux)
            let capacity = 64 * 1024
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
            defer {
                buffer.deallocate()
                synced.withLock {
                    finished = true
                    synced.broadcast()
                }
            }
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
                readEvents(buffer, capacity)
                guard fds[1].revents != 0 else { continue }
                var request: UInt8 = 0
                guard read(wake.read, &request, 1) == 1 else { continue }
                readEvents(buffer, capacity)  // everything queued before the request
                if request == 2 { return }
                let requested = state.withLock { $0.syncsRequested }
                synced.withLock {
                    syncsDone = requested
                    synced.broadcast()
                }
            }
        #endif
    }

    /// Reads inotify events until none is queued.
    private func readEvents(_ buffer: UnsafeMutableRawPointer, _ capacity: Int) {
        #if os(Linux)
            while true {
                let n = read(fd, buffer, capacity)
                if n <= 0 { return }  // EAGAIN: nothing more queued
                var offset = 0
                let now = Date()
                while offset + MemoryLayout<inotify_event>.size <= n {
                    let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                    let nameStart = offset + MemoryLayout<inotify_event>.size
                    if event.len > 0 {
                        let name = String(cString: buffer.advanced(by: nameStart).assumingMemoryBound(to: CChar.self))
                        handle(event.wd, event.mask, name, now)
                    }
                    offset = nameStart + Int(event.len)
                }
            }
        #endif
    }

    private func handle(_ wd: Int32, _ mask: UInt32, _ name: String, _ now: Date) {
        #if os(Linux)
            let isDirectory = mask & UInt32(IN_ISDIR) != 0
            if let inside = state.withLock({ $0.inner[wd] }) {
                handleInside(inside.checkpoint, inside.path.isEmpty ? name : inside.path + "/" + name, mask, now)
                return
            }
            guard matches(name) else {
                if CheckpointWatcher.isTemporary(name) { noteTemporary(name, mask, now) }
                if mask & (UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)) != 0 { onFinished(name, true) }
                return
            }
            var finishedNow: Bool?
            state.withLock { s in
                var current = s.observations[name]
                if mask & (UInt32(IN_DELETE) | UInt32(IN_MOVED_FROM)) != 0 {
                    s.observations[name] = nil
                    s.openInside[name] = nil
                    return
                }
                if mask & UInt32(IN_MOVED_TO) != 0 {
                    current = CheckpointObservation(
                        kind: .renamedIn, at: now, writeStarted: current?.writeStarted ?? s.temporaryWriteStarted)
                    s.temporaryWriteStarted = nil
                    finishedNow = true
                } else if mask & UInt32(IN_CLOSE_WRITE) != 0, !isDirectory {
                    current = CheckpointObservation(kind: .closed, at: now, writeStarted: current?.writeStarted)
                    s.temporaryWriteStarted = nil
                    finishedNow = true
                } else if mask & (UInt32(IN_CREATE) | UInt32(IN_MODIFY)) != 0 {
                    let started = current?.kind == .writing ? current?.writeStarted ?? now : now
                    current = CheckpointObservation(kind: .writing, at: now, writeStarted: started)
                    if isDirectory { finishedNow = false }
                }
                s.observations[name] = current
            }
            if isDirectory, mask & (UInt32(IN_CREATE) | UInt32(IN_MOVED_TO)) != 0 {
                watchInside(checkpoint: name, path: "")
            }
            if let complete = finishedNow { onFinished(name, complete) }
        #endif
    }

    /// A temporary file written (a save under way) or closed, renamed away or removed (no longer).
    private func noteTemporary(_ name: String, _ mask: UInt32, _ now: Date) {
        state.withLock { s in
            if mask & (UInt32(IN_CREATE) | UInt32(IN_MODIFY)) != 0 {
                let started = s.temporary[name]?.started ?? now
                s.temporary[name] = (started, now)
                if s.temporaryWriteStarted == nil { s.temporaryWriteStarted = started }
            } else if mask & (UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_FROM) | UInt32(IN_DELETE)) != 0 {
                s.temporary[name] = nil
                // A save given up (its temporary file removed, not renamed in) began nothing that ends.
                if mask & UInt32(IN_DELETE) != 0, s.temporary.isEmpty { s.temporaryWriteStarted = nil }
            }
        }
    }

    /// An event on a file inside directory checkpoint `checkpoint` (`path` relative to it).
    private func handleInside(_ checkpoint: String, _ path: String, _ mask: UInt32, _ now: Date) {
        #if os(Linux)
            let isDirectory = mask & UInt32(IN_ISDIR) != 0
            if isDirectory {
                if mask & (UInt32(IN_CREATE) | UInt32(IN_MOVED_TO)) != 0 {
                    watchInside(checkpoint: checkpoint, path: path)
                }
                return
            }
            var completed = false
            state.withLock { s in
                var open = s.openInside[checkpoint] ?? []
                let previous = s.observations[checkpoint]
                if mask & (UInt32(IN_CREATE) | UInt32(IN_MODIFY)) != 0 {
                    open.insert(path)
                    let started = previous?.kind == .writing ? previous?.writeStarted ?? now : now
                    s.observations[checkpoint] = CheckpointObservation(kind: .writing, at: now, writeStarted: started)
                } else if mask & (UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)) != 0 {
                    open.remove(path)
                    if open.isEmpty {
                        s.observations[checkpoint] = CheckpointObservation(
                            kind: .closed, at: now, writeStarted: previous?.writeStarted)
                        completed = true
                    }
                }
                s.openInside[checkpoint] = open
            }
            if completed { onFinished(checkpoint, true) }
        #endif
    }

    private func watchInside(checkpoint: String, path: String) {
        #if os(Linux)
            let full = directory + "/" + checkpoint + (path.isEmpty ? "" : "/" + path)
            let wd = inotify_add_watch(fd, full, CheckpointWatcher.innerMask | UInt32(IN_DONT_FOLLOW))
            guard wd >= 0 else { return }
            state.withLock { $0.inner[wd] = (checkpoint, path) }
            // Subdirectories made before the watch existed.
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: full) else { return }
            for name in names {
                var info = stat()
                if lstat(full + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                    watchInside(checkpoint: checkpoint, path: path.isEmpty ? name : path + "/" + name)
                }
            }
        #endif
    }
}
