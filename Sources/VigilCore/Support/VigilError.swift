/// The exit codes of `vigil run` and the other subcommands (docs/exit-codes in README).
public enum ExitCode: Int32, Sendable, CaseIterable {
    /// The trainer finished successfully.
    case success = 0
    /// The trainer failed with an unrecoverable error.
    case unrecoverable = 1
    /// Recoverable failures used up the retry budget (or the run's total time budget).
    case retriesExhausted = 2
    /// Usage error: fix the command line.
    case usage = 64
    /// A named input (policy, config, command) does not exist.
    case noInput = 66
    /// Another live supervisor holds the run's lock.
    case runBusy = 69
    /// Stopped before completion but resumable: run the same command again.
    case resumable = 75
    /// The policy or the trainer config is invalid.
    case invalidConfiguration = 78
}

/// Something that went wrong in Vigil itself (not in the trainer), with what a person needs to fix it.
public struct VigilError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem; decides the exit code.
    public enum Code: Sendable, Equatable {
        case usage
        case notFound
        case invalidPolicy
        case invalidConfig
        case runBusy
        case io
    }

    public var code: Code
    /// The file the problem concerns, when there is one.
    public var file: String?
    /// The key path inside that file (`restart.maxRetries`), when there is one.
    public var key: String?
    /// One or more sentences a person can act on.
    public var message: String

    public init(_ code: Code, file: String? = nil, key: String? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.key = key
        self.message = message
    }

    /// The exit code a command ends with when this error stops it.
    public var exitCode: ExitCode {
        switch code {
        case .usage: return .usage
        case .notFound: return .noInput
        case .invalidPolicy, .invalidConfig: return .invalidConfiguration
        case .runBusy: return .runBusy
        case .io: return .unrecoverable
        }
    }

    public var description: String {
        var location = ""
        if let file { location += file }
        if let key { location += location.isEmpty ? key : ": \(key)" }
        return location.isEmpty ? message : "\(location): \(message)"
    }
}
