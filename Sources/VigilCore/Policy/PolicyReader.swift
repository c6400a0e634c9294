import Foundation

/// Reads one object of a policy strictly: every key must be known, every value of the expected type;
/// errors name the file, the key path and what was expected.
struct ObjectReader {
    let file: String
    let path: String
    private let members: [String: JSONValue]
    private var known: [String] = []

    init(_ value: JSONValue, file: String, path: String) throws {
        self.file = file
        self.path = path
        guard case .object(let members) = value else {
            throw VigilError(
                .invalidPolicy, file: file, key: path.isEmpty ? nil : path,
                "expected an object, got \(value.typeName) \(value.preview)")
        }
        self.members = members
    }

    /// The object's keys (for maps with user-chosen keys, such as a schema).
    var memberKeys: [String] { members.keys.sorted() }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func fail(_ key: String, _ message: String) -> VigilError {
        VigilError(.invalidPolicy, file: file, key: keyPath(key), message)
    }

    /// The raw value of `key`, registering the key as known.
    mutating func value(_ key: String) -> JSONValue? {
        known.append(key)
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    mutating func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let s) = value else { throw mismatch(key, "a string", value) }
        return s
    }

    mutating func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let b) = value else { throw mismatch(key, "true or false", value) }
        return b
    }

    mutating func int(_ key: String, min: Int? = nil) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard case .int(let i) = value else { throw mismatch(key, "an integer", value) }
        if let min, i < min { throw fail(key, "expected an integer ≥ \(min), got \(i)") }
        return i
    }

    mutating func number(_ key: String, min: Double? = nil, max: Double? = nil) throws -> Double? {
        guard let value = value(key) else { return nil }
        let d: Double
        switch value {
        case .int(let i): d = Double(i)
        case .double(let x): d = x
        default: throw mismatch(key, "a number", value)
        }
        if let min, d < min { throw fail(key, "expected a number ≥ \(min), got \(d)") }
        if let max, d > max { throw fail(key, "expected a number ≤ \(max), got \(d)") }
        return d
    }

    /// A duration written `90s`, `15m`, `6h`, `1h30m` (or a number of seconds).
    mutating func duration(_ key: String) throws -> Double? {
        guard let value = value(key) else { return nil }
        switch value {
        case .int(let i) where i >= 0: return Double(i)
        case .double(let d) where d >= 0: return d
        case .string(let s):
            if let seconds = DurationFormat.seconds(from: s) { return seconds }
            throw fail(key, "expected a duration like \"90s\", \"15m\", \"6h\" or \"1h30m\", got \"\(s)\"")
        default:
            throw mismatch(key, "a duration like \"90s\", \"15m\", \"6h\" or \"1h30m\"", value)
        }
    }

    /// A size written `100MB`, `64KiB` (or a number of bytes).
    mutating func byteSize(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        switch value {
        case .int(let i) where i >= 0: return i
        case .string(let s):
            if let bytes = ByteSizeFormat.bytes(from: s) { return bytes }
            throw fail(key, "expected a size like \"100MB\" or \"64KiB\", got \"\(s)\"")
        default:
            throw mismatch(key, "a size like \"100MB\" or \"64KiB\"", value)
        }
    }

    /// A list of strings; a single string is taken as a list of one.
    mutating func strings(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        switch value {
        case .string(let s): return [s]
        case .array(let items):
            return try items.enumerated().map { index, item in
                guard case .string(let s) = item else {
                    throw VigilError(
                        .invalidPolicy, file: file, key: "\(keyPath(key))[\(index)]",
                        "expected a string, got \(item.typeName) \(item.preview)")
                }
                return s
            }
        default: throw mismatch(key, "a list of strings", value)
        }
    }

    mutating func object(_ key: String) throws -> ObjectReader? {
        guard let value = value(key) else { return nil }
        return try ObjectReader(value, file: file, path: keyPath(key))
    }

    mutating func array(_ key: String) throws -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else { throw mismatch(key, "a list", value) }
        return items
    }

    /// One of a fixed set of strings.
    mutating func choice(_ key: String, _ choices: [String]) throws -> String? {
        guard let s = try string(key) else { return nil }
        guard choices.contains(s) else {
            throw fail(key, "expected one of \(choices.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(s)\"")
        }
        return s
    }

    func mismatch(_ key: String, _ expected: String, _ value: JSONValue) -> VigilError {
        fail(key, "expected \(expected), got \(value.typeName) \(value.preview)")
    }

    /// Throws for the first key that was never asked for, suggesting the nearest known one.
    func finish() throws {
        for key in members.keys.sorted() where !known.contains(key) {
            var message = "unknown key '\(key)'"
            if let suggestion = Spelling.nearest(key, in: known) {
                message += " (did you mean '\(suggestion)'?)"
            } else {
                message += " (known keys here: \(known.sorted().joined(separator: ", ")))"
            }
            throw VigilError(.invalidPolicy, file: file, key: keyPath(key), message)
        }
    }
}
