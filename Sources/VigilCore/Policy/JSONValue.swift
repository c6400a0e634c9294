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

/// A JSON/JSON5 document as plain values, decoded with Foundation's `JSONDecoder` (`allowsJSON5`).
public enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            self = try JSONValue.listOrObject(container, decoder.codingPath)
        }
    }

    /// A list or an object. An error inside one (an unreadable number deep down) goes up as it is; a value that is
    /// neither, at this very level, can only be a number no type holds (`1e400`, a hexadecimal integer beyond 64
    /// bits), since the locator has checked the syntax.
    private static func listOrObject(_ container: SingleValueDecodingContainer, _ path: [CodingKey]) throws -> JSONValue
    {
        func isHere(_ context: DecodingError.Context) -> Bool { context.codingPath.count == path.count }
        do {
            return .array(try container.decode([JSONValue].self))
        } catch DecodingError.typeMismatch(_, let context) where isHere(context) {
            do {
                return .object(try container.decode([String: JSONValue].self))
            } catch DecodingError.typeMismatch(_, let context) where isHere(context) {
                throw UnreadableNumber(codingPath: path)
            }
        }
    }

    /// A number too large for an `Int` or a `Double`, where it is in the document.
    struct UnreadableNumber: Error {
        var codingPath: [any CodingKey]

        /// `rules[0].repairs[1].add`, as policy errors name keys.
        var keyPath: String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue, key.stringValue == "Index \(index)" {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text
        }
    }

    /// Parses JSON5 text; on a syntax error or a duplicate key, finds the line and column Foundation does not
    /// report.
    public static func parseJSON5(_ data: Data, file: String) throws -> JSONValue {
        // The locator runs first: it gives line and column, and it rejects malformed numbers such as
        // `1.5e+` that Foundation's JSON5 reader turns into a silent integer.
        let text = String(decoding: data, as: UTF8.self)
        if let issue = JSON5Locator.firstIssue(in: text) {
            throw VigilError(
                .invalidPolicy, file: file,
                "syntax error at line \(issue.line), column \(issue.column): \(issue.message)")
        }
        // Foundation keeps the last of duplicate keys silently; the earlier value would be ignored unseen.
        if let duplicate = JSON5Locator.firstDuplicateKey(in: text) {
            throw VigilError(
                .invalidPolicy, file: file, key: duplicate.path,
                "duplicate key '\(duplicate.key)' at line \(duplicate.line), column \(duplicate.column) (already set "
                    + "at line \(duplicate.firstLine), column \(duplicate.firstColumn)): a key may appear only once in an object"
            )
        }
        let decoder = JSONDecoder()
        decoder.allowsJSON5 = true
        // Foundation's JSON5 reader looks past the end of its buffer after a bare integer too large for
        // `Int` that ends the text (and traps when what follows in memory is digits: found by fuzzing);
        // a newline after the text keeps it inside.
        var terminated = data
        terminated.append(0x0A)
        do {
            return try decoder.decode(JSONValue.self, from: terminated)
        } catch let error as UnreadableNumber {
            throw VigilError(
                .invalidPolicy, file: file, key: error.keyPath.isEmpty ? nil : error.keyPath,
                "expected a number that can be read, got one beyond ±1.8e308 (or a hexadecimal integer beyond 64 bits)")
        } catch {
            throw VigilError(.invalidPolicy, file: file, "not valid JSON5 (\(error))")
        }
    }

    /// A short name of the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    /// The value as it would be written, shortened, for error messages.
    public var preview: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? String(d) : PolicyRanges.text(d)  // NaN, Infinity as JSON5 writes them
        case .string(let s): return "\"\(s.count > 40 ? s.prefix(40) + "…" : s)\""
        case .array(let a): return "[…\(a.count) items]"
        case .object: return "{…}"
        }
    }

    /// `other` laid over `self`: objects merge key by key (recursively), anything else is replaced.
    public func merging(_ other: JSONValue) -> JSONValue {
        guard case .object(var base) = self, case .object(let top) = other else { return other }
        for (key, value) in top {
            base[key] = base[key].map { $0.merging(value) } ?? value
        }
        return .object(base)
    }

    /// Renders the value as JSON (sorted keys, two-space indent).
    public func rendered(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .null, .bool, .int, .double:
            return preview
        case .string(let s):
            let data = try? JSONEncoder().encode(s)
            return data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        case .array(let items):
            if items.isEmpty { return "[]" }
            if items.allSatisfy({ if case .object = $0 { return false } else { return true } }) {
                return "[" + items.map { $0.rendered(indent: inner) }.joined(separator: ", ") + "]"
            }
            return "[\n" + items.map { inner + $0.rendered(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            let body = members.keys.sorted().map { key in
                "\(inner)\(JSONValue.string(key).rendered()): \(members[key]!.rendered(indent: inner))"
            }
            return "{\n" + body.joined(separator: ",\n") + "\n\(indent)}"
        }
    }
}

extension JSONValue: Encodable {
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let v): try container.encode(v)
        case .int(let v): try container.encode(v)
        case .double(let v): try container.encode(v)
        case .string(let v): try container.encode(v)
        case .array(let v): try container.encode(v)
        case .object(let v): try container.encode(v)
        }
    }

    /// `data` read as strict JSON, or nil when it is not JSON.
    public static func parse(_ data: Data) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// This value as compact JSON with its keys sorted (and `/` not escaped); nil for a number JSON cannot
    /// write (NaN, an infinity).
    public func jsonText(pretty: Bool = false) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) }
    }
}
