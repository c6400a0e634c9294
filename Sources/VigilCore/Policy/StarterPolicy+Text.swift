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

/// The starter policy as a commented JSON5 file.
extension StarterPolicy {
    /// The policy file: what was guessed, from what, and what to check, as comments; every key
    /// documented in docs/policy.md. `command` is the trainer command, for the header.
    public func text(command: [String]) -> String {
        var lines = [
            "// A starter policy written by `vigil init` for:",
            "//   " + command.map(StarterPolicy.shellWord).joined(separator: " "),
        ]
        lines.append("// Guessed from:")
        lines += evidence.map { "//   - " + $0.replacing("\n", with: " ") }
        if !checks.isEmpty {
            lines.append("// Check:")
            lines += checks.map { "//   - " + $0.replacing("\n", with: " ") }
        }
        lines += [
            "// Then: vigil run --policy PATH-OF-THIS-FILE -- COMMAND. Every key is documented in docs/policy.md.",
            "{",
            "  extends: \(quoted(extends)),  // the shipped policy: its rules classify \(framework?.title ?? "any command")'s failures",
        ]
        if let resumeArguments {
            let list = resumeArguments.map(quoted).joined(separator: ", ")
            lines.append(
                "  resume: { args: [\(list)] },  // appended when an attempt resumes; {checkpoint} is its path")
        }
        if let checkpointDirectory, let checkpointPattern {
            var members = ["dir: \(quoted(checkpointDirectory))", "pattern: \(quoted(checkpointPattern))"]
            if let checkpointMarker { members.append("marker: \(quoted(checkpointMarker))") }
            lines.append("  checkpoints: {")
            lines += members.map { "    \($0)," }
            lines.append("    // keepLast: 3,  // retention: uncomment to keep only the newest three")
            lines.append("  },")
        }
        if configPath != nil || !roles.isEmpty {
            lines.append("  config: {")
            if let configPath { lines.append("    path: \(quoted(configPath)),") }
            if !roles.isEmpty {
                lines.append(
                    "    // The keys the shipped repairs change (@batchSize after an out-of-memory, @learningRate after a divergence)."
                )
                lines.append("    roles: {")
                lines += roles.map { "      \($0.role): \(quoted($0.key))," }
                lines.append("    },")
            }
            lines.append("  },")
        }
        lines += [
            "  // limits: { runtime: \"6h\" },  // this invocation's wall clock (a CI job's limit): rerun to continue",
            "}",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    private func quoted(_ text: String) -> String {
        let escaped = text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
        return "\"\(escaped)\""
    }

    /// `word`, or `'word'` when a shell would split or expand it.
    public static func shellWord(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }
        return plain && !word.isEmpty ? word : "'" + word.replacing("'", with: "'\\''") + "'"
    }
}
