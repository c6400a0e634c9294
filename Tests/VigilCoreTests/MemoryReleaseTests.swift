import CVigil
import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// What vigil gives back once an attempt is under way.
@Suite("Memory given back")
struct MemoryReleaseTests {
    #if os(Linux)
        @Test("a release drops the resident read-only pages of the C library too, not only the program's")
        func releaseDropsLibraryPages() throws {
            // Pages spread over libc's never-written segments (its symbol tables, read-only data), each
            // touched now so that it is resident.
            let maps = try Self.readAll("/proc/self/maps")
            var pages: [UInt] = []
            for line in maps.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 6, fields[5].contains("/libc.so"), fields[1] == "r--p" else { continue }
                let bounds = fields[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
                guard bounds.count == 2 else { continue }
                pages += stride(from: bounds[0], to: bounds[1], by: Int(16 * Self.pageSize)).map { $0 }
            }
            try #require(pages.count >= 4, "libc's read-only mappings: \(pages.count) pages to look at")
            // Other tests' threads may touch libc between the release and the count (a touch faults 64
            // KiB back): one release in a few must be seen to leave at most half resident. Without the
            // release of libc's pages, every one leaves them all.
            var seen: [Int] = []
            for _ in 0..<5 {
                var sum = 0
                for page in pages { sum &+= Int(UnsafePointer<UInt8>(bitPattern: page)!.pointee) }
                let before = try Self.resident(pages)
                try #require(
                    before == pages.count, "\(before) of \(pages.count) pages resident after touching them (\(sum))")
                cvigil_release_free_memory()
                seen.append(try Self.resident(pages))
                if seen.last! <= pages.count / 2 { break }
            }
            #expect(
                seen.last! <= pages.count / 2,
                "of \(pages.count) libc pages, \(seen) still resident after each release")
        }

        static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

        /// A /proc file whole (Foundation reads only its first 4 KiB: the file says its size is 0).
        static func readAll(_ path: String) throws -> String {
            let fd = open(path, O_RDONLY)
            try #require(fd >= 0)
            defer { close(fd) }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        /// How many of `pages` are mapped in (the present bit of /proc/self/pagemap).
        static func resident(_ pages: [UInt]) throws -> Int {
            let fd = open("/proc/self/pagemap", O_RDONLY)
            try #require(fd >= 0)
            defer { close(fd) }
            var count = 0
            for page in pages {
                var entry: UInt64 = 0
                let offset = off_t(page / Self.pageSize * 8)
                try #require(pread(fd, &entry, 8, offset) == 8)
                if entry >> 63 == 1 { count += 1 }
            }
            return count
        }
    #endif
}
