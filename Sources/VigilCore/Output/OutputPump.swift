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

/// Drains a child's stdout and stderr, each on its own thread with `read(2)` into a 1 MiB buffer
/// from a pipe enlarged to 1 MiB (a flood of output costs a few syscalls and wake-ups per megabyte,
/// not per 64 KiB), and copies every byte to Vigil's own stdout/stderr and to the attempt's log,
/// keeping a bounded tail of each stream. Never `FileHandle.readabilityHandler`: on Linux it loses the last
/// bytes and never reports EOF (swift-corelibs-foundation#3275).
public final class OutputPump: @unchecked Sendable {
    // @unchecked: the mutable state is in `state` (a Locked); everything else is set once in init.
    public enum Stream: Int, Sendable { case stdout = 1, stderr = 2 }

    private let log: RotatingLog?
    private let passthrough: Bool
    private let wake: (read: Int32, write: Int32)
    private let state: Locked<State>
    private let onClosed: @Sendable () -> Void
    private let lineObserver: (@Sendable (Stream, Substring) -> Void)?
    private let liveScanner: OutputScanner?
    private let onLiveMatch: (@Sendable (OutputScanner.Match, Date) -> Void)?
    private let metrics: MetricsRecorder?
    private let statusLine: StatusLine?

    private struct State {
        var stdoutRing: ByteRing
        var stderrRing: ByteRing
        var open = 2
        var lastActivity = SystemClock.monotonicNow()
        var firstOutput: Instant?
        var passthroughBroken: Set<Int32> = []
        /// When output was last read, before the chunk being scanned.
        var lastRead = Date()
        /// Set by `cancel()`: the drains stop after the chunk in hand.
        var cancelled = false
        var liveMatched = false
    }

    /// - Parameters:
    ///   - tailBytes: how much of each stream to keep for classification.
    ///   - onClosed: called once, when both streams reached EOF or the pump was cancelled.
    public init(
        log: RotatingLog?, passthrough: Bool, tailBytes: Int,
        lineObserver: (@Sendable (Stream, Substring) -> Void)? = nil,
        liveScanner: OutputScanner? = nil,
        metrics: MetricsRecorder? = nil,
        statusLine: StatusLine? = nil,
        onLiveMatch: (@Sendable (OutputScanner.Match, Date) -> Void)? = nil,
        onClosed: @escaping @Sendable () -> Void
    ) {
        self.liveScanner = liveScanner
        self.onLiveMatch = onLiveMatch
        self.metrics = metrics
        self.statusLine = statusLine
        self.log = log
        self.passthrough = passthrough
        self.onClosed = onClosed
        self.lineObserver = lineObserver
        self.state = Locked(State(stdoutRing: ByteRing(capacity: tailBytes), stderrRing: ByteRing(capacity: tailBytes)))
        var fds: [Int32] = [-1, -1]
        _ = fds.withUnsafeMutableBufferPointer { pipe($0.baseAddress!) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        self.wake = (fds[0], fds[1])
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    /// Starts draining `stdoutFD` and `stderrFD` (the pump closes them when done).
    public func start(stdoutFD: Int32, stderrFD: Int32) {
        for (fd, stream) in [(stdoutFD, Stream.stdout), (stderrFD, Stream.stderr)] {
            startThread(name: "vigil-output-\(stream)") { [self] in
                self.drain(fd, stream)
            }
        }
    }

    /// Stops draining at once, even though a descendant outside the group may still hold the pipes.
    public func cancel() {
        state.withLock { $0.cancelled = true }  // seen after each chunk, when output never pauses
        var byte: UInt8 = 1
        _ = systemWrite(wake.write, &byte, 1)
    }

    /// When the trainer last printed anything.
    /// (On the monotonic clock: a stall is measured from it.)
    public var lastActivity: Instant { state.withLock { $0.lastActivity } }

    /// When the trainer first printed anything; nil until it has.
    public var firstOutput: Instant? { state.withLock { $0.firstOutput } }

    /// The kept tail of both streams.
    public var tail: OutputTail {
        state.withLock { OutputTail(stdout: $0.stdoutRing.lines, stderr: $0.stderrRing.lines) }
    }

    /// The most one `read(2)` takes: the whole enlarged pipe. Measured with the same producer and a C
    /// loop doing what the drain does: 0.59 CPU-s/GB with 1 MiB reads, 0.62 with 512 KiB, 0.68 with
    /// 256 KiB. Only what a read fills is touched: a quiet stream costs a page, not a megabyte.
    static let readSize = 1 << 20
    /// The most the live rules and the metrics are handed at once (their copies are this size).
    static let scanSize = 256 << 10

    private func drain(_ fd: Int32, _ stream: Stream) {
        _ = cvigil_unblock_all_signals()
        let capacity = OutputPump.readSize
        _ = cvigil_set_pipe_size(fd, 1 << 20)  // best effort: a pty, or a limit below 1 MiB, keeps its size
        // Non-blocking: read while there is output, poll (for the output or a cancel) only when there is none.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer {
            buffer.deallocate()
            close(fd)
            let last = state.withLock { s -> Bool in
                s.open -= 1
                return s.open == 0
            }
            if last { onClosed() }
        }
        var partialLine: [UInt8] = []
        var carry: [UInt8] = []  // the unfinished last line, scanned again with the next chunk
        var fds = [
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let n = read(fd, buffer, capacity)
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                guard errno == EAGAIN else { break }
                // Nothing to read: wait for output, or for cancel() (a stray descendant may keep the pipe open).
                if poll(&fds, 2, -1) < 0, errno != EINTR { return }
                if fds[1].revents != 0 { return }
                continue
            }
            let chunk = UnsafeRawBufferPointer(start: buffer, count: n)
            let (previousRead, cancelled) = state.withLock { s -> (Date, Bool) in
                let previous = s.lastRead
                s.lastRead = Date()
                return (previous, s.cancelled)
            }
            if cancelled { return }
            deliver(chunk, stream)
            if liveScanner != nil || metrics != nil {
                // In slices: what scanning holds per call (a lowercased copy, the carried lines) stays
                // a slice's size, whatever a read returned.
                var offset = 0
                while offset < n {
                    let end = min(n, offset + OutputPump.scanSize)
                    scanLines(UnsafeRawBufferPointer(rebasing: chunk[offset..<end]), &carry, previousRead)
                    offset = end
                }
            }
            if let lineObserver { splitLines(chunk, &partialLine, stream, lineObserver) }
        }
        if let lineObserver, !partialLine.isEmpty {
            lineObserver(stream, Substring(String(decoding: partialLine, as: UTF8.self)))
        }
    }

    /// Checks complete lines against the live rules; reports the first match once. Checkpoints
    /// modified after `previousRead` may postdate the matching line (it was not read before then).
    /// Hands the complete lines of each chunk (the unfinished last line carried to the next chunk)
    /// to the live rules and the metrics recorder. A line ends at `\n` or `\r`: each frame a progress
    /// bar draws is a line of its own, checked as it comes rather than at the bar's last newline.
    private func scanLines(_ chunk: UnsafeRawBufferPointer, _ carry: inout [UInt8], _ previousRead: Date) {
        guard let lastNewline = chunk.lastIndex(where: OutputScanner.isLineEnd) else {
            carry.append(contentsOf: chunk)
            if carry.count > 1 << 16 { carry.removeFirst(carry.count - (1 << 16)) }
            return
        }
        if carry.isEmpty {
            scanComplete(UnsafeRawBufferPointer(rebasing: chunk[..<lastNewline]), previousRead)
        } else {
            carry.append(contentsOf: chunk[..<lastNewline])
            carry.withUnsafeBytes { scanComplete($0, previousRead) }
        }
        carry.removeAll(keepingCapacity: true)
        if lastNewline + 1 < chunk.count { carry.append(contentsOf: chunk[(lastNewline + 1)...]) }
    }

    private func scanComplete(_ lines: UnsafeRawBufferPointer, _ previousRead: Date) {
        metrics?.record(lines)
        guard let liveScanner, !state.withLock({ $0.liveMatched }), let match = liveScanner.firstMatch(in: lines) else {
            return
        }
        let first = state.withLock { s -> Bool in
            defer { s.liveMatched = true }
            return !s.liveMatched
        }
        if first { onLiveMatch?(match, previousRead) }
    }

    private func deliver(_ chunk: UnsafeRawBufferPointer, _ stream: Stream) {
        let target: Int32 = stream == .stdout ? 1 : 2
        let copyOut = passthrough && !state.withLock { $0.passthroughBroken.contains(target) }
        if copyOut && !(statusLine.map { $0.writing { writeFully(target, chunk) } } ?? writeFully(target, chunk)) {
            state.withLock { _ = $0.passthroughBroken.insert(target) }
        }
        log?.write(chunk.baseAddress!, count: chunk.count)
        state.withLock {
            $0.lastActivity = SystemClock.monotonicNow()
            if $0.firstOutput == nil { $0.firstOutput = $0.lastActivity }
            if stream == .stdout { $0.stdoutRing.append(chunk) } else { $0.stderrRing.append(chunk) }
        }
    }

    private func splitLines(
        _ chunk: UnsafeRawBufferPointer, _ partial: inout [UInt8], _ stream: Stream,
        _ observer: @Sendable (Stream, Substring) -> Void
    ) {
        var lineStart = 0
        for index in 0..<chunk.count where chunk[index] == 0x0A {
            if partial.isEmpty {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: chunk[lineStart..<index]), as: UTF8.self)
                observer(stream, Substring(text))
            } else {
                partial.append(contentsOf: chunk[lineStart..<index])
                observer(stream, Substring(String(decoding: partial, as: UTF8.self)))
                partial.removeAll(keepingCapacity: true)
            }
            lineStart = index + 1
        }
        if lineStart < chunk.count {
            partial.append(contentsOf: chunk[lineStart...])
            if partial.count > 1 << 20 {  // a "line" of a megabyte is not a line; don't grow forever
                observer(stream, Substring(String(decoding: partial, as: UTF8.self)))
                partial.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Writes all of `chunk` to `fd`; false when the reader went away (EPIPE) or the fd is unusable.
    private func writeFully(_ fd: Int32, _ chunk: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < chunk.count {
            let n = systemWrite(fd, chunk.baseAddress! + offset, chunk.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 1000)
                    continue
                }
                return false
            }
            offset += n
        }
        return true
    }
}
