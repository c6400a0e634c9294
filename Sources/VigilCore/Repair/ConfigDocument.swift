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

/// A scalar in a trainer's config file.
public enum ConfigValue: Sendable, Equatable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .bool(let v): return String(v)
        case .string(let v): return v
        }
    }

    /// The value as a number, when it is one.
    public var number: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }
}

/// The formats Vigil can read and edit, told by the file's extension.
public enum ConfigFormat: String, Sendable, CaseIterable {
    case json, yaml, toml, ini, env

    /// `.json`, `.yaml`/`.yml`, `.toml`, `.ini`/`.cfg`/`.conf`, `.env` (also a file named `.env`).
    public init?(path: String) {
        let name = Path.lastComponent(path).lowercased()
        if name == ".env" || name.hasSuffix(".env") {
            self = .env
            return
        }
        switch Path.pathExtension(name) {
        case "json": self = .json
        case "yaml", "yml": self = .yaml
        case "toml": self = .toml
        case "ini", "cfg", "conf": self = .ini
        default: return nil
        }
    }
}

/// A parsed config file that can be edited without disturbing anything else in it: comments,
/// order, indentation and quoting stay byte for byte; only the edited value's text changes.
/// Keys are dotted paths (`training.batch_size`); for INI the first component is the section,
/// for `.env` a key has no dots.
public protocol ConfigDocument: Sendable {
    /// The file's text as parsed.
    var text: String { get }
    /// Every scalar key, dotted, in file order.
    var keys: [String] { get }
    /// The value at `key`, or nil when absent (or not a scalar).
    func value(at key: String) -> ConfigValue?
    /// The file's text with `key`'s value replaced by `value`, written in the file's own style
    /// (a quoted string stays quoted with the same quotes; a number stays a bare number, and a float that replaces
    /// a float keeps its exponent or plain form).
    /// Adds the key (in its section or table, creating it at the end if needed) when absent.
    /// Throws `VigilError(.invalidConfig, …)` when the key's path runs through a non-mapping.
    func setting(_ key: String, to value: ConfigValue) throws -> String
}

/// Opens config documents by format.
public enum ConfigFile {
    /// Parses `text` (of the file at `path`, for messages) in `format`. Syntax errors throw
    /// `VigilError(.invalidConfig, file: path, …)` naming the line (and key when known).
    public static func parse(_ text: String, format: ConfigFormat, path: String) throws -> any ConfigDocument {
        switch format {
        case .json: return try JSONConfigDocument(text: text, path: path)
        case .yaml: return try YAMLConfigDocument(text: text, path: path)
        case .toml: return try TOMLConfigDocument(text: text, path: path)
        case .ini: return try INIConfigDocument(text: text, path: path, format: .ini)
        case .env: return try INIConfigDocument(text: text, path: path, format: .env)
        }
    }
}
