#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Appends JSON text to a byte buffer, by hand: what a file written often (the queue file, `queue list
/// --json`, `metrics.jsonl` a line per metrics line) would otherwise spend in `JSONEncoder`, most of
/// the CPU of writing it. Objects are written on one line: `beginObject()`, then a call per member,
/// then `endObject()`; members in the order they are written (sorted keys are the caller's order).
/// Numbers read the way `JSONEncoder` writes them.
struct JSONTextWriter {
    var bytes: [UInt8] = []
    /// Per open object: whether no member has been written yet.
    private var firstMember: [Bool] = []
    /// `,` and `:` alone (as `JSONEncoder` writes), or followed by a space.
    private let compact: Bool

    init(capacity: Int = 256, compact: Bool = false) {
        self.compact = compact
        bytes.reserveCapacity(capacity)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    mutating func beginObject() {
        bytes.append(UInt8(ascii: "{"))
        firstMember.append(true)
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        firstMember.removeLast()
    }

    /// `"name":` (after a `,` unless it is the object's first member).
    mutating func key(_ name: String) {
        if firstMember[firstMember.count - 1] {
            firstMember[firstMember.count - 1] = false
        } else {
            bytes.append(UInt8(ascii: ","))
            if !compact { bytes.append(UInt8(ascii: " ")) }
        }
        string(name)
        bytes.append(UInt8(ascii: ":"))
        if !compact { bytes.append(UInt8(ascii: " ")) }
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in  // contiguous bytes: no generic walk over the UTF-8 view
            bytes.append(UInt8(ascii: "\""))
            var plain = true
            for byte in utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                plain = false
                break
            }
            if plain {
                bytes.append(contentsOf: utf8)
            } else {
                for byte in utf8 { escape(byte) }
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): raw("\\\"")
        case UInt8(ascii: "\\"): raw("\\\\")
        case 0x0A: raw("\\n")
        case 0x0D: raw("\\r")
        case 0x09: raw("\\t")
        case 0..<0x20:
            let hex = String(byte, radix: 16)
            raw("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
        default: bytes.append(byte)
        }
    }

    /// A finite number as `JSONEncoder` writes it: the shortest text that reads back the same, without
    /// a trailing `.0` (`3`, `0.42`, `1e-05`, `1e+16`).
    mutating func number(_ value: Double) {
        let text = value.description
        if text.hasSuffix(".0") {
            raw(String(text.dropLast(2)))
        } else {
            raw(text)
        }
    }

    mutating func integer(_ value: Int) { raw(String(value)) }

    mutating func strings(_ values: [String]) {
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { raw(compact ? "," : ", ") }
            string(value)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    // Members: each writes `"name": value`, and nothing for a nil value.

    mutating func string(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    mutating func number(_ name: String, _ value: Double?) {
        guard let value else { return }
        key(name)
        number(value)
    }

    mutating func integer(_ name: String, _ value: Int?) {
        guard let value else { return }
        key(name)
        integer(value)
    }

    mutating func bool(_ name: String, _ value: Bool?) {
        guard let value else { return }
        key(name)
        raw(value ? "true" : "false")
    }

    mutating func strings(_ name: String, _ value: [String]?) {
        guard let value else { return }
        key(name)
        strings(value)
    }

    mutating func null(_ name: String) {
        key(name)
        raw("null")
    }
}
