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

extension CheckpointExport {
    /// The checkpoint (a file, or a directory and everything in it) and its sidecars, under
    /// `checkpoint/`. Nothing is followed: a symbolic link anywhere is an error, as is a FIFO, a socket
    /// or a device, and a sidecar outside the checkpoint directory.
    func checkpointMembers(_ checkpoint: Checkpoint) throws -> [Member] {
        var members: [Member] = [Member(path: "checkpoint", source: .directory, mode: 0o755, modified: 0)]
        let directory = Path.standardized(Path.parent(checkpoint.path))
        members[0].modified = Self.modified(of: try Self.entry(directory, allowDirectory: true))
        try collect(checkpoint.path, as: "checkpoint/" + checkpoint.name, into: &members)
        for sidecar in checkpoint.sidecars {
            let parent = Path.standardized(Path.parent(sidecar))
            guard parent == directory else {
                throw VigilError(.io, file: sidecar, "is outside the checkpoint directory; not exported")
            }
            let info = try Self.entry(sidecar, allowDirectory: false)
            members.append(
                Member(
                    path: "checkpoint/" + Path.lastComponent(sidecar),
                    source: .file(sidecar, size: Int(info.st_size)), mode: info.st_mode & 0o7777,
                    modified: Self.modified(of: info)))
        }
        return members
    }

    /// `path` and, for a directory, everything below it, depth first in name order.
    private func collect(_ path: String, as name: String, into members: inout [Member]) throws {
        let info = try Self.entry(path, allowDirectory: true)
        if (info.st_mode & S_IFMT) == S_IFREG {
            members.append(
                Member(
                    path: name, source: .file(path, size: Int(info.st_size)), mode: info.st_mode & 0o7777,
                    modified: Self.modified(of: info)))
            return
        }
        members.append(
            Member(path: name, source: .directory, mode: info.st_mode & 0o7777, modified: Self.modified(of: info)))
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        } catch {
            throw VigilError(.io, file: path, "cannot list: \(errorText(error))")
        }
        for child in names { try collect(path + "/" + child, as: name + "/" + child, into: &members) }
    }

    /// The run's `report.md`; written now from the journal when the run has none yet.
    func reportMember() throws -> (member: Member, generated: Bool) {
        let path = runDirectory + "/report.md"
        var info = stat()
        if lstat(path, &info) == 0 {
            _ = try Self.entry(path, allowDirectory: false)
            return (
                Member(
                    path: "report.md", source: .file(path, size: Int(info.st_size)), mode: 0o644,
                    modified: Self.modified(of: info)), false
            )
        }
        let text = RunSummary(journal: journal, redactor: redactor).markdown()
        return (
            Member(
                path: "report.md", source: .data(Data(text.utf8)), mode: 0o644,
                modified: Int(Date().timeIntervalSince1970)),
            true
        )
    }

    /// The trainer's config as the run uses it now (after vigil's repairs), under `config/`.
    /// - Throws: `.usage` when the run names none; `.notFound` when it is missing.
    func configMember() throws -> (member: Member, source: String) {
        guard
            let path = Supervisor.configPath(policy: policy, command: journal.command, in: journal.workingDirectory)
        else {
            throw VigilError(
                .usage, "--include-config: the run names no config file (config.path, or the trainer's --config)")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw VigilError(.notFound, file: path, "the run's config file does not exist")
        }
        let info = try Self.entry(path, allowDirectory: false)
        let member = Member(
            path: "config/" + Path.lastComponent(path), source: .file(path, size: Int(info.st_size)),
            mode: info.st_mode & 0o7777, modified: Self.modified(of: info))
        return (member, path)
    }

    /// The last values `metrics.jsonl` recorded at or before `step`.
    func loggedMetrics(upTo step: Int) -> [String: Double]? {
        var values: [String: Double] = [:]
        for point in MetricPoint.read(runDirectory + "/metrics.jsonl") {
            guard let at = point.step, at <= step else { continue }
            values.merge(point.values) { _, new in new }
        }
        return values.isEmpty ? nil : values
    }

    /// `lstat` of something to export: a regular file (or a directory where allowed), never a link.
    static func entry(_ path: String, allowDirectory: Bool) throws -> stat {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw VigilError(.io, file: path, "cannot be read: \(String(cString: strerror(errno)))")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return info
        case S_IFDIR where allowDirectory: return info
        case S_IFLNK: throw VigilError(.io, file: path, "is a symbolic link: refused (never followed, never exported)")
        default: throw VigilError(.io, file: path, "is not a regular file or directory: refused")
        }
    }

    /// Opens a regular file without following a link, checking it still is one.
    static func openRegular(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ELOOP { throw VigilError(.io, file: path, "is a symbolic link: refused") }
            throw VigilError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw VigilError(.io, file: path, "is not a regular file: refused")
        }
        return fd
    }

    static func modified(of info: stat) -> Int {
        #if canImport(Glibc)
            return Int(info.st_mtim.tv_sec)
        #else
            return Int(info.st_mtimespec.tv_sec)
        #endif
    }
}
