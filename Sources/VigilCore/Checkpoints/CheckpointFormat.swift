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

/// What a format check found out about a checkpoint file.
public enum FormatVerdict: Equatable, Sendable {
    /// The file's own structure proves it was written to the end; the string says what was verified.
    case complete(String)
    /// The file is visibly cut short or malformed; the string is a sentence saying why.
    case incomplete(String)
    /// The format is not recognised, or cannot prove anything either way.
    case unknown
}

/// Cheap structural checks that catch checkpoints truncated by a killed trainer, by file extension.
///
/// Each check reads only what it needs (the zip end record, a header, a superblock); pickles and UBJSON are
/// walked front to back through a 64 KiB buffer, long arguments skipped by seeking. Only `.json` is parsed
/// in full. Nothing is ever executed or decoded into objects.
public enum CheckpointFormat {
    /// Checks the file (or directory) at `path` by its extension. `.complete` means only what its sentence
    /// says was verified, never that the contents load:
    ///
    /// - `.zip`, `.npz`: the end-of-central-directory record (zip64 too) ends the file and the central
    ///   directory it points to lies within the file.
    /// - `.pt`, `.pth`, `.ckpt`, `.bin` (torch.save, Lightning, `pytorch_model.bin`): a zip as above; or a
    ///   legacy `torch.save(..., _use_new_zipfile_serialization=False)` file, whose five pickles (magic
    ///   number, protocol version 1001, system info, object, storage keys) walk to their STOPs and whose
    ///   storage records (an 8-byte element count, then count × the element size of the storage type named
    ///   in the object pickle's persistent ids) end exactly at the end of the file; or a plain pickle, walked
    ///   as for `.pkl`. A legacy file whose storage part cannot be derived (unknown storage type, protocol 0,
    ///   tracking limits) or that has bytes after its storages is `.unknown`. Neither zip nor pickle:
    ///   `.incomplete`, except `.bin` (many formats share it), which is `.unknown`.
    /// - `.pkl`, `.pickle`: the opcode stream (protocols 2–5 behind their 0x80 header; 0 and 1 only when the
    ///   walk ends exactly at the end of the file) reaches STOP within the file with valid opcodes, arguments
    ///   and stack use; bytes after STOP are not checked (the sentence says so). joblib pickles with inline
    ///   numpy data and compressed pickles (zlib, gzip, bz2, xz, lzma, lz4) are `.unknown`.
    /// - `.safetensors`: the header length, a JSON header that parses, and every tensor's `data_offsets` end
    ///   inside the file.
    /// - `.json`: non-empty and parses.
    /// - `.npy`: the magic, a header giving `shape` and `descr`, and at least header + data bytes.
    /// - `.txt`/`.model` LightGBM text models: `end of trees` near the end; other text files are `.unknown`.
    /// - `.h5`/`.hdf5`: a superblock (version 0–3, at byte 0 or after a 512, 1024, … byte user block) whose
    ///   end-of-file address lies within the file, and whose consistency flags do not say a writer still has
    ///   it open (HDF5 1.10 and later set that flag while writing and clear it on close). The end-of-file
    ///   address is rewritten only on flush and close, so a file can pass with its last writes missing if its
    ///   writer used an HDF5 older than 1.10.
    /// - `.keras`: a zip (Keras 3) as above, or HDF5 (Keras 2) as above.
    /// - `.ubj` (XGBoost): the file starts with a UBJSON object that walks, container by container, to its
    ///   closing brace within the file; bytes after it are not checked (XGBoost ignores them too).
    /// - directories and everything else: `.unknown`.
    ///
    /// A file that cannot be opened or read is `.unknown` (nothing is proven either way).
    public static func check(_ path: String, isDirectory: Bool) -> FormatVerdict {
        if isDirectory { return checkDirectory(path) }
        let ext = Path.pathExtension(path).lowercased()
        let checker: (FormatFile) throws -> FormatVerdict
        switch ext {
        case "zip", "npz": checker = { try checkZip($0, required: true) }
        case "pt", "pth", "ckpt": checker = { try checkPyTorch($0, strict: true) }
        case "bin": checker = { try checkPyTorch($0, strict: false) }
        case "pkl", "pickle": checker = checkPickle
        case "safetensors": checker = checkSafetensors
        case "json": checker = checkJSON
        case "npy": checker = checkNPY
        case "txt", "model": checker = checkLightGBM
        case "h5", "hdf5": checker = checkHDF5
        case "keras": checker = checkKeras
        case "ubj": checker = checkUBJSON
        default: return .unknown
        }
        do {
            let file = try FormatFile(path)
            defer { file.closeFile() }
            return try checker(file)
        } catch {
            return .unknown
        }
    }

    /// A directory checkpoint (HF `checkpoint-N/`, DeepSpeed, a sharded save) checked file by file:
    /// incomplete when any file of a known format inside is (naming it); complete when every file of
    /// a known format is, and there is at least one; `.unknown` otherwise. Symbolic links inside are
    /// not followed; at most 10,000 entries are looked at.
    static func checkDirectory(_ path: String) -> FormatVerdict {
        var verified = 0
        var seen = 0
        var verdict: FormatVerdict?
        let listed = Paths.walk(path) { relative in
            seen += 1
            if seen > 10_000 {
                verdict = .unknown
                return false
            }
            let full = path + "/" + relative
            var info = stat()
            guard lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return true }
            switch check(full, isDirectory: false) {
            case .incomplete(let why):
                verdict = .incomplete("\(relative) inside: \(why)")
                return false
            case .complete: verified += 1
            case .unknown: break
            }
            return true
        }
        guard listed else { return .unknown }
        if let verdict { return verdict }
        return verified == 0 ? .unknown : .complete("\(verified) file\(verified == 1 ? "" : "s") inside verified")
    }

    /// Verifies `path` against its `path.sha256` sidecar (`sha256sum` format: the hex digest is the first
    /// whitespace-separated token). Directories are hashed with `SHA256.hex(ofDirectory:)`.
    ///
    /// - Returns: nil when there is no sidecar; `.complete("sha256 verified")`; `.incomplete` on a mismatch
    ///   or a sidecar that holds no digest; `.unknown` when the sidecar or the checkpoint cannot be read.
    public static func verifySHA256Sidecar(for path: String, isDirectory: Bool) -> FormatVerdict? {
        let sidecar = path + ".sha256"
        var info = stat()
        guard lstat(sidecar, &info) == 0 else { return nil }
        let name = Path.lastComponent(sidecar)
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .unknown }
        guard let file = try? FormatFile(sidecar) else { return .unknown }
        defer { file.closeFile() }
        guard let bytes = try? file.read(at: 0, count: Int(min(file.size, 64 * 1024))) else { return .unknown }
        let text = String(decoding: bytes, as: UTF8.self)
        var token = text.split(whereSeparator: { $0.isWhitespace }).first.map(String.init) ?? ""
        if token.hasPrefix("\\") { token.removeFirst() }  // sha256sum escapes names with a leading backslash
        let expected = token.lowercased()
        guard expected.count == 64, expected.allSatisfy({ $0.isHexDigit }) else {
            return .incomplete("sha256 sidecar \(name) does not start with a 64-digit hex digest")
        }
        let actual: String
        do {
            actual = isDirectory ? try SHA256.hex(ofDirectory: path) : try cachedDigest(ofFile: path)
        } catch {
            return .unknown
        }
        return actual == expected
            ? .complete("sha256 verified")
            : .incomplete("sha256 mismatch: expected \(expected), got \(actual)")
    }

    /// Digests of files already hashed, by identity (device, inode, size, modification time): the
    /// checkpoint step re-scans every 250 ms, and a checkpoint of many GB must be hashed once, not
    /// on every scan.
    private static let digests = Locked<[FileIdentity: String]>([:])

    struct FileIdentity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
    }

    /// The SHA-256 of the file at `path`, hashed once per version of the file.
    static func cachedDigest(ofFile path: String) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return try SHA256.hex(ofFile: path) }
        #if canImport(Glibc)
            let modified = (Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec))
        #else
            let modified = (Int(info.st_mtimespec.tv_sec), Int(info.st_mtimespec.tv_nsec))
        #endif
        let identity = FileIdentity(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modifiedSeconds: modified.0, modifiedNanoseconds: modified.1)
        if let known = digests.withLock({ $0[identity] }) { return known }
        let digest = try SHA256.hex(ofFile: path)
        digests.withLock { cache in
            if cache.count > 4096 { cache.removeAll() }  // a bound, not a policy: entries are cheap to redo
            cache[identity] = digest
        }
        return digest
    }

    // MARK: - zip (torch.save, np.savez)

    private static let localHeaderSignature: [UInt8] = [0x50, 0x4b, 0x03, 0x04]
    private static let endRecordSignature: UInt32 = 0x0605_4b50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    private static let zip64EndRecordSignature: UInt32 = 0x0606_4b50
    private static let centralHeaderSignature: UInt32 = 0x0201_4b50

    static func checkZip(_ file: FormatFile, required: Bool) throws -> FormatVerdict {
        let head = try file.read(at: 0, count: Int(min(file.size, 4)))
        if head != localHeaderSignature {
            // An archive with no entries is only an end record.
            if required, file.size == 22, head == [0x50, 0x4b, 0x05, 0x06] {
                return .complete("empty zip archive")
            }
            return required ? .incomplete("not a zip archive: it does not start with a local file header") : .unknown
        }
        let tailLength = Int(min(file.size, 65_557))
        let tailStart = file.size - UInt64(tailLength)
        let tail = try file.read(at: tailStart, count: tailLength)
        // The end record is 22 bytes plus a comment that reaches exactly to the end of the file.
        var found: Int?
        var index = tailLength - 22
        while index >= 0 {
            if tail.uint32(at: index) == endRecordSignature,
                index + 22 + Int(tail.uint16(at: index + 20)) == tailLength
            {
                found = index
                break
            }
            index -= 1
        }
        guard let end = found else {
            return .incomplete("zip end-of-central-directory record missing: the archive was cut short")
        }
        let endPosition = tailStart + UInt64(end)
        var entries = UInt64(tail.uint16(at: end + 10))
        var directorySize = UInt64(tail.uint32(at: end + 12))
        var directoryOffset = UInt64(tail.uint32(at: end + 16))
        var directoryEnd = endPosition  // where the central directory must finish (plus any prepended bytes)
        let needsZip64 = entries == 0xffff || directorySize == 0xffff_ffff || directoryOffset == 0xffff_ffff
        if end >= 20, tail.uint32(at: end - 20) == zip64LocatorSignature {
            let recordPosition = tail.uint64(at: end - 20 + 8)
            guard recordPosition + 56 <= endPosition else {
                return .incomplete("zip64 end record lies beyond the end of the file: the archive was cut short")
            }
            let record = try file.read(at: recordPosition, count: 56)
            guard record.uint32(at: 0) == zip64EndRecordSignature else {
                return .incomplete("zip64 end record is missing where its locator points")
            }
            entries = record.uint64(at: 32)
            directorySize = record.uint64(at: 40)
            directoryOffset = record.uint64(at: 48)
            directoryEnd = recordPosition
        } else if needsZip64 {
            return .incomplete("zip end record needs a zip64 record that is missing")
        }
        // Like Python's zipfile: bytes prepended to the archive shift every offset by the same amount.
        let (limit, overflow) = directoryOffset.addingReportingOverflow(directorySize)
        guard !overflow, limit <= directoryEnd else {
            return .incomplete("zip central directory lies beyond the end of the file: the archive was cut short")
        }
        let shift = directoryEnd - limit
        if entries > 0 {
            let signature = try file.read(at: directoryOffset + shift, count: 4)
            guard signature.uint32(at: 0) == centralHeaderSignature else {
                return .incomplete("zip central directory is not where the end record says")
            }
        }
        return .complete("zip central directory intact (\(entries) \(entries == 1 ? "entry" : "entries"))")
    }

    // MARK: - safetensors

    private static func checkSafetensors(_ file: FormatFile) throws -> FormatVerdict {
        guard file.size >= 8 else { return .incomplete("safetensors file is shorter than its 8-byte header length") }
        let headerLength = try file.read(at: 0, count: 8).uint64(at: 0)
        guard headerLength <= file.size - 8 else {
            return .incomplete("safetensors header (\(headerLength) bytes) extends beyond the end of the file")
        }
        guard headerLength <= 100_000_000 else { return .unknown }  // the format's own limit
        let header = try file.read(at: 8, count: Int(headerLength))
        guard case .object(let tensors)? = JSONValue.parse(Data(header)) else {
            return .incomplete("safetensors header is not a valid JSON object")
        }
        var dataLength: UInt64 = 0
        for (name, value) in tensors where name != "__metadata__" {
            guard case .object(let tensor) = value, case .array(let offsets)? = tensor["data_offsets"],
                offsets.count == 2, let last = nonNegativeInteger(offsets[1])
            else {
                return .incomplete("safetensors header entry '\(name)' has no valid data_offsets")
            }
            dataLength = max(dataLength, last)
        }
        let expected = 8 + headerLength + dataLength
        guard file.size >= expected else {
            return .incomplete("safetensors file is \(file.size) bytes but its header needs \(expected)")
        }
        return .complete("safetensors header and \(tensors.count - (tensors["__metadata__"] == nil ? 0 : 1)) tensors")
    }

    /// A JSON number that is a non-negative integer (one beyond `Int` is read as a `Double`).
    private static func nonNegativeInteger(_ value: JSONValue) -> UInt64? {
        switch value {
        case .int(let number): return number >= 0 ? UInt64(number) : nil
        case .double(let number) where number >= 0 && number < 0x1p64 && number == number.rounded():
            return UInt64(number)
        default: return nil
        }
    }

    // MARK: - json

    /// Above this a `.json` checkpoint is not parsed (that would mean loading it whole).
    private static let largestJSON: UInt64 = 512 << 20

    private static func checkJSON(_ file: FormatFile) throws -> FormatVerdict {
        guard file.size <= largestJSON else { return .unknown }
        let bytes = try file.read(at: 0, count: Int(file.size))
        guard bytes.contains(where: { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }) else {
            return .incomplete("JSON file is empty")
        }
        // Python's json writes NaN and Infinity (a transformers log history after a NaN gradient norm).
        if let problem = JSONSyntax.problem(in: bytes) {
            return .incomplete("JSON does not parse (\(problem))")
        }
        return .complete("JSON parses")
    }

    // MARK: - npy

    private static func checkNPY(_ file: FormatFile) throws -> FormatVerdict {
        let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]  // \x93NUMPY
        guard file.size >= 10 else { return .incomplete("npy file is shorter than its header") }
        let prefix = try file.read(at: 0, count: Int(min(file.size, 12)))
        guard Array(prefix[0..<6]) == magic else { return .incomplete("npy magic \\x93NUMPY missing") }
        let headerStart: UInt64
        let headerLength: UInt64
        switch prefix[6] {
        case 1:
            headerStart = 10
            headerLength = UInt64(prefix.uint16(at: 8))
        case 2, 3:
            guard prefix.count >= 12 else { return .incomplete("npy file is shorter than its header") }
            headerStart = 12
            headerLength = UInt64(prefix.uint32(at: 8))
        default:
            return .unknown
        }
        guard headerStart + headerLength <= file.size else {
            return .incomplete("npy header extends beyond the end of the file")
        }
        let header = String(decoding: try file.read(at: headerStart, count: Int(headerLength)), as: UTF8.self)
        guard header.contains("}") else { return .incomplete("npy header is cut short") }
        guard let descr = npyValue(of: "descr", in: header), let shapeText = npyValue(of: "shape", in: header) else {
            return .incomplete("npy header lacks 'descr' or 'shape'")
        }
        guard descr.hasPrefix("'") || descr.hasPrefix("\""),
            let itemSize = npyItemSize(String(descr.dropFirst().dropLast()))
        else {
            return .unknown  // structured or object dtypes: the data size cannot be computed from the header
        }
        guard let shape = npyShape(shapeText) else { return .incomplete("npy header has an unreadable shape") }
        var count: UInt64 = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return .incomplete("npy shape is impossibly large") }
            count = product
        }
        let (dataSize, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow else { return .incomplete("npy shape is impossibly large") }
        let expected = headerStart + headerLength + dataSize
        guard file.size >= expected else {
            return .incomplete("npy file is \(file.size) bytes but its shape \(shapeText) needs \(expected)")
        }
        return .complete("npy data complete (shape \(shapeText), \(descr))")
    }

    /// The text of a value in numpy's header dict (`{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }`).
    private static func npyValue(of key: String, in header: String) -> String? {
        guard let keyRange = header.firstRange(of: "'\(key)'") ?? header.firstRange(of: "\"\(key)\"") else {
            return nil
        }
        var rest = header[keyRange.upperBound...].drop(while: { $0 == " " })
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop(while: { $0 == " " })
        guard let first = rest.first else { return nil }
        switch first {
        case "'", "\"":
            guard let close = rest.dropFirst().firstIndex(of: first) else { return nil }
            return String(rest[...close])
        case "(":
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        default:
            return nil  // a list: a structured dtype
        }
    }

    /// Bytes per element of a simple numpy type string (`<f4`, `|u1`, `<U8`, `<M8[ns]`); nil for object or
    /// unsized types.
    private static func npyItemSize(_ descr: String) -> UInt64? {
        var rest = Substring(descr)
        if let first = rest.first, "<>|=".contains(first) { rest = rest.dropFirst() }
        guard let kind = rest.first, kind != "O" else { return nil }
        let digits = rest.dropFirst().prefix(while: { $0.isASCII && $0.isNumber })
        guard let size = UInt64(digits) else { return nil }
        return kind == "U" ? size * 4 : size
    }

    /// The dimensions of `(3, 4)`, `(5,)` or `()`.
    private static func npyShape(_ text: String) -> [UInt64]? {
        let inner = text.dropFirst().dropLast()
        var dimensions: [UInt64] = []
        for part in inner.split(separator: ",") {
            let trimmed = part.trimmingSpaces().replacing("L", with: "")
            if trimmed.isEmpty { continue }
            guard let value = UInt64(trimmed) else { return nil }
            dimensions.append(value)
        }
        return dimensions
    }

    // MARK: - UBJSON (XGBoost)

    /// XGBoost writes its model as one UBJSON object; bytes after it are ignored by XGBoost's loader.
    private static func checkUBJSON(_ file: FormatFile) throws -> FormatVerdict {
        let reader = FormatReader(file)
        guard try reader.peek() == UInt8(ascii: "{") else {
            return .incomplete("not an XGBoost UBJSON model: it does not start with an object ('{')")
        }
        switch try UBJSONWalker.walk(reader) {
        case .end(let end):
            let after = file.size - end
            let rest = after == 0 ? " at the end of the file" : "; the \(after) bytes after it are not checked"
            return .complete("UBJSON object walks to its closing brace\(rest)")
        case .cutShort(let detail): return .incomplete("UBJSON model is cut short: \(detail)")
        case .malformed(let detail): return .incomplete("UBJSON model is malformed: \(detail)")
        case .unsupported: return .unknown
        }
    }

    // MARK: - LightGBM

    private static func checkLightGBM(_ file: FormatFile) throws -> FormatVerdict {
        let head = try file.read(at: 0, count: Int(min(file.size, 16)))
        guard head.starts(with: Array("tree\n".utf8)) || head.starts(with: Array("version=".utf8)) else {
            return .unknown
        }
        let tailLength = Int(min(file.size, 1 << 20))
        let tail = try file.read(at: file.size - UInt64(tailLength), count: tailLength)
        let marker = Array("end of trees".utf8)
        guard tail.firstRange(of: marker) != nil else {
            return .incomplete("LightGBM model lacks 'end of trees': it was cut short")
        }
        return .complete("LightGBM model ends its trees")
    }

}
