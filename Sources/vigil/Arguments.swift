import VigilCore

/// A small, strict reader of command-line arguments: `--flag`, `--option value`, `--option=value`.
struct Arguments {
    private var items: [String]

    init(_ items: [String]) { self.items = items }

    var isEmpty: Bool { items.isEmpty }
    var remaining: [String] { items }

    /// Removes and returns the next argument.
    mutating func next() -> String? { items.isEmpty ? nil : items.removeFirst() }

    /// Peeks at the next argument.
    var peek: String? { items.first }

    /// The value of an option whose name was just taken (from `--name=value` or the next argument).
    mutating func value(for option: String, inline: String?) throws -> String {
        if let inline { return inline }
        guard let value = next() else { throw VigilError(.usage, "option \(option) needs a value") }
        return value
    }

    /// Splits `--name=value` into its parts.
    static func split(_ argument: String) -> (name: String, inline: String?) {
        guard argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") else { return (argument, nil) }
        return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
    }

    static func int(_ text: String, option: String, min: Int = 0) throws -> Int {
        guard let value = Int(text), value >= min else {
            throw VigilError(.usage, "option \(option) expects an integer ≥ \(min), got '\(text)'")
        }
        return value
    }

    static func duration(_ text: String, option: String) throws -> Double {
        guard let seconds = DurationFormat.seconds(from: text) else {
            throw VigilError(.usage, "option \(option) expects a duration like 90s, 15m, 6h or 1h30m, got '\(text)'")
        }
        return seconds
    }

    static func unknown(_ option: String, known: [String]) -> VigilError {
        var message = "unknown option \(option)"
        if let suggestion = Spelling.nearest(option, in: known) { message += " (did you mean \(suggestion)?)" }
        return VigilError(.usage, message)
    }
}
