/// Walks one UBJSON value (Draft 12, as XGBoost writes its `.ubj` models) from the reader's position to its
/// end without building it: strings and counted arrays of fixed-size numbers are skipped by seeking, so
/// memory holds only the reader's buffer and one small frame per open container.
struct UBJSONWalker {
    enum Outcome {
        /// The value ended; the offset just past it.
        case end(UInt64)
        /// The file ended first; the string says where.
        case cutShort(String)
        /// Not UBJSON; the string says why.
        case malformed(String)
        /// Nested deeper than `depthLimit`.
        case unsupported(String)
    }

    static let depthLimit = 10_000

    private struct Container {
        let isObject: Bool
        /// Elements (or key/value pairs) still to come in a counted container; nil until the end marker.
        var remaining: UInt64?
        /// The marker every element has in a typed (`$`) container.
        let type: UInt8?
        var expectsKey: Bool
    }

    private enum Problem: Error {
        case cutShort(String)
        case malformed(String)
    }

    private let reader: FormatReader
    private var containers: [Container] = []

    private init(_ reader: FormatReader) {
        self.reader = reader
    }

    static func walk(_ reader: FormatReader) throws -> Outcome {
        var walker = UBJSONWalker(reader)
        do {
            return try walker.run()
        } catch let problem as Problem {
            switch problem {
            case .cutShort(let detail): return .cutShort(detail)
            case .malformed(let detail): return .malformed(detail)
            }
        }
    }

    private mutating func run() throws -> Outcome {
        try value(try marker(skippingNoOps: true))
        while !containers.isEmpty {
            guard containers.count <= Self.depthLimit else {
                return .unsupported("UBJSON nested deeper than \(Self.depthLimit) containers")
            }
            try advance()
        }
        return .end(reader.position)
    }

    /// One step inside the innermost container: its end, a key, or a value.
    private mutating func advance() throws {
        let top = containers.count - 1
        if containers[top].remaining == 0 {
            containers.removeLast()
            return
        }
        let counted = containers[top].remaining != nil
        if containers[top].isObject, containers[top].expectsKey {
            let first = try marker(skippingNoOps: !counted)
            if !counted, first == UInt8(ascii: "}") {
                containers.removeLast()
                return
            }
            try skipString(lengthMarker: first)
            containers[top].expectsKey = false
            return
        }
        let next = try containers[top].type ?? marker(skippingNoOps: !counted)
        if containers[top].type == nil, !counted, !containers[top].isObject, next == UInt8(ascii: "]") {
            containers.removeLast()
            return
        }
        if let remaining = containers[top].remaining { containers[top].remaining = remaining - 1 }
        if containers[top].isObject { containers[top].expectsKey = true }
        try value(next)
    }

    /// The value whose marker was just read: scalars and strings are skipped, containers are opened.
    private mutating func value(_ marker: UInt8) throws {
        if let size = Self.fixedSize(marker) {
            try skip(size)
            return
        }
        switch marker {
        case UInt8(ascii: "S"), UInt8(ascii: "H"): try skipString(lengthMarker: try self.marker(skippingNoOps: false))
        case UInt8(ascii: "["), UInt8(ascii: "{"): try open(isObject: marker == UInt8(ascii: "{"))
        default: throw malformed("byte 0x\(String(marker, radix: 16, uppercase: true)) is not a UBJSON type marker")
        }
    }

    /// After `[` or `{`: an optional `$type` and `#count`; a counted array of fixed-size numbers is skipped.
    private mutating func open(isObject: Bool) throws {
        var type: UInt8?
        var count: UInt64?
        if try reader.peek() == UInt8(ascii: "$") {
            _ = try reader.byte()
            let elementType = try marker(skippingNoOps: false)
            guard Self.fixedSize(elementType) != nil || "SH[{".utf8.contains(elementType) else {
                throw malformed("a container of type 0x\(String(elementType, radix: 16))")
            }
            type = elementType
            guard try marker(skippingNoOps: false) == UInt8(ascii: "#") else { throw malformed("`$` without `#`") }
            count = try length(try marker(skippingNoOps: false))
        } else if try reader.peek() == UInt8(ascii: "#") {
            _ = try reader.byte()
            count = try length(try marker(skippingNoOps: false))
        }
        if !isObject, let type, let count, let size = Self.fixedSize(type) {
            let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw malformed("an array of \(count) elements is impossibly large") }
            return try skip(bytes)
        }
        containers.append(Container(isObject: isObject, remaining: count, type: type, expectsKey: isObject))
    }

    // MARK: - Reading

    /// Bytes of a value after its marker, for markers whose payload has a fixed size.
    private static func fixedSize(_ marker: UInt8) -> UInt64? {
        switch marker {
        case UInt8(ascii: "Z"), UInt8(ascii: "N"), UInt8(ascii: "T"), UInt8(ascii: "F"): return 0
        case UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "C"): return 1
        case UInt8(ascii: "I"): return 2
        case UInt8(ascii: "l"), UInt8(ascii: "d"): return 4
        case UInt8(ascii: "L"), UInt8(ascii: "D"): return 8
        default: return nil
        }
    }

    /// The next marker byte; no-op markers (`N`) are skipped where a value may be left out.
    private func marker(skippingNoOps: Bool) throws -> UInt8 {
        while true {
            let offset = reader.position
            guard let byte = try reader.byte() else {
                throw Problem.cutShort("the file ends at byte \(offset)\(openContainers)")
            }
            if skippingNoOps, byte == UInt8(ascii: "N") { continue }
            return byte
        }
    }

    /// A length: an integer of the type `marker` names, big-endian, not negative.
    private func length(_ marker: UInt8) throws -> UInt64 {
        let width: Int
        switch marker {
        case UInt8(ascii: "i"), UInt8(ascii: "U"): width = 1
        case UInt8(ascii: "I"): width = 2
        case UInt8(ascii: "l"): width = 4
        case UInt8(ascii: "L"): width = 8
        default: throw malformed("a length must be an integer, not 0x\(String(marker, radix: 16))")
        }
        guard let bytes = try reader.bytes(width) else { throw cutShort() }
        let value = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let negative = marker != UInt8(ascii: "U") && bytes[0] & 0x80 != 0
        guard !negative else { throw malformed("a negative length") }
        return value
    }

    private func skipString(lengthMarker: UInt8) throws {
        try skip(try length(lengthMarker))
    }

    private func skip(_ count: UInt64) throws {
        let start = reader.position
        guard reader.skip(count) else {
            throw Problem.cutShort("\(count) bytes at offset \(start) run past the end of the file")
        }
    }

    private func cutShort() -> Problem {
        .cutShort("the file ends at byte \(reader.position)\(openContainers)")
    }

    private var openContainers: String {
        switch containers.count {
        case 0: return ""
        case 1: return " with 1 container still open"
        default: return " with \(containers.count) containers still open"
        }
    }

    private func malformed(_ why: String) -> Problem {
        .malformed("\(why) (offset \(reader.position))")
    }
}
