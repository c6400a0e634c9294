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

/// SHA-256 (FIPS 180-4) without CryptoKit, which Linux lacks: used to verify `NAME.sha256` sidecars and to
/// fingerprint the trainer's config in the journal.
///
/// Feed bytes with `update(_:)` any number of times, then call `finalize()` once for the 32-byte digest.
/// The compression runs on the CPU's SHA instructions where it has them (x86-64 SHA-NI, in CVigil), else
/// in Swift on raw pointers (no array bounds checks), a few hundred MB/s in release builds.
public struct SHA256: Sendable {
    /// The eight working hash words H0…H7.
    private var state: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]
    /// A partial block waiting for more input (only the first `buffered` bytes are meaningful).
    private var block = [UInt8](repeating: 0, count: 64)
    private var buffered = 0
    /// Total number of message bytes fed so far.
    private var length: UInt64 = 0

    /// A hasher with the initial state; feed it with `update(_:)`.
    public init() {}

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var input = bytes.baseAddress, bytes.count > 0 else { return }
        var remaining = bytes.count
        length &+= UInt64(remaining)
        if buffered > 0 {
            let take = min(64 - buffered, remaining)
            let offset = buffered
            block.withUnsafeMutableBytes { ($0.baseAddress! + offset).copyMemory(from: input, byteCount: take) }
            buffered += take
            input += take
            remaining -= take
            guard buffered == 64 else { return }
            block.withUnsafeBytes { compress($0.baseAddress!, blocks: 1) }
            buffered = 0
        }
        let whole = remaining / 64
        if whole > 0 {
            compress(input, blocks: whole)
            input += whole * 64
            remaining -= whole * 64
        }
        if remaining > 0 {
            block.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: input, byteCount: remaining) }
            buffered = remaining
        }
    }

    /// Adds the bytes of `data` to the message.
    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// Pads the message and returns its 32-byte digest. The hasher must not be used afterwards.
    public mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        // 0x80, zeros up to 56 mod 64, then the 64-bit big-endian message length in bits.
        let padLength = buffered < 56 ? 56 - buffered : 120 - buffered
        var tail = [UInt8](repeating: 0, count: padLength + 8)
        tail[0] = 0x80
        for i in 0..<8 {
            tail[padLength + i] = UInt8(truncatingIfNeeded: bitLength >> (56 - 8 * UInt64(i)))
        }
        tail.withUnsafeBytes { update($0) }
        var digest = [UInt8](repeating: 0, count: 32)
        for (i, word) in state.enumerated() {
            digest[4 * i] = UInt8(truncatingIfNeeded: word >> 24)
            digest[4 * i + 1] = UInt8(truncatingIfNeeded: word >> 16)
            digest[4 * i + 2] = UInt8(truncatingIfNeeded: word >> 8)
            digest[4 * i + 3] = UInt8(truncatingIfNeeded: word)
        }
        return digest
    }

    /// The lowercase hex SHA-256 of `data`.
    public static func hex(of data: Data) -> String {
        var hasher = SHA256()
        hasher.update(data)
        return hexString(hasher.finalize())
    }

    /// The lowercase hex SHA-256 of the regular file at `path`, read in 1 MiB chunks (never loaded whole).
    /// A symbolic link is not followed.
    ///
    /// - Throws: `VigilError(.io)` naming the file when it cannot be opened or read, or is not a regular file.
    public static func hex(ofFile path: String) throws -> String {
        // O_NONBLOCK only keeps open() from hanging on a FIFO; it does not affect regular files.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP {
                throw VigilError(.io, file: path, "is a symbolic link; it is not followed, so it cannot be hashed.")
            }
            throw VigilError(.io, file: path, "cannot open for hashing: \(String(cString: strerror(code))).")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw VigilError(.io, file: path, "cannot stat for hashing: \(String(cString: strerror(errno))).")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw VigilError(.io, file: path, "is not a regular file, so it cannot be hashed.")
        }
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        while true {
            let count = read(fd, buffer, chunk)
            if count == 0 { break }
            if count < 0 {
                let code = errno
                if code == EINTR || code == EAGAIN { continue }
                throw VigilError(.io, file: path, "cannot read for hashing: \(String(cString: strerror(code))).")
            }
            hasher.update(UnsafeRawBufferPointer(start: buffer, count: count))
        }
        return hexString(hasher.finalize())
    }

    /// A deterministic lowercase hex SHA-256 of a directory tree.
    ///
    /// Every regular file below `path` (symbolic links are never followed, and neither they nor sockets,
    /// FIFOs or devices contribute) is listed by its path relative to `path`, sorted by UTF-8 bytes; the
    /// digest is the SHA-256 of the concatenated records `RELPATH NUL SIZE NUL CONTENTHEX LF`, where SIZE
    /// is the decimal byte count and CONTENTHEX the file's own hex SHA-256.
    ///
    /// - Throws: `VigilError(.io)` when the directory or a file inside cannot be read.
    public static func hex(ofDirectory path: String) throws -> String {
        var files: [(relative: String, size: UInt64)] = []
        try collectRegularFiles(root: path, relative: "", into: &files)
        files.sort { $0.relative.utf8.lexicographicallyPrecedes($1.relative.utf8) }
        var hasher = SHA256()
        for file in files {
            let record = "\(file.relative)\u{0}\(file.size)\u{0}\(try hex(ofFile: path + "/" + file.relative))\n"
            Array(record.utf8).withUnsafeBytes { hasher.update($0) }
        }
        return hexString(hasher.finalize())
    }

    // MARK: - Internals

    private static func collectRegularFiles(
        root: String, relative: String, into files: inout [(relative: String, size: UInt64)]
    ) throws {
        let directory = relative.isEmpty ? root : root + "/" + relative
        var info = stat()
        guard lstat(directory, &info) == 0 else {
            throw VigilError(.io, file: directory, "cannot stat for hashing: \(String(cString: strerror(errno))).")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw VigilError(.io, file: directory, "is not a directory (symbolic links are not followed).")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw VigilError(.io, file: directory, "cannot list for hashing: \(errorText(error, path: directory))")
        }
        for name in names {
            let childRelative = relative.isEmpty ? name : relative + "/" + name
            var child = stat()
            guard lstat(root + "/" + childRelative, &child) == 0 else {
                let message = String(cString: strerror(errno))
                throw VigilError(.io, file: root + "/" + childRelative, "cannot stat for hashing: \(message).")
            }
            switch child.st_mode & S_IFMT {
            case S_IFREG: files.append((childRelative, UInt64(child.st_size)))
            case S_IFDIR: try collectRegularFiles(root: root, relative: childRelative, into: &files)
            default: continue  // symbolic links, FIFOs, sockets, devices
            }
        }
    }

    static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func compress(_ data: UnsafeRawPointer, blocks: Int) {
        state.withUnsafeMutableBufferPointer { words in
            // The CPU's SHA instructions where it has them (x86-64 SHA-NI: ~2 GB/s against ~250 MB/s here),
            // so that hashing a checkpoint keeps up with the disk.
            if cvigil_sha256_blocks(words.baseAddress!, data, blocks) != 0 { return }
            SHA256.roundConstants.withUnsafeBufferPointer { constants in
                withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { schedule in
                    SHA256.compress(
                        words.baseAddress!, data, blocks: blocks, k: constants.baseAddress!, w: schedule.baseAddress!)
                }
            }
        }
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x &>> n) | (x &<< (32 &- n))
    }

    private static func compress(
        _ h: UnsafeMutablePointer<UInt32>, _ data: UnsafeRawPointer, blocks: Int,
        k: UnsafePointer<UInt32>, w: UnsafeMutablePointer<UInt32>
    ) {
        var block = data
        for _ in 0..<blocks {
            for i in 0..<16 {
                w[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))
            }
            for i in 16..<64 {
                let x = w[i &- 15]
                let y = w[i &- 2]
                let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x &>> 3)
                let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y &>> 10)
                w[i] = w[i &- 16] &+ s0 &+ w[i &- 7] &+ s1
            }
            var a = h[0], b = h[1], c = h[2], d = h[3]
            var e = h[4], f = h[5], g = h[6], hh = h[7]
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                hh = g
                g = f
                f = e
                e = d &+ t1
                d = c
                c = b
                b = a
                a = t1 &+ t2
            }
            h[0] &+= a
            h[1] &+= b
            h[2] &+= c
            h[3] &+= d
            h[4] &+= e
            h[5] &+= f
            h[6] &+= g
            h[7] &+= hh
            block += 64
        }
    }

    private static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]
}
