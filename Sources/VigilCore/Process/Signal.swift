#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A POSIX signal, named the way people write it in policies (`USR1`, `SIGTERM`, `9`).
public struct Signal: Sendable, Hashable, CustomStringConvertible, Codable {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let hangup = Signal(rawValue: SIGHUP)
    public static let interrupt = Signal(rawValue: SIGINT)
    public static let quit = Signal(rawValue: SIGQUIT)
    public static let abort = Signal(rawValue: SIGABRT)
    public static let kill = Signal(rawValue: SIGKILL)
    public static let terminate = Signal(rawValue: SIGTERM)
    public static let user1 = Signal(rawValue: SIGUSR1)
    public static let user2 = Signal(rawValue: SIGUSR2)
    public static let segmentationFault = Signal(rawValue: SIGSEGV)
    public static let stopProcess = Signal(rawValue: SIGSTOP)

    static let table: [(String, Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("ILL", SIGILL), ("TRAP", SIGTRAP),
        ("ABRT", SIGABRT), ("BUS", SIGBUS), ("FPE", SIGFPE), ("KILL", SIGKILL), ("USR1", SIGUSR1),
        ("SEGV", SIGSEGV), ("USR2", SIGUSR2), ("PIPE", SIGPIPE), ("ALRM", SIGALRM), ("TERM", SIGTERM),
        ("CHLD", SIGCHLD), ("CONT", SIGCONT), ("STOP", SIGSTOP), ("TSTP", SIGTSTP), ("TTIN", SIGTTIN),
        ("TTOU", SIGTTOU), ("URG", SIGURG), ("XCPU", SIGXCPU), ("XFSZ", SIGXFSZ), ("VTALRM", SIGVTALRM),
        ("PROF", SIGPROF), ("WINCH", SIGWINCH), ("IO", SIGIO), ("SYS", SIGSYS),
    ]

    /// The numbers a signal may be given as: Linux's, realtime signals included.
    public static let numbers: ClosedRange<Int32> = 1...64

    /// Parses `USR1`, `SIGUSR1`, `sigusr1` or a number in `numbers`.
    public init?(name: String) {
        var upper = name.uppercased()
        if upper.hasPrefix("SIG") { upper.removeFirst(3) }
        if let number = Int32(upper), Signal.numbers.contains(number) {
            self.rawValue = number
            return
        }
        guard let entry = Signal.table.first(where: { $0.0 == upper }) else { return nil }
        self.rawValue = entry.1
    }

    /// Whether a process can catch this signal: every one but SIGKILL and SIGSTOP.
    public var canBeCaught: Bool { self != .kill && self != .stopProcess }

    /// The short name without `SIG` (`TERM`), or the number when it has no name.
    public var name: String {
        Signal.table.first(where: { $0.1 == rawValue })?.0 ?? String(rawValue)
    }

    public var description: String { "SIG" + name }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let signal = Signal(name: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a signal: \(text)")
        }
        self = signal
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
