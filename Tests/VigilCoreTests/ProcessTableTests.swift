import Foundation
import Testing

@testable import VigilCore

#if os(Linux)
    import Glibc

    /// `/proc/<pid>/stat` as the process table reads it: bytes, no Foundation.
    @Suite("Process table")
    struct ProcessTableTests {
        static let tail = "0 -1 4194560 1291 0 0 0 3 1 0 0 20 0 1 0 98765 2301952 250 18446744073709551615"

        static let lines: [(line: String, entry: ProcessTable.Entry?)] = [
            (
                "4242 (python3) S 41 4242 40 \(tail) 1 1 0 0 0 0 0\n",
                .init(pid: 4242, parent: 41, group: 4242, session: 40, startTime: 98765, isZombie: false)
            ),
            // A name may hold spaces and parentheses: the fields start after the last `)`.
            (
                "4242 (my (odd) ) name) Z 1 7 7 \(tail)\n",
                .init(pid: 4242, parent: 1, group: 7, session: 7, startTime: 98765, isZombie: true)
            ),
            (
                "4242 (pt_data_worker) X 3 3 3 \(tail)",
                .init(pid: 4242, parent: 3, group: 3, session: 3, startTime: 98765, isZombie: true)
            ),
            ("4242 (cut) S 41 4242 40 0 -1", nil),  // ends before the start time
            ("4242 (bad) S 4x 4242 40 \(tail)", nil),
            ("4242 no name S 41 4242 40 \(tail)", nil),
            ("", nil),
        ]

        @Test("a stat line's state, parent, group, session and start time", arguments: lines.indices)
        func parse(index: Int) {
            let (line, entry) = Self.lines[index]
            let parsed = Array(line.utf8).withUnsafeBufferPointer { ProcessTable.parseStat($0, pid: 4242) }
            #expect(parsed == entry, "\(line)")
        }

        @Test("this process as the kernel has it: its parent, group, session and start time")
        func ownEntry() throws {
            let entry = try #require(ProcessTable.entry(getpid()))
            #expect(entry.parent == getppid() && entry.group == getpgrp() && entry.session == getsid(0))
            #expect(!entry.isZombie)
            // The start time, read the slow way: field 22 of the line.
            let text = try String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
            let fields = text[text.index(after: text.lastIndex(of: ")")!)...].split(separator: " ")
            #expect(entry.startTime == UInt64(fields[19]))
        }

        @Test("a snapshot holds this process and a child it started, with its parent")
        func snapshot() throws {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/bin/sleep")
            child.arguments = ["30"]
            try child.run()
            defer {
                kill(child.processIdentifier, SIGKILL)  // the test process's blocked signals are the child's too
                child.waitUntilExit()
            }
            let pid = child.processIdentifier
            let entries = ProcessTable.snapshot()
            #expect(entries.contains { $0.pid == getpid() })
            let entry = try #require(entries.first { $0.pid == pid })
            #expect(entry.parent == getpid() && !entry.isZombie)
            #expect(ProcessTable.isRunning(pid) && ProcessTable.startTime(of: pid) == entry.startTime)
            #expect(ProcessTable.entry(999_999_999) == nil)
        }
    }
#endif
