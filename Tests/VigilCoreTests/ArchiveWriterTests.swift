import CVigil
import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// The export's writer below `vigil checkpoints export`: files hashed on the `ParallelHasher`'s thread
/// while they are written, stored blocks written from the read buffers, and what happens when a read or
/// a write fails half-way.
@Suite("Archive writer: parallel hashing, stored blocks, failures", .serialized, .timeLimit(.minutes(1)))
struct ArchiveWriterTests {
    let dir: String
    static let chunk = ArchiveWriter.blocksPerChunk * ArchiveWriter.storedBlock

    init() throws {
        dir = try TestSupport.temporaryDirectory("vigil-archive")
    }

    /// `count` bytes that repeat for a seed.
    static func random(_ count: Int, seed: UInt64) -> Data {
        var generator = SplitMix64(seed: seed)
        var data = Data(count: count)
        data.withUnsafeMutableBytes { bytes in
            var offset = 0
            while offset < count {
                let word = generator.next()
                let take = min(8, count - offset)
                withUnsafeBytes(of: word) {
                    bytes.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: take)
                }
                offset += take
            }
        }
        return data
    }

    @Test(
        "files of every size around the thresholds and block boundaries, large and small mixed: each digest, each byte, full blocks"
    )
    func sizes() throws {
        defer { TestSupport.remove(dir) }
        let block = ArchiveWriter.storedBlock
        let sizes = [
            0, 1, 511, ArchiveWriter.parallelFrom - 1, ArchiveWriter.parallelFrom, block, 2 * block + 7,
            Self.chunk - 1, Self.chunk, Self.chunk + 1, 3 * Self.chunk + 12_345,
        ]
        let path = dir + "/sizes.tar.gz"
        var expected: [String: String] = [:]
        var tarBytes = 512 + 1024  // the directory's header; the two zero blocks at the end
        let bytes = try CheckpointExport.atomically(path, permissions: 0o600) { writer in
            try writer.addDirectory("r", mode: 0o755, modified: 0)
            for (index, size) in sizes.enumerated() {
                let data = Self.random(size, seed: UInt64(index))
                let source = dir + "/file\(index).bin"
                try data.write(to: URL(fileURLWithPath: source))
                let input = try CheckpointExport.openRegular(source)
                defer { close(input) }
                let name = "r/file\(index).bin"
                let digest = try writer.addFile(
                    name, input: input, source: source, size: size, mode: 0o644, modified: 0)
                #expect(digest == SHA256.hex(of: data), "size \(size)")
                expected[name] = digest
                // Something small between the files, so that each starts at another offset in its block.
                let note = Data(repeating: UInt8(index), count: 100 * index + 3)
                expected["r/note\(index)"] = try writer.addData("r/note\(index)", note, mode: 0o644, modified: 0)
                tarBytes += 512 + (size + 511) / 512 * 512 + 512 + (note.count + 511) / 512 * 512
            }
        }
        // Every block full but the last (whose header is there even when it holds nothing): the gzip
        // header, 5 bytes per block, the tar stream, the trailer.
        #expect(bytes == 10 + 5 * (tarBytes / block + 1) + tarBytes + 8)
        let script = """
            import hashlib, json, sys, tarfile
            with tarfile.open(sys.argv[1]) as t:
                print(json.dumps({m.name: hashlib.sha256(t.extractfile(m).read()).hexdigest() for m in t if m.isfile()}))
            """
        let python = try TestProcess([TestSupport.python, "-c", script, path])
        #expect(python.exitCode() == 0, "\(python.output)")
        #expect(try JSONDecoder().decode([String: String].self, from: Data(python.stdout.utf8)) == expected)
        let gzip = try TestProcess(["/bin/sh", "-c", "gzip -t \"$0\" && echo ok", path])
        #expect(gzip.exitCode() == 0 && gzip.stdout == "ok", "\(gzip.output)")
    }

    @Test("the hashing thread: three files through its four slots, each slot filled as soon as it is handed out")
    func parallelHasher() throws {
        let hasher = ParallelHasher(slotCapacity: 4_096)
        defer { hasher.stop() }
        for file in 0..<3 {
            let data = Self.random(40_000 + 9_999 * file, seed: 100 + UInt64(file))
            var offset = 0
            var length = 1 + file
            data.withUnsafeBytes { bytes in
                while offset < data.count {
                    // Lengths from 1 to the whole slot: chunks of any size hash as one message.
                    let count = min(length, data.count - offset, hasher.slotCapacity)
                    let slot = hasher.nextSlot()
                    slot.copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
                    hasher.submit(count)
                    offset += count
                    length = length * 3 % 4_099 + 1
                }
            }
            // A slot still being hashed when it was handed out again would have changed under the hash.
            #expect(SHA256.hexString(hasher.finishFile()) == SHA256.hex(of: data), "file \(file)")
        }
        #expect(SHA256.hexString(hasher.finishFile()) == SHA256.hex(of: Data()))
    }

    @Test("a file shorter than its listed size fails the export, naming it, and leaves nothing; the next export works")
    func shrunk() throws {
        defer { TestSupport.remove(dir) }
        let data = Self.random(3 * Self.chunk + 100, seed: 5)
        let source = dir + "/weights.bin"
        try data.write(to: URL(fileURLWithPath: source))
        let path = dir + "/shrunk.tar.gz"
        func export(claiming size: Int) throws -> String {
            try TestSupport.exportFile(source, to: path, size: size).digest
        }
        let error = #expect(throws: VigilError.self) { _ = try export(claiming: data.count + 2 * Self.chunk) }
        #expect(error?.description == "\(source): changed while it was being exported (\(2 * Self.chunk) bytes short)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["weights.bin"])
        #expect(try export(claiming: data.count) == SHA256.hex(of: data))
    }

    @Test(
        "a write that fails is an I/O error naming the archive: at the first byte (Linux's /dev/full), mid-file (a full pipe)"
    )
    func writeFailures() throws {
        defer { TestSupport.remove(dir) }
        #if os(Linux)
            let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
            try #require(full >= 0)
            defer { close(full) }
            let atStart = #expect(throws: VigilError.self) { _ = try ArchiveWriter(fd: full, path: "/dev/full") }
            #expect(atStart?.description == "/dev/full: cannot write: \(String(cString: strerror(ENOSPC)))")
        #endif

        // A pipe nobody reads, that refuses to block: the first megabyte is written in part (what the
        // pipe holds), then the write fails while the hashing thread has chunks of the file.
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        defer { close(ends[1]) }
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        let data = Self.random(4 * Self.chunk, seed: 9)
        let source = dir + "/weights.bin"
        try data.write(to: URL(fileURLWithPath: source))
        let input = try CheckpointExport.openRegular(source)
        defer { close(input) }
        let writer = try ArchiveWriter(fd: ends[1], path: "pipe")
        let midFile = #expect(throws: VigilError.self) {
            _ = try writer.addFile(
                "r/weights.bin", input: input, source: source, size: data.count, mode: 0o644, modified: 0)
        }
        #expect(midFile?.description == "pipe: cannot write: \(String(cString: strerror(EAGAIN)))")
        #expect(writer.bytesWritten > 10)
    }

    #if os(Linux)
        /// Whether the temporary directory's file system drops clean pages (tmpfs keeps them: they are
        /// the file).
        static var pagesCanBeDropped: Bool {
            var type: Int64 = 0
            return cvigil_file_system_type(NSTemporaryDirectory(), &type) == 0 && type != 0x0102_1994
        }

        @Test(
            "writing back as it goes: an archive of six windows keeps about three in the page cache, and reads back whole",
            .enabled(if: pagesCanBeDropped))
        func dropsBehind() throws {
            defer { TestSupport.remove(dir) }
            let window = ArchiveWriter.writebackEvery
            let block = Self.random(1 << 20, seed: 3)
            var data = Data(capacity: 6 * window)
            for index in 0..<(6 * window >> 20) {
                data.append(block)
                data[data.count - 1] = UInt8(truncatingIfNeeded: index)
            }
            let source = dir + "/weights.bin"
            try data.write(to: URL(fileURLWithPath: source))
            let path = dir + "/dropped.tar.gz"
            let bytes = try TestSupport.exportFile(source, to: path, size: data.count).bytes
            let cached = try TestSupport.cachedBytes(of: path, length: bytes)
            // The last window being written, the one before it (writing back) and the tail; not six.
            #expect(cached <= 4 * window, "\(cached >> 20) MiB of \(bytes >> 20) MiB in the page cache")
            let gzip = try TestProcess(["/bin/sh", "-c", "gzip -t \"$0\" && echo ok", path])
            #expect(gzip.exitCode() == 0 && gzip.stdout == "ok", "\(gzip.output)")
        }
    #endif
}
