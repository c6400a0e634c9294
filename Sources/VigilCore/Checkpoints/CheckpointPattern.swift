import Foundation

/// A checkpoint name pattern with a `{step}` placeholder (and `*` for anything), matched against
/// whole names in the checkpoint directory.
public struct CheckpointPattern: Sendable {
    public let source: String
    private let program: RegexProgram

    public init(_ source: String) throws {
        self.source = source
        var expression = "^"
        var rest = Substring(source)
        while !rest.isEmpty {
            if rest.hasPrefix("{step}") {
                expression += "([0-9]+)"
                rest = rest.dropFirst(6)
            } else if rest.first == "*" {
                expression += "[^/]*?"
                rest = rest.dropFirst()
            } else {
                expression += RegexProgram.escaped(String(rest.first!))
                rest = rest.dropFirst()
            }
        }
        program = try RegexProgram(expression + "$")
    }

    /// The step of `name`, or nil when the name does not match.
    public func step(of name: String) -> Int? {
        guard let match = program.firstMatch(in: name), match.count > 1, let stepRange = match[1] else { return nil }
        return Int(name[stepRange])
    }

    /// The name for `step` (for sidecar patterns): `{step}` replaced.
    public func name(forStep step: Int) -> String {
        source.replacingOccurrences(of: "{step}", with: String(step))
    }
}
