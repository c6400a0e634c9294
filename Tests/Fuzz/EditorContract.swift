// The config editors' contract (docs/policy.md, "What an edit changes"), checked on arbitrary text by the
// yaml, toml, json and ini fuzz targets. A text that parses is probed key by key: every listed key has a
// value, and every edit that succeeds gives a text that parses again, where the key reads back the value
// set and every other key keeps its value. Errors (a syntax error, a value the format cannot write) are
// fine; a broken contract is a `fatalError` here, in the fuzz target only, so that libFuzzer saves the input.
import Foundation

@testable import VigilCore

/// Runs the contract on the fuzzer's bytes (as UTF-8, the way Vigil reads a config) in `formats`.
func checkEditorContract(_ data: UnsafePointer<UInt8>, _ size: Int, formats: [ConfigFormat]) {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for format in formats {
        EditorContract(text: text, format: format).check()
    }
}

/// One text in one format, and the probes run on it.
struct EditorContract {
    let text: String
    let format: ConfigFormat
    var path: String { format == .env ? ".env" : "fuzz.\(format.rawValue)" }

    /// The values each key is set to: integers (negative, the extremes), floats (an exponent, the largest
    /// magnitudes), strings a format must quote or escape (or that look quoted, padded, empty, commented), booleans.
    static let probes: [ConfigValue] = [
        .int(42), .int(-7), .int(Int.max), .int(Int.min), .double(0.5), .double(-2.5e-7), .double(1e300),
        .string("it's \"quoted\" \\ here"), .string("two\nlines"), .string("ünï ☃ 🚀 \u{1}"), .string("'both ends'"),
        .string(" padded "), .string(""), .string("#hash"), .bool(true), .bool(false),
    ]
    /// At most this many keys are probed, so that one input stays fast.
    static let maxKeys = 16

    func check() {
        guard let document = try? ConfigFile.parse(text, format: format, path: path) else { return }
        guard document.text == text else { fail("the document's text is not the text parsed", document.text) }
        let keys = Array(document.keys.prefix(Self.maxKeys))
        var before: [String: ConfigValue] = [:]
        for key in keys {
            guard let value = document.value(at: key) else { fail("listed key '\(key)' has no value", text) }
            before[key] = value
        }
        let added = format == .env ? ["FUZZ_ADDED"] : ["fuzz_added", "fuzz.added.key"]
        for key in keys {
            for value in Self.probes { probe(document, key, value, before) }
        }
        for key in added where document.value(at: key) == nil {
            for value in [ConfigValue.int(42), .string("it's \"quoted\"")] { probe(document, key, value, before) }
        }
    }

    /// Sets `key` to `value`; when the editor writes it, the result must parse and read back.
    func probe(_ document: any ConfigDocument, _ key: String, _ value: ConfigValue, _ before: [String: ConfigValue]) {
        guard let edited = try? document.setting(key, to: value) else { return }
        let context = "set '\(key)' to \(value.debugDescription)"
        let reparsed: any ConfigDocument
        do {
            reparsed = try ConfigFile.parse(edited, format: format, path: path)
        } catch {
            fail("\(context): the edited text does not parse (\(error))", edited)
        }
        let got = reparsed.value(at: key)
        guard Self.readsBack(got, value) || Self.readsUnquoted(got, value, format) else {
            fail("\(context): reads back \(got.debugDescription)", edited)
        }
        for (other, old) in before where !Self.sameKey(other, key, format) {
            let now = reparsed.value(at: other)
            guard now == old || Self.bothNaN(now, old) else {
                fail("\(context): '\(other)' changed from \(old.debugDescription) to \(now.debugDescription)", edited)
            }
        }
    }

    /// Whether `got` is `value` as the editor may write it: the value itself, or, in a slot whose quotes are
    /// kept ("a value in quotes stays in quotes … whatever the new value's type"), the value's text as a string.
    static func readsBack(_ got: ConfigValue?, _ value: ConfigValue) -> Bool {
        guard let got else { return false }
        if got == value { return true }
        switch (got, value) {
        case (.string(let s), .int(let v)): return s == String(v)
        case (.string(let s), .double(let v)): return Double(s) == v
        case (.string(let s), .bool(let v)): return s.lowercased() == String(v)
        default: return false
        }
    }

    /// Whether `got` is `value` without the matching quotes around it, as Vigil reads an INI value that is wholly
    /// quoted (docs/policy.md: it "keeps its quotes"). configparser hands the trainer the quotes too, so the editor
    /// rightly writes such a string as it is; only Vigil's own reading of it differs, by design.
    static func readsUnquoted(_ got: ConfigValue?, _ value: ConfigValue, _ format: ConfigFormat) -> Bool {
        guard format == .ini, case .string(let s) = value, s.count >= 2, s.first == s.last,
            s.first == "'" || s.first == "\""
        else { return false }
        return got == .string(String(s.dropFirst().dropLast()))
    }

    /// NaN is not equal to itself, but a `nan` that stays one is unchanged.
    static func bothNaN(_ a: ConfigValue?, _ b: ConfigValue?) -> Bool {
        guard case .double(let x)? = a, case .double(let y)? = b else { return false }
        return x.isNaN && y.isNaN
    }

    /// INI keys are case-insensitive (as `configparser`'s): `a.X` is `a.x`.
    static func sameKey(_ a: String, _ b: String, _ format: ConfigFormat) -> Bool {
        format == .ini ? a.lowercased() == b.lowercased() : a == b
    }

    func fail(_ message: String, _ edited: String) -> Never {
        fatalError(
            "\(format.rawValue): \(message)\n--- input\n\(text.debugDescription)\n--- result\n\(edited.debugDescription)"
        )
    }
}

extension ConfigValue: @retroactive CustomDebugStringConvertible {
    public var debugDescription: String {
        switch self {
        case .int(let v): return "int(\(v))"
        case .double(let v): return "double(\(v))"
        case .bool(let v): return "bool(\(v))"
        case .string(let v): return "string(\(v.debugDescription))"
        }
    }
}
