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

/// Facts about processes by pid, read from the system (`/proc` on Linux).
public enum ProcessTable {
    /// The process's start time in clock ticks since boot (Linux `/proc/<pid>/stat` field 22), which
    /// together with the pid identifies a process across pid reuse. Nil when it does not exist.
    public static func startTime(of pid: pid_t) -> UInt64? {
        #if os(Linux)
            return entry(pid)?.startTime
        #else
            var info = kinfo_proc()
            var size = MemoryLayout<kinfo_proc>.stride
            var mib: [Int32] = [CTL_KERN, KERN_PROC, KERN_PROC_PID, pid]
            guard sysctl(&mib, 4, &info, &size, nil, 0) == 0, size > 0 else { return nil }
            let tv = info.kp_proc.p_starttime
            return UInt64(tv.tv_sec) * 1_000_000 + UInt64(tv.tv_usec)
        #endif
    }

    /// The process group of `pid`, or nil when it does not exist.
    public static func processGroup(of pid: pid_t) -> pid_t? {
        let group = getpgid(pid)
        return group < 0 ? nil : group
    }

    /// Whether `pid` exists and is not a zombie.
    public static func isRunning(_ pid: pid_t) -> Bool {
        #if os(Linux)
            guard let entry = entry(pid) else { return false }
            return !entry.isZombie
        #else
            return kill(pid, 0) == 0 || errno == EPERM
        #endif
    }

    /// Live (non-zombie) processes whose process group is `group`.
    public static func members(ofGroup group: pid_t) -> [pid_t] {
        #if os(Linux)
            return snapshot().filter { $0.group == group && !$0.isZombie }.map(\.pid).sorted()
        #else
            return kill(-group, 0) == 0 ? [group] : []
        #endif
    }

    /// Whether `pid` is alive and, when a start time is given, still that process (not a reused pid).
    public static func isAlive(_ pid: pid_t, startTime: UInt64?) -> Bool {
        guard pid > 0, isRunning(pid) else { return false }
        guard let startTime else { return true }
        return self.startTime(of: pid) == startTime
    }

    /// What a process does with a signal, from `/proc/<pid>/status` (`SigCgt`, `SigIgn`, `SigBlk`).
    public enum Disposition: Sendable, Equatable {
        /// It has a handler: the signal is a request it can answer.
        case caught
        /// It ignores the signal: sending it is harmless and useless.
        case ignored
        /// It has neither: the signal's default action happens (for USR1: it dies).
        case `default`
    }

    /// How `pid` handles `signal`; nil when that cannot be known (the process is gone, or not Linux,
    /// where callers assume it is caught).
    public static func disposition(of signal: Signal, in pid: pid_t) -> Disposition? {
        #if os(Linux)
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/status"),
                let text = String(data: data, encoding: .utf8)
            else { return nil }
            func mask(_ name: String) -> UInt64? {
                guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else {
                    return nil
                }
                return UInt64(line.dropFirst(name.count + 1).trimmingSpaces(), radix: 16)
            }
            guard let caught = mask("SigCgt"), let ignored = mask("SigIgn"), signal.rawValue >= 1,
                signal.rawValue <= 64
            else { return nil }
            let bit = UInt64(1) << UInt64(signal.rawValue - 1)
            if caught & bit != 0 { return .caught }
            if ignored & bit != 0 { return .ignored }
            return .default
        #else
            return nil
        #endif
    }

    /// The command line of `pid` (`/proc/<pid>/cmdline`, arguments joined by spaces), or its name.
    public static func commandLine(of pid: pid_t) -> String? {
        #if os(Linux)
            if let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty {
                let parts = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                return parts.joined(separator: " ")
            }
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
                let text = String(data: data, encoding: .utf8), let open = text.firstIndex(of: "("),
                let close = text.lastIndex(of: ")"), open < close
            else { return nil }
            return "[" + text[text.index(after: open)..<close] + "]"
        #else
            return nil
        #endif
    }

    /// One process as `/proc/<pid>/stat` describes it.
    public struct Entry: Sendable, Equatable {
        public var pid: pid_t
        public var parent: pid_t
        public var group: pid_t
        public var session: pid_t
        public var startTime: UInt64
        /// Not yet reaped (state Z).
        public var isZombie: Bool
    }

    /// Every process of the system, read once (Linux; empty elsewhere).
    public static func snapshot() -> [Entry] {
        #if os(Linux)
            // readdir and read(2) into a buffer on the stack: through FileManager and Data, a snapshot
            // cost 130,000 instructions per process (a training box runs hundreds).
            guard let directory = opendir("/proc") else { return [] }
            defer { closedir(directory) }
            var entries: [Entry] = []
            while let item = readdir(directory) {
                let pid = withUnsafeBytes(of: item.pointee.d_name) { name -> pid_t in
                    var value: pid_t = 0
                    for byte in name {
                        if byte == 0 { break }
                        guard byte >= 0x30, byte <= 0x39, value < 100_000_000 else { return 0 }
                        value = value * 10 + pid_t(byte - 0x30)
                    }
                    return value
                }
                if pid > 0, let entry = entry(pid) { entries.append(entry) }
            }
            return entries
        #else
            return []
        #endif
    }

    /// The descendants of `root` in `entries` (children, their children, …), zombies included.
    public static func descendants(of root: pid_t, in entries: [Entry]) -> [Entry] {
        var children: [pid_t: [Entry]] = [:]
        for entry in entries { children[entry.parent, default: []].append(entry) }
        var found: [Entry] = []
        var queue = children[root] ?? []
        var seen: Set<pid_t> = [root]
        while let next = queue.popLast() {
            guard seen.insert(next.pid).inserted else { continue }
            found.append(next)
            queue += children[next.pid] ?? []
        }
        return found
    }

    #if os(Linux)
        /// `/proc/<pid>/stat` read: the state, parent, group, session and start time after the command
        /// name (which may hold spaces and parentheses: the fields start after its last `)`). Nil when
        /// the process does not exist.
        static func entry(_ pid: pid_t) -> Entry? {
            let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer -> Entry? in
                var count = 0
                while count < buffer.count {
                    let n = read(fd, buffer.baseAddress! + count, buffer.count - count)
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { break }
                    count += n
                }
                return parseStat(UnsafeBufferPointer(rebasing: buffer[..<count]), pid: pid)
            }
        }

        /// A `/proc/<pid>/stat` line's fields, as `entry(_:)` reads them.
        static func parseStat(_ line: UnsafeBufferPointer<UInt8>, pid: pid_t) -> Entry? {
            guard let close = line.lastIndex(of: UInt8(ascii: ")")) else { return nil }
            // Fields after the name, 0-based: 0 state, 1 ppid, 2 pgrp, 3 session, … 19 starttime.
            var field = -1
            var at = close + 1
            var state: UInt8 = 0
            var parent: pid_t?
            var group: pid_t?
            var session: pid_t?
            var start: UInt64?
            while at < line.count, field < 19 {
                while at < line.count, line[at] == UInt8(ascii: " ") { at += 1 }
                guard at < line.count else { break }
                field += 1
                let begin = at
                while at < line.count, line[at] != UInt8(ascii: " "), line[at] != 0x0A { at += 1 }
                guard field == 0 || [1, 2, 3, 19].contains(field) else { continue }
                if field == 0 {
                    state = line[begin]
                    continue
                }
                var value: UInt64 = 0
                for byte in line[begin..<at] {
                    guard byte >= 0x30, byte <= 0x39, value < UInt64.max / 10 else { return nil }
                    value = value * 10 + UInt64(byte - 0x30)
                }
                if field == 19 {
                    start = value
                } else {
                    guard value <= UInt64(pid_t.max) else { return nil }
                    if field == 1 {
                        parent = pid_t(value)
                    } else if field == 2 {
                        group = pid_t(value)
                    } else {
                        session = pid_t(value)
                    }
                }
            }
            guard let parent, let group, let session, let start else { return nil }
            return Entry(
                pid: pid, parent: parent, group: group, session: session, startTime: start,
                isZombie: state == UInt8(ascii: "Z") || state == UInt8(ascii: "X"))
        }
    #endif
}

/// Signals sent to a whole process group, and the wait for it to empty.
public enum ProcessGroup {
    /// Sends `signal` to every process of `group`. Returns false when the group no longer exists.
    @discardableResult
    public static func send(_ signal: Signal, to group: pid_t) -> Bool {
        precondition(group > 1, "refusing to signal process group \(group)")
        return kill(-group, signal.rawValue) == 0
    }

    /// Whether any process (a zombie leader included) is left in `group`.
    public static func exists(_ group: pid_t) -> Bool {
        kill(-group, 0) == 0 || errno == EPERM
    }

    /// Whether any live, non-zombie process is left in `group`.
    public static func hasLiveMembers(_ group: pid_t) -> Bool {
        guard exists(group) else { return false }
        #if os(Linux)
            return !ProcessTable.members(ofGroup: group).isEmpty
        #else
            return true
        #endif
    }

    /// Waits until no live process is left in `group`, or `deadline` passes. Returns whether it emptied.
    /// Group membership has no event to wait on, so this re-checks every few milliseconds; it runs only
    /// while a stop is in progress.
    public static func waitUntilEmpty(_ group: pid_t, until deadline: Date) -> Bool {
        while hasLiveMembers(group) {
            if Date() >= deadline { return false }
            usleep(5_000)
        }
        return true
    }
}
