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

/// A value on the walker's model of the unpickler's stack: only what the format checks look at is kept
/// (short strings, integers, globals, small tuples, lists of short strings); everything else is `.other`.
indirect enum PickleValue: Equatable, Sendable {
    case none
    case int(Int64)
    /// LONG1's little-endian two's-complement bytes (at most 16 kept).
    case longBytes([UInt8])
    /// A protocol 0/1 LONG's decimal digits when they do not fit in Int64.
    case longText(String)
    case string(String)
    case global(module: String, name: String)
    case tuple([PickleValue])
    case list([String])
    case other

    /// Not a container: may sit inside a tracked tuple.
    var isScalar: Bool {
        switch self {
        case .tuple, .list: return false
        default: return true
        }
    }
}

/// Walks one pickle's opcode stream from the reader's position to its STOP, never executing anything and
/// never reading past the end of the file; memory stays bounded (the reader's buffer, a capped stack, a
/// bitset of memo entries and a capped number of tracked values). It checks what CPython's unpickler would reject before running any code: unknown opcodes,
/// arguments that run past the end of the file, stack underflow, unmatched marks, memo references to
/// nothing, and a STOP that leaves more than the one result.
struct PickleWalker {
    /// A pickle that reached its STOP.
    struct Stop {
        /// The offset just past the STOP opcode.
        let end: UInt64
        /// The PROTO opcode's argument; nil for a protocol 0/1 pickle (no PROTO).
        let protocolVersion: Int?
        /// What STOP returned, as far as it was tracked.
        let value: PickleValue
        /// The arguments of BINPERSID, in order (for legacy torch storages).
        let persistentIDs: [PickleValue]
        /// False when a limit stopped the tracking of values, memo entries or persistent ids (or a
        /// persistent id was a protocol 0 PERSID line), so `value` and `persistentIDs` may be incomplete.
        let trackedEverything: Bool
    }

    enum Outcome {
        case stop(Stop)
        /// The file ended before STOP; the string says where.
        case cutShort(String)
        /// Not a pickle (or a broken one); the string says why.
        case malformed(String)
        /// A valid prefix that this walker cannot follow soundly (joblib's inline arrays, limits).
        case unsupported(String)
    }

    /// Beyond these the walk stops with `.unsupported` (stack) or stops tracking values (the rest), which keeps
    /// its memory to tens of MB whatever the file holds.
    static let stackLimit = 1 << 20
    /// Memo indices below this are recorded in a bitset (2 MiB at most), so every GET is checked against them.
    static let memoIndexLimit: UInt64 = 1 << 24
    /// Memo entries whose value is kept (short strings, ints, globals, small tuples); the rest read as `.other`.
    static let memoValueLimit = 1 << 16
    static let persistentIDLimit = 1 << 18
    /// Strings kept in lists, over the whole pickle.
    static let listLimit = 1 << 18
    static let stringLimit = 256

    private enum Problem: Error {
        case cutShort(String)
        case malformed(String)
        case unsupported(String)
    }

    private let reader: FormatReader
    private let start: UInt64
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    /// Which memo indices exist (below `memoIndexLimit`), how many there are (CPython's `memo_len`, the index
    /// MEMOIZE uses), and the tracked values among them.
    private var memoBits: [UInt64] = []
    private var memoCount: UInt64 = 0
    private var memoValues: [UInt64: PickleValue] = [:]
    /// An index at or above `memoIndexLimit` was used, or a value past `memoValueLimit` was not kept.
    private var memoOverflowed = false
    private var persistentIDs: [PickleValue] = []
    private var trackedEverything = true
    private var listStrings = 0
    private var protocolVersion: Int?
    private var opcodeStart: UInt64 = 0
    private var opcode = PickleOpcode.stop

    private init(_ reader: FormatReader) {
        self.reader = reader
        start = reader.position
    }

    /// Walks the pickle that starts at the reader's position; the reader is left just past its STOP.
    static func walk(_ reader: FormatReader) throws -> Outcome {
        var walker = PickleWalker(reader)
        do {
            return .stop(try walker.run())
        } catch let problem as Problem {
            switch problem {
            case .cutShort(let detail): return .cutShort(detail)
            case .malformed(let why): return .malformed(why)
            case .unsupported(let why): return .unsupported(why)
            }
        }
    }

    private mutating func run() throws -> Stop {
        while true {
            opcodeStart = reader.position
            guard let byte = try reader.byte() else {
                throw Problem.cutShort("the file ends at byte \(opcodeStart) before the pickle's STOP")
            }
            guard let next = PickleOpcode(rawValue: byte) else {
                throw Problem.malformed(
                    "byte 0x\(String(byte, radix: 16, uppercase: true)) at offset \(opcodeStart) is not a pickle opcode"
                )
            }
            opcode = next
            if next == .stop { return try stop() }
            try step()
        }
    }

    private mutating func stop() throws -> Stop {
        let value = try pop()
        guard stack.isEmpty, marks.isEmpty else {
            throw Problem.malformed(
                "STOP at offset \(opcodeStart) leaves values behind (\(stack.count) more on the stack, \(marks.count) marks)"
            )
        }
        return Stop(
            end: reader.position, protocolVersion: protocolVersion, value: value, persistentIDs: persistentIDs,
            trackedEverything: trackedEverything && !memoOverflowed)
    }

    // MARK: - Opcodes

    private mutating func step() throws {
        switch opcode.argument {
        case .none: try applyBare()
        case .fixed(let width): try applyFixed(try fixed(width), width: width)
        case .line: try applyLine(try line())
        case .twoLines: try applyGlobal(module: try line(), name: try line())
        case .counted(let width, let signed): try applyCounted(try counted(width: width, signed: signed))
        }
    }

    /// Opcodes without an argument.
    private mutating func applyBare() throws {
        switch opcode {
        case .none: try push(.none)
        case .newtrue, .newfalse, .emptyDict, .emptySet, .nextBuffer: try push(.other)
        case .emptyList: try push(.list([]))
        case .emptyTuple: try push(.tuple([]))
        case .tuple: try push(Self.tuple(try popToMark()))
        case .tuple1, .tuple2, .tuple3:
            let count = Int(opcode.rawValue - PickleOpcode.tuple1.rawValue) + 1
            var items: [PickleValue] = []
            for _ in 0..<count { items.insert(try pop(), at: 0) }
            try push(Self.tuple(items))
        case .list: try push(list([], appending: try popToMark()))
        case .append: try append([try pop()])
        case .appends: try append(try popToMark())
        default: try applyBareObject()
        }
    }

    /// Argument-less opcodes that build, modify or discard objects.
    private mutating func applyBareObject() throws {
        switch opcode {
        case .dict:
            guard try popToMark().count % 2 == 0 else { throw malformed("odd number of items for DICT") }
            try push(.other)
        case .setitems:
            guard try popToMark().count % 2 == 0 else { throw malformed("odd number of items for SETITEMS") }
            try modifyTop()
        case .setitem:
            _ = try pop()
            _ = try pop()
            try modifyTop()
        case .additems:
            _ = try popToMark()
            try modifyTop()
        case .frozenset:
            _ = try popToMark()
            try push(.other)
        case .obj:
            guard !(try popToMark()).isEmpty else { throw malformed("OBJ without a class") }
            try push(.other)
        case .mark: marks.append(stack.count)
        case .pop: try discard()
        case .popMark: _ = try popToMark()
        case .dup:
            let top = try pop()
            try push(top)
            try push(top)
        case .reduce, .newobj, .build: try replace(2)
        case .newobjEx: try replace(3)
        case .stackGlobal: try stackGlobal()
        case .binpersid: try persistentID(try pop())
        case .memoize: try remember(at: memoCount)
        case .readonlyBuffer: try modifyTop()
        default: throw malformed("\(opcode.name) is not handled")  // every opcode is listed above
        }
    }

    /// Opcodes with a fixed-size argument.
    private mutating func applyFixed(_ bytes: [UInt8], width: Int) throws {
        let value = bytes.uint(at: 0, width: width)
        switch opcode {
        case .binint: try push(.int(Int64(Int32(bitPattern: UInt32(value)))))
        case .binint1, .binint2: try push(.int(Int64(value)))
        case .binfloat, .ext1, .ext2, .ext4: try push(.other)
        case .binget, .longBinget: try push(try recall(value))
        case .binput, .longBinput: try remember(at: value)
        case .proto:
            guard value <= 5 else { throw malformed("unsupported pickle protocol \(value)") }
            if opcodeStart == start { protocolVersion = Int(value) }
        case .frame:
            // A frame announces how many bytes follow; one longer than the rest of the file is cut short.
            guard value <= reader.remaining else {
                throw Problem.cutShort(
                    "a FRAME at offset \(opcodeStart) announces \(value) bytes but only \(reader.remaining) remain")
            }
        default: throw malformed("\(opcode.name) is not handled")
        }
    }

    /// Protocol 0 opcodes whose argument is a line of text.
    private mutating func applyLine(_ text: String?) throws {
        switch opcode {
        case .int:
            try push(text == "00" || text == "01" ? .other : Self.long(text))  // "00"/"01": False/True
        case .long:
            try push(Self.long(text))
        case .float:
            guard text.map({ Double($0) != nil }) ?? true else { throw malformed("FLOAT argument is not a number") }
            try push(.other)
        case .string:
            // CPython: "the STRING opcode argument must be quoted".
            guard let text else { return try push(.other) }
            guard text.count >= 2, let quote = text.first, quote == "'" || quote == "\"", text.last == quote
            else { throw malformed("STRING argument is not quoted") }
            try push(.other)
        case .unicode: try push(text.map(PickleValue.string) ?? .other)
        case .get, .put:
            guard let text else { throw Problem.unsupported("a memo index longer than \(Self.stringLimit) bytes") }
            guard let index = UInt64(text.trimmingSpaces()) else {
                throw malformed("\(opcode.name) argument is not an index")
            }
            if opcode == .get { try push(try recall(index)) } else { try remember(at: index) }
        case .persid:
            trackedEverything = false  // a protocol 0 persistent id is a string, not torch's tuple
            try push(.other)
        default: throw malformed("\(opcode.name) is not handled")
        }
    }

    /// GLOBAL and INST: a module and a name.
    private mutating func applyGlobal(module: String?, name: String?) throws {
        let value: PickleValue
        if let module, let name {
            try refuseInlineData(module: module, name: name)
            value = .global(module: module, name: name)
        } else {
            value = .other
        }
        if opcode == .inst {
            _ = try popToMark()
            try push(.other)
        } else {
            try push(value)
        }
    }

    /// Opcodes with a length-prefixed argument: the bytes when short, nil when skipped.
    private mutating func applyCounted(_ bytes: [UInt8]?) throws {
        switch opcode {
        case .shortBinunicode, .binunicode, .binunicode8:
            try push(bytes.flatMap { String(decoding: $0, as: UTF8.self) }.map(PickleValue.string) ?? .other)
        case .long1:
            try push(bytes.map { $0.count <= 16 ? PickleValue.longBytes($0) : .other } ?? .other)
        default:
            try push(.other)
        }
    }

    // MARK: - Arguments

    private func fixed(_ width: Int) throws -> [UInt8] {
        guard let bytes = try reader.bytes(width) else { throw cutShort() }
        return bytes
    }

    /// A newline-terminated argument as text; nil when it is longer than `stringLimit`.
    private func line() throws -> String? {
        guard let (bytes, whole) = try reader.line(keeping: Self.stringLimit) else { throw cutShort() }
        guard whole else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A length-prefixed argument: its bytes when at most `stringLimit` long, else nil (skipped by seeking).
    private func counted(width: Int, signed: Bool) throws -> [UInt8]? {
        let length = try fixed(width).uint(at: 0, width: width)
        if signed, width == 4, length & 0x8000_0000 != 0 {
            throw malformed("\(opcode.name) has a negative length")
        }
        guard length <= reader.remaining else {
            throw Problem.cutShort(
                "\(opcode.name) at offset \(opcodeStart) holds \(length) bytes but only \(reader.remaining) remain")
        }
        if length <= UInt64(Self.stringLimit) { return try reader.bytes(Int(length)) }
        _ = reader.skip(length)
        return nil
    }

    private func cutShort() -> Problem {
        .cutShort("the file ends at byte \(reader.position), inside \(opcode.name) at offset \(opcodeStart)")
    }

    private func malformed(_ why: String) -> Problem {
        .malformed("\(why) (offset \(opcodeStart))")
    }

    // MARK: - Stack and memo

    /// How many values sit above the innermost mark (what an opcode may pop).
    private var available: Int { stack.count - (marks.last ?? 0) }

    private mutating func push(_ value: PickleValue) throws {
        guard stack.count < Self.stackLimit else {
            throw Problem.unsupported("a pickle stack deeper than \(Self.stackLimit) values")
        }
        stack.append(value)
    }

    private mutating func pop() throws -> PickleValue {
        guard available > 0 else { throw malformed("\(opcode.name) pops from an empty stack") }
        return stack.removeLast()
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw malformed("\(opcode.name) without a MARK") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    /// Pops `count` values and pushes one untracked result (REDUCE, BUILD, NEWOBJ, NEWOBJ_EX).
    private mutating func replace(_ count: Int) throws {
        for _ in 0..<count { _ = try pop() }
        try push(.other)
    }

    /// POP: CPython pops the innermost mark when no value sits above it.
    private mutating func discard() throws {
        if let mark = marks.last, mark == stack.count {
            marks.removeLast()
        } else {
            _ = try pop()
        }
    }

    /// The value below a popped slice is changed in place (a dict, set or buffer): no longer tracked.
    private mutating func modifyTop() throws {
        guard available > 0 else { throw malformed("\(opcode.name) has nothing to modify") }
        stack[stack.count - 1] = .other
    }

    /// APPEND/APPENDS: a tracked list of short strings grows; anything else becomes untracked.
    private mutating func append(_ items: [PickleValue]) throws {
        guard available > 0 else { throw malformed("\(opcode.name) has no list to append to") }
        let top = stack.count - 1
        guard case .list(let strings) = stack[top] else { return stack[top] = .other }
        stack[top] = .other  // lets `strings` be appended to without a copy
        stack[top] = list(strings, appending: items)
    }

    private mutating func remember(at index: UInt64) throws {
        guard available > 0 else { throw malformed("\(opcode.name) with an empty stack") }
        if index < Self.memoIndexLimit {
            let (word, bit) = (Int(index >> 6), UInt64(1) << (index & 63))
            if word >= memoBits.count { memoBits += [UInt64](repeating: 0, count: word + 1 - memoBits.count) }
            if memoBits[word] & bit == 0 { memoCount += 1 }
            memoBits[word] |= bit
        } else {
            memoOverflowed = true
            memoCount += 1
        }
        // Mutable containers are not shared through the memo: a later APPEND would not reach the copy.
        let value = stack[stack.count - 1]
        switch value {
        case .other, .list: memoValues[index] = nil
        default:
            if memoValues.count < Self.memoValueLimit || memoValues[index] != nil {
                memoValues[index] = value
            } else {
                memoOverflowed = true
            }
        }
    }

    private func recall(_ index: UInt64) throws -> PickleValue {
        if let value = memoValues[index] { return value }
        guard index < Self.memoIndexLimit else { return .other }
        let word = Int(index >> 6)
        guard word < memoBits.count, memoBits[word] & (UInt64(1) << (index & 63)) != 0 else {
            throw malformed("memo entry \(index) does not exist")
        }
        return .other
    }

    private mutating func stackGlobal() throws {
        let name = try pop()
        let module = try pop()
        switch (module, name) {
        case (.string(let moduleName), .string(let globalName)):
            try refuseInlineData(module: moduleName, name: globalName)
            try push(.global(module: moduleName, name: globalName))
        case (.string, .other), (.other, .string), (.other, .other):
            try push(.other)  // a long or memoized-then-untracked string
        default:
            throw malformed("STACK_GLOBAL needs two strings")
        }
    }

    private mutating func persistentID(_ value: PickleValue) throws {
        if persistentIDs.count < Self.persistentIDLimit {
            persistentIDs.append(value)
        } else {
            trackedEverything = false
        }
        try push(.other)
    }

    /// joblib writes numpy arrays' raw bytes into the middle of the pickle stream, right after the
    /// wrapper object; past that point the stream is not opcodes.
    private func refuseInlineData(module: String, name: String) throws {
        if name == "NumpyArrayWrapper", module.hasSuffix("numpy_pickle") {
            throw Problem.unsupported("a joblib pickle with numpy arrays written inline")
        }
    }

    // MARK: - Values

    /// A small tuple of scalars (or of small tuples of scalars) is tracked; others are not.
    private static func tuple(_ items: [PickleValue]) -> PickleValue {
        guard items.count <= 8 else { return .other }
        for item in items {
            if case .tuple(let inner) = item, inner.allSatisfy(\.isScalar) { continue }
            if !item.isScalar { return .other }
        }
        return .tuple(items)
    }

    /// A list of short strings stays tracked while the pickle's budget of `listLimit` strings lasts.
    private mutating func list(_ strings: [String], appending items: [PickleValue]) -> PickleValue {
        listStrings += items.count
        guard listStrings <= Self.listLimit else { return .other }
        var strings = strings
        for item in items {
            guard case .string(let text) = item else { return .other }
            strings.append(text)
        }
        return .list(strings)
    }

    /// A protocol 0/1 INT or LONG argument (`123`, `123L`): an Int64, the digits of a larger one, or untracked.
    private static func long(_ text: String?) -> PickleValue {
        guard var digits = text else { return .other }
        if digits.hasSuffix("L") { digits.removeLast() }
        if let value = Int64(digits) { return .int(value) }
        let unsigned = digits.hasPrefix("-") ? digits.dropFirst() : Substring(digits)
        guard !unsigned.isEmpty, unsigned.allSatisfy({ $0.isASCII && $0.isNumber }) else { return .other }
        return .longText(digits)
    }
}
