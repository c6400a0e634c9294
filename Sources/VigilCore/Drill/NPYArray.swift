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

/// A NumPy `.npy` file read for comparison: its header (dtype, order, shape) and its elements as
/// `Double`s, for the numeric dtypes (`f4`, `f8`, signed and unsigned integers of 1, 2, 4 and 8
/// bytes, `b1`), either byte order. Other dtypes (strings, records, objects) are compared as bytes.
public struct NPYArray: Sendable {
    /// `<f8`, `|u1` as the header writes it.
    public var descr: String
    public var fortranOrder: Bool
    public var shape: [Int]
    /// Where the data starts in the file.
    var dataOffset: Int
    var elementSize: Int
    var kind: Character
    var littleEndian: Bool

    /// The number of elements (the product of the shape; 1 for a scalar's `()`).
    public private(set) var count = 1

    /// Parses the header of `data`. Nil when it is not a `.npy` NPYArray can read numerically.
    public init?(_ data: Data) {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else { return nil }
        let major = bytes[6]
        let length: Int
        let start: Int
        if major == 1 {
            length = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else if major == 2 || major == 3, bytes.count >= 12 {
            length = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        } else {
            return nil
        }
        guard data.count >= start + length,
            let header = String(data: data.subdata(in: start..<(start + length)), encoding: .utf8)
                ?? String(data: data.subdata(in: start..<(start + length)), encoding: .isoLatin1),
            let descr = NPYArray.value(of: "descr", in: header).map(NPYArray.unquoted),
            let order = NPYArray.value(of: "fortran_order", in: header),
            let shapeText = NPYArray.value(of: "shape", in: header)
        else { return nil }
        self.descr = descr
        self.fortranOrder = order.hasPrefix("True")
        self.dataOffset = start + length
        let inner = String(shapeText.drop { "() ".contains($0) }.reversed().drop { "() ".contains($0) }.reversed())
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let word = part.trimmingSpaces()
            if word.isEmpty { continue }
            guard let dimension = Int(word), dimension >= 0 else { return nil }
            shape.append(dimension)
        }
        self.shape = shape
        let chars = Array(descr)
        guard chars.count >= 3, let size = Int(String(chars[2...])), [1, 2, 4, 8].contains(size) else { return nil }
        self.kind = chars[1]
        self.elementSize = size
        self.littleEndian = chars[0] != ">"
        switch (kind, size) {
        case ("f", 4), ("f", 8), ("i", _), ("u", _), ("b", 1): break
        default: return nil
        }
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= data.count else { return nil }
            count = product
        }
        guard data.count - dataOffset >= count * elementSize else { return nil }
    }

    /// Element `index` of `data` (the file this header was read from) as a Double.
    public func element(_ index: Int, in data: Data) -> Double {
        let offset = dataOffset + index * elementSize
        var raw: UInt64 = 0
        data.withUnsafeBytes { buffer in
            for byte in 0..<elementSize {
                let value = UInt64(buffer[offset + byte])
                let shift = littleEndian ? byte : elementSize - 1 - byte
                raw |= value << UInt64(8 * shift)
            }
        }
        switch (kind, elementSize) {
        case ("f", 4): return Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
        case ("f", _): return Double(bitPattern: raw)
        case ("i", _):
            let bits = UInt64(8 * elementSize)
            let signed = Int64(bitPattern: raw << (64 - bits)) >> Int64(64 - bits)
            return Double(signed)
        default: return Double(raw)
        }
    }

    /// The text after `'key':` up to the next top-level `,` (a tuple's commas are inside parentheses).
    static func value(of key: String, in header: String) -> String? {
        guard let range = header.firstRange(of: "'\(key)':") ?? header.firstRange(of: "\"\(key)\":") else { return nil }
        var depth = 0
        var result = ""
        for character in header[range.upperBound...] {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if depth == 0 && (character == "," || character == "}") { break }
            result.append(character)
            if depth < 0 { return nil }
        }
        return result.trimmingSpaces()
    }

    static func unquoted(_ text: String) -> String {
        String(text.drop { "'\" ".contains($0) }.reversed().drop { "'\" ".contains($0) }.reversed())
    }
}
