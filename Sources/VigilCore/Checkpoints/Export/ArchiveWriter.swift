import Dispatch

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

/// Writes a tar archive (POSIX ustar, with PAX extended headers for names ustar cannot hold and sizes
/// of 8 GiB and more) inside a gzip stream, to a descriptor, hashing each file on the way.
///
/// The gzip stream holds DEFLATE *stored* blocks: the format every gzip and tar reads, without
/// compression. Checkpoints are floating-point weights, which DEFLATE barely shrinks (a few per cent) at
/// a fraction of disk speed; storing them keeps an export as fast as the disk, and needs no zlib. The
/// price is one 5-byte block header per 64 KiB. `tar xzf`, `gzip -t` and Python's `tarfile` read it.
final class ArchiveWriter {
    private let fd: Int32
    private let path: String
    private let out: UnsafeMutableRawPointer
    private var outCount = 0
    private let pending: UnsafeMutableRawPointer
    private var pendingCount = 0
    private var crc = CRC32()
    private var total: UInt64 = 0
    /// Bytes written to the descriptor so far.
    private(set) var bytesWritten = 0

    static let outCapacity = 4 << 20
    static let storedBlock = 65_535
    static let chunk = 1 << 20
    /// Reads at least this large are hashed and written in parallel.
    static let parallelFrom = 256 << 10

    init(fd: Int32, path: String) throws {
        self.fd = fd
        self.path = path
        out = UnsafeMutableRawPointer.allocate(byteCount: ArchiveWriter.outCapacity, alignment: 64)
        pending = UnsafeMutableRawPointer.allocate(byteCount: ArchiveWriter.storedBlock, alignment: 64)
        // gzip member header: magic, CM=8 (deflate), no flags, MTIME 0 (a reproducible stream), XFL 0, OS 3 (Unix).
        try append([0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03])
    }

    deinit {
        out.deallocate()
        pending.deallocate()
    }

    // MARK: - Tar entries

    /// A directory entry (`name` without the trailing slash).
    func addDirectory(_ name: String, mode: mode_t, modified: Int) throws {
        try writeHeaders(name: name + "/", size: 0, mode: mode, modified: modified, type: UInt8(ascii: "5"))
    }

    /// `data` as a file; its SHA-256 (hex).
    func addData(_ name: String, _ data: Data, mode: mode_t, modified: Int) throws -> String {
        try writeHeaders(name: name, size: data.count, mode: mode, modified: modified, type: UInt8(ascii: "0"))
        var hasher = SHA256()
        try data.withUnsafeBytes { bytes in
            hasher.update(bytes)
            try write(bytes)
        }
        try pad(data.count)
        return SHA256.hexString(hasher.finalize())
    }

    /// `size` bytes read from `input` as a file; its SHA-256 (hex). The source is read once: hashed
    /// and written in the same pass.
    /// - Throws: when `input` ends early (the file shrank while it was being exported).
    func addFile(_ name: String, input: Int32, source: String, size: Int, mode: mode_t, modified: Int) throws -> String
    {
        try writeHeaders(name: name, size: size, mode: mode, modified: modified, type: UInt8(ascii: "0"))
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: ArchiveWriter.chunk, alignment: 64)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var left = size
        while left > 0 {
            let count = read(input, buffer, min(left, ArchiveWriter.chunk))
            if count < 0 {
                if errno == EINTR { continue }
                throw VigilError(.io, file: source, "cannot read: \(String(cString: strerror(errno)))")
            }
            guard count > 0 else {
                throw VigilError(.io, file: source, "changed while it was being exported (\(left) bytes short)")
            }
            let bytes = UnsafeRawBufferPointer(start: buffer, count: count)
            if count >= ArchiveWriter.parallelFrom {
                // SHA-256 on one core while the other adds the bytes to the stream (CRC-32, copy, write):
                // each alone is slower than the disk, side by side they are not.
                let job = ParallelChunk(writer: self, bytes: bytes, hasher: hasher)
                DispatchQueue.concurrentPerform(iterations: 2) { job.run(part: $0) }
                if let failure = job.failure { throw failure }
                hasher = job.hasher
            } else {
                hasher.update(bytes)
                try write(bytes)
            }
            left -= count
        }
        try pad(size)
        return SHA256.hexString(hasher.finalize())
    }

    /// The end of the archive (two zero blocks), the last stored block and the gzip trailer, flushed.
    func finish() throws {
        let zeros = [UInt8](repeating: 0, count: 1024)
        try zeros.withUnsafeBytes { try write($0) }
        try emitPending(final: true)
        var trailer = [UInt8](repeating: 0, count: 8)
        for index in 0..<4 {
            trailer[index] = UInt8(truncatingIfNeeded: crc.value >> (8 * UInt32(index)))
            trailer[4 + index] = UInt8(truncatingIfNeeded: total >> (8 * UInt64(index)))  // ISIZE: size mod 2^32
        }
        try append(trailer)
        try flush()
    }

    private func pad(_ size: Int) throws {
        let remainder = size % 512
        guard remainder > 0 else { return }
        let zeros = [UInt8](repeating: 0, count: 512 - remainder)
        try zeros.withUnsafeBytes { try write($0) }
    }

    private func writeHeaders(name: String, size: Int, mode: mode_t, modified: Int, type: UInt8) throws {
        for block in TarHeader.blocks(name: name, size: size, mode: mode, modified: modified, type: type) {
            try block.withUnsafeBytes { try write($0) }
        }
    }

    // MARK: - The gzip stream

    /// Adds bytes of the tar stream (from another thread only while this one waits for it).
    fileprivate func addStreamBytes(_ bytes: UnsafeRawBufferPointer) throws { try write(bytes) }

    /// Adds bytes of the tar stream.
    private func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var base = bytes.baseAddress, bytes.count > 0 else { return }
        crc.update(bytes)
        total &+= UInt64(bytes.count)
        var left = bytes.count
        if pendingCount > 0 {
            let take = min(left, ArchiveWriter.storedBlock - pendingCount)
            (pending + pendingCount).copyMemory(from: base, byteCount: take)
            pendingCount += take
            base += take
            left -= take
            if pendingCount == ArchiveWriter.storedBlock { try emitPending(final: false) }
        }
        // Whole blocks straight from the caller's buffer: one copy, into the output buffer.
        while left >= ArchiveWriter.storedBlock {
            try emitBlock(UnsafeRawBufferPointer(start: base, count: ArchiveWriter.storedBlock), final: false)
            base += ArchiveWriter.storedBlock
            left -= ArchiveWriter.storedBlock
        }
        if left > 0 {
            pending.copyMemory(from: base, byteCount: left)
            pendingCount = left
        }
    }

    private func emitPending(final: Bool) throws {
        try emitBlock(UnsafeRawBufferPointer(start: pending, count: pendingCount), final: final)
        pendingCount = 0
    }

    /// One stored block: BFINAL and BTYPE 00 in a byte of its own, LEN, NLEN (little-endian), the bytes.
    private func emitBlock(_ bytes: UnsafeRawBufferPointer, final: Bool) throws {
        let length = UInt16(bytes.count)
        if outCount + 5 + bytes.count > ArchiveWriter.outCapacity { try flush() }
        try append([
            final ? 1 : 0, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8),
        ])
        if let base = bytes.baseAddress, bytes.count > 0 {
            (out + outCount).copyMemory(from: base, byteCount: bytes.count)
            outCount += bytes.count
        }
    }

    private func append(_ bytes: [UInt8]) throws {
        if outCount + bytes.count > ArchiveWriter.outCapacity { try flush() }
        bytes.withUnsafeBytes { (out + outCount).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        outCount += bytes.count
    }

    private func flush() throws {
        var offset = 0
        while offset < outCount {
            let written = systemWrite(fd, out + offset, outCount - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw VigilError(.io, file: path, "cannot write: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        bytesWritten += outCount
        outCount = 0
    }
}

/// One chunk hashed and written at once: part 0 touches only `hasher`, part 1 only `failure` and the
/// writer, and `concurrentPerform` returns after both, so nothing is shared while they run.
private final class ParallelChunk: @unchecked Sendable {
    let writer: ArchiveWriter
    let bytes: UnsafeRawBufferPointer
    var hasher: SHA256
    var failure: Error?

    init(writer: ArchiveWriter, bytes: UnsafeRawBufferPointer, hasher: SHA256) {
        self.writer = writer
        self.bytes = bytes
        self.hasher = hasher
    }

    func run(part: Int) {
        if part == 0 {
            hasher.update(bytes)
        } else {
            do { try writer.addStreamBytes(bytes) } catch { failure = error }
        }
    }
}
