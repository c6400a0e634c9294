import Foundation

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
            guard let fields = statFields(pid), fields.count > 19 else { return nil }
            return UInt64(fields[19])
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
            guard let fields = statFields(pid), let state = fields.first else { return false }
            return state != "Z" && state != "X"
        #else
            return kill(pid, 0) == 0 || errno == EPERM
        #endif
    }

    /// Live (non-zombie) processes whose process group is `group`.
    public static func members(ofGroup group: pid_t) -> [pid_t] {
        #if os(Linux)
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
            var found: [pid_t] = []
            for entry in entries {
                guard let pid = pid_t(entry), let fields = statFields(pid), fields.count > 2 else { continue }
                if fields[0] != "Z", pid_t(fields[2]) == group { found.append(pid) }
            }
            return found.sorted()
        #else
            return kill(-group, 0) == 0 ? [group] : []
        #endif
    }

    #if os(Linux)
        /// Fields of `/proc/<pid>/stat` after the command name: [state, ppid, pgrp, session, ...].
        static func statFields(_ pid: pid_t) -> [Substring]? {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
                let text = String(data: data, encoding: .utf8),
                let close = text.lastIndex(of: ")")
            else { return nil }
            return text[text.index(after: close)...].split(separator: " ")
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
