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

/// The only way Vigil writes state: temp file in the same directory → fsync → rename → fsync directory.
/// A reader (or a crash at any instant) sees the old content or the new, never a mix.
public enum AtomicFile {
    /// Writes `data` to `path` atomically with the given permissions.
    /// - Parameter beforeRename: a test seam called after the temp file is durable, before the rename.
    public static func write(
        _ data: Data, to path: String, permissions: mode_t = 0o644, beforeRename: (() -> Void)? = nil
    ) throws {
        let directory = Path.parent(path)
        let name = Path.lastComponent(path)
        let temp =
            (directory.isEmpty ? "." : directory) + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, permissions)
        guard fd >= 0 else { throw ioError("cannot create", temp) }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        // The descriptor is closed exactly once, whichever way this ends (a second close could close
        // a descriptor another thread opened meanwhile).
        do {
            defer { close(fd) }
            try writeAll(fd, data, path: temp)
            guard fsync(fd) == 0 else { throw ioError("cannot fsync", temp) }
            fchmod(fd, permissions)  // the umask may have narrowed it
        }
        beforeRename?()
        guard rename(temp, path) == 0 else { throw ioError("cannot rename into place", path) }
        ok = true
        syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// fsyncs a directory so a rename in it survives a power cut.
    public static func syncDirectory(_ directory: String) {
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let n = systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ioError("cannot write", path)
                }
                offset += n
            }
        }
    }

    static func ioError(_ what: String, _ path: String) -> VigilError {
        VigilError(.io, file: path, "\(what): \(String(cString: strerror(errno)))")
    }
}

/// `write(2)` under one name on both platforms.
@inline(__always)
func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.write(fd, buffer, count)
    #else
        return Darwin.write(fd, buffer, count)
    #endif
}
