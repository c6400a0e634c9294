/// SHA-256 on a thread of its own, for the large files `ArchiveWriter` exports: the writer reads a chunk
/// into a free slot and submits it, then adds the same bytes to the gzip stream (CRC-32, write) while
/// this thread hashes them. A slot is read into again only once the chunk it held is hashed, so reading,
/// hashing and writing overlap by up to `slotCount` chunks and no byte is copied between them.
///
/// One writer thread (the one that calls `nextSlot`, `submit` and `finishFile`) and the hashing thread;
/// `stop()` ends the thread and returns once it has (the slots live until neither refers to them).
final class ParallelHasher: @unchecked Sendable {
    // @unchecked: `condition` guards `submitted`, `hashed`, `lengths`, `stopping` and `stopped`. The bytes of a
    // submitted slot and `hasher` belong to the hashing thread until `hashed` counts the slot, and to
    // the writer otherwise (it reads `hasher` only once every submitted chunk is hashed).
    static let slotCount = 4

    let slotCapacity: Int
    private let slots: [UnsafeMutableRawPointer]
    private var lengths: [Int]
    private let condition = Condition()
    /// Chunks handed over so far (across files), and of those hashed.
    private var submitted = 0
    private var hashed = 0
    private var stopping = false
    private var stopped = false
    private var hasher = SHA256()

    /// Allocates the slots and starts the hashing thread.
    init(slotCapacity: Int) {
        self.slotCapacity = slotCapacity
        slots = (0..<ParallelHasher.slotCount).map { _ in
            UnsafeMutableRawPointer.allocate(byteCount: slotCapacity, alignment: 64)
        }
        lengths = Array(repeating: 0, count: ParallelHasher.slotCount)
        startThread(name: "vigil-sha256") { [self] in run() }
    }

    deinit {
        for slot in slots { slot.deallocate() }
    }

    /// The slot to read the next chunk into (`slotCapacity` bytes); waits until the chunk it held is
    /// hashed.
    func nextSlot() -> UnsafeMutableRawPointer {
        condition.withLock {
            while submitted - hashed >= ParallelHasher.slotCount { condition.wait() }
            return slots[submitted % ParallelHasher.slotCount]
        }
    }

    /// Hands the slot `nextSlot()` returned, holding `count` bytes of the current file, to the hashing
    /// thread. The writer may go on reading the bytes (to write them), not change them.
    func submit(_ count: Int) {
        precondition(count > 0 && count <= slotCapacity, "a chunk of \(count) bytes")
        condition.withLock {
            lengths[submitted % ParallelHasher.slotCount] = count
            submitted += 1
            condition.broadcast()
        }
    }

    /// The SHA-256 of what was submitted since the last call (once it is all hashed); the next chunk
    /// submitted starts a new file.
    func finishFile() -> [UInt8] {
        condition.withLock {
            while hashed < submitted { condition.wait() }
            var done = hasher
            hasher = SHA256()
            return done.finalize()
        }
    }

    /// Ends the hashing thread: returns once it has hashed the chunk it was hashing, if any, and left
    /// (chunks still waiting are dropped). Nothing but `stop()` may be called afterwards.
    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while !stopped { condition.wait() }
        }
    }

    private func run() {
        condition.lock()
        while true {
            while hashed == submitted && !stopping { condition.wait() }
            if stopping { break }
            let slot = hashed % ParallelHasher.slotCount
            let bytes = UnsafeRawBufferPointer(start: slots[slot], count: lengths[slot])
            condition.unlock()
            hasher.update(bytes)
            condition.lock()
            hashed += 1
            condition.broadcast()
        }
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
