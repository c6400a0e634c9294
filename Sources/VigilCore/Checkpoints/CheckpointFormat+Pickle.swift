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

/// PyTorch checkpoints and plain pickles: torch.save's zip, its legacy pickle-sequence format, and pickles
/// walked opcode by opcode (`PickleWalker`) without executing them.
extension CheckpointFormat {
    /// `.pt`, `.pth`, `.ckpt`, `.bin`. A `.bin` that is neither a zip nor a pickle is `.unknown`, not
    /// incomplete: the extension is shared with many other formats (fastText, GGML, ONNX external data).
    static func checkPyTorch(_ file: FormatFile, strict: Bool) throws -> FormatVerdict {
        let head = try file.read(upTo: 4, at: 0)
        if head.starts(with: [0x50, 0x4b]) { return try checkZip(file, required: true) }
        if let verdict = try checkPickles(file, torch: true) { return verdict }
        // torch.save before 0.1.10 wrote a tar archive: recognised, not checked.
        if try file.read(upTo: 5, at: 257) == Array("ustar".utf8) { return .unknown }
        guard strict else { return .unknown }
        return .incomplete(
            "not a PyTorch checkpoint: neither a zip archive (torch.save) nor a pickle (legacy torch.save)")
    }

    /// `.pkl`, `.pickle`.
    static func checkPickle(_ file: FormatFile) throws -> FormatVerdict {
        if let verdict = try checkPickles(file, torch: false) { return verdict }
        let head = try file.read(upTo: 6, at: 0)
        if compressionMagics.contains(where: { head.starts(with: $0) }) {
            return .unknown  // joblib.dump(..., compress=...) and friends: the pickle is inside a compressed stream
        }
        return .incomplete(
            "not a pickle: it neither starts with a protocol 2–5 header (0x80) nor walks as a protocol 0/1 pickle "
                + "to a STOP at the end of the file")
    }

    /// zlib, gzip, bz2, xz, lzma (alone) and lz4 frame headers.
    private static let compressionMagics: [[UInt8]] = [
        [0x78, 0x01], [0x78, 0x5e], [0x78, 0x9c], [0x78, 0xda], [0x1f, 0x8b], Array("BZh".utf8),
        [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], [0x5d, 0x00, 0x00], [0x04, 0x22, 0x4d, 0x18], Array("ZF".utf8),
    ]

    /// The verdict for a file that starts as a pickle; nil when it does not look like one at all.
    private static func checkPickles(_ file: FormatFile, torch: Bool) throws -> FormatVerdict? {
        let head = try file.read(upTo: 2, at: 0)
        guard let first = head.first else { return nil }
        let protocolHeader = first == PickleOpcode.proto.rawValue && (head.count == 1 || head[1] <= 5)
        guard protocolHeader || PickleOpcode(rawValue: first) != nil else { return nil }
        let reader = FormatReader(file)
        let outcome = try PickleWalker.walk(reader)
        guard case .stop(let stop) = outcome else {
            return protocolHeader ? verdict(outcome, subject: "pickle") : nil
        }
        if torch, isLegacyMagic(stop.value) { return try checkLegacyTorch(reader, magic: stop) }
        // Without a protocol header, only a walk that ends exactly at the end of the file counts as a pickle.
        guard protocolHeader || stop.end == file.size else { return nil }
        let kind = torch ? "a plain pickle (not torch.save's format)" : "pickle"
        let version = stop.protocolVersion.map { "protocol \($0)" } ?? "protocol 0/1"
        let after = file.size - stop.end
        let rest = after == 0 ? " at the end of the file" : "; the \(after) bytes after it are not checked"
        return .complete("\(kind) (\(version)) walks to its STOP\(rest)")
    }

    /// What a walk that did not reach STOP means for the file.
    private static func verdict(_ outcome: PickleWalker.Outcome, subject: String) -> FormatVerdict {
        switch outcome {
        case .stop: return .unknown
        case .cutShort(let detail): return .incomplete("\(subject) is cut short: \(detail)")
        case .malformed(let detail): return .incomplete("\(subject) is malformed: \(detail)")
        case .unsupported: return .unknown
        }
    }

    // MARK: - Legacy torch.save

    /// torch.serialization.MAGIC_NUMBER, 0x1950a86a20f9469cfc6c.
    private static let legacyMagicBytes: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    private static func isLegacyMagic(_ value: PickleValue) -> Bool {
        value == .longBytes(legacyMagicBytes) || value == .longText("119547037146038801333356")
    }

    /// `torch.save(..., _use_new_zipfile_serialization=False)`: pickles of the magic number, the protocol
    /// version (1001), the system info and the object, a pickled sorted list of storage keys, then for each
    /// key an 8-byte little-endian element count and the storage's bytes. The object pickle's persistent ids
    /// `('storage', torch.<Type>Storage, key, location, numel, view)` give each storage's element size and
    /// count, so the storage part's exact length is known without executing anything.
    private static func checkLegacyTorch(_ reader: FormatReader, magic: PickleWalker.Stop) throws -> FormatVerdict {
        var stops = [magic]
        for part in ["protocol version", "system info", "object", "storage keys"] {
            guard reader.remaining > 0 else {
                return .incomplete("legacy torch.save file cut short: it ends before its \(part) pickle")
            }
            let outcome = try PickleWalker.walk(reader)
            guard case .stop(let stop) = outcome else {
                return verdict(outcome, subject: "legacy torch.save file: its \(part) pickle")
            }
            stops.append(stop)
        }
        guard stops[1].value == .int(1001) else {
            return .incomplete("legacy torch.save file has an unknown protocol version (torch writes 1001)")
        }
        guard stops[3].trackedEverything, case .list(let keys) = stops[4].value,
            let storages = legacyStorages(keys, persistentIDs: stops[3].persistentIDs)
        else {
            return .unknown  // the pickles are whole but the storage part's length cannot be derived
        }
        return try checkLegacyStorages(storages, from: stops[4].end, in: reader.file)
    }

    /// One storage record of a legacy file.
    private struct LegacyStorage {
        let key: String
        let count: UInt64
        let elementSize: UInt64
    }

    /// The records in file order (the pickled key list), each described by the first persistent id that
    /// names its key (the one torch.save wrote it from); nil when a key or an id cannot be read.
    private static func legacyStorages(_ keys: [String], persistentIDs: [PickleValue]) -> [LegacyStorage]? {
        var byKey: [String: LegacyStorage] = [:]
        for id in persistentIDs {
            guard case .tuple(let items) = id, let tag = items.first else { return nil }
            if tag == .string("module") { continue }  // torch.save(module): its class's source, no data
            guard tag == .string("storage"), items.count >= 5, case .global(let module, let type) = items[1],
                module == "torch" || module.hasPrefix("torch."), let size = storageElementSizes[type],
                case .string(let key) = items[2], case .int(let count) = items[4], count >= 0
            else { return nil }
            if byKey[key] == nil { byKey[key] = LegacyStorage(key: key, count: UInt64(count), elementSize: size) }
        }
        guard Set(keys) == Set(byKey.keys), Set(keys).count == keys.count else { return nil }
        return keys.map { byKey[$0]! }
    }

    /// Bytes per element of each storage type torch pickles (`torch._utils._element_size`).
    private static let storageElementSizes: [String: UInt64] = [
        "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
        "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
        "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8, "QUInt8Storage": 1, "QInt8Storage": 1,
        "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
    ]

    private static func checkLegacyStorages(
        _ storages: [LegacyStorage], from start: UInt64, in file: FormatFile
    )
        throws -> FormatVerdict
    {
        var end = start
        var offsets: [UInt64] = []
        offsets.reserveCapacity(storages.count)
        for storage in storages {
            let (bytes, overflow) = storage.count.multipliedReportingOverflow(by: storage.elementSize)
            let (next, overflow2) = end.addingReportingOverflow(8)
            let (after, overflow3) = next.addingReportingOverflow(bytes)
            guard !overflow, !overflow2, !overflow3 else {
                return .incomplete("legacy torch.save file names an impossibly large storage \(storage.key)")
            }
            offsets.append(end)
            end = after
        }
        guard end <= file.size else {
            return .incomplete(
                "legacy torch.save file cut short: its \(storages.count) storages end at byte \(end), "
                    + "but the file has \(file.size) bytes")
        }
        for (storage, offset) in zip(storages, offsets) {
            let count = try file.read(at: offset, count: 8).uint64(at: 0)
            guard count == storage.count else {
                return .incomplete(
                    "legacy torch.save file is corrupt: storage \(storage.key) at byte \(offset) holds \(count) "
                        + "elements, its pickle says \(storage.count)")
            }
        }
        guard end == file.size else { return .unknown }  // bytes after the last storage: not torch.save's layout
        let data = end - start
        return .complete(
            "legacy torch.save: 5 pickles walk to their STOPs and \(storages.count) storages (\(data) bytes) "
                + "end at the end of the file")
    }
}
