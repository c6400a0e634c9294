/// HDF5 (`.h5`, `.hdf5`, Keras 2 models) and `.keras` files.
extension CheckpointFormat {
    private static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]  // \x89HDF\r\n\x1a\n

    /// `.keras`: Keras 3 writes a zip archive, Keras 2 an HDF5 file.
    static func checkKeras(_ file: FormatFile) throws -> FormatVerdict {
        if try file.read(upTo: 2, at: 0) == [0x50, 0x4b] { return try checkZip(file, required: true) }
        if try hdf5Superblock(in: file) != nil { return try checkHDF5(file) }
        return .incomplete("not a Keras model: neither a zip archive (Keras 3) nor an HDF5 file (Keras 2)")
    }

    /// The superblock's offset: 0, or after a user block at 512, 1024, 2048, … bytes; nil when there is none.
    private static func hdf5Superblock(in file: FormatFile) throws -> UInt64? {
        var offset: UInt64 = 0
        while offset < file.size, file.size - offset >= 8 {
            if try file.read(at: offset, count: 8) == hdf5Signature { return offset }
            guard offset > 0 else {
                offset = 512
                continue
            }
            let (next, overflow) = offset.multipliedReportingOverflow(by: 2)
            guard !overflow else { return nil }
            offset = next
        }
        return nil
    }

    /// The fields of a superblock that the check needs.
    private struct Superblock {
        let version: UInt8
        let base: UInt64
        let endOfFile: UInt64
        /// File consistency flags: bit 0 is set while a writer has the file open (HDF5 1.10 and later).
        let flags: UInt32
    }

    /// Reads the superblock at `offset`: versions 0 and 1 (offset size at byte 13, flags at 20, base address at
    /// 24 or 28, then free-space, end-of-file and driver addresses) and 2 and 3 (offset size at 9, flags at 11,
    /// then base, extension, end-of-file and root addresses from 12).
    private static func superblock(at offset: UInt64, in file: FormatFile) throws -> FormatVerdict? {
        let bytes = try file.read(upTo: 64, at: offset)
        guard bytes.count > 9 else { return .incomplete("HDF5 file cut short inside its superblock") }
        let version = bytes[8]
        let sizeIndex: Int
        let addresses: Int
        switch version {
        case 0, 1: (sizeIndex, addresses) = (13, version == 0 ? 24 : 28)
        case 2, 3: (sizeIndex, addresses) = (9, 12)
        default: return .unknown  // a superblock version this check does not know
        }
        let width = Int(bytes[sizeIndex])
        guard width != 16 else { return .unknown }  // allowed, but not written in practice
        guard [2, 4, 8].contains(width) else {
            return .incomplete("HDF5 superblock is malformed: \(width)-byte addresses (HDF5 uses 2, 4, 8 or 16)")
        }
        guard bytes.count >= addresses + 3 * width else {
            return .incomplete("HDF5 file cut short inside its superblock")
        }
        let flags = version < 2 ? bytes.uint32(at: 20) : UInt32(bytes[11])
        let block = Superblock(
            version: version, base: bytes.uint(at: addresses, width: width),
            endOfFile: bytes.uint(at: addresses + 2 * width, width: width), flags: flags)
        return verdict(for: block, at: offset, width: width, fileSize: file.size)
    }

    static func checkHDF5(_ file: FormatFile) throws -> FormatVerdict {
        guard let offset = try hdf5Superblock(in: file) else {
            return .incomplete("HDF5 signature missing (looked at byte 0 and at 512, 1024, 2048, …)")
        }
        return try superblock(at: offset, in: file) ?? .unknown
    }

    private static func verdict(
        for block: Superblock, at offset: UInt64, width: Int, fileSize: UInt64
    )
        -> FormatVerdict
    {
        let undefined = width == 8 ? UInt64.max : (1 << (8 * UInt64(width))) - 1
        guard block.endOfFile != undefined, block.base != undefined else { return .unknown }
        // The stored end-of-file address counts from the start of the file when the superblock sits at the
        // base address; the HDF5 library shifts it by the difference when the file was moved (H5Fsuper.c).
        let (shifted, overflow) = block.endOfFile.addingReportingOverflow(offset)
        guard !overflow, shifted >= block.base else { return .unknown }
        let needed = shifted - block.base
        guard needed <= fileSize else {
            return .incomplete(
                "HDF5 file cut short: its superblock (version \(block.version)) says the data ends at byte "
                    + "\(needed), but the file has \(fileSize) bytes")
        }
        if block.flags & 1 != 0 {
            return .incomplete(
                "HDF5 file is still marked open for writing: its writer has not closed it (or died first)")
        }
        return .complete(
            "HDF5 superblock (version \(block.version)): data ends at byte \(needed) of \(fileSize), "
                + "not marked open for writing")
    }
}
