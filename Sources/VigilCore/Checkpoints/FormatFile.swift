#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only file for format checks: never follows a symbolic link, never blocks on a FIFO.
final class FormatFile {
    let descriptor: Int32
    /// The size when the file was opened; reads never go past it.
    let size: UInt64

    struct Failure: Error {}

    init(_ path: String) throws {
        descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard descriptor >= 0 else { throw Failure() }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            _ = close(descriptor)
            throw Failure()
        }
        size = UInt64(info.st_size)
    }

    func closeFile() {
        _ = close(descriptor)
    }

    /// Exactly `count` bytes at `offset`; throws when the file ends sooner or a read fails.
    func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while done < count {
                let got = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if got < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    throw Failure()
                }
                if got == 0 { throw Failure() }
                done += got
            }
        }
        return bytes
    }

    /// Up to `count` bytes at `offset`, fewer when the file ends first (nothing past `size`).
    func read(upTo count: Int, at offset: UInt64) throws -> [UInt8] {
        guard offset < size else { return [] }
        return try read(at: offset, count: Int(min(UInt64(count), size - offset)))
    }
}

/// Reads a `FormatFile` front to back through a bounded buffer, so a walk over a multi-GB file holds
/// at most `chunk` bytes of it; long arguments are skipped by moving the position, not by reading.
final class FormatReader {
    static let chunk = 64 * 1024

    let file: FormatFile
    private var buffer: [UInt8] = []
    private var bufferStart: UInt64
    private var index = 0

    init(_ file: FormatFile, at offset: UInt64 = 0) {
        self.file = file
        bufferStart = min(offset, file.size)
    }

    /// The offset of the next byte; never beyond the end of the file.
    var position: UInt64 { bufferStart + UInt64(index) }

    /// Bytes left after `position`.
    var remaining: UInt64 { file.size - position }

    /// The next byte, or nil at the end of the file.
    func byte() throws -> UInt8? {
        if index == buffer.count {
            guard try refill() else { return nil }
        }
        defer { index += 1 }
        return buffer[index]
    }

    /// The next byte without moving past it, or nil at the end of the file.
    func peek() throws -> UInt8? {
        if index == buffer.count {
            guard try refill() else { return nil }
        }
        return buffer[index]
    }

    /// The next `count` bytes (a small count: the caller bounds it), or nil when fewer remain; then the
    /// position is the end of the file.
    func bytes(_ count: Int) throws -> [UInt8]? {
        guard count >= 0, UInt64(count) <= remaining else {
            moveToEnd()
            return nil
        }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            if index == buffer.count {
                guard try refill() else { return nil }
            }
            let take = min(count - out.count, buffer.count - index)
            out += buffer[index..<index + take]
            index += take
        }
        return out
    }

    /// Moves past `count` bytes without reading them; false (and at the end) when fewer remain.
    func skip(_ count: UInt64) -> Bool {
        guard count <= remaining else {
            moveToEnd()
            return false
        }
        let target = position + count
        if target <= bufferStart + UInt64(buffer.count) {
            index = Int(target - bufferStart)
        } else {
            buffer = []
            bufferStart = target
            index = 0
        }
        return true
    }

    /// The bytes up to the next newline (which is consumed, not returned), keeping at most `limit` of them;
    /// `whole` is false when the line was longer. Nil when the file ends before a newline.
    func line(keeping limit: Int) throws -> (bytes: [UInt8], whole: Bool)? {
        var kept: [UInt8] = []
        var whole = true
        while true {
            if index == buffer.count {
                guard try refill() else { return nil }
            }
            let rest = buffer[index...]
            if let newline = rest.firstIndex(of: 0x0a) {
                append(rest[..<newline], to: &kept, limit: limit, whole: &whole)
                index = newline + 1
                return (kept, whole)
            }
            append(rest, to: &kept, limit: limit, whole: &whole)
            index = buffer.count
        }
    }

    private func append(_ part: ArraySlice<UInt8>, to kept: inout [UInt8], limit: Int, whole: inout Bool) {
        let room = limit - kept.count
        if part.count > room { whole = false }
        kept += part.prefix(max(0, room))
    }

    private func moveToEnd() {
        buffer = []
        bufferStart = file.size
        index = 0
    }

    private func refill() throws -> Bool {
        let start = position
        guard start < file.size else { return false }
        buffer = try file.read(at: start, count: Int(min(file.size - start, UInt64(Self.chunk))))
        bufferStart = start
        index = 0
        return true
    }
}

extension [UInt8] {
    /// Little-endian integers at a byte offset (callers check the bounds).
    func uint16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }

    func uint32(at offset: Int) -> UInt32 {
        UInt32(uint16(at: offset)) | UInt32(uint16(at: offset + 2)) << 16
    }

    func uint64(at offset: Int) -> UInt64 {
        UInt64(uint32(at: offset)) | UInt64(uint32(at: offset + 4)) << 32
    }

    /// A little-endian unsigned integer of `width` bytes (1 to 8) at `offset`.
    func uint(at offset: Int, width: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in (0..<width).reversed() { value = value << 8 | UInt64(self[offset + index]) }
        return value
    }
}
