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

/// `vigil checkpoints verify`: reads an exported archive from end to end and checks it against its
/// `MANIFEST.json`. It proves that the archive is what export wrote — no byte changed, nothing added
/// or left out — not who wrote it: there is no signature.
public enum ArchiveVerifier {
    /// What verification found.
    public struct Report: Sendable, Codable {
        public var archive: String
        /// The archive's top directory.
        public var root: String?
        public var manifest: ExportManifest?
        /// Regular files checked against the manifest.
        public var filesChecked: Int
        public var bytesChecked: Int
        /// Every problem, in the order found; empty when the archive is good.
        public var problems: [String]

        public var isValid: Bool { problems.isEmpty && manifest != nil }
    }

    static let notAnArchive =
        "not an archive written by vigil checkpoints export: expected a .tar.gz (gzip signature 1f 8b) or a "
        + ".tar (a ustar header) at the start"

    /// A member's file content is hashed as it streams by; the manifest is kept (up to this size).
    static let manifestLimit = 16 << 20

    /// Verifies `path`. Problems in the archive are in the report; an archive that cannot be read at
    /// all (missing, a link, a damaged gzip stream) throws.
    public static func verify(_ path: String) throws -> Report {
        let reader = try ArchiveReader(path: path)
        var report = Report(archive: path, filesChecked: 0, bytesChecked: 0, problems: [])
        var seen: [String: (size: Int, sha256: String)] = [:]
        var names = Set<String>()
        var pax: [String: String] = [:]
        var manifestData: Data?
        var headers = 0
        while true {
            let block: [UInt8]
            do {
                block = try reader.readExactly(TarHeader.blockSize)
            } catch let error as VigilError where headers == 0 && !reader.isGzip {
                throw VigilError(.io, file: path, "\(notAnArchive) (\(error.message))")
            }
            headers += 1
            let parsed: TarHeader.Parsed
            switch TarHeader.parse(block) {
            case .end:
                if try reader.readExactly(TarHeader.blockSize).contains(where: { $0 != 0 }) {
                    report.problems.append("a lone zero block inside the archive")
                }
                if try !reader.drainZeros() { report.problems.append("data after the end of the archive") }
                return finish(report, seen: seen, manifest: manifestData)
            case .invalid(let why):
                if headers == 1 && !reader.isGzip { throw VigilError(.io, file: path, notAnArchive) }
                report.problems.append(why)
                return report
            case .entry(let entry):
                parsed = entry
            }
            var name = pax["path"] ?? parsed.name
            let size = pax["size"].flatMap(Int.init) ?? parsed.size
            pax = [:]
            switch parsed.type {
            case UInt8(ascii: "x"):
                guard size <= 1 << 20 else {
                    report.problems.append("an extended header of \(size) bytes")
                    return report
                }
                let data = try reader.readExactly(padded(size))
                guard let records = TarHeader.paxRecords(Array(data.prefix(size))) else {
                    report.problems.append("an extended header that does not parse")
                    return report
                }
                pax = records
                continue
            case UInt8(ascii: "0"), 0, UInt8(ascii: "5"):
                break
            default:
                report.problems.append("\(name): \(describe(parsed.type)) refused (only files and directories)")
                try skip(reader, padded(size), archive: path)
                continue
            }
            let isDirectory = parsed.type == UInt8(ascii: "5")
            if isDirectory && name.hasSuffix("/") { name.removeLast() }
            if let problem = pathProblem(name, root: &report.root) {
                report.problems.append(problem)
            } else if !names.insert(name).inserted {
                report.problems.append("\(name): in the archive twice")
            }
            if isDirectory { continue }
            let relative =
                report.root.map { name.hasPrefix($0 + "/") ? String(name.dropFirst($0.count + 1)) : name }
                ?? name
            if relative == ExportManifest.fileName {
                guard size <= manifestLimit else {
                    report.problems.append("\(name): \(size) bytes, too large for a manifest")
                    try skip(reader, padded(size), archive: path)
                    continue
                }
                manifestData = Data(try reader.readExactly(padded(size)).prefix(size))
                continue
            }
            let digest = try hash(reader, size: size, archive: path)
            seen[relative] = (size, digest)
            report.filesChecked += 1
            report.bytesChecked += size
        }
    }

    /// Compares what was read with the manifest.
    private static func finish(_ report: Report, seen: [String: (size: Int, sha256: String)], manifest: Data?) -> Report
    {
        var report = report
        guard let manifest else {
            report.problems.append("no \(ExportManifest.fileName) in the archive")
            return report
        }
        guard let decoded = try? ExportManifest.decoder.decode(ExportManifest.self, from: manifest),
            decoded.format == ExportManifest.formatName
        else {
            report.problems.append("\(ExportManifest.fileName) is not a vigil export manifest")
            return report
        }
        report.manifest = decoded
        var listed = Set<String>()
        for file in decoded.files {
            listed.insert(file.path)
            guard let found = seen[file.path] else {
                report.problems.append("\(file.path): listed in the manifest, missing from the archive")
                continue
            }
            if found.size != file.size {
                report.problems.append("\(file.path): \(found.size) bytes, the manifest says \(file.size)")
            } else if found.sha256 != file.sha256 {
                report.problems.append("\(file.path): SHA-256 \(found.sha256), the manifest says \(file.sha256)")
            }
        }
        for path in seen.keys.sorted() where !listed.contains(path) {
            report.problems.append("\(path): in the archive, not in the manifest")
        }
        return report
    }

    /// What is wrong with a member's name: absolute, `..`, empty parts, or outside the top directory.
    static func pathProblem(_ name: String, root: inout String?) -> String? {
        if name.isEmpty { return "a member without a name" }
        if name.hasPrefix("/") { return "\(name): an absolute path refused" }
        if name.contains("\0") { return "a name with a NUL byte refused" }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains("..") { return "\(name): a path with '..' refused" }
        if parts.contains(where: { $0.isEmpty || $0 == "." }) {
            return "\(name): an empty or '.' path component refused"
        }
        let top = String(parts[0])
        if root == nil { root = top }
        if top != root { return "\(name): outside the archive's top directory \(root!)" }
        return nil
    }

    private static func describe(_ type: UInt8) -> String {
        switch type {
        case UInt8(ascii: "1"): return "a hard link"
        case UInt8(ascii: "2"): return "a symbolic link"
        case UInt8(ascii: "3"), UInt8(ascii: "4"): return "a device"
        case UInt8(ascii: "6"): return "a FIFO"
        case UInt8(ascii: "g"): return "a global extended header"
        case UInt8(ascii: "L"), UInt8(ascii: "K"): return "a GNU long-name entry"
        default: return "an entry of type '\(Character(Unicode.Scalar(type)))'"
        }
    }

    private static func padded(_ size: Int) -> Int { (size + 511) / 512 * 512 }

    private static func hash(_ reader: ArchiveReader, size: Int, archive: String) throws -> String {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var left = size
        while left > 0 {
            let got = try reader.read(into: buffer, count: min(left, chunk))
            guard got > 0 else { throw VigilError(.io, file: archive, "is damaged: it ends inside a file") }
            hasher.update(UnsafeRawBufferPointer(start: buffer, count: got))
            left -= got
        }
        try skip(reader, padded(size) - size, archive: archive)
        return SHA256.hexString(hasher.finalize())
    }

    private static func skip(_ reader: ArchiveReader, _ count: Int, archive: String) throws {
        guard count > 0 else { return }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        var left = count
        while left > 0 {
            let got = try reader.read(into: buffer, count: min(left, 64 << 10))
            guard got > 0 else { throw VigilError(.io, file: archive, "is damaged: it ends early") }
            left -= got
        }
    }
}
