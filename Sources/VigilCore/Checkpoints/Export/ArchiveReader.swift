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

/// Reads the tar stream of an archive `ArchiveWriter` wrote: a gzip stream of stored DEFLATE blocks
/// (its CRC-32 and length checked at the end), or a plain `.tar`. A gzip stream with compressed blocks
/// (an archive recompressed by gzip) is refused with a message: vigil carries no inflater.
final class ArchiveReader {
    private let fd: Int32
    private let path: String
    private let buffer: UnsafeMutableRawPointer
    private var start = 0
    private var end = 0
    private var endOfFile = false
    private(set) var isGzip = false
    private var blockLeft = 0
    private var finalBlock = false
    private var streamEnded = false
    private var crc = CRC32()
    private var total: UInt64 = 0

    static let capacity = 1 << 20

    /// Opens `path` (never through a symbolic link).
    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            let code = errno
            throw VigilError(
                code == ENOENT ? .notFound : .io, file: path,
                code == ELOOP ? "is a symbolic link; not followed" : "cannot open: \(String(cString: strerror(code)))")
        }
        buffer = UnsafeMutableRawPointer.allocate(byteCount: ArchiveReader.capacity, alignment: 64)
        var magic = [UInt8](repeating: 0, count: 2)
        let got = try peek(&magic)
        if got == 2 && magic == [0x1F, 0x8B] {
            isGzip = true
            try readGzipHeader()
        }
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// Up to `count` bytes of the tar stream into `target`; 0 at its end.
    func read(into target: UnsafeMutableRawPointer, count: Int) throws -> Int {
        guard isGzip else { return try raw(into: target, count: count) }
        while blockLeft == 0 {
            if streamEnded { return 0 }
            if finalBlock {
                try readTrailer()
                return 0
            }
            try readBlockHeader()
        }
        let got = try raw(into: target, count: min(count, blockLeft))
        guard got > 0 else { throw corrupt("the gzip stream ends inside a block") }
        blockLeft -= got
        crc.update(UnsafeRawBufferPointer(start: target, count: got))
        total &+= UInt64(got)
        return got
    }

    /// Exactly `count` bytes, or an error saying the archive ends early.
    func readExactly(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        try bytes.withUnsafeMutableBytes { target in
            while filled < count {
                let got = try read(into: target.baseAddress! + filled, count: count - filled)
                guard got > 0 else { throw corrupt("the archive ends early") }
                filled += got
            }
        }
        return bytes
    }

    /// Reads the rest of the stream (checking the gzip trailer), requiring nothing but zeros.
    func drainZeros() throws -> Bool {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { scratch.deallocate() }
        var onlyZeros = true
        while true {
            let got = try read(into: scratch, count: 64 << 10)
            if got == 0 { break }
            if UnsafeRawBufferPointer(start: scratch, count: got).contains(where: { $0 != 0 }) { onlyZeros = false }
        }
        return onlyZeros
    }

    // MARK: - gzip

    private func readGzipHeader() throws {
        let header = try rawExactly(10)
        guard header[2] == 8 else { throw corrupt("gzip with an unknown compression method") }
        let flags = header[3]
        if flags & 0x04 != 0 {  // FEXTRA
            let length = try rawExactly(2)
            _ = try rawExactly(Int(length[0]) | Int(length[1]) << 8)
        }
        for flag: UInt8 in [0x08, 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT: NUL-terminated
            while try rawExactly(1)[0] != 0 {}
        }
        if flags & 0x02 != 0 { _ = try rawExactly(2) }  // FHCRC
    }

    private func readBlockHeader() throws {
        let first = try rawExactly(1)[0]
        finalBlock = first & 1 == 1
        guard (first >> 1) & 3 == 0 else {
            throw VigilError(
                .io, file: path,
                "is compressed (DEFLATE blocks, not the stored blocks vigil checkpoints export writes): it was "
                    + "recompressed; run `gunzip -k` on it and verify the .tar")
        }
        let lengths = try rawExactly(4)
        let length = Int(lengths[0]) | Int(lengths[1]) << 8
        let complement = Int(lengths[2]) | Int(lengths[3]) << 8
        guard length ^ complement == 0xFFFF else { throw corrupt("a stored block's length is damaged") }
        blockLeft = length
    }

    private func readTrailer() throws {
        let trailer = try rawExactly(8)
        let recorded = trailer[0..<4].enumerated().reduce(UInt32(0)) {
            $0 | UInt32($1.element) << (8 * UInt32($1.offset))
        }
        let size = trailer[4..<8].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        streamEnded = true
        guard recorded == crc.value else {
            throw corrupt(
                String(cFormat: "the gzip CRC-32 does not match (recorded %08x, computed %08x)", recorded, crc.value))
        }
        guard size == UInt32(truncatingIfNeeded: total) else { throw corrupt("the gzip length does not match") }
        var extra = [UInt8](repeating: 0, count: 1)
        if try peek(&extra) > 0 { throw corrupt("bytes after the end of the gzip stream") }
    }

    // MARK: - The file

    private func fill() throws {
        if start > 0 && start == end {
            start = 0
            end = 0
        }
        guard !endOfFile, end < ArchiveReader.capacity else { return }
        while true {
            let got = systemRead(fd, buffer + end, ArchiveReader.capacity - end)
            if got < 0 {
                if errno == EINTR { continue }
                throw VigilError(.io, file: path, "cannot read: \(String(cString: strerror(errno)))")
            }
            if got == 0 { endOfFile = true }
            end += got
            return
        }
    }

    private func raw(into target: UnsafeMutableRawPointer, count: Int) throws -> Int {
        if start == end { try fill() }
        let take = min(count, end - start)
        guard take > 0 else { return 0 }
        target.copyMemory(from: buffer + start, byteCount: take)
        start += take
        return take
    }

    private func rawExactly(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        try bytes.withUnsafeMutableBytes { target in
            while filled < count {
                let got = try raw(into: target.baseAddress! + filled, count: count - filled)
                guard got > 0 else { throw corrupt("the file ends early") }
                filled += got
            }
        }
        return bytes
    }

    /// Copies the next bytes without consuming them; how many there were.
    private func peek(_ bytes: inout [UInt8]) throws -> Int {
        if end - start < bytes.count {
            if start > 0 {
                buffer.copyMemory(from: buffer + start, byteCount: end - start)
                end -= start
                start = 0
            }
            while end - start < bytes.count && !endOfFile { try fill() }
        }
        let count = min(bytes.count, end - start)
        for index in 0..<count { bytes[index] = buffer.load(fromByteOffset: start + index, as: UInt8.self) }
        return count
    }

    private func corrupt(_ message: String) -> VigilError {
        VigilError(.io, file: path, "is damaged: \(message)")
    }
}
