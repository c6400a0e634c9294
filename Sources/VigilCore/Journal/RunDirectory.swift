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

/// A run's directory under the log directory (`logs/<run>/`), its journal and its lock.
public struct RunDirectory: Sendable {
    public let path: String
    public let name: String

    public init(logDirectory: String, name: String) {
        self.name = name
        self.path = logDirectory + "/" + name
    }

    public var journalPath: String { path + "/journal.json" }
    public var lockPath: String { path + "/lock" }

    public func attemptLogName(_ number: Int) -> String { String(cFormat: "attempt-%03ld.log", number) }
    public func errorFilePath(_ number: Int) -> String { path + String(cFormat: "/attempt-%03ld.error.json", number) }
    /// `VIGIL_HEARTBEAT_FILE` of attempt `number`: touched by a trainer as it makes progress.
    public func heartbeatPath(_ number: Int) -> String { path + String(cFormat: "/attempt-%03ld.heartbeat", number) }

    /// The stable default name of a run: the script's (or command's) base name and a hash of the
    /// working directory and the command, so the same command in the same place is the same run.
    public static func defaultName(command: [String], workingDirectory: String) -> String {
        let base = baseName(command: command)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: stable across processes, unlike Hasher
        for byte in ([workingDirectory] + command).joined(separator: "\u{0}").utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return base + "-" + String(String(hash, radix: 16).suffix(8))
    }

    /// The script's (or command's) base name, made safe for a run name: `train` for
    /// `python train.py --lr 3`.
    public static func baseName(command: [String]) -> String {
        let script = command.dropFirst().first { !$0.hasPrefix("-") && ($0.hasSuffix(".py") || $0.contains("/")) }
        var base = Path.lastComponent((script ?? command.first ?? "run"))
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { base = String(base[..<dot]) }
        base = String(base.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" }.prefix(40))
        return base.isEmpty ? "run" : base
    }

    /// Checks a user-given run name: a single path component of safe characters.
    public static func validate(name: String) throws {
        let allowed = name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
        guard !name.isEmpty, allowed, name != ".", name != "..", !name.hasPrefix(".") else {
            throw VigilError(.usage, "invalid run name '\(name)': use letters, digits, '-', '_' and '.'")
        }
    }

    /// Creates the directory (0700 when `privateFiles`), refusing a symbolic link in its place.
    public func create(privateFiles: Bool = true) throws {
        var info = stat()
        if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK {
            throw VigilError(.io, file: path, "the run directory is a symbolic link; vigil never writes through one")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw VigilError(.io, file: path, "cannot create the run directory: \(errorText(error, path: path))")
        }
        chmod(path, privateFiles ? 0o700 : 0o755)
    }

    /// The network file system `path` is on (`NFS`), or nil for a local one (or when it cannot be told).
    public static func networkFileSystem(at path: String) -> String? {
        var type: Int64 = 0
        guard cvigil_file_system_type(path, &type) == 0 else { return nil }
        return networkFileSystem(type: type)
    }

    /// The network file system of a `statfs` `f_type` (Linux's magic numbers), or nil.
    public static func networkFileSystem(type: Int64) -> String? {
        switch UInt32(truncatingIfNeeded: type) {
        case 0x6969: return "NFS"  // NFS_SUPER_MAGIC
        case 0xFF53_4D42, 0xFE53_4D42: return "SMB"  // CIFS_SUPER_MAGIC, SMB2_SUPER_MAGIC
        default: return nil
        }
    }

    /// Moves the run's directory aside (`<run>.<timestamp>`) so a fresh run starts empty.
    public func archive(now: Date) throws -> String {
        let stamp = Journal.timestamp(now).replacing(":", with: "").replacing(".", with: "-")
        let target = "\(path).\(stamp)"
        guard rename(path, target) == 0 else {
            throw VigilError(.io, file: path, "cannot move the old run aside: \(String(cString: strerror(errno)))")
        }
        return target
    }
}

/// An exclusive `flock` on the run's lock file, held for the life of the supervisor. The kernel
/// releases it when the process dies (even by SIGKILL), and the trainer never inherits it (CLOEXEC,
/// and the spawner closes every other descriptor).
public final class RunLock: Sendable {
    private let fd: Int32
    /// Set when the file system has no `flock` (Lustre mounted without `flock`: ENOSYS; NFS without a
    /// lock manager: ENOLCK): the run goes on without the lock, and this says why.
    public let unsupported: String?

    private init(fd: Int32, unsupported: String? = nil) {
        self.fd = fd
        self.unsupported = unsupported
    }

    /// Takes the lock, or returns nil when another live process holds it.
    public static func acquire(_ path: String) throws -> RunLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            throw VigilError(.io, file: path, "cannot open the run lock: \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            if error == ENOSYS || error == ENOLCK || error == EOPNOTSUPP {
                return RunLock(fd: fd, unsupported: String(cString: strerror(error)))
            }
            close(fd)
            if error == EWOULDBLOCK { return nil }
            throw VigilError(.io, file: path, "cannot lock: \(String(cString: strerror(error)))")
        }
        let pid = "\(getpid())\n"
        ftruncate(fd, 0)
        _ = pid.withCString { systemWrite(fd, $0, strlen($0)) }
        return RunLock(fd: fd)
    }

    /// Whether a live process holds the lock at `path`. A probe: it takes the lock for an instant
    /// when it is free (a `vigil run` starting at that very instant would find the run busy).
    public static func isHeld(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    deinit { close(fd) }
}
