import CVigil

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

/// The one thread of the process that reaps children: `waitpid(-1)`, then the exit goes to whoever
/// spawned that pid. Children nobody spawned — descendants of a trainer reparented to Vigil because
/// it is a child subreaper (`becomeSubreaper`) — are reaped too, and how they ended is kept for the
/// descendant sweep that stops them (`adoptedExit(of:)`).
///
/// - Important: in a process that uses `ChildProcess`, do not start children with
///   `Foundation.Process` or anything else that waits for its own child: this reaper would take
///   their exit status first.
final class ProcessReaper: @unchecked Sendable {
    // @unchecked: every stored property is guarded by `condition`.
    static let shared = ProcessReaper()

    private let condition = Condition()
    private var handlers: [pid_t: @Sendable (Termination) -> Void] = [:]
    private var adopted: [pid_t: AdoptedExit] = [:]
    private var adoptedOrder: [pid_t] = []
    private var spawns = 0
    private var started = false

    /// How a reparented descendant ended.
    struct AdoptedExit: Sendable, Equatable {
        var status: Termination
        var at: Date
    }

    /// Makes this process the reaper of its orphaned descendants (Linux `PR_SET_CHILD_SUBREAPER`),
    /// so that a trainer's grandchild that escapes with `setsid` or a double fork stays Vigil's to
    /// find and stop. Returns false where the system has no such thing.
    @discardableResult
    static func becomeSubreaper() -> Bool {
        let ok = cvigil_become_child_subreaper() == 0
        if ok { shared.startIfNeeded() }  // adopted children may arrive before any spawn
        return ok
    }

    /// Runs `spawn` (which starts a child and returns its pid) under the reaper's lock, and
    /// registers `onExit` for that pid before the reaper can look at it.
    func spawn(_ spawn: () throws -> pid_t, onExit: @escaping @Sendable (Termination) -> Void) rethrows -> pid_t {
        condition.lock()
        defer { condition.unlock() }
        let pid = try spawn()
        handlers[pid] = onExit
        spawns += 1
        condition.broadcast()
        startIfNeededLocked()
        return pid
    }

    /// How the reparented descendant `pid` ended, when this reaper reaped it.
    func adoptedExit(of pid: pid_t) -> AdoptedExit? {
        condition.withLock { adopted[pid] }
    }

    /// Pids of live children of this process that nobody spawned through `spawn` (reparented
    /// descendants), as far as the caller's process table says; used to tell escapees apart from
    /// the children of other attempts or hooks.
    func isRegistered(_ pid: pid_t) -> Bool {
        condition.withLock { handlers[pid] != nil }
    }

    private func startIfNeeded() {
        condition.lock()
        startIfNeededLocked()
        condition.unlock()
    }

    private func startIfNeededLocked() {
        guard !started else { return }
        started = true
        startThread(name: "vigil-reaper") { [self] in self.run() }
    }

    private func run() {
        _ = cvigil_unblock_all_signals()
        while true {
            let seen = condition.withLock { spawns }
            // Look first (WNOWAIT), reap under the lock: a child being spawned right now (the spawner
            // holds the lock) stays a zombie, and its /proc entry readable, until it is registered.
            let pid = cvigil_wait_any_nowait()
            if pid > 0 {
                reap(pid)
                continue
            }
            if pid == -EINTR { continue }
            // ECHILD: no child at all (a reparented descendant is always someone's child first, so
            // nothing can arrive without a spawn). Wait for the next one.
            condition.lock()
            while spawns == seen { condition.wait() }
            condition.unlock()
        }
    }

    private func reap(_ pid: pid_t) {
        condition.lock()
        var status: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
        guard reaped == pid else {
            condition.unlock()
            return
        }
        let termination = ProcessReaper.termination(status)
        if let handler = handlers.removeValue(forKey: pid) {
            condition.unlock()
            handler(termination)
            return
        }
        adopted[pid] = AdoptedExit(status: termination, at: Date())
        adoptedOrder.append(pid)
        if adoptedOrder.count > 4096 {  // kept only for the sweep that is waiting for them
            for old in adoptedOrder.prefix(1024) { adopted.removeValue(forKey: old) }
            adoptedOrder.removeFirst(1024)
        }
        condition.broadcast()
        condition.unlock()
    }

    static func termination(_ status: Int32) -> Termination {
        if (status & 0x7f) == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(Signal(rawValue: status & 0x7f))
    }
}
