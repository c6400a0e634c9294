import Foundation
import Testing

@testable import VigilCore

/// Inputs that `scripts/fuzz` found crashing or breaking a contract (minimized), kept so they stay fixed. Each test
/// names its fuzz target; the target's `Tests/Fuzz/TARGET.swift` says what it checks.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    /// Loads `text` as a policy file over the default and renders it as `vigil policy check` does.
    func loadAndRender(_ text: String) throws -> String {
        let directory = NSTemporaryDirectory() + "vigil-fuzz-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try text.write(toFile: directory + "/fuzz.json5", atomically: true, encoding: .utf8)
        let policy = try PolicyLoader(searchDirectories: [directory]).load("fuzz")
        _ = policy.limitThatCannotWork
        return policy.resolvedTree.rendered()
    }

    // MARK: - duration

    @Test(
        "duration: a size past Int.max is no size (it trapped)",
        arguments: [
            "11111111111g", "99999999999999999999", "9300000000000000000b", "1" + String(repeating: "0", count: 400),
        ])
    func hugeByteSize(text: String) {
        #expect(ByteSizeFormat.bytes(from: text) == nil)
    }

    @Test("duration: sizes up to Int's range still read")
    func largeByteSize() {
        #expect(ByteSizeFormat.bytes(from: "8589934591g") == 8_589_934_591 * 1024 * 1024 * 1024)
        #expect(ByteSizeFormat.bytes(from: "100MB") == 100 * 1024 * 1024)
    }

    @Test("duration: so many digits that a Double overflows are no duration (it read infinity)")
    func infiniteDuration() {
        #expect(DurationFormat.seconds(from: "1" + String(repeating: "0", count: 400) + "s") == nil)
        #expect(DurationFormat.seconds(from: "1h30m") == 5400)
    }

    @Test(
        "duration: formatting any number of seconds does not trap",
        arguments: [1.8e22, 1e300, .greatestFiniteMagnitude, .infinity, 1e15])
    func formatHugeDuration(seconds: Double) {
        let text = DurationFormat.string(from: seconds)
        #expect(!text.isEmpty)
        // Past 10^15 seconds it is written as 10^15 seconds, which reads back.
        let expected = min(seconds, 1e15)
        #expect(DurationFormat.seconds(from: text).map { abs($0 - expected) <= expected * 1e-9 } == true)
    }

    @Test("duration: a huge duration in a policy is refused by its range, naming the key (policy check trapped)")
    func policyWithHugeDuration() throws {
        #expect {
            try loadAndRender(#"{ limits: { runtime: "1h311111111111111111111m" } }"#)
        } throws: { "\($0)".contains("limits.runtime") && "\($0)".contains("3650d") }
        #expect(throws: VigilError.self) { try loadAndRender(#"{ limits: { stall: 1e300 } }"#) }
        #expect(throws: VigilError.self) { try loadAndRender(#"{ output: { logMaxBytes: "11111111111g" } }"#) }
    }
}

extension FuzzRegressionTests {
    /// `text` parsed in `format`, `key` set to `value`, and the result parsed again: the key's value there.
    func readBack(_ text: String, _ format: ConfigFormat, _ key: String, _ value: ConfigValue) throws -> ConfigValue? {
        let edited = try ConfigFile.parse(text, format: format, path: "fuzz").setting(key, to: value)
        return try ConfigFile.parse(edited, format: format, path: "fuzz").value(at: key)
    }

    // MARK: - yaml

    @Test("yaml: a single-quoted value set to text with a line break is double-quoted (it wrote a raw newline)")
    func yamlSingleQuotedNewline() throws {
        let text = "model:\n  name: 'meta-llama/Llama-2-7b'   # the base checkpoint\n  dtype: bfloat16\n"
        let document = try ConfigFile.parse(text, format: .yaml, path: "fuzz.yaml")
        #expect(
            try document.setting("model.name", to: .string("two\nlines"))
                == "model:\n  name: \"two\\nlines\"   # the base checkpoint\n  dtype: bfloat16\n")
        #expect(try readBack(text, .yaml, "model.name", .string("a\u{1}b")) == .string("a\u{1}b"))
        // What single quotes can hold stays in them.
        #expect(try document.setting("model.name", to: .string("it's")).contains("name: 'it''s'"))
    }

    // MARK: - ini

    @Test("ini: a quoted value continued on indented lines is replaced whole (it lost its closing quote)")
    func iniQuotedContinuation() throws {
        let text = "LR='3e-4'\n  USE_AMP = TRUE\n\nNEXT=1\n"
        let document = try ConfigFile.parse(text, format: .ini, path: "fuzz.ini")
        // configparser reads the quotes as part of a continued value.
        #expect(document.value(at: "LR") == .string("'3e-4'\nUSE_AMP = TRUE"))
        #expect(try document.setting("LR", to: .int(42)) == "LR=42\n\nNEXT=1\n")
        #expect(try readBack(text, .ini, "LR", .string("it's \"quoted\"")) == .string("it's \"quoted\""))
        #expect(try readBack(text, .ini, "NEXT", .int(2)) == .int(2))
    }
}

extension FuzzRegressionTests {
    @Test("ini: a bare value cannot start or end with spaces, which configparser strips (it wrote ' x ' as x)")
    func iniPaddedValue() throws {
        let document = try ConfigFile.parse("[a]\nname = resnet\n", format: .ini, path: "fuzz.ini")
        for (key, value) in [("a.name", " padded "), ("a.new", "tail "), ("a.name", "\tx")] {
            #expect(throws: VigilError.self) { try document.setting(key, to: .string(value)) }
        }
        // Inside quotes the spaces stay, and read back.
        #expect(try readBack("[a]\nname = 'resnet'\n", .ini, "a.name", .string(" padded ")) == .string(" padded "))
        #expect(try readBack("[a]\nname = resnet\n", .ini, "a.name", .string("in side")) == .string("in side"))
    }

    @Test("ini: a key is not added where the next line is indented (the indented section header became its value)")
    func iniKeyBeforeIndentedLine() throws {
        let text = "\t[a]\0\0\0[a.a]\nx x = \"2\"\ny =\n"
        let document = try ConfigFile.parse(text, format: .ini, path: "fuzz.ini")
        #expect(throws: VigilError.self) { try document.setting("fuzz_added", to: .int(42)) }
        // After a value's continuation lines it is fine: they are the value's.
        #expect(try readBack("[a]\nx = 1\n  [b]\n", .ini, "a.y", .int(2)) == .int(2))
        // Not indented: added, and it reads back.
        #expect(try readBack("[a]\nx = 1\n[b]\n", .ini, "a.y", .int(2)) == .int(2))
    }
}

extension FuzzRegressionTests {
    @Test(".env: a value emptied before a comment is written \"\" (the comment became the value)")
    func envEmptyBeforeComment() throws {
        let text = "BATCH_SIZE=64   # per device\nLR=1\n"
        let document = try ConfigFile.parse(text, format: .env, path: ".env")
        #expect(try document.setting("BATCH_SIZE", to: .string("")) == "BATCH_SIZE=\"\"   # per device\nLR=1\n")
        #expect(try readBack(text, .env, "BATCH_SIZE", .string("")) == .string(""))
        // Without a comment after it, an empty value stays bare.
        #expect(try document.setting("LR", to: .string("")) == "BATCH_SIZE=64   # per device\nLR=\n")
    }
}

extension FuzzRegressionTests {
    /// Foundation's JSON5 decoder reads past the end of its buffer when the text ends in a bare integer too large
    /// for `Int` (decoded as a Double), and traps when the bytes after it are digits or a `.`, so a policy file
    /// consisting of `99999999999999999999` (no newline) crashes `vigil` now and then. The buffer here is followed by
    /// digits to make it certain. The fix: `parseJSON5` hands the decoder the data with a `\n` appended.
    @Test(
        "policy: a text ending in a huge integer does not make the JSON5 decoder read past its end",
        arguments: ["99999999999999999999", "-99999999999999999999", "0x99999999999999999999"])
    func policyHugeIntegerAtEnd(text: String) {
        let bytes = Array(text.utf8) + Array("1111.1111".utf8)
        bytes.withUnsafeBufferPointer { buffer in
            let data = Data(
                bytesNoCopy: UnsafeMutableRawPointer(mutating: buffer.baseAddress!), count: text.utf8.count,
                deallocator: .none)
            // A number, or (for a hexadecimal one past Int) an error: anything but a trap.
            do {
                #expect(try JSONValue.parseJSON5(data, file: "fuzz.json5").typeName == "a number")
            } catch {
                #expect(error is VigilError)
            }
        }
    }
}

extension FuzzRegressionTests {
    @Test(
        "yaml: an empty key is refused (at the top level, keys added to the root went under it)",
        arguments: [":\n  b: 1\n", "\"\": 1\n", "a:\n  '': 1\n"])
    func yamlEmptyKey(text: String) {
        #expect(throws: VigilError.self) { try ConfigFile.parse(text, format: .yaml, path: "fuzz.yaml") }
    }
}

extension FuzzRegressionTests {
    @Test("yaml: a \\r at the end of the last line is not part of its value (adding a key changed it)")
    func yamlTrailingCarriageReturn() throws {
        let document = try ConfigFile.parse("a: 1\r\nb: c\r", format: .yaml, path: "fuzz.yaml")
        #expect(document.value(at: "b") == .string("c"))
        #expect(try readBack("a: 1\r\nb: c\r", .yaml, "z", .int(42)) == .int(42))
        let added = try document.setting("z", to: .int(42))
        #expect(try ConfigFile.parse(added, format: .yaml, path: "fuzz.yaml").value(at: "b") == .string("c"))
    }
}

extension FuzzRegressionTests {
    @Test(
        "yaml: a key added to a document without keys goes before its '...' end marker (it went after it)",
        arguments: ["...", "---\n...\n", "# only a comment\n...\n"])
    func yamlAddBeforeDocumentEnd(text: String) throws {
        #expect(try readBack(text, .yaml, "fuzz_added", .int(42)) == .int(42))
        #expect(try readBack(text, .yaml, "a.b", .string("x")) == .string("x"))
    }
}

extension FuzzRegressionTests {
    @Test(
        "yaml: a lone \\r, which YAML reads as a line break, is refused (a key added after it moved the break)",
        arguments: ["a: x\r\r", "a: x\ry\n", "a: 1\r\r\nb: 2\n"])
    func yamlLoneCarriageReturn(text: String) {
        #expect(throws: VigilError.self) { try ConfigFile.parse(text, format: .yaml, path: "fuzz.yaml") }
    }
}
