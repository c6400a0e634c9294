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

/// POSIX ustar headers, written and read: 512-byte blocks with octal fields, and PAX extended headers
/// (`x`) for what ustar cannot hold — a path longer than its 100 + 155 bytes, a size of 8 GiB or more.
enum TarHeader {
    static let blockSize = 512
    /// ustar's 11 octal digits.
    static let largestOctalSize = 0o77777777777

    /// The header blocks for one entry: a PAX header (and its records) when needed, then the ustar header.
    static func blocks(name: String, size: Int, mode: mode_t, modified: Int, type: UInt8) -> [[UInt8]] {
        var records: [(String, String)] = []
        let split = ustarSplit(name)
        if split == nil { records.append(("path", name)) }
        if size > largestOctalSize { records.append(("size", String(size))) }
        var blocks: [[UInt8]] = []
        if !records.isEmpty {
            let data = Array(records.map { paxRecord($0.0, $0.1) }.joined().utf8)
            let base =
                (name.hasSuffix("/") ? String(name.dropLast()) : name).split(separator: "/").last.map(String.init)
                ?? "entry"
            let paxName = "PaxHeader/" + String(decoding: Array(base.utf8).prefix(80), as: UTF8.self)
            blocks.append(
                ustar(name: paxName, prefix: "", size: data.count, mode: 0o644, modified: modified, type: 0x78))
            var padded = data
            padded += [UInt8](repeating: 0, count: (blockSize - data.count % blockSize) % blockSize)
            for start in stride(from: 0, to: padded.count, by: blockSize) {
                blocks.append(Array(padded[start..<(start + blockSize)]))
            }
        }
        let (prefix, short) = split ?? ("", String(decoding: Array(name.utf8).suffix(99), as: UTF8.self))
        blocks.append(
            ustar(
                name: short, prefix: prefix, size: min(size, largestOctalSize), mode: mode, modified: modified,
                type: type))
        return blocks
    }

    /// `path` as ustar's (prefix, name): the name ≤ 100 bytes, the prefix ≤ 155, split at a slash; nil
    /// when it cannot be.
    static func ustarSplit(_ path: String) -> (String, String)? {
        let bytes = Array(path.utf8)
        if bytes.count <= 100 { return ("", path) }
        for index in bytes.indices.reversed() where bytes[index] == UInt8(ascii: "/") {
            let prefix = bytes[..<index]
            let name = bytes[(index + 1)...]
            if prefix.count <= 155 && name.count <= 100 && !name.isEmpty {
                return (String(decoding: prefix, as: UTF8.self), String(decoding: name, as: UTF8.self))
            }
        }
        return nil
    }

    /// `LEN key=value\n`, where LEN counts the whole record, its own digits included.
    static func paxRecord(_ key: String, _ value: String) -> String {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).count + body.utf8.count != length { length = String(length).count + body.utf8.count }
        return String(length) + body
    }

    static func ustar(name: String, prefix: String, size: Int, mode: mode_t, modified: Int, type: UInt8) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        func put(_ text: String, at offset: Int, width: Int) {
            for (index, byte) in text.utf8.prefix(width).enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            let digits = String(max(0, value), radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits, at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(Int(mode & 0o7777), at: 100, width: 8)
        octal(0, at: 108, width: 8)  // uid
        octal(0, at: 116, width: 8)  // gid
        octal(size, at: 124, width: 12)
        octal(min(max(0, modified), largestOctalSize), at: 136, width: 12)
        block[156] = type
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        put(prefix, at: 345, width: 155)
        for index in 148..<156 { block[index] = 0x20 }
        let sum = block.reduce(0) { $0 + Int($1) }
        let digits = String(sum, radix: 8)
        put(String(repeating: "0", count: max(0, 6 - digits.count)) + digits, at: 148, width: 6)
        block[154] = 0
        block[155] = 0x20
        return block
    }

    // MARK: - Reading

    /// A header block read back.
    struct Parsed {
        var name: String
        var size: Int
        var type: UInt8
        var mode: Int
    }

    enum ReadResult {
        case end
        case entry(Parsed)
        case invalid(String)
    }

    /// Parses one header block (a zero block is the end of the archive).
    static func parse(_ block: [UInt8]) -> ReadResult {
        guard block.count == blockSize else { return .invalid("a header block cut short") }
        if block.allSatisfy({ $0 == 0 }) { return .end }
        guard Array(block[257..<262]) == Array("ustar".utf8) else {
            return .invalid("a header without the ustar magic: not a tar header")
        }
        var check = block
        for index in 148..<156 { check[index] = 0x20 }
        let unsigned = check.reduce(0) { $0 + Int($1) }
        let signed = check.reduce(0) { $0 + Int(Int8(bitPattern: $1)) }
        guard let recorded = octal(block[148..<156]), recorded == unsigned || recorded == signed else {
            return .invalid("a header checksum does not match")
        }
        guard let size = number(block[124..<136]), let mode = octal(block[100..<108]) else {
            return .invalid("a header has no valid size or mode")
        }
        let name = text(block[0..<100])
        let prefix = text(block[345..<500])
        return .entry(
            Parsed(name: prefix.isEmpty ? name : prefix + "/" + name, size: size, type: block[156], mode: mode))
    }

    /// A NUL-terminated field.
    static func text(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An octal field (spaces and NULs around it allowed).
    static func octal(_ bytes: ArraySlice<UInt8>) -> Int? {
        let digits = bytes.drop { $0 == 0x20 }.prefix { $0 >= 0x30 && $0 <= 0x37 }
        guard !digits.isEmpty, digits.count <= 21 else {
            return digits.isEmpty && bytes.allSatisfy { $0 == 0 } ? 0 : nil
        }
        return digits.reduce(0) { $0 * 8 + Int($1 - 0x30) }
    }

    /// A size: octal, or GNU's base-256 (the high bit of the first byte set).
    static func number(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard let first = bytes.first, first & 0x80 != 0 else { return octal(bytes) }
        guard first == 0x80 else { return nil }  // negative or too large
        var value = 0
        for byte in bytes.dropFirst() {
            guard value <= Int.max >> 8 else { return nil }
            value = value << 8 | Int(byte)
        }
        return value
    }

    /// A PAX header's records: `key=value` pairs.
    static func paxRecords(_ data: [UInt8]) -> [String: String]? {
        var records: [String: String] = [:]
        var index = 0
        while index < data.count {
            guard let space = data[index...].firstIndex(of: 0x20),
                let length = Int(String(decoding: data[index..<space], as: UTF8.self)), length > 0,
                index + length <= data.count, data[index + length - 1] == 0x0A
            else { return nil }
            let record = data[(space + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            records[String(decoding: record[..<equals], as: UTF8.self)] = String(
                decoding: record[(equals + 1)...], as: UTF8.self)
            index += length
        }
        return records
    }
}
