import Foundation
import Testing

@testable import VigilCore

/// The splice core the four format editors share (`ConfigSource`, `ConfigScalar`, `ConfigInsertion`), and the
/// edges of each editor that go through it: line breaks of inserted text, files without a final line break,
/// quoting and float text.
@Suite("Config documents: the shared splice core")
struct ConfigSourceTests {
    // MARK: The core

    @Test("replacing a scalar changes only its bytes; inserting writes the file's line breaks")
    func core() {
        let source = ConfigSource("a: 1 # c\r\nb: 2")
        #expect(source.newline == "\r\n")
        let scalar = ConfigScalar(key: "a", value: .int(1), range: 3..<4, quoting: .bare)
        #expect(source.replacing(scalar, with: "10\n") == "a: 10\n # c\r\nb: 2")
        #expect(source.inserting("x: 3", at: .afterLine(endingAt: 8)) == "a: 1 # c\r\nx: 3\r\nb: 2")
        #expect(source.inserting("x: 3\n", at: source.end) == "a: 1 # c\r\nb: 2\r\nx: 3\r\n")
        #expect(source.inserting("x: 3\n", at: .lineStart(10)) == "a: 1 # c\r\nx: 3\r\nb: 2")
        #expect(source.inserting(", x\n", at: .inLine(4..<5)) == "a: 1, x\r\n# c\r\nb: 2")
        let plain = ConfigSource("")
        #expect(plain.newline == "\n")
        #expect(plain.inserting("x\n", at: plain.end) == "x\n")
        #expect(ConfigSource("a\n").inserting("x\n", at: .lineStart(2)) == "a\nx\n")
    }

    @Test("quoting from the opening byte; key paths; the keys that hold a value")
    func helpers() {
        #expect(ConfigQuoting(opening: UInt8(ascii: "\"")) == .double)
        #expect(ConfigQuoting(opening: UInt8(ascii: "'")) == .single)
        #expect(ConfigQuoting(opening: UInt8(ascii: "x")) == .bare)
        #expect(ConfigQuoting(opening: nil) == .bare)
        #expect(ConfigKeyPath.components("a.b c.d") == ["a", "b c", "d"])
        for bad in ["", ".a", "a.", "a..b"] { #expect(ConfigKeyPath.components(bad) == nil, "\(bad)") }
        let scalars = [
            "a": ConfigScalar(key: "a", value: .int(1), range: 0..<1, quoting: .bare),
            "n": ConfigScalar(key: "n", value: nil, range: 0..<0, quoting: .bare),
        ]
        #expect(ConfigScalar.keys(["n", "m", "a"]) { scalars[$0] } == ["a"])
    }

    @Test(
        "each format writes floats its own way",
        arguments: [
            (ConfigFloatSyntax.yaml, 5e-5, "5.0e-05"), (.yaml, 0.25, "0.25"), (.yaml, -.infinity, "-.inf"),
            (.yaml, .nan, ".nan"), (.yaml, 1e20, "1.0e+20"), (.toml, 5e-5, "5e-05"), (.toml, .infinity, "inf"),
            (.toml, -.infinity, "-inf"), (.toml, .nan, "nan"), (.finite, 1.5e-4, "0.00015"), (.finite, 1e-5, "1e-05"),
        ])
    func floats(syntax: ConfigFloatSyntax, value: Double, text: String) {
        #expect(syntax.format(value) == text)
    }

    @Test func finiteFloatsOnly() {
        #expect(ConfigFloatSyntax.finite.format(.nan) == nil)
        #expect(ConfigFloatSyntax.finite.format(-.infinity) == nil)
    }

    // MARK: Each format's edges

    @Test("YAML: new keys in a file with \\r\\n, with no mapping yet, or without a final line break")
    func yamlInsertions() throws {
        let comments = try YAMLConfigDocument(text: "# c\r\n", path: "c.yaml")
        #expect(try comments.setting("a.b", to: .int(1)) == "# c\r\na:\r\n  b: 1\r\n")
        let placeholder = try YAMLConfigDocument(text: "opt:\r\nlr: 1\r\n", path: "c.yaml")
        #expect(try placeholder.setting("opt.m", to: .double(0.9)) == "opt:\r\n  m: 0.9\r\nlr: 1\r\n")
        #expect(try placeholder.setting("opt", to: .string("sgd")) == "opt: sgd\r\nlr: 1\r\n")
        let unterminated = try YAMLConfigDocument(text: "# c", path: "c.yaml")
        #expect(try unterminated.setting("a", to: .int(1)) == "# c\na: 1\n")
        let last = try YAMLConfigDocument(text: "a:\n  b: 1", path: "c.yaml")
        #expect(try last.setting("a.c", to: .int(2)) == "a:\n  b: 1\n  c: 2")
    }

    @Test("TOML: a new table or top-level key in a file with \\r\\n; arrays and inline tables kept as they are")
    func tomlInsertions() throws {
        let crlf = try TOMLConfigDocument(text: "a = 1\r\n", path: "c.toml")
        #expect(try crlf.setting("t.x", to: .int(2)) == "a = 1\r\n\r\n[t]\r\nx = 2\r\n")
        let header = try TOMLConfigDocument(text: "[a]\r\nx = 1\r\n", path: "c.toml")
        #expect(try header.setting("top", to: .int(2)) == "top = 2\r\n\r\n[a]\r\nx = 1\r\n")
        #expect(try TOMLConfigDocument(text: "a = 1", path: "c.toml").setting("b", to: .int(2)) == "a = 1\nb = 2")
        let kept = "x = { a = \"#\", b = [1, 2] }\ny = [\n  \"\"\"m\n\"\"\", # c\n  { c = 1 },\n]\nz = 1 # z\n"
        let doc = try TOMLConfigDocument(text: kept, path: "c.toml")
        #expect(doc.keys == ["z"])
        #expect(try doc.setting("z", to: .int(2)) == kept.replacingOccurrences(of: "z = 1", with: "z = 2"))
        for (text, message) in [
            ("x = { a = 1\n}\n", "unterminated inline table"), ("y = [1, # ]\n", "unterminated array"),
        ] {
            #expect(throws: VigilError.self) { try TOMLConfigDocument(text: text, path: "c.toml") }
            do {
                _ = try TOMLConfigDocument(text: text, path: "c.toml")
            } catch let error as VigilError {
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }

    @Test("JSON: control characters, DEL and an empty object in a file with \\r\\n")
    func jsonEdges() throws {
        let doc = try JSONConfigDocument(text: "{\r\n  \"a\": {},\r\n  \"s\": \"x\"\r\n}", path: "c.json")
        #expect(
            try doc.setting("a.b", to: .int(1)) == "{\r\n  \"a\": {\r\n    \"b\": 1\r\n  },\r\n  \"s\": \"x\"\r\n}")
        #expect(
            try doc.setting("s", to: .string("\u{7F}\u{08}\u{0C}\u{1F}\"é"))
                == "{\r\n  \"a\": {},\r\n  \"s\": \"\u{7F}\\b\\f\\u001f\\\"é\"\r\n}")
        #expect(try doc.setting("s", to: .double(-0.5)) == "{\r\n  \"a\": {},\r\n  \"s\": \"-0.5\"\r\n}")
        #expect(
            try doc.setting("n", to: .double(2.5e-7)) == "{\r\n  \"a\": {},\r\n  \"s\": \"x\",\r\n  \"n\": 2.5e-07\r\n}"
        )
    }

    @Test("INI and .env: \\r\\n, a byte-order mark, a last line without a line break, quoted values")
    func iniEdges() throws {
        let env = try INIConfigDocument(text: "A=1\r\n", path: ".env", format: .env)
        #expect(try env.setting("B", to: .int(2)) == "A=1\r\nB=2\r\n")
        #expect(try env.setting("B", to: .string("a\nb")) == "A=1\r\nB=\"a\\nb\"\r\n")
        let unterminated = try INIConfigDocument(text: "A='x'", path: ".env", format: .env)
        #expect(try unterminated.setting("B", to: .int(2)) == "A='x'\nB=2\n")
        #expect(try unterminated.setting("A", to: .string("it's")) == "A='it\\'s'")
        let bom = try INIConfigDocument(text: "\u{FEFF}[a]\nx = 1\n", path: "c.ini", format: .ini)
        #expect(try bom.setting("top", to: .int(1)) == "\u{FEFF}top = 1\n[a]\nx = 1\n")
        let quoted = try INIConfigDocument(text: "[a]\nx = \"1\"\ny =\n", path: "c.ini", format: .ini)
        #expect(quoted.value(at: "a.x") == .string("1"))
        #expect(try quoted.setting("a.x", to: .int(2)) == "[a]\nx = \"2\"\ny =\n")
        #expect(try quoted.setting("a.y", to: .int(3)) == "[a]\nx = \"1\"\ny = 3\n")
        #expect(throws: VigilError.self) { try quoted.setting("a.z", to: .double(.infinity)) }
    }
}
