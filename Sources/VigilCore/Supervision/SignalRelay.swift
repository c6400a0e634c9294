import CVigil

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

/// Turns signals sent to vigil into events: a real handler (not SIG_IGN, which a child would
/// inherit) writes the signal number into a pipe; a dedicated thread reads it and calls `deliver`.
public enum SignalRelay {
    /// Installs the relay for `signals`. Call once per process.
    public static func install(_ signals: [Signal], deliver: @escaping @Sendable (Signal) -> Void) {
        var fds: [Int32] = [-1, -1]
        guard fds.withUnsafeMutableBufferPointer({ pipe($0.baseAddress!) }) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        let readEnd = fds[0]
        startThread(name: "vigil-signals") {
            var byte: UInt8 = 0
            while true {
                let n = read(readEnd, &byte, 1)
                if n == 1 {
                    deliver(Signal(rawValue: Int32(byte)))
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
        for signal in signals { _ = cvigil_relay_signal(signal.rawValue, fds[1]) }
    }

    /// Empties the calling thread's signal mask (call first thing on the main thread).
    public static func unblockAllSignals() {
        _ = cvigil_unblock_all_signals()
    }

    /// Writes to a closed pipe (`vigil run … | head`) become EPIPE errors instead of killing vigil.
    /// Children get default dispositions back at spawn, so the trainer is unaffected.
    public static func ignoreBrokenPipes() {
        _ = cvigil_ignore_signal(SIGPIPE)
    }
}
