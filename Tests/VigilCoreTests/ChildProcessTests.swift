import CVigil
import Dispatch
import Foundation
import Testing

@testable import VigilCore

#if canImport(Glibc)
    import Glibc
#endif

/// The workarounds of PROCESS-NOTES.md, each proven with a real Python child.
@Suite("Child process and output", .serialized, .timeLimit(.minutes(2)))
struct ChildProcessTests {
    /// A fixture started through ChildProcess + OutputPump, with its lines and exit observable.
    final class Started: @unchecked Sendable {
        let events = EventQueue<String>()
        let lines = Locked<[String]>([])
        var child: ChildProcess!
        var pump: OutputPump!

        init(_ trainerArgs: [String], log: RotatingLog? = nil, tailBytes: Int = 64 * 1024) throws {
            let events = self.events
            let lines = self.lines
            child = try ChildProcess.spawn(
                executable: TestSupport.python, arguments: ["python3", TestSupport.fixtureTrainer] + trainerArgs,
                environment: ProcessInfo.processInfo.environment
            ) { status in events.post("exit \(status)") }
            pump = OutputPump(
                log: log, passthrough: false, tailBytes: tailBytes,
                lineObserver: { _, line in
                    lines.withLock { $0.append(String(line)) }
                    events.post("line \(line)")
                }, onClosed: { events.post("closed") })
            pump.start(stdoutFD: child.stdoutFD, stderrFD: child.stderrFD)
        }

        private var seen: [String] = []

        /// Waits for an event starting with `prefix` (or finds it among those already seen, since
        /// exit and end of output may come in either order); nil after `timeout`.
        func wait(for prefix: String, timeout: Double = 30) -> String? {
            if let index = seen.firstIndex(where: { $0.hasPrefix(prefix) }) { return seen.remove(at: index) }
            let deadline = Date().addingTimeInterval(timeout)
            while let event = events.next(until: deadline) {
                if event.hasPrefix(prefix) { return event }
                seen.append(event)
            }
            return nil
        }
    }

    @Test("a trainer started from a Dispatch worker has no blocked or ignored signals, gets USR1 and dies on SIGTERM")
    func spawnFromDispatchWorker() throws {
        // Dispatch workers block HUP, INT, USR1, TERM…; a Foundation.Process child would inherit that.
        let box = Locked<Result<Started, Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var blocked = sigset_t()
            pthread_sigmask(SIG_SETMASK, nil, &blocked)
            #expect(sigismember(&blocked, SIGTERM) == 1, "precondition: this Dispatch worker blocks SIGTERM")
            box.withLock { $0 = Result { try Started(["--print-signals", "--hang-at", "1", "--usr1", "checkpoint"]) } }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 30) == .success)
        let started = try #require(box.current).get()
        let signals = try #require(started.wait(for: "line signals: "))
        #expect(signals.contains(#""blocked": []"#), "\(signals)")
        #expect(signals.contains(#""ignored": []"#), "\(signals)")
        #expect(started.wait(for: "line hanging") != nil)
        started.child.signalGroup(.user1)
        #expect(started.wait(for: "line got SIGUSR1") != nil)
        started.child.signalGroup(.terminate)
        #expect(started.wait(for: "exit") == "exit killed by SIGTERM")
    }

    @Test("a trainer whose backgrounded grandchild lives on is seen to exit at once")
    func exitSeenDespiteGrandchild() throws {
        let started = try Started(["--steps", "1", "--background-grandchild", "20"])
        let begin = Date()
        #expect(started.wait(for: "exit") == "exit exit code 0")
        #expect(Date().timeIntervalSince(begin) < 10, "exit was seen only when the grandchild ended")
        // The grandchild still holds the pipe: output is not closed, and the group is not empty.
        #expect(started.child.groupHasLiveMembers)
        started.child.signalGroup(.kill)
        #expect(started.wait(for: "closed") != nil)
        #expect(TestSupport.eventually { !started.child.groupHasLiveMembers })
    }

    @Test("the last bytes before exit are always in the log (50 runs)")
    func lastBytesAlwaysLogged() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        for run in 1...50 {
            let path = "\(dir)/run-\(run).log"
            let log = RotatingLog(path: path, maxBytes: 0, backups: 0)
            let started = try Started(["--flood", "300000", "--final-text", "LAST-BYTES-\(run)"], log: log)
            #expect(started.wait(for: "closed") != nil)
            log.close()
            let text = TestSupport.read(path)
            #expect(text.hasSuffix("LAST-BYTES-\(run)"), "run \(run) lost its last bytes")
            #expect(text.utf8.count == 300_000 + "LAST-BYTES-\(run)".utf8.count)
        }
    }

    @Test("binary and invalid UTF-8 output is logged byte for byte and does not break the tail")
    func binaryOutput() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let log = RotatingLog(path: dir + "/a.log", maxBytes: 0, backups: 0)
        let started = try Started(["--binary-junk", "--steps", "2"], log: log)
        #expect(started.wait(for: "closed") != nil)
        log.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.log"))
        #expect(bytes.contains(0x00))
        #expect(String(data: bytes, encoding: .utf8) == nil, "the fixture printed invalid UTF-8")
        #expect(started.pump.tail.stdout.last == "done")
    }

    @Test("a full disk does not stop the trainer: output keeps draining and the error is recorded once")
    func fullDisk() throws {
        let log = RotatingLog(path: "/dev/full", maxBytes: 0, backups: 0)
        let started = try Started(["--flood", "2000000", "--final-text", "END"], log: log)
        #expect(started.wait(for: "exit") == "exit exit code 0")
        #expect(started.wait(for: "closed") != nil)
        #expect(log.firstError?.contains("No space left on device") == true)
        #expect(log.droppedBytes == 2_000_003)
        #expect(started.pump.tail.stdout.last == "END")
    }

    #if os(Linux)
        /// /dev/shm when it is a tmpfs (a log dir users pick for speed): nil elsewhere.
        static var tmpfs: String? {
            var type: Int64 = 0
            return cvigil_file_system_type("/dev/shm", &type) == 0 && type == 0x0102_1994 ? "/dev/shm" : nil
        }

        @Test(
            "on a tmpfs, dropping the log's pages behind loses nothing: they have no disk to come back from",
            .enabled(if: ChildProcessTests.tmpfs != nil))
        func logOnTmpfsKeepsEveryByte() throws {
            let dir = try #require(ChildProcessTests.tmpfs) + "/vigil-log-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { TestSupport.remove(dir) }
            let path = dir + "/attempt-001.log"
            let window = 1 << 20
            let log = RotatingLog(path: path, maxBytes: 0, backups: 0, window: window)
            var chunk = [UInt8](repeating: 0x2E, count: 256 << 10)
            for index in 0..<(6 * window / chunk.count) {
                chunk[0] = UInt8(truncatingIfNeeded: index)
                #expect(chunk.withUnsafeBytes { log.write($0.baseAddress!, count: $0.count) })
            }
            log.close()
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(data.count == 6 * window)
            #expect(
                stride(from: 0, to: 6 * window, by: chunk.count).allSatisfy {
                    data[$0] == UInt8(truncatingIfNeeded: $0 / chunk.count) && data[$0 + 1] == 0x2E
                })
        }

        @Test(
            "a flood of output leaves the page cache behind it: six windows written, at most three cached, every byte in the file",
            .enabled(if: ArchiveWriterTests.pagesCanBeDropped))
        func logDropsBehind() throws {
            // Six windows of 256 KiB chunks, each numbered in its first byte, to a log whose window is 1 MiB.
            let dir = try TestSupport.temporaryDirectory()
            defer { TestSupport.remove(dir) }
            let path = dir + "/attempt-001.log"
            let window = 1 << 20
            let log = RotatingLog(path: path, maxBytes: 0, backups: 0, window: window)
            var chunk = [UInt8](repeating: 0x2E, count: 256 << 10)
            for index in 0..<(6 * window / chunk.count) {
                chunk[0] = UInt8(truncatingIfNeeded: index)
                #expect(chunk.withUnsafeBytes { log.write($0.baseAddress!, count: $0.count) })
            }
            let bytes = 6 * window
            let cached = try TestSupport.cachedBytes(of: path, length: bytes)
            log.close()
            #expect(cached <= 3 * window, "\(cached >> 10) KiB of \(bytes >> 10) KiB in the page cache")
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(data.count == bytes)
            #expect(
                stride(from: 0, to: bytes, by: chunk.count).allSatisfy {
                    data[$0] == UInt8(truncatingIfNeeded: $0 / chunk.count)
                })
        }
    #endif

    #if os(Linux)  // one read of more than a scan slice needs the pipe enlarged, which only Linux does
        @Test("a line split between two of a read's scan slices is matched whole")
        func liveRuleAcrossScanSlices() throws {
            var out: [Int32] = [-1, -1]
            var err: [Int32] = [-1, -1]
            try #require(cvigil_pipe_cloexec(&out) == 0 && cvigil_pipe_cloexec(&err) == 0)
            close(err[1])
            try #require(cvigil_set_pipe_size(out[1], 1 << 20) == 0)
            // Filler lines up to 10 bytes before the first slice's end, then the matching line across it.
            let slice = OutputPump.scanSize
            var text = [UInt8]()
            let filler = Array("step 1 loss=0.5 ok\n".utf8)
            while text.count + filler.count <= slice - 10 { text += filler }
            text += [UInt8](repeating: UInt8(ascii: "."), count: slice - 10 - text.count)
            text += Array("\n".utf8)
            let lineStart = text.count
            text += Array("step 2 loss=nan here\n".utf8)
            #expect(lineStart < slice && text.count > slice)  // the line starts before the boundary, ends after
            text += Array("step 3 fine\n".utf8)
            #expect(text.withUnsafeBytes { write(out[1], $0.baseAddress!, $0.count) } == text.count)
            close(out[1])  // all of it in the pipe: the first read takes it in one piece
            let matches = Locked<[String]>([])
            let closed = DispatchSemaphore(value: 0)
            let pump = OutputPump(
                log: nil, passthrough: false, tailBytes: 4096,
                liveScanner: OutputScanner(patterns: [try Pattern("loss=(nan|inf)")]),
                onLiveMatch: { match, _ in matches.withLock { $0.append(match.line) } }
            ) { closed.signal() }
            pump.start(stdoutFD: out[0], stderrFD: err[0])
            #expect(closed.wait(timeout: .now() + 30) == .success)
            #expect(matches.withLock { $0 } == ["step 2 loss=nan here"])
        }
    #endif

    #if os(Linux)  // the pipe enlarged to 1 MiB, which only Linux does
        @Test(
            "cancel() ends a drain whose pipe never runs dry: the pump stops after the chunk in hand, not at the end of the data"
        )
        func cancelBusyDrain() throws {
            let dir = try TestSupport.temporaryDirectory()
            defer { TestSupport.remove(dir) }
            var out: [Int32] = [-1, -1]
            var err: [Int32] = [-1, -1]
            try #require(cvigil_pipe_cloexec(&out) == 0 && cvigil_pipe_cloexec(&err) == 0)
            close(err[1])  // stderr: at its end at once
            let log = RotatingLog(path: dir + "/a.log", maxBytes: 0, backups: 0)
            // The first line holds the drain in the observer until the pipe is full and cancel() was called,
            // as output that never pauses would (a descendant outside the group still printing).
            let held = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let first = Locked(true)
            let closed = DispatchSemaphore(value: 0)
            let pump = OutputPump(
                log: log, passthrough: false, tailBytes: 4096,
                lineObserver: { _, _ in
                    if first.withLock({
                        let was = $0; $0 = false; return was
                    }) {
                        held.signal()
                        release.wait()
                    }
                }
            ) { closed.signal() }
            #expect(write(out[1], "first\n", 6) == 6)
            pump.start(stdoutFD: out[0], stderrFD: err[0])
            #expect(held.wait(timeout: .now() + 30) == .success)
            _ = fcntl(out[1], F_SETFL, fcntl(out[1], F_GETFL) | O_NONBLOCK)
            var filled = 0
            let chunk = [UInt8](repeating: 0x2E, count: 16 << 10)
            while true {
                let n = chunk.withUnsafeBytes { write(out[1], $0.baseAddress!, $0.count) }
                if n <= 0 { break }  // EAGAIN: the pipe is full
                filled += n
            }
            // Enlarged by the pump (F_SETPIPE_SZ) from the default 64 KiB.
            #expect(filled >= 256 << 10, "the pipe took only \(filled) bytes")
            pump.cancel()
            release.signal()
            #expect(closed.wait(timeout: .now() + 30) == .success, "the drain went on reading")
            close(out[1])
            // What the drain read after the cancel it did not hand on: the log has the first line only, not
            // everything the pipe held (a drain that never looks at the flag reads the pipe dry first).
            #expect(log.receivedBytes == 6, "\(log.receivedBytes) of \(6 + filled) bytes handed on after cancel()")
        }
    #endif

    @Test("the log rotates at its cap, keeps its backups, and loses nothing in between")
    func rotation() throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/attempt-001.log"
        let log = RotatingLog(path: path, maxBytes: 1_000_000, backups: 10)
        let started = try Started(["--flood", "5500000"], log: log)
        #expect(started.wait(for: "closed") != nil)
        log.close()
        let sizes = [path] + (1...10).map { "\(path).\($0)" }
        let total = sizes.compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }
        #expect(total.reduce(0, +) == 5_500_000)
        #expect(total.count == 6)
        #expect(total.dropFirst().allSatisfy { $0 == 1_000_000 })

        let small = RotatingLog(path: dir + "/b.log", maxBytes: 100, backups: 2)
        for _ in 0..<10 {
            _ = Array(repeating: UInt8(ascii: "x"), count: 60).withUnsafeBytes {
                small.write($0.baseAddress!, count: 60)
            }
        }
        small.close()
        #expect(FileManager.default.fileExists(atPath: dir + "/b.log.2"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/b.log.3"))
    }

    @Test("the tail keeps only the last bytes of each stream, whatever is printed")
    func boundedTail() {
        var ring = ByteRing(capacity: 16)
        for chunk in ["line one\n", "line two\n", "line three\n", "four\n"] {
            Array(chunk.utf8).withUnsafeBytes { ring.append($0) }
        }
        #expect(ring.bytes.count == 16)
        #expect(ring.lines == ["line three", "four"])
        var big = ByteRing(capacity: 8)
        Array("abcdefghij\nxyz\n".utf8).withUnsafeBytes { big.append($0) }
        #expect(big.lines == ["xyz"])
    }

    @Test("the tail's lines: CRLF ends a line, blank lines stay, invalid UTF-8 is repaired, a cut line goes")
    func tailLines() {
        var ring = ByteRing(capacity: 64)
        let bytes: [UInt8] =
            Array("Epoch 1\r\n\r\nloss: nan\r\n".utf8) + [0x62, 0xFF, 0x0A] + Array("last, unended".utf8)
        bytes.withUnsafeBytes { ring.append($0) }
        #expect(ring.lines == ["Epoch 1", "", "loss: nan", "b\u{FFFD}", "last, unended"])
        var cut = ByteRing(capacity: 20)
        Array("Traceback (most recent call last):\r\nValueError: bad\r\n".utf8).withUnsafeBytes { cut.append($0) }
        #expect(cut.lines == ["ValueError: bad"])  // the header's end was cut: not a line
        var whole = ByteRing(capacity: 16)
        Array("dropped line\nValueError: bad\n".utf8).withUnsafeBytes { whole.append($0) }
        #expect(whole.lines == ["ValueError: bad"])  // what was dropped ended with its newline
    }
}
