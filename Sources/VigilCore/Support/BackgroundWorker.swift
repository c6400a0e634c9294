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

/// A dedicated thread that runs slow work off the deciding thread, one job at a time, in order:
/// checkpoint scans (which may hash a checkpoint), `/proc` scans, hooks. A job posts its result back
/// to whoever waits on an event queue; the deciding thread never blocks on it.
public final class BackgroundWorker: Sendable {
    private let jobs = EventQueue<Job>()

    private enum Job: Sendable {
        case run(@Sendable () -> Void)
        case stop
    }

    public init(name: String = "vigil-worker") {
        let jobs = self.jobs
        startThread(name: name) {
            while true {
                guard case .run(let job)? = jobs.next(until: nil as Instant?) else { return }
                job()
            }
        }
    }

    deinit { jobs.post(.stop) }

    /// Runs `job` on the worker's thread, after the jobs before it.
    public func run(_ job: @escaping @Sendable () -> Void) {
        jobs.post(.run(job))
    }
}
