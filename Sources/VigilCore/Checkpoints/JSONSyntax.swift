/// Checks that bytes are one complete JSON text, without building its values: what a checkpoint's
/// JSON file needs (`trainer_state.json`, an XGBoost model, a metadata sidecar) to count as whole.
/// Accepts what Python's `json` writes besides standard JSON — `NaN`, `Infinity`, `-Infinity` (a
/// transformers log history after a NaN gradient norm) — and nothing else.
enum JSONSyntax {
    /// Nil when `bytes` are one JSON value (surrounded by whitespace only); else what is wrong and where.
    static func problem(in bytes: [UInt8]) -> String? {
        var scanner = Scanner(bytes: bytes)
        do {
            scanner.skipSpace()
            try scanner.value(depth: 0)
            scanner.skipSpace()
            guard scanner.offset == bytes.count else { throw Failure.unexpected(scanner.offset) }
            return nil
        } catch Failure.end {
            return "cut short at byte \(bytes.count)"
        } catch Failure.unexpected(let at) {
            return "unexpected byte at \(at)"
        } catch {
            return "nested too deeply"
        }
    }

    enum Failure: Error {
        case end
        case unexpected(Int)
        case tooDeep
    }

    /// The deepest nesting followed (a recursion bound; real files nest a few levels).
    static let maximumDepth = 512

    struct Scanner {
        let bytes: [UInt8]
        var offset = 0

        mutating func skipSpace() {
            while offset < bytes.count, [0x20, 0x0a, 0x0d, 0x09].contains(bytes[offset]) { offset += 1 }
        }

        func peek() throws -> UInt8 {
            guard offset < bytes.count else { throw Failure.end }
            return bytes[offset]
        }

        mutating func value(depth: Int) throws {
            guard depth < JSONSyntax.maximumDepth else { throw Failure.tooDeep }
            switch try peek() {
            case UInt8(ascii: "{"): try container(close: UInt8(ascii: "}"), keyed: true, depth: depth)
            case UInt8(ascii: "["): try container(close: UInt8(ascii: "]"), keyed: false, depth: depth)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "N"): try literal("NaN")
            case UInt8(ascii: "I"): try literal("Infinity")
            case UInt8(ascii: "-") where offset + 1 < bytes.count && bytes[offset + 1] == UInt8(ascii: "I"):
                offset += 1
                try literal("Infinity")
            default: try number()
            }
        }

        mutating func container(close: UInt8, keyed: Bool, depth: Int) throws {
            offset += 1
            skipSpace()
            if try peek() == close {
                offset += 1
                return
            }
            while true {
                if keyed {
                    guard try peek() == UInt8(ascii: "\"") else { throw Failure.unexpected(offset) }
                    try string()
                    skipSpace()
                    guard try peek() == UInt8(ascii: ":") else { throw Failure.unexpected(offset) }
                    offset += 1
                    skipSpace()
                }
                try value(depth: depth + 1)
                skipSpace()
                let next = try peek()
                offset += 1
                if next == close { return }
                guard next == UInt8(ascii: ",") else { throw Failure.unexpected(offset - 1) }
                skipSpace()
            }
        }

        mutating func string() throws {
            offset += 1
            while true {
                let byte = try peek()
                offset += 1
                switch byte {
                case UInt8(ascii: "\""): return
                case UInt8(ascii: "\\"):
                    let escaped = try peek()
                    offset += 1
                    if escaped == UInt8(ascii: "u") {
                        for _ in 0..<4 {
                            guard (try peek()).isHexDigit else { throw Failure.unexpected(offset) }
                            offset += 1
                        }
                    } else if !Array("\"\\/bfnrt".utf8).contains(escaped) {
                        throw Failure.unexpected(offset - 1)
                    }
                case 0..<0x20: throw Failure.unexpected(offset - 1)
                default: continue
                }
            }
        }

        mutating func literal(_ word: String) throws {
            for expected in word.utf8 {
                guard try peek() == expected else { throw Failure.unexpected(offset) }
                offset += 1
            }
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        mutating func number() throws {
            if try peek() == UInt8(ascii: "-") { offset += 1 }
            guard (try peek()).isDigit else { throw Failure.unexpected(offset) }
            if try peek() == UInt8(ascii: "0") { offset += 1 } else { digits() }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
                offset += 1
                guard (try peek()).isDigit else { throw Failure.unexpected(offset) }
                digits()
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
                offset += 1
                if try peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { offset += 1 }
                guard (try peek()).isDigit else { throw Failure.unexpected(offset) }
                digits()
            }
        }

        mutating func digits() {
            while offset < bytes.count, bytes[offset].isDigit { offset += 1 }
        }
    }
}

extension UInt8 {
    fileprivate var isDigit: Bool { self >= 0x30 && self <= 0x39 }
    fileprivate var isHexDigit: Bool {
        isDigit || (self >= 0x41 && self <= 0x46) || (self >= 0x61 && self <= 0x66)
    }
}
