extension CommandSpec {
    /// What `--help` prints: the usage, the discussion, the option table made from the
    /// declarations, a note on durations when the command takes one, and the epilogue.
    public var help: String {
        var sections = [usage]
        if !discussion.isEmpty { sections.append(discussion) }
        sections.append("options:\n" + HelpLayout.table(acceptedOptions.filter { !$0.isHidden }))
        if acceptedOptions.contains(where: { $0.valueKind == .duration && !$0.isHidden }) {
            sections.append(HelpLayout.durationNote)
        }
        if !epilogue.isEmpty { sections.append(epilogue) }
        return sections.joined(separator: "\n\n")
    }

    /// The synopsis lines, the first after `usage: `, the others aligned under it.
    public var usage: String {
        synopsis.enumerated().map { ($0.offset == 0 ? "usage: " : "       ") + $0.element }.joined(separator: "\n")
    }
}

/// How an option table is laid out: two spaces, a 22-column label, the help wrapped to 100 columns.
enum HelpLayout {
    static let indent = 2
    static let labelWidth = 22
    static let width = 100

    /// The line printed under the options of a command that takes durations.
    static let durationNote =
        "durations are written 90s, 15m, 6h, 1h30m, 250ms or 2d, from 0s to \(ValueKind.longestDurationText)"

    /// One row per option.
    static func table(_ options: [OptionSpec]) -> String {
        options.map(row).joined(separator: "\n")
    }

    /// `  --max-retries N        consecutive …`, continued under the help column.
    static func row(_ option: OptionSpec) -> String {
        let margin = String(repeating: " ", count: indent)
        let column = String(repeating: " ", count: indent + labelWidth + 1)
        let lines = wrap(description(option), width: width - column.count)
        let label = margin + self.label(option)
        guard label.count < column.count else {
            return ([label] + lines.map { column + $0 }).joined(separator: "\n")
        }
        let first = label + String(repeating: " ", count: column.count - label.count) + (lines.first ?? "")
        return ([first] + lines.dropFirst().map { column + $0 }).joined(separator: "\n")
    }

    /// `-q, --quiet`, `--max-retries N`.
    static func label(_ option: OptionSpec) -> String {
        let names = (option.shortSpelling.map { $0 + ", " } ?? "") + option.spelling
        return option.valueName.isEmpty ? names : names + " " + option.valueName
    }

    /// The help text, with an integer's range after it.
    static func description(_ option: OptionSpec) -> String {
        switch option.valueKind {
        case .integer(let range)?:
            return option.help + "; \(option.valueName) from \(range.lowerBound) to \(range.upperBound)"
        case .number(let range)?:
            return option.help + "; \(option.valueName) from \(range.lowerBound) to \(range.upperBound)"
        default:
            return option.help
        }
    }

    /// Greedy word wrap; a word longer than the width gets a line of its own.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: true) {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }
}
