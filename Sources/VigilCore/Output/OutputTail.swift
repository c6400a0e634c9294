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

/// The last bytes of one output stream, kept in memory for classification (bounded, whatever the
/// trainer prints). Lines are cut out only when asked for, so the output path stays a memcpy.
public struct ByteRing: Sendable {
    public let capacity: Int
    private var storage: [UInt8]
    private var start = 0
    private var count = 0
    /// Whether bytes were dropped from the front (the first line may then be partial).
    public private(set) var truncated = false
    /// Whether the last byte dropped was a newline (then the first kept line is whole).
    private var droppedEndsLine = false

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        self.storage = [UInt8](repeating: 0, count: self.capacity)
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        var source = bytes
        if source.count >= capacity {
            if bytes.count > capacity {
                droppedEndsLine = bytes[bytes.count - capacity - 1] == 0x0A
            } else if count > 0 {
                droppedEndsLine = storage[(start + count - 1) % capacity] == 0x0A
            }
            source = UnsafeRawBufferPointer(rebasing: source[(source.count - capacity)...])
            truncated = truncated || count > 0 || bytes.count > capacity
            start = 0
            count = 0
        }
        let overflow = count + source.count - capacity
        if overflow > 0 {
            droppedEndsLine = storage[(start + overflow - 1) % capacity] == 0x0A
            start = (start + overflow) % capacity
            count -= overflow
            truncated = true
        }
        var writeAt = (start + count) % capacity
        var offset = 0
        while offset < source.count {
            let room = min(capacity - writeAt, source.count - offset)
            storage.withUnsafeMutableBytes { dest in
                dest.baseAddress!.advanced(by: writeAt).copyMemory(from: source.baseAddress! + offset, byteCount: room)
            }
            offset += room
            writeAt = (writeAt + room) % capacity
            count += room
        }
    }

    public var bytes: [UInt8] {
        if start + count <= capacity { return Array(storage[start..<(start + count)]) }
        return Array(storage[start...] + storage[..<((start + count) % capacity)])
    }

    /// The kept text as lines (invalid UTF-8 repaired, a partial first line dropped when truncated).
    /// A line ends at `\n`, and a `\r` before it goes (`\r\n`); split as bytes, not as Characters (to
    /// which `\r\n` is one, so a CRLF tail was one line), in a tenth of the time.
    public var lines: [String] {
        let bytes = self.bytes
        var start = 0
        if truncated, !droppedEndsLine, let newline = bytes.firstIndex(of: 0x0A) { start = newline + 1 }
        var lines: [String] = []
        bytes.withUnsafeBufferPointer { all in
            var lineStart = start
            func add(_ end: Int) {
                var stop = end
                if stop > lineStart, all[stop - 1] == 0x0D { stop -= 1 }
                lines.append(String(decoding: UnsafeBufferPointer(rebasing: all[lineStart..<stop]), as: UTF8.self))
            }
            for index in start..<all.count where all[index] == 0x0A {
                add(index)
                lineStart = index + 1
            }
            if lineStart < all.count { add(all.count) }
        }
        return lines
    }
}

/// The output tail of an attempt: what the classifier reads.
public struct OutputTail: Sendable, Equatable, Codable {
    /// The last lines of stdout.
    public var stdout: [String]
    /// The last lines of stderr (where Python prints tracebacks).
    public var stderr: [String]

    public init(stdout: [String] = [], stderr: [String] = []) {
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Both streams' lines, stdout first; for pattern matching, where order does not matter.
    public var allLines: [String] { stdout + stderr }
}
