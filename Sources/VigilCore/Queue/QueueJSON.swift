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

/// The JSON of `queue.json`, read and written by hand: Foundation's `JSONDecoder` and
/// `JSONSerialization` take 30–40 ms for a queue of 1,000 jobs on Linux (400 ms for 10,000), and the
/// queue is read and rewritten at every pick. This reader pulls values in document order straight
/// into the queue's types, and reports a problem with its line and column.
enum QueueJSON {
    /// What is wrong in a document, and where.
    struct Problem: Error, Sendable, Equatable {
        /// 1-based; 0 when the problem is the document's as a whole.
        var line: Int
        var column: Int
        var message: String

        var description: String { line > 0 ? "line \(line), column \(column): \(message)" : message }
    }

    /// A pull reader over the bytes of one JSON document (a buffer the caller keeps alive: no
    /// bounds-checked array or reference counting on the hot path).
    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0

        init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        /// Runs `body` with a reader over `data`.
        static func read<Result>(_ data: Data, _ body: (inout Reader) throws -> Result) rethrows -> Result {
            try data.withUnsafeBytes { raw in
                var reader = Reader(raw.bindMemory(to: UInt8.self))
                return try body(&reader)
            }
        }

        // MARK: Structure

        /// Reads an object, calling `body` with each key; `body` must read (or skip) the value.
        /// `path` names the object in messages (`jobs[3]`).
        mutating func object(_ path: @autoclosure () -> String, _ body: (inout Reader, String) throws -> Void) throws {
            try expect(UInt8(ascii: "{"), "expected an object for \(path())")
            skipSpace()
            if peek() == UInt8(ascii: "}") {
                offset += 1
                return
            }
            var seen: [String] = []
            while true {
                skipSpace()
                let keyOffset = offset
                let key = try string("a key in \(path())")
                guard !seen.contains(key) else {
                    throw problem(at: keyOffset, "duplicate key '\(key)' in \(path())")
                }
                seen.append(key)
                skipSpace()
                try expect(UInt8(ascii: ":"), "expected ':' after the key '\(key)'")
                skipSpace()
                try body(&self, key)
                skipSpace()
                if try separator(close: UInt8(ascii: "}"), in: path()) { return }
            }
        }

        /// Reads an object whose keys are among `keys`, calling `body` with each key; `body` must read
        /// (or skip) the value. A key is matched on its bytes (no `String` is made for it: 24 keys per
        /// job, 10,000 jobs per `queue list`); a duplicate or unknown key is an error.
        mutating func object<Key>(
            _ path: @autoclosure () -> String, keys: Keys<Key>, _ body: (inout Reader, Key) throws -> Void
        ) throws {
            try expect(UInt8(ascii: "{"), "expected an object for \(path())")
            skipSpace()
            if peek() == UInt8(ascii: "}") {
                offset += 1
                return
            }
            var seen: UInt64 = 0
            var hint = 0
            while true {
                skipSpace()
                let keyOffset = offset
                let found = try key(in: keys, hint: hint, "a key in \(path())")
                guard let index = found.index else {
                    // Said where its value starts, as for any other problem with a member.
                    skipSpace()
                    try expect(UInt8(ascii: ":"), "expected ':' after the key '\(found.text)'")
                    skipSpace()
                    let suggestion = Spelling.nearest(found.text, in: keys.names).map { " (did you mean '\($0)'?)" }
                    throw problem(at: offset, "unknown key '\(found.text)' in \(path())\(suggestion ?? "")")
                }
                guard seen & (1 << UInt64(index)) == 0 else {
                    throw problem(at: keyOffset, "duplicate key '\(keys.names[index])' in \(path())")
                }
                seen |= 1 << UInt64(index)
                hint = index + 1
                skipSpace()
                try expect(UInt8(ascii: ":"), "expected ':' after the key '\(keys.names[index])'")
                skipSpace()
                try body(&self, keys.cases[index])
                skipSpace()
                if try separator(close: UInt8(ascii: "}"), in: path()) { return }
            }
        }

        /// A key: its index in `keys` (looked up from `hint` on: files keep their keys in the order they
        /// were written), or nil with its text.
        private mutating func key<Key>(
            in keys: Keys<Key>, hint: Int, _ what: @autoclosure () -> String
        ) throws -> (
            index: Int?, text: String
        ) {
            guard peek() == UInt8(ascii: "\"") else { throw expected("a string for \(what())") }
            var end = offset + 1
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"),
                bytes[end] >= 0x20
            {
                end += 1
            }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                let key = UnsafeBufferPointer(rebasing: bytes[(offset + 1)..<end])
                offset = end + 1
                if let index = keys.index(of: key, from: hint) { return (index, "") }
                return (nil, String(decoding: key, as: UTF8.self))
            }
            // Escapes, control characters or no end: the string reader says what is wrong, or decodes it.
            let text = try string(what())
            let index = Array(text.utf8).withUnsafeBufferPointer { keys.index(of: $0, from: hint) }
            return (index, text)
        }

        /// Reads an array, calling `body` for each element with its index.
        mutating func array(_ path: @autoclosure () -> String, _ body: (inout Reader, Int) throws -> Void) throws {
            try expect(UInt8(ascii: "["), "expected a list for \(path())")
            skipSpace()
            if peek() == UInt8(ascii: "]") {
                offset += 1
                return
            }
            var index = 0
            while true {
                skipSpace()
                try body(&self, index)
                index += 1
                skipSpace()
                if try separator(close: UInt8(ascii: "]"), in: path()) { return }
            }
        }

        /// After an element: `,` (more follow, false) or the closing bracket (true).
        private mutating func separator(close: UInt8, in path: @autoclosure () -> String) throws -> Bool {
            switch peek() {
            case UInt8(ascii: ","):
                offset += 1
                return false
            case close:
                offset += 1
                return true
            case nil:
                throw problem(at: offset, "the file ends inside \(path()) (cut short?)")
            default:
                throw problem(at: offset, "expected ',' or '\(Character(UnicodeScalar(close)))' in \(path())")
            }
        }

        /// Checks that nothing but white space follows the document.
        mutating func end() throws {
            skipSpace()
            if offset < bytes.count { throw problem(at: offset, "unexpected text after the end of the document") }
        }

        // MARK: Values

        /// Whether the next value is `null` (consumed when it is).
        mutating func null() -> Bool {
            guard offset + 4 <= bytes.count, bytes[offset] == UInt8(ascii: "n"), bytes[offset + 1] == UInt8(ascii: "u"),
                bytes[offset + 2] == UInt8(ascii: "l"), bytes[offset + 3] == UInt8(ascii: "l")
            else { return false }
            offset += 4
            return true
        }

        mutating func bool(_ what: @autoclosure () -> String) throws -> Bool {
            if match("true") { return true }
            if match("false") { return false }
            throw expected("true or false for \(what())")
        }

        /// A number, as a `Double`.
        mutating func number(_ what: @autoclosure () -> String) throws -> Double {
            let start = offset
            if let whole = wholeNumber() { return Double(whole) }
            if peek() == UInt8(ascii: "-") { offset += 1 }
            while let byte = peek(),
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+")
                    || byte == UInt8(ascii: "-")
            {
                offset += 1
            }
            let text = String(decoding: bytes[start..<offset], as: UTF8.self)
            guard offset > start, let value = Double(text), value.isFinite else {
                offset = start
                throw expected("a number for \(what())")
            }
            return value
        }

        /// A number of at most 15 digits with no fraction or exponent (most of the queue file's numbers),
        /// read without making a `String` for `Double(_:)`; nil (and nothing read) for any other.
        private mutating func wholeNumber() -> Int? {
            var index = offset
            let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            let digitsStart = index
            var value = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39, index - digitsStart < 15 {
                value = value * 10 + Int(bytes[index] - 0x30)
                index += 1
            }
            guard index > digitsStart else { return nil }
            if index < bytes.count {
                switch bytes[index] {
                case 0x30...0x39, UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"),
                    UInt8(ascii: "-"):
                    return nil
                default: break
                }
            }
            // JSON has no leading zeros ("007"); let the general reader (and `Double`) judge those.
            if index - digitsStart > 1, bytes[digitsStart] == 0x30 { return nil }
            offset = index
            return negative ? -value : value
        }

        /// A whole number.
        mutating func integer(_ what: @autoclosure () -> String) throws -> Int {
            let start = offset
            let value = try number(what())
            guard value == value.rounded(), abs(value) < 1e15 else {
                throw problem(at: start, "expected a whole number for \(what())")
            }
            return Int(value)
        }

        mutating func string(_ what: @autoclosure () -> String) throws -> String {
            guard peek() == UInt8(ascii: "\"") else { throw expected("a string for \(what())") }
            let start = offset
            offset += 1
            let contentStart = offset
            // The common case: no escapes; the bytes are the string.
            while offset < bytes.count {
                let byte = bytes[offset]
                if byte == UInt8(ascii: "\"") {
                    let text = String(decoding: bytes[contentStart..<offset], as: UTF8.self)
                    offset += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw problem(at: offset, "a control character inside a string (\(what()))") }
                offset += 1
            }
            guard offset < bytes.count else { throw problem(at: start, "a string that never ends (\(what()))") }
            return try escapedString(from: contentStart, what: what)
        }

        /// The rest of a string that has escapes in it, from its first byte.
        private mutating func escapedString(from contentStart: Int, what: () -> String) throws -> String {
            var out = Array(bytes[contentStart..<offset])
            while offset < bytes.count {
                let byte = bytes[offset]
                offset += 1
                switch byte {
                case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"): try unescape(into: &out, what: what)
                case 0..<0x20: throw problem(at: offset - 1, "a control character inside a string (\(what()))")
                default: out.append(byte)
                }
            }
            throw problem(at: contentStart - 1, "a string that never ends (\(what()))")
        }

        private mutating func unescape(into out: inout [UInt8], what: () -> String) throws {
            guard let escape = peek() else { throw problem(at: offset, "a string that never ends (\(what()))") }
            offset += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(what)
                if (0xD800..<0xDC00).contains(scalar), match("\\u") {
                    let low = try hex4(what)
                    guard (0xDC00..<0xE000).contains(low) else {
                        throw problem(at: offset - 6, "an unpaired surrogate in a string (\(what()))")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else {
                    throw problem(at: offset - 6, "an unpaired surrogate in a string (\(what()))")
                }
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            default:
                throw problem(at: offset - 2, "an unknown escape in a string (\(what()))")
            }
        }

        private mutating func hex4(_ what: () -> String) throws -> UInt32 {
            guard offset + 4 <= bytes.count,
                let value = UInt32(String(decoding: bytes[offset..<offset + 4], as: UTF8.self), radix: 16)
            else { throw problem(at: offset, "expected four hexadecimal digits after \\u (\(what()))") }
            offset += 4
            return value
        }

        mutating func strings(_ what: @autoclosure () -> String) throws -> [String] {
            var out: [String] = []
            try array(what()) { reader, index in out.append(try reader.string("\(what())[\(index)]")) }
            return out
        }

        // MARK: Bytes

        func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func skipSpace() {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x0A, 0x0D, 0x09: offset += 1
                default: return
                }
            }
        }

        private mutating func match(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard offset + count <= bytes.count,
                memcmp(bytes.baseAddress! + offset, word.utf8Start, count) == 0
            else { return false }
            offset += count
            return true
        }

        /// `message` is made only when it is needed: this runs at every key and value.
        private mutating func expect(_ byte: UInt8, _ message: @autoclosure () -> String) throws {
            skipSpace()
            guard peek() == byte else {
                throw problem(at: offset, peek() == nil ? message() + " (the file ends here: cut short?)" : message())
            }
            offset += 1
        }

        /// "expected X" here; at the end of the bytes, said to be cut short.
        func expected(_ what: String) -> Problem {
            problem(at: offset, "expected \(what)" + (offset >= bytes.count ? " (the file ends here: cut short?)" : ""))
        }

        /// A problem at byte `at`, with its line and column (1-based, in characters).
        func problem(at: Int, _ message: String) -> Problem {
            var line = 1
            var lineStart = 0
            for index in 0..<min(at, bytes.count) where bytes[index] == 0x0A {
                line += 1
                lineStart = index + 1
            }
            let column = String(decoding: bytes[lineStart..<min(at, bytes.count)], as: UTF8.self).count + 1
            return Problem(line: line, column: column, message: message)
        }
    }

    /// The keys an object of the queue file may have (the cases of `Key`, spelled by their raw
    /// values), each matched by its UTF-8 bytes.
    struct Keys<Key: RawRepresentable & CaseIterable & Sendable>: Sendable where Key.RawValue == String {
        let cases: [Key]
        let names: [String]
        private let utf8: [[UInt8]]

        init() {
            cases = Array(Key.allCases)
            precondition(cases.count <= 64, "a key set is a 64-bit mask")
            names = cases.map(\.rawValue)
            utf8 = names.map { Array($0.utf8) }
        }

        /// The index of the key spelled `bytes`, searched from `start` on, then from the beginning.
        func index(of bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
            let count = utf8.count
            for step in 0..<count {
                let index = (start + step) % count
                let name = utf8[index]
                guard name.count == bytes.count else { continue }
                if name.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) {
                    return index
                }
            }
            return nil
        }
    }
}

extension JSONTextWriter {
    /// Unix seconds with milliseconds, the queue file's times.
    mutating func time(_ date: Date) {
        number((date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    mutating func time(_ name: String, _ value: Date?) {
        guard let value else { return }
        key(name)
        time(value)
    }
}

extension QueueJSON.Reader {
    /// A time: Unix seconds.
    mutating func time(_ what: @autoclosure () -> String) throws -> Date {
        Date(timeIntervalSince1970: try number(what()))
    }

    /// An object of string values, in document order.
    mutating func stringPairs(_ what: @autoclosure () -> String) throws -> [(String, String)] {
        var pairs: [(String, String)] = []
        try object(what()) { reader, key in pairs.append((key, try reader.string("\(what()).\(key)"))) }
        return pairs
    }
}
