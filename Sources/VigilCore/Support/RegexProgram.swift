/// A compiled regular expression (`RegexSyntax` parses it) run as a Pike VM over the UTF-8 bytes of
/// the subject, one scalar at a time: every thread of the automaton advances together, so a match
/// takes time linear in the subject's length (no catastrophic backtracking), with the leftmost
/// match and ICU's preference among greedy and lazy alternatives. Immutable: share it across
/// threads.
public struct RegexProgram: Sendable {
    enum Instruction: Sendable {
        case scalar(Unicode.Scalar)
        case foldedScalar(Unicode.Scalar)
        case set(ScalarSet)
        case any(dotAll: Bool)
        case split(Int, Int)  // prefer the first
        case jump(Int)
        case save(Int)
        case assert(RegexAssertion)
        case look(Int, behind: Bool, negated: Bool, maxScalars: Int)
        case match
    }

    let code: [Instruction]
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
        self.init(code: compiler.code, looks: compiler.looks, groupCount: parser.groupCount, names: parser.names)
    }

    /// The ASCII bytes a match can start with (indexed by byte), when a match must start with one of
    /// them or a non-ASCII byte; nil when that is not known (a match may be empty, or start with `.`).
    /// A search skips the ASCII bytes that cannot start a match instead of starting a thread at each.
    let firstASCII: [Bool]?

    init(code: [Instruction], looks: [RegexProgram], groupCount: Int, names: [String: Int]) {
        self.code = code
        self.looks = looks
        self.groupCount = groupCount
        self.groupNames = names
        self.firstASCII = RegexProgram.firstASCII(of: code)
    }

    /// Follows every path from the start through what consumes nothing (assertions and lookarounds pass:
    /// they only narrow) to the first instruction that consumes a scalar, and collects the ASCII scalars
    /// those accept.
    static func firstASCII(of code: [Instruction]) -> [Bool]? {
        var first = [Bool](repeating: false, count: 128)
        var seen = Set<Int>()
        var stack = [0]
        while let pc = stack.popLast() {
            guard seen.insert(pc).inserted else { continue }
            switch code[pc] {
            case .jump(let target): stack.append(target)
            case .split(let a, let b): stack += [a, b]
            case .save, .assert, .look: stack.append(pc + 1)
            case .match, .any: return nil
            case .scalar(let scalar): if scalar.isASCII { first[Int(scalar.value)] = true }
            case .foldedScalar(let scalar):
                for byte in 0..<128 where RegexCase.foldedEqual(scalar, Unicode.Scalar(UInt8(byte))) {
                    first[byte] = true
                }
            case .set(let set):
                for byte in 0..<128 where set.contains(Unicode.Scalar(UInt8(byte))) { first[byte] = true }
            }
        }
        return first
    }

    /// Builds the instruction list (Thompson's construction).
    struct Compiler {
        var code: [Instruction] = []
        var looks: [RegexProgram] = []
        static let limit = 100_000

        mutating func emit(_ node: RegexNode) throws {
            guard code.count < Compiler.limit else {
                throw RegexSyntaxError(offset: 0, message: "the pattern is too large once its repetitions are expanded")
            }
            switch node {
            case .empty: break
            case .scalar(let s, let fold):
                code.append(fold && RegexCase.variants(of: s).count > 1 ? .foldedScalar(s) : .scalar(s))
            case .set(let set): code.append(.set(set))
            case .any(let dotAll): code.append(.any(dotAll: dotAll))
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
                looks.append(RegexProgram(code: sub.code, looks: sub.looks, groupCount: 0, names: [:]))
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
        var vm = Machine(program: self, bytes: bytes)
        return vm.run(from: from, anchored: false, endingAt: nil)
    }

    /// Whether this program matches anchored at `start`, ending exactly at `end` when given.
    func matches(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, endingAt end: Int?) -> Bool {
        var vm = Machine(program: self, bytes: bytes)
        return vm.run(from: start, anchored: true, endingAt: end) != nil
    }

    struct Thread {
        var pc: Int
        var slots: [Int]
    }

    /// One run: the lists of threads at the current and the next position.
    struct Machine {
        let program: RegexProgram
        let bytes: UnsafeBufferPointer<UInt8>
        var onList: [Int]
        var generation = 0

        init(program: RegexProgram, bytes: UnsafeBufferPointer<UInt8>) {
            self.program = program
            self.bytes = bytes
            onList = Array(repeating: -1, count: program.code.count)
        }

        mutating func run(from start: Int, anchored: Bool, endingAt end: Int?) -> [Range<Int>?]? {
            let slotCount = 2 * (program.groupCount + 1)
            var matched: [Int]?
            var position = start
            var current: [Thread] = []
            var next: [Thread] = []
            generation += 1
            var fresh = Array(repeating: -1, count: slotCount)
            if !anchored { skipToPossibleStart(&position) }
            fresh[0] = position
            add(&current, Thread(pc: 0, slots: fresh), at: position)
            while true {
                let (scalar, width) = UTF8Scalars.decode(bytes, at: position)
                generation += 1
                next.removeAll(keepingCapacity: true)
                for thread in current {
                    switch program.code[thread.pc] {
                    case .match:
                        if end == nil || position == end {
                            var slots = thread.slots
                            slots[1] = position
                            matched = slots
                        }
                        if end == nil || position == end { break }
                        continue
                    case .scalar(let s):
                        if scalar == s {
                            add(&next, Thread(pc: thread.pc + 1, slots: thread.slots), at: position + width)
                        }
                        continue
                    case .foldedScalar(let s):
                        if let scalar, RegexCase.foldedEqual(s, scalar) {
                            add(&next, Thread(pc: thread.pc + 1, slots: thread.slots), at: position + width)
                        }
                        continue
                    case .set(let set):
                        if let scalar, set.contains(scalar) {
                            add(&next, Thread(pc: thread.pc + 1, slots: thread.slots), at: position + width)
                        }
                        continue
                    case .any(let dotAll):
                        if let scalar, dotAll || (scalar != "\n" && scalar != "\r") {
                            add(&next, Thread(pc: thread.pc + 1, slots: thread.slots), at: position + width)
                        }
                        continue
                    default: continue
                    }
                    break  // a match: lower-priority threads are cut
                }
                if position >= bytes.count || (end != nil && position >= end!) { break }
                position += width
                swap(&current, &next)
                if matched == nil, !anchored {
                    // A new attempt starting here, after every thread already running (with none running,
                    // at the next byte that can start a match).
                    if current.isEmpty { skipToPossibleStart(&position) }
                    fresh[0] = position
                    add(&current, Thread(pc: 0, slots: fresh), at: position)
                } else if current.isEmpty {
                    break
                }
            }
            guard let matched else { return nil }
            return (0...program.groupCount).map { group in
                let (a, b) = (matched[2 * group], matched[2 * group + 1])
                return a >= 0 && b >= 0 ? a..<b : nil
            }
        }

        /// Moves `position` over the ASCII bytes no match can start with (never past a non-ASCII byte, so it
        /// stays on a scalar's start).
        func skipToPossibleStart(_ position: inout Int) {
            guard let first = program.firstASCII else { return }
            while position < bytes.count, bytes[position] < 0x80, !first[Int(bytes[position])] { position += 1 }
        }

        /// Adds `thread` and everything reachable from it without consuming input, in priority order.
        mutating func add(_ list: inout [Thread], _ thread: Thread, at position: Int) {
            var stack = [thread]
            while var t = stack.popLast() {
                guard onList[t.pc] != generation else { continue }
                onList[t.pc] = generation
                switch program.code[t.pc] {
                case .jump(let target):
                    t.pc = target
                    stack.append(t)
                case .split(let first, let second):
                    stack.append(Thread(pc: second, slots: t.slots))
                    t.pc = first
                    stack.append(t)
                case .save(let slot):
                    if slot < t.slots.count { t.slots[slot] = position }
                    t.pc += 1
                    stack.append(t)
                case .assert(let kind):
                    guard holds(kind, at: position) else { continue }
                    t.pc += 1
                    stack.append(t)
                case .look(let index, let behind, let negated, let maxScalars):
                    guard look(index, behind: behind, maxScalars: maxScalars, at: position) != negated else { continue }
                    t.pc += 1
                    stack.append(t)
                default:
                    list.append(t)
                }
            }
        }

        func look(_ index: Int, behind: Bool, maxScalars: Int, at position: Int) -> Bool {
            let sub = program.looks[index]
            guard behind else { return sub.matches(bytes, at: position, endingAt: nil) }
            var start = position
            for _ in 0...maxScalars {
                if sub.matches(bytes, at: start, endingAt: position) { return true }
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
