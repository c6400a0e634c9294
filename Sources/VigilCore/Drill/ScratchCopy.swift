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

/// A copy of the working directory for one of the drill's runs, so that the reference run and the
/// interrupted run each start from the same files and neither touches the user's.
///
/// Regular files are copied (with `copy_file_range` where the kernel has it, which shares extents on
/// file systems that can), directories re-created and symbolic links re-created as they are (a link to
/// a data set outside stays a link to it), with their permission bits and modification times. Left
/// out, at any depth: the paths in `excluding` (relative to the source: the checkpoint directory, the
/// drill's own files), `.git`, `.build` and `.vigil-drill`, and vigil log directories (a directory
/// with a run in it: `*/journal.json`) and copies kept by earlier drills (with a `.vigil-drill/` inside)
/// — what vigil and the trainer write, not what the trainer reads. FIFOs, sockets and devices are skipped.
public enum ScratchCopy {
    /// Names never copied.
    static let skippedNames: Set<String> = [".git", ".build", ".vigil-drill"]

    /// Copies `source` into `destination` (created; must not exist). Returns the bytes copied.
    @discardableResult
    public static func make(from source: String, to destination: String, excluding: Set<String> = []) throws -> Int {
        var bytes = 0
        try copyDirectory(source, destination, relative: "", excluding: excluding, bytes: &bytes)
        return bytes
    }

    private static func copyDirectory(
        _ source: String, _ destination: String, relative: String, excluding: Set<String>, bytes: inout Int
    ) throws {
        var info = stat()
        guard lstat(source, &info) == 0 else { throw error("cannot read", source) }
        guard mkdir(destination, 0o700) == 0 else { throw error("cannot create", destination) }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: source).sorted()
        } catch {
            throw VigilError(.io, file: source, "cannot list: \(errorText(error))")
        }
        for name in names {
            let path = relative.isEmpty ? name : relative + "/" + name
            if skippedNames.contains(name) || excluding.contains(path) { continue }
            let from = source + "/" + name
            let to = destination + "/" + name
            var entry = stat()
            guard lstat(from, &entry) == 0 else { continue }  // vanished meanwhile
            switch entry.st_mode & S_IFMT {
            case S_IFDIR:
                if isLogDirectory(from) { continue }  // `logs/`, with `logs/<run>/journal.json` in it
                // A copy an earlier drill kept.
                if FileManager.default.fileExists(atPath: from + "/" + DrillRunner.stateDirectory) { continue }
                try copyDirectory(from, to, relative: path, excluding: excluding, bytes: &bytes)
            case S_IFREG:
                bytes += try copyFile(from, to, mode: entry.st_mode & 0o7777)
                setTimes(to, entry)
            case S_IFLNK:
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: from)
                guard symlink(target, to) == 0 else { throw error("cannot create the link", to) }
            default:
                continue
            }
        }
        chmod(destination, info.st_mode & 0o7777)
        setTimes(destination, info)
    }

    /// A directory holding at least one vigil run (`NAME/journal.json`).
    static func isLogDirectory(_ path: String) -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return false }
        return names.contains { FileManager.default.fileExists(atPath: path + "/" + $0 + "/journal.json") }
    }

    private static func copyFile(_ from: String, _ to: String, mode: mode_t) throws -> Int {
        let input = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw error("cannot read", from) }
        defer { close(input) }
        let output = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode | 0o200)
        guard output >= 0 else { throw error("cannot create", to) }
        defer { close(output) }
        var total = 0
        // copy_file_range: the kernel copies (and shares extents where the file system can); an error on
        // the first call means it cannot here (another file system, no support): read and write instead.
        while true {
            let copied = cvigil_copy_file_range(input, output, 1 << 30)
            if copied > 0 {
                total += Int(copied)
                continue
            }
            if copied == 0 {
                fchmod(output, mode)
                return total
            }
            if copied == -Int(EINTR) { continue }
            if total > 0 {
                throw VigilError(.io, file: from, "cannot copy: \(String(cString: strerror(Int32(-copied))))")
            }
            break
        }
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(input, buffer, size)
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw error("cannot read", from)
            }
            var offset = 0
            while offset < count {
                let written = systemWrite(output, buffer + offset, count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw error("cannot write", to)
                }
                offset += written
            }
            total += count
        }
        fchmod(output, mode)
        return total
    }

    private static func setTimes(_ path: String, _ info: stat) {
        #if canImport(Glibc)
            var times = [info.st_atim, info.st_mtim]
        #else
            var times = [info.st_atimespec, info.st_mtimespec]
        #endif
        _ = utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    private static func error(_ what: String, _ path: String) -> VigilError {
        VigilError(.io, file: path, "\(what): \(String(cString: strerror(errno)))")
    }
}
