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

/// A directory opened once by descriptor. Every operation names an entry directly inside it and
/// goes through the descriptor with the `*at()` calls, so a directory renamed or replaced by a
/// symbolic link after it was opened is never reached by path, and no operation ever follows a
/// symbolic link: not at the entry itself, and not inside a tree it removes or links.
///
/// Names are single path components: `/`, `.`, `..` and the empty name are refused.
///
/// - Important: Checks such as "the target does not exist yet" are made just before the change and
///   are not atomic with it; they guard against mistakes and stale files, not against a hostile
///   process racing Vigil inside the directory.
public final class DirectoryHandle: Sendable {
    /// The path the directory was opened by, for messages only; it is never used to reach it again.
    public let path: String
    private let fd: Int32

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// What an entry is, from `fstatat(AT_SYMLINK_NOFOLLOW)`.
    public enum Kind: Sendable, Equatable {
        case file
        case directory
        case symbolicLink
        /// A device, socket or pipe.
        case other

        init(mode: mode_t) {
            switch mode & S_IFMT {
            case S_IFREG: self = .file
            case S_IFDIR: self = .directory
            case S_IFLNK: self = .symbolicLink
            default: self = .other
            }
        }
    }

    /// Opens the directory at `path`, which may itself be a symbolic link: it is resolved once
    /// (`realpath`) and the result opened with `O_NOFOLLOW`, so later operations all land in the
    /// directory it resolved to at this moment.
    public convenience init(resolving path: String) throws {
        guard let resolved = realpath(path, nil) else {
            throw DirectoryHandle.error("cannot resolve the directory", path)
        }
        defer { free(resolved) }
        let fd = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw DirectoryHandle.error("cannot open the directory", path) }
        self.init(fd: fd, path: path)
    }

    /// Opens the subdirectory `name` (creating it with `permissions` first when `create` and it is
    /// missing). A symbolic link or anything but a directory there is refused with an error that
    /// names the path and says what it is; nothing is followed.
    public func subdirectory(
        _ name: String, create: Bool = false, permissions: mode_t = 0o755
    ) throws
        -> DirectoryHandle
    {
        try DirectoryHandle.check(name)
        if create, mkdirat(fd, name, permissions) != 0, errno != EEXIST {
            throw error("cannot create the directory", name)
        }
        let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard child >= 0 else {
            let code = errno
            if code == ELOOP || code == ENOTDIR, let refusal = refusal(of: name) { throw refusal }
            errno = code
            throw error("cannot open the directory", name)
        }
        return DirectoryHandle(fd: child, path: entryPath(name))
    }

    /// Why `name` cannot be used as a directory (a symbolic link, or not a directory); nil when it is
    /// a real directory or does not exist.
    public func refusal(of name: String) -> VigilError? {
        guard let kind = try? kind(of: name), kind != .directory else { return nil }
        switch kind {
        case .symbolicLink:
            let target = linkTarget(name).map { " (to \($0))" } ?? ""
            return VigilError(
                .io, file: entryPath(name),
                "is a symbolic link\(target): refused, nothing is done through it")
        default:
            let what = kind == .file ? "a regular file" : "a device, socket or pipe"
            return VigilError(
                .io, file: entryPath(name), "is not a directory but \(what): refused, nothing is done through it")
        }
    }

    /// The names of the entries, without `.` and `..`, in no particular order. Read through a
    /// duplicate of the descriptor (`fdopendir` takes ownership of the one it is given).
    public func entries() throws -> [String] {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw error("cannot list the directory") }
        guard let stream = fdopendir(copy) else {
            let code = errno
            close(copy)
            errno = code
            throw error("cannot list the directory")
        }
        defer { closedir(stream) }
        rewinddir(stream)  // the duplicate shares the offset of earlier listings
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// `lstat` of the entry `name` (`fstatat` with `AT_SYMLINK_NOFOLLOW`); nil when there is none.
    public func status(of name: String) throws -> stat? {
        try DirectoryHandle.check(name)
        var info = stat()
        guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw error("cannot stat", name)
        }
        return info
    }

    /// What the entry `name` is, without following a symbolic link; nil when there is none.
    public func kind(of name: String) throws -> Kind? {
        try status(of: name).map { Kind(mode: $0.st_mode) }
    }

    /// Renames the entry `name` into `target` as `newName`. A symbolic link is refused (never
    /// moved), and so is an existing `newName`: nothing is replaced. Returns false when there is no
    /// entry `name` (it vanished).
    @discardableResult
    public func move(_ name: String, to target: DirectoryHandle, as newName: String) throws -> Bool {
        try DirectoryHandle.check(newName)
        guard let kind = try kind(of: name) else { return false }
        guard kind != .symbolicLink else {
            throw VigilError(.io, file: entryPath(name), "is a symbolic link: never moved")
        }
        guard try target.status(of: newName) == nil else {
            throw VigilError(.io, file: target.entryPath(newName), "already exists: not replaced")
        }
        guard renameat(fd, name, target.fd, newName) == 0 else {
            throw error("cannot move to \(target.entryPath(newName))", name)
        }
        return true
    }

    /// Removes the entry `name`: a regular file, or a directory tree. A tree is removed level by
    /// level, each opened with `O_NOFOLLOW`; a symbolic link inside it is unlinked, never followed.
    /// A symbolic link (or a device, socket, pipe) as `name` itself is refused. Returns false when
    /// there is no entry `name`.
    @discardableResult
    public func remove(_ name: String) throws -> Bool {
        switch try kind(of: name) {
        case nil:
            return false
        case .file:
            guard unlinkat(fd, name, 0) == 0 else {
                if errno == ENOENT { return false }
                throw error("cannot remove", name)
            }
        case .directory:
            try subdirectory(name).removeContents()
            guard unlinkat(fd, name, AT_REMOVEDIR) == 0 else { throw error("cannot remove the directory", name) }
        case .symbolicLink:
            throw VigilError(.io, file: entryPath(name), "is a symbolic link: never removed nor followed")
        case .other:
            throw VigilError(.io, file: entryPath(name), "is not a regular file or a directory: not removed")
        }
        return true
    }

    /// Empties this directory: subdirectories recursively, everything else (symbolic links
    /// included) unlinked.
    private func removeContents() throws {
        for name in try entries() {
            if try kind(of: name) == .directory {
                try subdirectory(name).removeContents()
                guard unlinkat(fd, name, AT_REMOVEDIR) == 0 else { throw error("cannot remove the directory", name) }
            } else {
                guard unlinkat(fd, name, 0) == 0 || errno == ENOENT else { throw error("cannot remove", name) }
            }
        }
    }

    /// Hard-links the entry `name` into `target` as `newName`. A regular file is linked, or copied
    /// where the file system refuses the link (`EXDEV`, `EPERM`, `EMLINK`); an existing regular file
    /// at `newName` is kept as it is. A directory is recreated there (an existing one is reused)
    /// with every regular file inside linked the same way, level by level with `O_NOFOLLOW`;
    /// symbolic links and special files inside are skipped. A symbolic link or special file as
    /// `name` itself is refused. Returns false when there is no entry `name`.
    ///
    /// In a tree, every entry is tried; the first error is thrown at the end.
    @discardableResult
    public func link(_ name: String, into target: DirectoryHandle, as newName: String) throws -> Bool {
        try DirectoryHandle.check(newName)
        switch try kind(of: name) {
        case nil:
            return false
        case .file:
            try linkFile(name, into: target, as: newName)
        case .directory:
            try target.subdirectory(newName, create: true).linkContents(of: subdirectory(name))
        case .symbolicLink:
            throw VigilError(.io, file: entryPath(name), "is a symbolic link: never followed nor preserved")
        case .other:
            throw VigilError(.io, file: entryPath(name), "is not a regular file or a directory: not preserved")
        }
        return true
    }

    /// Links every regular file and directory of `source` into this directory (see `link`).
    private func linkContents(of source: DirectoryHandle) throws {
        var first: Error?
        for name in try source.entries() {
            do {
                switch try source.kind(of: name) {
                case .file: try source.linkFile(name, into: self, as: name)
                case .directory: try subdirectory(name, create: true).linkContents(of: source.subdirectory(name))
                default: continue  // symbolic links and special files are not followed, nor preserved
                }
            } catch {
                first = first ?? error
            }
        }
        if let first { throw first }
    }

    /// Links the regular file `name` into `target`, or copies it when a link is impossible.
    private func linkFile(_ name: String, into target: DirectoryHandle, as newName: String) throws {
        if linkat(fd, name, target.fd, newName, 0) == 0 { return }
        switch errno {
        case EEXIST:
            guard try target.kind(of: newName) == .file else {
                throw VigilError(.io, file: target.entryPath(newName), "already exists and is not a regular file")
            }
        case EXDEV, EPERM, EMLINK:
            try copyFile(name, into: target, as: newName)
        default:
            throw error("cannot link to \(target.entryPath(newName))", name)
        }
    }

    /// Copies the bytes of the regular file `name` to a new file `newName` in `target` (same
    /// permission bits); a partial copy is removed.
    private func copyFile(_ name: String, into target: DirectoryHandle, as newName: String) throws {
        let source = openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard source >= 0 else { throw error("cannot open", name) }
        defer { close(source) }
        var info = stat()
        guard fstat(source, &info) == 0, Kind(mode: info.st_mode) == .file else {
            throw VigilError(.io, file: entryPath(name), "is no longer a regular file: not copied")
        }
        let copy = openat(
            target.fd, newName, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, info.st_mode & 0o7777)
        guard copy >= 0 else { throw target.error("cannot create", newName) }
        var done = false
        defer {
            close(copy)
            if !done { unlinkat(target.fd, newName, 0) }
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { systemRead(source, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw error("cannot read", name) }
            if count == 0 { break }
            try AtomicFile.writeAll(copy, Data(buffer[0..<count]), path: target.entryPath(newName))
        }
        done = true
    }

    /// Creates the new file `name` holding `contents` (`O_CREAT | O_EXCL | O_NOFOLLOW`: an existing
    /// entry, a symbolic link included, is never written through or replaced).
    public func createFile(_ name: String, contents: Data, permissions: mode_t = 0o644) throws {
        try DirectoryHandle.check(name)
        let file = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, permissions)
        guard file >= 0 else { throw error("cannot create", name) }
        defer { close(file) }
        do {
            try AtomicFile.writeAll(file, contents, path: entryPath(name))
        } catch {
            unlinkat(fd, name, 0)
            throw error
        }
    }

    /// Where the symbolic link `name` points, for messages.
    private func linkTarget(_ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlinkat(fd, name, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The path of the entry `name`, for messages.
    func entryPath(_ name: String) -> String { path + "/" + name }

    /// Refuses a name that is not a single path component.
    static func check(_ name: String) throws {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.utf8.contains(0) else {
            throw VigilError(.io, "'\(name)' is not a single path component: refused")
        }
    }

    /// An error naming the entry (or this directory) and the current `errno`.
    private func error(_ what: String, _ name: String? = nil) -> VigilError {
        let code = errno
        return DirectoryHandle.error(what, name.map(entryPath) ?? path, code: code)
    }

    private static func error(_ what: String, _ path: String, code: Int32 = errno) -> VigilError {
        VigilError(.io, file: path, "\(what): \(String(cString: strerror(code)))")
    }
}

/// `read(2)` under one name on both platforms (also inside types with a `read` of their own).
@inline(__always)
func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        return Glibc.read(fd, buffer, count)
    #else
        return Darwin.read(fd, buffer, count)
    #endif
}
