import CVigil

/// CRC-32 as gzip and zip compute it (reflected polynomial 0xEDB88320), in CVigil: by carry-less
/// multiplication (PCLMULQDQ) where the CPU has it, else slicing eight bytes at a time. The checksum of
/// the gzip stream `vigil checkpoints export` writes and `verify` checks.
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        value = cvigil_crc32(value, base, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }
}
