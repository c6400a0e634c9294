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

/// Writes a tar archive (POSIX ustar, with PAX extended headers for names ustar cannot hold and sizes
/// of 8 GiB and more) inside a gzip stream, to a descriptor, hashing each file on the way.
///
/// The gzip stream holds DEFLATE *stored* blocks: the format every gzip and tar reads, without
/// compression. Checkpoints are floating-point weights, which DEFLATE barely shrinks (a few per cent) at
/// a fraction of disk speed; storing them keeps an export as fast as the disk, and needs no zlib. The
/// price is one 5-byte block header per 64 KiB. `tar xzf`, `gzip -t` and Python's `tarfile` read it.
///
/// A large file goes through in one pass with nothing copied in user space: a chunk is read into a slot
/// of the `ParallelHasher`, whose thread hashes it while this one adds it to the CRC-32 and writes it
/// with `writev` — block headers from a small buffer, the bytes from the slot itself. Every read ends on
/// a block boundary (a file's first read is shortened to end where the pending block does), so only
/// the bytes of a file's last block are copied, into the pending block.
final class ArchiveWriter {
    private let fd: Int32
    private let path: String
    /// Bytes of the tar stream not yet in a stored block (always fewer than `storedBlock`).
    private let pending: UnsafeMutableRawPointer
    private var pendingCount = 0
    private var crc = CRC32()
    private var total: UInt64 = 0
    /// What the next `writev` writes: pieces of the caller's bytes, of `pending` and of `frames` (the
    /// block headers, the gzip header and trailer), valid until it is flushed.
    private let iovecs: UnsafeMutablePointer<iovec>
    private var iovecCount = 0
    private let frames: UnsafeMutableRawPointer
    private var blocksInBatch = 0
    /// Hashes large files on a thread of its own; started by the first.
    private var parallelHasher: ParallelHasher?
    /// Bytes written to the descriptor so far.
    private(set) var bytesWritten = 0
    /// Where the kernel was last asked to start writing back (everything before it has been).
    private var writebackFrom = 0
    /// The pages before this offset are written back and dropped from the page cache.
    private var droppedUpTo = 0

    static let storedBlock = 65_535
    /// Stored blocks per `writev` at most: a chunk's worth, so a chunk is one system call. (Smaller
    /// writes, of 64 and 256 KiB, measured the same.)
    static let blocksPerWrite = 16
    /// A read is (at most) this many stored blocks: 1 MiB less 16 bytes. Four such slots stay in the
    /// caches while they are read into, hashed and written; 4 MiB chunks measured slower.
    static let blocksPerChunk = 16
    /// Files at least this large are hashed on the `ParallelHasher`'s thread; smaller ones here.
    static let parallelFrom = 256 << 10
    /// The kernel is asked to start writing back every so many bytes, so the final fsync waits for the
    /// last of them rather than for the whole archive (measured for 1 GiB: 2 ms instead of 0.5 s); and
    /// what is two windows behind, written by then, is dropped from the page cache. An export is read
    /// once, so caching it would only evict what the trainer's data loader keeps there; and the
    /// pages dropped are the ones the next writes get, recently touched: on a VM whose balloon hands
    /// free memory back to the host, page cache on memory the host took back costs ~3.5 s of CPU per
    /// GiB to touch, and an export that allocated a fresh gigabyte ran at 190 MiB/s, at 600 recycling
    /// 24 MiB (scripts/bench, the other core busy).
    static let writebackEvery = 8 << 20

    private static let headerBytes = 5
    private static let trailerOffset = blocksPerWrite * headerBytes
    private static let gzipHeaderOffset = trailerOffset + 8
    private static let iovecCapacity = 2 + 3 * blocksPerWrite

    init(fd: Int32, path: String) throws {
        self.fd = fd
        self.path = path
        pending = UnsafeMutableRawPointer.allocate(byteCount: ArchiveWriter.storedBlock, alignment: 64)
        iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: ArchiveWriter.iovecCapacity)
        frames = UnsafeMutableRawPointer.allocate(byteCount: ArchiveWriter.gzipHeaderOffset + 10, alignment: 16)
        // gzip member header: magic, CM=8 (deflate), no flags, MTIME 0 (a reproducible stream), XFL 0, OS 3 (Unix).
        let header: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]
        header.withUnsafeBytes {
            (frames + ArchiveWriter.gzipHeaderOffset).copyMemory(from: $0.baseAddress!, byteCount: header.count)
        }
        appendPiece(frames + ArchiveWriter.gzipHeaderOffset, header.count)
        try flushBatch()
    }

    deinit {
        parallelHasher?.stop()
        pending.deallocate()
        iovecs.deallocate()
        frames.deallocate()
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
    /// and written in the same pass. After a throw the writer is done (its archive is incomplete).
    /// - Throws: when `input` ends early (the file shrank while it was being exported).
    func addFile(_ name: String, input: Int32, source: String, size: Int, mode: mode_t, modified: Int) throws -> String
    {
        try writeHeaders(name: name, size: size, mode: mode, modified: modified, type: UInt8(ascii: "0"))
        let digest =
            size >= ArchiveWriter.parallelFrom
            ? try addInParallel(input: input, source: source, size: size)
            : try addHere(input: input, source: source, size: size)
        try pad(size)
        return SHA256.hexString(digest)
    }

    /// Reads, hashes and writes on this thread (small files: a handover would cost more than it saves).
    private func addHere(input: Int32, source: String, size: Int) throws -> [UInt8] {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var left = size
        while left > 0 {
            let count = try Self.readSome(input, into: buffer, count: left, source: source, left: left)
            let bytes = UnsafeRawBufferPointer(start: buffer, count: count)
            hasher.update(bytes)
            try write(bytes)
            left -= count
        }
        return hasher.finalize()
    }

    /// Reads chunks into the `ParallelHasher`'s slots; it hashes each while this thread writes it.
    private func addInParallel(input: Int32, source: String, size: Int) throws -> [UInt8] {
        let chunk = ArchiveWriter.blocksPerChunk * ArchiveWriter.storedBlock
        if parallelHasher == nil { parallelHasher = ParallelHasher(slotCapacity: chunk) }
        let hasher = parallelHasher!
        var left = size
        while left > 0 {
            // To the end of the pending block, then whole blocks: this chunk ends on a block boundary.
            let want = min(left, chunk - pendingCount)
            let slot = hasher.nextSlot()
            let count = try Self.readSome(input, into: slot, count: want, source: source, left: left)
            hasher.submit(count)
            try write(UnsafeRawBufferPointer(start: slot, count: count))
            left -= count
        }
        return hasher.finishFile()
    }

    /// One read(2) of up to `count` bytes (at least one), retried on EINTR.
    /// - Throws: on a read error, or when the file ends with `left` bytes still expected.
    private static func readSome(
        _ input: Int32, into buffer: UnsafeMutableRawPointer, count: Int, source: String, left: Int
    ) throws -> Int {
        while true {
            let got = read(input, buffer, count)
            if got > 0 { return got }
            if got < 0 && errno == EINTR { continue }
            if got < 0 { throw VigilError(.io, file: source, "cannot read: \(String(cString: strerror(errno)))") }
            throw VigilError(.io, file: source, "changed while it was being exported (\(left) bytes short)")
        }
    }

    /// The end of the archive (two zero blocks), the last stored block and the gzip trailer, written.
    func finish() throws {
        let zeros = [UInt8](repeating: 0, count: 1024)
        try zeros.withUnsafeBytes { try write($0) }
        appendBlock(UnsafeRawBufferPointer(start: pending, count: pendingCount), final: true)
        pendingCount = 0
        let trailer = frames + ArchiveWriter.trailerOffset
        for index in 0..<4 {
            trailer.storeBytes(
                of: UInt8(truncatingIfNeeded: crc.value >> (8 * index)), toByteOffset: index, as: UInt8.self)
            // ISIZE: the size mod 2^32.
            trailer.storeBytes(
                of: UInt8(truncatingIfNeeded: total >> (8 * index)), toByteOffset: 4 + index, as: UInt8.self)
        }
        appendPiece(trailer, 8)
        try flushBatch()
        parallelHasher?.stop()
        parallelHasher = nil
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

    /// Adds bytes of the tar stream: whole stored blocks are written from `bytes` itself (the first
    /// one after what was pending), what is left short of a block is copied into `pending`.
    private func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var base = bytes.baseAddress, bytes.count > 0 else { return }
        crc.update(bytes)
        total &+= UInt64(bytes.count)
        var left = bytes.count
        if pendingCount + left >= ArchiveWriter.storedBlock {
            let take = ArchiveWriter.storedBlock - pendingCount
            appendBlock(
                UnsafeRawBufferPointer(start: pending, count: pendingCount),
                UnsafeRawBufferPointer(start: base, count: take), final: false)
            base += take
            left -= take
            while left >= ArchiveWriter.storedBlock {
                if blocksInBatch == ArchiveWriter.blocksPerWrite { try flushBatch() }
                appendBlock(UnsafeRawBufferPointer(start: base, count: ArchiveWriter.storedBlock), final: false)
                base += ArchiveWriter.storedBlock
                left -= ArchiveWriter.storedBlock
            }
            // Before `pending` is reused, and so that nothing refers to the caller's bytes once this returns.
            try flushBatch()
            pendingCount = 0
        }
        if left > 0 {
            (pending + pendingCount).copyMemory(from: base, byteCount: left)
            pendingCount += left
        }
    }

    /// Queues one stored block of `head` and then `tail` (together at most `storedBlock` bytes): BFINAL
    /// and BTYPE 00 in a byte of its own, LEN, NLEN (little-endian), the bytes.
    private func appendBlock(
        _ head: UnsafeRawBufferPointer, _ tail: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        final: Bool
    ) {
        let length = UInt16(head.count + tail.count)
        let header = (frames + blocksInBatch * ArchiveWriter.headerBytes).assumingMemoryBound(to: UInt8.self)
        header[0] = final ? 1 : 0
        header[1] = UInt8(length & 0xFF)
        header[2] = UInt8(length >> 8)
        header[3] = UInt8(~length & 0xFF)
        header[4] = UInt8(~length >> 8)
        appendPiece(header, ArchiveWriter.headerBytes)
        if let base = head.baseAddress, head.count > 0 { appendPiece(base, head.count) }
        if let base = tail.baseAddress, tail.count > 0 { appendPiece(base, tail.count) }
        blocksInBatch += 1
    }

    private func appendPiece(_ base: UnsafeRawPointer, _ count: Int) {
        precondition(iovecCount < ArchiveWriter.iovecCapacity, "more pieces than a batch holds")
        iovecs[iovecCount] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: count)
        iovecCount += 1
    }

    /// Writes the queued pieces (all of them: a short write is continued); every `writebackEvery` bytes,
    /// starts their writeback and drops what is two windows behind from the page cache.
    private func flushBatch() throws {
        var first = 0
        while first < iovecCount {
            let written = writev(fd, iovecs + first, Int32(iovecCount - first))
            if written < 0 {
                if errno == EINTR { continue }
                throw VigilError(.io, file: path, "cannot write: \(String(cString: strerror(errno)))")
            }
            guard written > 0 else { throw VigilError(.io, file: path, "cannot write: the file takes no more bytes") }
            bytesWritten += written
            var done = written
            while first < iovecCount && done >= iovecs[first].iov_len {
                done -= iovecs[first].iov_len
                first += 1
            }
            if done > 0 {
                iovecs[first].iov_base = iovecs[first].iov_base! + done
                iovecs[first].iov_len -= done
            }
        }
        iovecCount = 0
        blocksInBatch = 0
        if bytesWritten - writebackFrom >= ArchiveWriter.writebackEvery {
            // Only a hint (and ENOSYS off Linux): the fsync after `finish` is what makes the archive durable.
            _ = cvigil_start_writeback(fd, Int64(writebackFrom), Int64(bytesWritten - writebackFrom))
            writebackFrom = bytesWritten
            let behind = writebackFrom - 2 * ArchiveWriter.writebackEvery
            if behind > droppedUpTo {
                _ = cvigil_drop_written(fd, Int64(droppedUpTo), Int64(behind - droppedUpTo))
                droppedUpTo = behind
            }
        }
    }
}
