import Foundation

@testable import VigilCore

/// Just enough YAML to read the example manifests (examples/kubernetes/*.yaml) as `JSONValue`s:
/// block mappings and sequences by indentation (a sequence may sit at its key's indentation),
/// `#` comments, flow sequences of scalars (`[1, 2]`), plain, single- and double-quoted scalars,
/// integers, `true`/`false`, `null`. Anything else (anchors, tags, block scalars, flow mappings,
/// several documents) is an error naming the line, never a guess. For tests only.
enum YAMLSubset {
    struct Failure: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    private struct Line {
        var number: Int
        var indent: Int
        var text: String
    }

    static func parse(_ text: String) throws -> JSONValue {
        var lines: [Line] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = try withoutComment(String(raw), line: index + 1)
            let trimmed = content.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || (lines.isEmpty && trimmed == "---") { continue }
            let indent = content.prefix { $0 == " " }.count
            guard !content.hasPrefix("\t") else { throw Failure(line: index + 1, message: "a tab indents") }
            lines.append(Line(number: index + 1, indent: indent, text: trimmed))
        }
        guard let first = lines.first else { return .null }
        var position = 0
        let value = try block(&lines, &position, indent: first.indent)
        if position < lines.count {
            throw Failure(line: lines[position].number, message: "unexpected indentation or a second document")
        }
        return value
    }

    /// A `#` that starts a comment: at the start or after a space, outside quotes.
    private static func withoutComment(_ line: String, line number: Int) throws -> String {
        var quote: Character?
        var previous: Character = " "
        for (offset, character) in line.enumerated() {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#", previous == " " {
                return String(line.prefix(offset))
            }
            previous = character
        }
        return line
    }

    private static func isItem(_ text: String) -> Bool { text == "-" || text.hasPrefix("- ") }

    private static func block(_ lines: inout [Line], _ position: inout Int, indent: Int) throws -> JSONValue {
        isItem(lines[position].text)
            ? try sequence(&lines, &position, indent: indent) : try mapping(&lines, &position, indent: indent)
    }

    private static func sequence(_ lines: inout [Line], _ position: inout Int, indent: Int) throws -> JSONValue {
        var items: [JSONValue] = []
        while position < lines.count, lines[position].indent == indent, isItem(lines[position].text) {
            let line = lines[position]
            let rest = String(line.text.dropFirst()).drop { $0 == " " }
            if rest.isEmpty {
                position += 1
                guard position < lines.count, lines[position].indent > indent else {
                    items.append(.null)
                    continue
                }
                items.append(try block(&lines, &position, indent: lines[position].indent))
            } else if keyAndValue(String(rest)) != nil {
                // `- key: value`: a mapping whose keys sit where `key` does.
                lines[position] = Line(
                    number: line.number, indent: line.indent + line.text.count - rest.count, text: String(rest))
                items.append(try mapping(&lines, &position, indent: lines[position].indent))
            } else {
                items.append(try scalarOrFlow(String(rest), line: line.number))
                position += 1
            }
        }
        return .array(items)
    }

    private static func mapping(_ lines: inout [Line], _ position: inout Int, indent: Int) throws -> JSONValue {
        var members: [String: JSONValue] = [:]
        while position < lines.count, lines[position].indent == indent, !isItem(lines[position].text) {
            let line = lines[position]
            guard let (key, rest) = keyAndValue(line.text) else {
                throw Failure(line: line.number, message: "expected `key: value`, got \(line.text)")
            }
            guard members[key] == nil else { throw Failure(line: line.number, message: "duplicate key \(key)") }
            position += 1
            if !rest.isEmpty {
                members[key] = try scalarOrFlow(rest, line: line.number)
            } else if position < lines.count,
                lines[position].indent > indent
                    || (lines[position].indent == indent && isItem(lines[position].text))
            {
                members[key] = try block(&lines, &position, indent: lines[position].indent)
            } else {
                members[key] = .null
            }
        }
        return .object(members)
    }

    /// `key: value` or `key:` (the key plain or quoted); nil when the text is not a mapping entry.
    private static func keyAndValue(_ text: String) -> (String, String)? {
        var quote: Character?
        var depth = 0
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "[" || character == "{" {
                depth += 1
            } else if character == "]" || character == "}" {
                depth -= 1
            } else if character == ":", depth == 0 {
                let after = text.index(after: index)
                if after == text.endIndex || text[after] == " " {
                    let rawKey = String(text[..<index]).trimmingCharacters(in: .whitespaces)
                    guard !rawKey.isEmpty, case .string(let key)? = try? scalar(rawKey, line: 0) else { return nil }
                    return (key, String(text[after...]).trimmingCharacters(in: .whitespaces))
                }
            }
            index = text.index(after: index)
        }
        return nil
    }

    private static func scalarOrFlow(_ text: String, line: Int) throws -> JSONValue {
        guard text.hasPrefix("[") else { return try scalar(text, line: line) }
        guard text.hasSuffix("]") else { throw Failure(line: line, message: "unclosed flow sequence") }
        let inner = text.dropFirst().dropLast()
        var items: [JSONValue] = []
        var current = ""
        var quote: Character?
        for character in inner {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "[" || character == "{" {
                throw Failure(line: line, message: "nested flow collections are not read")
            } else if character == "," {
                items.append(try scalar(current.trimmingCharacters(in: .whitespaces), line: line))
                current = ""
                continue
            }
            current.append(character)
        }
        let last = current.trimmingCharacters(in: .whitespaces)
        if !last.isEmpty || !items.isEmpty { items.append(try scalar(last, line: line)) }
        return .array(items)
    }

    private static func scalar(_ text: String, line: Int) throws -> JSONValue {
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\"") else { throw Failure(line: line, message: "unclosed quote") }
            guard case .string(let value)? = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
                throw Failure(line: line, message: "bad double-quoted string \(text)")
            }
            return .string(value)
        }
        if text.hasPrefix("'") {
            guard text.count >= 2, text.hasSuffix("'") else { throw Failure(line: line, message: "unclosed quote") }
            return .string(String(text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'"))
        }
        if let first = text.first, "&*!|>{%@`".contains(first) {
            throw Failure(line: line, message: "not in the subset: \(text)")
        }
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null", "~", "": return .null
        default: break
        }
        if let value = Int(text) { return .int(value) }
        return .string(text)
    }
}
