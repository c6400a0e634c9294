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

/// Finds the executable of a trainer command the way a shell would, without a shell.
public enum CommandResolver {
    /// The absolute path of `command`: as given when it contains a `/`, else the first executable
    /// match in `PATH`. Throws `.notFound` (exit 66) or `.usage` with a message naming the command.
    public static func resolve(_ command: String, path: String?, workingDirectory: String) throws -> String {
        guard !command.isEmpty else { throw VigilError(.usage, "the trainer command is empty") }
        if command.contains("/") {
            let absolute = Paths.absolute(command, in: workingDirectory)
            try checkExecutable(absolute, shownAs: command)
            return Path.standardized(absolute)
        }
        let directories = (path ?? "/usr/local/bin:/usr/bin:/bin").split(
            separator: ":", omittingEmptySubsequences: false)
        var deniedCandidate: String?
        for directory in directories {
            let dir = directory.isEmpty ? workingDirectory : String(directory)
            let candidate = dir + "/" + command
            var info = stat()
            guard stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return candidate }
            deniedCandidate = deniedCandidate ?? candidate
        }
        if let deniedCandidate {
            throw VigilError(.notFound, "command '\(command)' found at \(deniedCandidate) but it is not executable")
        }
        throw VigilError(.notFound, "command not found: '\(command)' (searched PATH)")
    }

    static func checkExecutable(_ path: String, shownAs shown: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw VigilError(.notFound, "command not found: '\(shown)' (no such file)")
        }
        guard (info.st_mode & S_IFMT) != S_IFDIR else {
            throw VigilError(.notFound, "command '\(shown)' is a directory, not an executable")
        }
        guard access(path, X_OK) == 0 else {
            throw VigilError(.notFound, "command '\(shown)' is not executable (permission denied)")
        }
    }
}
