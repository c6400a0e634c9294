import Testing

@testable import VigilCore

/// One invalid document and where `JSON5Locator` should point.
struct JSON5LocatorCase: CustomTestStringConvertible, Sendable {
    /// The invalid JSON5 text.
    var text: String
    /// The expected 1-based line.
    var line: Int
    /// The expected 1-based column, in Unicode scalars.
    var column: Int
    /// A fragment the message must contain.
    var fragment: String

    /// Shows the expected message fragment in test output.
    var testDescription: String { fragment }
}

@Suite("JSON5 syntax error locator")
struct JSON5LocatorTests {
    /// A realistic policy file; every invalid case below is valid JSON5 before its mistake was introduced.
    static let policy = """
        // Vigil policy for the web tier
        {
          version: 2,
          services: {
            web: {
              command: "/usr/bin/web --port 8080",
              restart: 'on-failure',   // always | on-failure | never
              maxRestarts: 5,
              backoff: { initial: 0.5, max: 30., factor: +2, jitter: .25 },
              env: { RUST_LOG: "info", "HTTP_PROXY": null, $HOME: '/srv/web' },
              healthCheck: {
                url: 'http://localhost:8080/health',
                interval: 10, timeout: 2.5e0,
              },
            },
          },
          /* notifications go
             to on-call */
          notify: ["ops@example.com", 'pager',],
        }
        """

    @Test(
        "Valid JSON5 documents have no issue",
        arguments: [
            policy,
            policy.replacing("\n", with: "\r\n"),
            "{}", "[]", "0", "-0", "+1", ".5", "5.", "1e5", "1E-5", "0x1F", "-0xff", "Infinity", "-Infinity", "NaN",
            "true", "false", "null", "'single'", "\"double\"", "''",
            "{a: 1,}", "[1, 2, 3,]", "{'a': 1, \"b\": 2, c: 3, $d: 4, _e: 5, f1: 6}",
            "\u{FEFF}{a: 1}",
            "/* leading */ {a: 1} // trailing",
            "{a/*x*/:/*y*/1/*z*/,/*w*/}",
            "{a: // comment\n 1}",
            "\u{0B}[1]\u{0C}",
            "{é: 1, 中文: 2, a\u{0301}: 3, true: 4, null: 5}",
            "{\\u0061bc: 1}",
            "['line \\\ncontinued', \"crlf \\\r\ncontinued\"]",
            "[\"\\\" \\' \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\x41 \\uD83D\\uDE00\"]",
            "[\"\u{2028}\"]",
            String(repeating: "[", count: 512) + String(repeating: "]", count: 512),
        ])
    func validDocument(_ text: String) {
        #expect(JSON5Locator.firstIssue(in: text) == nil)
    }

    @Test(
        "Common mistakes are reported with a specific message",
        arguments: [
            JSON5LocatorCase(
                text: policy.replacing("8080\",\n", with: "8080\"\n"),
                line: 7, column: 7, fragment: "missing ',' before key \"restart\""),
            JSON5LocatorCase(
                text: policy.replacing("'on-failure'", with: "on-failure"),
                line: 7, column: 16, fragment: "unquoted value 'on-failure' (strings need quotes)"),
            JSON5LocatorCase(
                text: policy.replacing("maxRestarts:", with: "maxRestarts ="),
                line: 8, column: 19,
                fragment: "expected ':' after key \"maxRestarts\", found '=' (use ':' instead of '=')"),
            JSON5LocatorCase(
                text: policy.replacing("'/srv/web'", with: "'/srv/web"),
                line: 10, column: 59, fragment: "unterminated string"),
            JSON5LocatorCase(
                text: policy.replacing("to on-call */", with: "to on-call"),
                line: 17, column: 3, fragment: "unterminated block comment"),
            JSON5LocatorCase(
                text: policy.replacing("interval: 10,", with: "interval: 10s,"),
                line: 13, column: 19, fragment: "unquoted value '10s'"),
            JSON5LocatorCase(
                text: policy.replacing("'pager',]", with: "'pager',}"),
                line: 19, column: 39, fragment: "expected an element of the array for key \"notify\", found '}'"),
            JSON5LocatorCase(
                text: policy.replacing("    },\n  },\n", with: "    },\n"),
                line: 19, column: 2,
                fragment: "expected ',' or '}' after the value of key \"services\", found end of file "
                    + "(the '{' at line 2, column 1 is never closed)"),
            JSON5LocatorCase(
                text: "{\n  a: 1,\n  # old comment\n}", line: 3, column: 3, fragment: "comments start with '//' or '/*'"
            ),
            JSON5LocatorCase(text: "{\n  max retries: 3,\n}", line: 2, column: 7, fragment: "contains a space"),
            JSON5LocatorCase(
                text: "{\n  a:\n  b: 1,\n}", line: 3, column: 3, fragment: "expected a value for key \"a\""),
            JSON5LocatorCase(text: "name: 'web'\n", line: 1, column: 1, fragment: "wrap its members in '{' and '}'"),
            JSON5LocatorCase(text: "{a: 1}}", line: 1, column: 7, fragment: "trailing data after the document"),
            JSON5LocatorCase(text: "{a: True}", line: 1, column: 5, fragment: "did you mean 'true'?"),
            JSON5LocatorCase(text: "{a: 1_000}", line: 1, column: 5, fragment: "'_' digit separators are not allowed"),
            JSON5LocatorCase(text: "{a: 192.168.0.1}", line: 1, column: 5, fragment: "unquoted value '192.168.0.1'"),
        ])
    func commonMistake(_ example: JSON5LocatorCase) throws {
        let issue = try #require(JSON5Locator.firstIssue(in: example.text))
        #expect(issue.line == example.line)
        #expect(issue.column == example.column)
        #expect(issue.message.contains(example.fragment), "\(issue.message)")
    }

    @Test(
        "Syntax errors point at the offending character",
        arguments: [
            JSON5LocatorCase(text: "", line: 1, column: 1, fragment: "the document is empty"),
            JSON5LocatorCase(text: "// nothing\n", line: 2, column: 1, fragment: "expected a value"),
            JSON5LocatorCase(text: "{\"a\": 1 \"b\": 2}", line: 1, column: 9, fragment: "missing ',' before key \"b\""),
            JSON5LocatorCase(text: "{a 1}", line: 1, column: 4, fragment: "missing ':' after key \"a\""),
            JSON5LocatorCase(text: "{a:}", line: 1, column: 4, fragment: "expected a value for key \"a\", found '}'"),
            JSON5LocatorCase(text: "{a: 1,, b: 2}", line: 1, column: 7, fragment: "expected a key or '}', found ','"),
            JSON5LocatorCase(text: "[1,,2]", line: 1, column: 4, fragment: "expected an array element, found ','"),
            JSON5LocatorCase(text: "[1 2]", line: 1, column: 4, fragment: "missing ',' between array elements"),
            JSON5LocatorCase(
                text: "{a: [1}", line: 1, column: 7, fragment: "the '[' at line 1, column 5 is not closed"),
            JSON5LocatorCase(
                text: "{1a: 1}", line: 1, column: 2, fragment: "unquoted key '1a' must start with a letter"),
            JSON5LocatorCase(text: "{a-b: 1}", line: 1, column: 3, fragment: "unquoted key 'a-b' contains '-'"),
            JSON5LocatorCase(text: "{a: @x}", line: 1, column: 5, fragment: "unquoted value '@x'"),
            JSON5LocatorCase(text: "{a: *}", line: 1, column: 5, fragment: "unexpected character '*'"),
            JSON5LocatorCase(text: "{a: 'x' 'y'}", line: 1, column: 9, fragment: "after the value of key \"a\""),
            JSON5LocatorCase(text: "{a: \"x\ny\"}", line: 1, column: 5, fragment: "unterminated string"),
            JSON5LocatorCase(text: "[\"a\tb\"]", line: 1, column: 4, fragment: "tab character inside a string"),
            JSON5LocatorCase(
                text: "[\"C:\\Users\"]", line: 1, column: 5, fragment: "to include a backslash, write '\\\\'"),
            JSON5LocatorCase(text: "[\"\\v\"]", line: 1, column: 3, fragment: "unsupported escape sequence '\\v'"),
            JSON5LocatorCase(text: "[\"\\x4G\"]", line: 1, column: 3, fragment: "expected 2 hex digits after '\\x'"),
            JSON5LocatorCase(text: "[\"\\uD83D\"]", line: 1, column: 3, fragment: "unpaired surrogate '\\uD83D'"),
            JSON5LocatorCase(text: "{a: 1e}", line: 1, column: 7, fragment: "expected digits in the exponent"),
            JSON5LocatorCase(text: "{a: 1e+}", line: 1, column: 8, fragment: "expected digits in the exponent"),
            JSON5LocatorCase(text: "{a: 08}", line: 1, column: 5, fragment: "leading zeros are not allowed"),
            JSON5LocatorCase(text: "{a: 0x}", line: 1, column: 7, fragment: "expected hex digits after '0x'"),
            JSON5LocatorCase(text: "{a: -}", line: 1, column: 6, fragment: "expected a digit after '-'"),
            JSON5LocatorCase(text: "{a: 1,\u{00A0}b: 2}", line: 1, column: 7, fragment: "U+00A0 (no-break space)"),
            JSON5LocatorCase(text: "[1]\u{FEFF}", line: 1, column: 4, fragment: "U+FEFF (byte order mark)"),
            JSON5LocatorCase(text: "\u{FEFF}{a: 1 b: 2}", line: 1, column: 7, fragment: "missing ',' before key \"b\""),
            JSON5LocatorCase(text: "{\r\n  a: 1\r\n  b: 2\r\n}", line: 3, column: 3, fragment: "missing ','"),
            JSON5LocatorCase(text: "{\"☕️\": 1 x}", line: 1, column: 10, fragment: "found 'x'"),
            JSON5LocatorCase(
                text: String(repeating: "[", count: 513) + String(repeating: "]", count: 513),
                line: 1, column: 513, fragment: "too deeply nested"),
        ])
    func syntaxError(_ example: JSON5LocatorCase) throws {
        let issue = try #require(JSON5Locator.firstIssue(in: example.text))
        #expect(issue.line == example.line)
        #expect(issue.column == example.column)
        #expect(issue.message.contains(example.fragment), "\(issue.message)")
    }

    @Test("The message names the key being parsed")
    func messageNamesKey() throws {
        let issue = try #require(JSON5Locator.firstIssue(in: "{\n  restart: 'always' x\n}"))
        #expect(
            issue
                == JSON5SyntaxIssue(
                    line: 2, column: 21, message: "expected ',' or '}' after the value of key \"restart\", found 'x'"))
    }
}
