/// A compiled regular expression (`RegexSyntax` parses it) run as a Pike VM over the UTF-8 bytes of
/// the subject, one scalar at a time: every thread of the automaton advances together, so a match
/// takes time linear in the subject's length (no catastrophic backtracking), with the leftmost
/// match and ICU's preference among greedy and lazy alternatives. Immutable: share it across
/// threads.
public struct RegexProgram: Sendable {
    /// Every instruction's payload is a plain value, so reading one costs no reference counting: what
    /// a consuming instruction accepts is a `ScalarClass` in `classes`.
    enum Instruction: Sendable {
        case consume(Int)  // one scalar of classes[index]
        case split(Int, Int)  // prefer the first
        case jump(Int)
        case save(Int)
        case assert(RegexAssertion)
        case look(Int, behind: Bool, negated: Bool, maxScalars: Int)
        case match
    }

    /// What one consuming instruction accepts: ASCII scalars by a 128-bit table, others by `other`.
    struct ScalarClass: Sendable {
        enum Other: Sendable {
            case none
            case scalar(Unicode.Scalar)
            case folded(Unicode.Scalar)
            case set(ScalarSet)
            case all
        }

        var ascii = ASCIITable()
        var other: Other

        init(accepting accepts: (Unicode.Scalar) -> Bool, other: Other) {
            for byte in 0..<128 where accepts(Unicode.Scalar(UInt8(byte))) { ascii.insert(UInt8(byte)) }
            self.other = other
        }

        func accepts(nonASCII scalar: Unicode.Scalar) -> Bool {
            switch other {
            case .none: return false
            case .scalar(let s): return s == scalar
            case .folded(let s): return RegexCase.foldedEqual(s, scalar)
            case .set(let set): return set.contains(scalar)
            case .all: return true
            }
        }
    }

    /// A set of ASCII bytes.
    struct ASCIITable: Sendable {
        var low: UInt64 = 0
        var high: UInt64 = 0

        mutating func insert(_ byte: UInt8) {
            if byte < 64 { low |= 1 << UInt64(byte) } else { high |= 1 << UInt64(byte - 64) }
        }

        @inline(__always)
        func contains(_ byte: UInt8) -> Bool {
            byte < 64 ? low & (1 << UInt64(byte)) != 0 : byte < 128 && high & (1 << UInt64(byte &- 64)) != 0
        }

        mutating func formUnion(_ other: ASCIITable) {
            low |= other.low
            high |= other.high
        }
    }

    let code: [Instruction]
    /// Each consuming instruction's class; `asciiTables[i]` is `classes[i].ascii`, kept apart so the
    /// hot loop reads plain values.
    let classes: [ScalarClass]
    let asciiTables: [ASCIITable]
    /// Lookaround bodies, each its own program that matches anchored at a position.
    let looks: [RegexProgram]
    /// Capturing groups (group 0 is the whole match).
    public let groupCount: Int
    public let groupNames: [String: Int]

    /// Compiles `pattern`; throws `RegexSyntaxError` with the offset of what is wrong.
    public init(_ pattern: String) throws {
        var parser = RegexParser(pattern)
        let node = try parser.parse()
        var compiler = Compiler()
        try compiler.emit(node)
        compiler.code.append(.match)
        self.init(compiler, groupCount: parser.groupCount, names: parser.names)
    }

    /// The ASCII bytes a match can start with, when a match must start with one of them or a non-ASCII
    /// byte; nil when that is not known (a match may be empty, or start with `.`). A search skips the
    /// ASCII bytes that cannot start a match instead of starting a thread at each.
    let firstASCII: ASCIITable?

    /// When the whole program is one scalar of a class (a lookaround's body like `[a-z]`): its index.
    let singleClass: Int?

    init(_ compiler: Compiler, groupCount: Int, names: [String: Int]) {
        if compiler.code.count == 2, case .consume(let index) = compiler.code[0], case .match = compiler.code[1] {
            singleClass = index
        } else {
            singleClass = nil
        }
        self.code = compiler.code
        self.classes = compiler.classes
        self.asciiTables = compiler.classes.map(\.ascii)
        self.looks = compiler.looks
        self.groupCount = groupCount
        self.groupNames = names
        self.firstASCII = RegexProgram.firstASCII(of: compiler.code, classes: compiler.classes)
    }

    /// Follows every path from the start through what consumes nothing (assertions and lookarounds pass:
    /// they only narrow) to the first instruction that consumes a scalar, and collects the ASCII scalars
    /// those accept.
    static func firstASCII(of code: [Instruction], classes: [ScalarClass]) -> ASCIITable? {
        var first = ASCIITable()
        var seen = Set<Int>()
        var stack = [0]
        while let pc = stack.popLast() {
            guard seen.insert(pc).inserted else { continue }
            switch code[pc] {
            case .jump(let target): stack.append(target)
            case .split(let a, let b): stack += [a, b]
            case .save, .assert, .look: stack.append(pc + 1)
            case .match: return nil
            case .consume(let index):
                if case .all = classes[index].other { return nil }
                first.formUnion(classes[index].ascii)
            }
        }
        return first
    }

    /// Builds the instruction list (Thompson's construction).
    struct Compiler {
        var code: [Instruction] = []
        var classes: [ScalarClass] = []
        var looks: [RegexProgram] = []
        static let limit = 100_000

        /// The class made for each set so far: a repetition's copies (`[A-Za-z0-9]{20,}`) share one,
        /// whose ASCII table is worked out once (128 lookups in the set).
        private var setClasses: [(set: ScalarSet, index: Int)] = []

        private mutating func consume(_ scalarClass: ScalarClass) {
            classes.append(scalarClass)
            code.append(.consume(classes.count - 1))
        }

        private mutating func consume(_ set: ScalarSet) {
            if let known = setClasses.first(where: { $0.set == set }) {
                code.append(.consume(known.index))
                return
            }
            consume(ScalarClass(accepting: set.contains, other: .set(set)))
            setClasses.append((set, classes.count - 1))
        }

        mutating func emit(_ node: RegexNode) throws {
            guard code.count < Compiler.limit else {
                throw RegexSyntaxError(offset: 0, message: "the pattern is too large once its repetitions are expanded")
            }
            switch node {
            case .empty: break
            case .scalar(let s, let fold):
                if fold && RegexCase.variants(of: s).count > 1 {
                    consume(ScalarClass(accepting: { RegexCase.foldedEqual(s, $0) }, other: .folded(s)))
                } else {
                    consume(ScalarClass(accepting: { $0 == s }, other: s.isASCII ? .none : .scalar(s)))
                }
            case .set(let set): consume(set)
            case .any(let dotAll):
                consume(ScalarClass(accepting: { dotAll || ($0 != "\n" && $0 != "\r") }, other: .all))
            case .sequence(let items): for item in items { try emit(item) }
            case .alternation(let branches): try alternation(branches)
            case .group(let inner, let index):
                if let index { code.append(.save(2 * index)) }
                try emit(inner)
                if let index { code.append(.save(2 * index + 1)) }
            case .assertion(let kind): code.append(.assert(kind))
            case .look(let inner, let behind, let negated):
                var sub = Compiler()
                try sub.emit(inner)
                sub.code.append(.match)
                looks.append(RegexProgram(sub, groupCount: 0, names: [:]))
                let maxScalars = RegexLength.of(inner).max ?? 0
                code.append(.look(looks.count - 1, behind: behind, negated: negated, maxScalars: maxScalars))
            case .repeated(let inner, let min, let max, let lazy):
                try repeated(inner, min: min, max: max, lazy: lazy)
            }
        }

        private mutating func alternation(_ branches: [RegexNode]) throws {
            var jumps: [Int] = []
            for (i, branch) in branches.enumerated() {
                if i < branches.count - 1 {
                    let split = code.count
                    code.append(.split(split + 1, -1))
                    try emit(branch)
                    jumps.append(code.count)
                    code.append(.jump(-1))
                    code[split] = .split(split + 1, code.count)
                } else {
                    try emit(branch)
                }
            }
            for jump in jumps { code[jump] = .jump(code.count) }
        }

        private mutating func repeated(_ inner: RegexNode, min: Int, max: Int?, lazy: Bool) throws {
            for _ in 0..<min { try emit(inner) }
            if let max {
                // Each optional copy: split to it or past all that are left.
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(code.count)
                    code.append(.split(-1, -1))
                    try emit(inner)
                }
                for split in splits {
                    code[split] = lazy ? .split(code.count, split + 1) : .split(split + 1, code.count)
                }
            } else {
                let split = code.count
                code.append(.split(-1, -1))
                try emit(inner)
                code.append(.jump(split))
                code[split] = lazy ? .split(code.count, split + 1) : .split(split + 1, code.count)
            }
        }
    }

    // MARK: - Matching

    /// The leftmost match in `bytes` (UTF-8) starting the search at `from`: the byte range of each
    /// group (nil for a group that did not take part).
    public func firstMatch(in bytes: UnsafeBufferPointer<UInt8>, from: Int = 0) -> [Range<Int>?]? {
        var machine: Machine? = nil
        return firstMatch(in: bytes, from: from, reusing: &machine)
    }

    /// `firstMatch(in:from:)` with a machine kept by the caller from one subject to the next (the
    /// metrics recorder runs each pattern over many lines: its buffers are allocated once).
    func firstMatch(
        in bytes: UnsafeBufferPointer<UInt8>, from: Int = 0, reusing machine: inout Machine?
    )
        -> [Range<Int>?]?
    {
        if machine == nil { machine = Machine(program: self, captures: true) }
        guard machine!.run(in: bytes, from: from, anchored: false, endingAt: nil) else { return nil }
        let matched = machine!.matched
        return (0...groupCount).map { group in
            let (a, b) = (matched[2 * group], matched[2 * group + 1])
            return a >= 0 && b >= 0 ? a..<b : nil
        }
    }

    /// Whether there is a match anywhere in `bytes` (UTF-8): no groups are kept, and the search stops at
    /// the first match the automaton reaches.
    public func matches(in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var vm = Machine(program: self, captures: false)
        return vm.run(in: bytes, from: 0, anchored: false, endingAt: nil)
    }

    /// `matches(in:)` with a machine kept by the caller from one subject to the next (a scanner runs
    /// one pattern over many lines: its buffers are allocated once).
    func matches(in bytes: UnsafeBufferPointer<UInt8>, reusing machine: inout Machine?) -> Bool {
        if machine == nil { machine = Machine(program: self, captures: false) }
        return machine!.run(in: bytes, from: 0, anchored: false, endingAt: nil)
    }

    /// The state of a search: the lists of threads at the current and the next position, each thread a
    /// program counter and (when captures are kept) a row of slots; every buffer is reused from step to
    /// step and from run to run.
    struct Machine {
        let program: RegexProgram
        /// The subject of the current run.
        var bytes = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
        /// Slots per thread: 2 per group with captures, none for a yes-or-no answer.
        let slotCount: Int
        /// The generation in which each instruction was last put on a list.
        var onList: [Int]
        var generation = 0
        var current = ThreadList()
        var next = ThreadList()
        /// The closure's work: instructions to explore, and slots to restore once a branch is explored.
        var stack: [Frame] = []
        /// The slots of the thread being followed through the closure.
        var work: [Int]
        /// The slots of the match found (with captures).
        var matched: [Int] = []
        /// The lookarounds' machines, each made when first needed.
        var lookMachines: [Machine?]

        enum Frame {
            case explore(Int)
            case restore(slot: Int, value: Int)
        }

        struct ThreadList {
            var pcs: [Int] = []
            var slots: [Int] = []
            mutating func clear() {
                pcs.removeAll(keepingCapacity: true)
                slots.removeAll(keepingCapacity: true)
            }
        }

        init(program: RegexProgram, captures: Bool) {
            self.program = program
            slotCount = captures ? 2 * (program.groupCount + 1) : 0
            onList = Array(repeating: -1, count: program.code.count)
            work = Array(repeating: -1, count: slotCount)
            lookMachines = Array(repeating: nil, count: program.looks.count)
        }

        /// Runs from `start`; true on a match (its slots in `matched` with captures). Anchored: only a
        /// match starting at `start`, and ending exactly at `end` when given.
        mutating func run(
            in bytes: UnsafeBufferPointer<UInt8>, from start: Int, anchored: Bool, endingAt end: Int?
        )
            -> Bool
        {
            self.bytes = bytes
            var found = false
            var position = start
            current.clear()
            next.clear()
            generation += 1
            if !anchored { skipToPossibleStart(&position) }
            startThread(at: position)
            while true {
                let (scalar, width) = UTF8Scalars.decode(bytes, at: position)
                let byte = scalar.map { $0.value < 0x80 ? UInt8($0.value) : 0xFF } ?? 0xFF
                generation += 1
                next.clear()
                var index = 0
                step: while index < current.pcs.count {
                    let pc = current.pcs[index]
                    switch program.code[pc] {
                    case .match:
                        if end == nil || position == end {
                            found = true
                            guard slotCount > 0 else { return true }  // yes or no: any match will do
                            matched = Array(current.slots[index * slotCount..<(index + 1) * slotCount])
                            matched[1] = position
                            break step  // lower-priority threads are cut
                        }
                    case .consume(let classIndex):
                        if let scalar {
                            let accepted =
                                byte < 0x80
                                ? program.asciiTables[classIndex].contains(byte)
                                : program.classes[classIndex].accepts(nonASCII: scalar)
                            if accepted {
                                loadWork(from: index)
                                add(toNext: true, pc + 1, at: position + width)
                            }
                        }
                    default: break
                    }
                    index += 1
                }
                if position >= bytes.count || (end != nil && position >= end!) { break }
                position += width
                swap(&current, &next)
                if !found, !anchored {
                    // A new attempt starting here, after every thread already running (with none running,
                    // at the next byte that can start a match; with some, only where one can start).
                    if current.pcs.isEmpty {
                        skipToPossibleStart(&position)
                        startThread(at: position)
                    } else if mayStart(at: position) {
                        startThread(at: position)
                    }
                } else if current.pcs.isEmpty {
                    break
                }
            }
            return found
        }

        private mutating func startThread(at position: Int) {
            if slotCount > 0 {
                for slot in 0..<slotCount { work[slot] = -1 }
                work[0] = position
            }
            add(toNext: false, 0, at: position)
        }

        private mutating func loadWork(from index: Int) {
            guard slotCount > 0 else { return }
            let base = index * slotCount
            for slot in 0..<slotCount { work[slot] = current.slots[base + slot] }
        }

        /// Whether a match may start at `position` (false only for an ASCII byte no match starts with).
        func mayStart(at position: Int) -> Bool {
            guard let first = program.firstASCII, position < bytes.count, bytes[position] < 0x80 else { return true }
            return first.contains(bytes[position])
        }

        /// Moves `position` over the ASCII bytes no match can start with (never past a non-ASCII byte, so it
        /// stays on a scalar's start).
        func skipToPossibleStart(_ position: inout Int) {
            guard let first = program.firstASCII else { return }
            while position < bytes.count, bytes[position] < 0x80, !first.contains(bytes[position]) { position += 1 }
        }

        /// Adds the thread at `pc` with the slots in `work`, and everything reachable from it without
        /// consuming input, in priority order, to the next list (or the current one).
        mutating func add(toNext: Bool, _ pc: Int, at position: Int) {
            stack.append(.explore(pc))
            while let frame = stack.popLast() {
                switch frame {
                case .restore(let slot, let value):
                    work[slot] = value
                case .explore(let pc):
                    guard onList[pc] != generation else { continue }
                    onList[pc] = generation
                    switch program.code[pc] {
                    case .jump(let target):
                        stack.append(.explore(target))
                    case .split(let first, let second):
                        stack.append(.explore(second))
                        stack.append(.explore(first))
                    case .save(let slot):
                        if slot < slotCount {
                            stack.append(.restore(slot: slot, value: work[slot]))
                            work[slot] = position
                        }
                        stack.append(.explore(pc + 1))
                    case .assert(let kind):
                        if holds(kind, at: position) { stack.append(.explore(pc + 1)) }
                    case .look(let index, let behind, let negated, let maxScalars):
                        if look(index, behind: behind, maxScalars: maxScalars, at: position) != negated {
                            stack.append(.explore(pc + 1))
                        }
                    case .consume, .match:
                        // The slots are appended from a buffer: a plain copy, where appending the array
                        // itself went through the generic path (a tenth of a metrics line's CPU).
                        if toNext {
                            next.pcs.append(pc)
                            if slotCount > 0 { work.withUnsafeBufferPointer { next.slots.append(contentsOf: $0) } }
                        } else {
                            current.pcs.append(pc)
                            if slotCount > 0 { work.withUnsafeBufferPointer { current.slots.append(contentsOf: $0) } }
                        }
                    }
                }
            }
        }

        mutating func look(_ index: Int, behind: Bool, maxScalars: Int, at position: Int) -> Bool {
            let body = program.looks[index]
            if let single = body.singleClass {
                // `(?<![a-z])`, `(?=\s)`: one scalar before or after, tested without running a machine.
                let scalar =
                    behind
                    ? UTF8Scalars.scalar(bytes, before: position) : UTF8Scalars.decode(bytes, at: position).0
                guard let scalar else { return false }
                return scalar.value < 0x80
                    ? body.asciiTables[single].contains(UInt8(scalar.value))
                    : body.classes[single].accepts(nonASCII: scalar)
            }
            var sub: Machine? = nil
            swap(&sub, &lookMachines[index])  // taken out while it runs: no copy, no reference counting
            if sub == nil { sub = Machine(program: body, captures: false) }
            defer { swap(&sub, &lookMachines[index]) }
            guard behind else { return sub!.run(in: bytes, from: position, anchored: true, endingAt: nil) }
            var start = position
            for _ in 0...maxScalars {
                if sub!.run(in: bytes, from: start, anchored: true, endingAt: position) { return true }
                guard start > 0 else { break }
                start = UTF8Scalars.previous(bytes, before: start)
            }
            return false
        }

        func holds(_ kind: RegexAssertion, at position: Int) -> Bool {
            switch kind {
            case .textStart: return position == 0
            case .textEnd: return position == bytes.count
            case .textEndBeforeNewline:
                return position == bytes.count || (position == bytes.count - 1 && bytes[position] == 0x0A)
            case .lineStart(let multiline):
                return position == 0 || (multiline && bytes[position - 1] == 0x0A)
            case .lineEnd(let multiline):
                if position == bytes.count { return true }
                if multiline { return bytes[position] == 0x0A || bytes[position] == 0x0D }
                return position == bytes.count - 1 && bytes[position] == 0x0A
            case .wordBoundary, .notWordBoundary:
                let before = position > 0 && UTF8Scalars.scalar(bytes, before: position).map(RegexCase.isWord) == true
                let after = UTF8Scalars.decode(bytes, at: position).0.map(RegexCase.isWord) == true
                return (before != after) == (kind == .wordBoundary)
            }
        }
    }
}

/// Decoding UTF-8 one scalar at a time (an invalid byte is U+FFFD, one byte wide).
enum UTF8Scalars {
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (Unicode.Scalar?, Int) {
        guard i < bytes.count else { return (nil, 0) }
        let b0 = bytes[i]
        if b0 < 0x80 { return (Unicode.Scalar(b0), 1) }
        var width = 0
        var value: UInt32 = 0
        if b0 & 0xE0 == 0xC0 {
            width = 2
            value = UInt32(b0 & 0x1F)
        } else if b0 & 0xF0 == 0xE0 {
            width = 3
            value = UInt32(b0 & 0x0F)
        } else if b0 & 0xF8 == 0xF0 {
            width = 4
            value = UInt32(b0 & 0x07)
        } else {
            return ("\u{FFFD}", 1)
        }
        guard i + width <= bytes.count else { return ("\u{FFFD}", 1) }
        for k in 1..<width {
            let b = bytes[i + k]
            guard b & 0xC0 == 0x80 else { return ("\u{FFFD}", 1) }
            value = value << 6 | UInt32(b & 0x3F)
        }
        return (Unicode.Scalar(value) ?? "\u{FFFD}", width)
    }

    /// Where the scalar before `i` starts.
    static func previous(_ bytes: UnsafeBufferPointer<UInt8>, before i: Int) -> Int {
        var j = i - 1
        var steps = 0
        while j > 0, bytes[j] & 0xC0 == 0x80, steps < 3 {
            j -= 1
            steps += 1
        }
        return max(0, j)
    }

    static func scalar(_ bytes: UnsafeBufferPointer<UInt8>, before i: Int) -> Unicode.Scalar? {
        guard i > 0 else { return nil }
        return decode(bytes, at: previous(bytes, before: i)).0
    }
}

extension RegexProgram {
    /// The leftmost match in `text`: each group's range (nil where a group did not take part).
    public func firstMatch(in text: String) -> [Range<String.Index>?]? {
        var text = text
        text.makeContiguousUTF8()
        return text.utf8.withContiguousStorageIfAvailable { bytes -> [Range<String.Index>?]? in
            guard let found = firstMatch(in: bytes) else { return nil }
            let utf8 = text.utf8
            return found.map { range in
                range.map {
                    utf8.index(
                        utf8.startIndex, offsetBy: $0.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: $0.upperBound)
                }
            }
        } ?? nil
    }
}

extension RegexProgram {
    /// Every match, leftmost first and not overlapping, as ICU finds them: after an empty match the search
    /// goes on one character later. Each is the byte range of each group.
    public func allMatches(in bytes: UnsafeBufferPointer<UInt8>) -> [[Range<Int>?]] {
        var found: [[Range<Int>?]] = []
        var position = 0
        while position <= bytes.count, let match = firstMatch(in: bytes, from: position), let whole = match[0] {
            found.append(match)
            if whole.isEmpty {
                guard whole.upperBound < bytes.count else { break }
                position = whole.upperBound + max(1, UTF8Scalars.decode(bytes, at: whole.upperBound).1)
            } else {
                position = whole.upperBound
            }
        }
        return found
    }

    /// `literal` as a pattern that matches exactly it: every character with a meaning in a pattern escaped.
    public static func escaped(_ literal: String) -> String {
        var out = ""
        for character in literal {
            if "\\^$.|?*+()[]{}/-#&~ ".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }
}
