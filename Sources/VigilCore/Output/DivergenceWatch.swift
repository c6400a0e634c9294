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

/// A watched metric went bad: NaN or infinite, or (with `divergence.spike`) far above its best. With
/// where it began: the onset, the first value of the run of out-of-band values that led to it.
public struct Divergence: Codable, Sendable, Equatable {
    /// The metric's name (the named group of `output.metrics`).
    public var metric: String
    /// Its value as the trainer printed it (`nan`, `inf`, `1.2e4`).
    public var value: String
    /// The step it was printed at (the line's own `step` group, else the newest progress step).
    public var step: Int?
    /// The step of the first value that left the healthy band, when one was known; else the
    /// divergence's own step.
    public var onsetStep: Int?
    /// When vigil read the last value that was still in its band (nil: none in this attempt): a
    /// checkpoint modified after it may hold the state that diverged.
    public var healthyUntil: Date?
    /// The metric's best (lowest finite) value so far in the run.
    public var best: Double?
    /// In words: `loss became nan at step 612; above its band (3× its best 0.021) from step 540`.
    public var description: String

    public init(
        metric: String, value: String, step: Int?, onsetStep: Int?, healthyUntil: Date?, best: Double?,
        description: String
    ) {
        self.metric = metric
        self.value = value
        self.step = step
        self.onsetStep = onsetStep
        self.healthyUntil = healthyUntil
        self.best = best
        self.description = description
    }
}

/// Watches loss-like metrics as the trainer prints them (`divergence.metrics`, read by the policy's
/// `output.metrics` patterns) and says when one diverged. Each metric has a best (its lowest finite
/// value in the run, across attempts) and a band above it: `best + (band − 1)·|best|`. A value above
/// the band starts a streak that ends at the next value back inside it; when the metric turns NaN or
/// infinite (or, with `spike`, climbs above `best + (spike − 1)·|best|`), the onset is the first value
/// of the streaks under way — the point from which the state is suspect. Memory is a few numbers per
/// metric, whatever the run's length. Fed by the output threads; reports one divergence per attempt.
public final class DivergenceWatch: Sendable {
    /// One metric's history, as far as the band needs it.
    struct Track: Sendable {
        var best: Double?
        /// Finite values seen in the run (the spike check waits for a few).
        var count = 0
        /// The current out-of-band streak: where it began.
        var streakStep: Int?
        var streakStarted = false
        /// When the last in-band value was read (this attempt).
        var healthyAt: Date?
    }

    /// What the globs say of one metric's name, worked out once per name (a line's values come by
    /// name, every line; the names are the patterns' groups, a handful).
    struct Watched: Sendable {
        /// A `divergence.metrics` name.
        var band: Bool
        /// A `divergence.spikeMetrics` name.
        var spike: Bool
    }

    struct State: Sendable {
        var tracks: [String: Track] = [:]
        var names: [String: Watched] = [:]
        var reported = false
        /// The newest step seen, to notice a resume going back.
        var lastStep: Int?
    }

    /// Values a metric needs in the run before a spike can count (the first ones are the noisiest).
    public static let spikeWarmUp = 10

    public let settings: Policy.Divergence
    private let state = Locked(State())

    public init(_ settings: Policy.Divergence) {
        self.settings = settings
    }

    /// Whether `name` is one of the watched metrics (a `divergence.metrics` glob, ignoring case).
    public func watches(_ name: String) -> Bool {
        settings.metrics.contains { DivergenceWatch.glob($0, matches: name) }
    }

    /// A new attempt: streaks start over (the best values stay: they are the run's).
    public func beginAttempt() {
        state.withLock { state in
            state.reported = false
            state.lastStep = nil
            for name in state.tracks.keys {
                state.tracks[name]!.streakStarted = false
                state.tracks[name]!.streakStep = nil
                state.tracks[name]!.healthyAt = nil
            }
        }
    }

    /// Takes the values of one output line (non-finite ones included) read at `at`; returns the
    /// attempt's first divergence, once.
    public func observe(step: Int?, values: [String: Double], at: Date) -> Divergence? {
        state.withLock { state -> Divergence? in
            if let step, let last = state.lastStep, step < last {
                // The trainer went back (it resumed in this attempt): the streaks were about later steps.
                for name in state.tracks.keys { state.tracks[name]!.streakStarted = false }
            }
            if let step { state.lastStep = step }
            var found: (String, Double)?
            for (name, value) in values.sorted(by: { $0.key < $1.key }) {
                let watched = self.watched(name, &state)
                guard watched.band else { continue }
                var track = state.tracks[name] ?? Track()
                if found == nil, diverged(value, track, spikeWatched: watched.spike) { found = (name, value) }
                update(&track, value, step, at)
                state.tracks[name] = track
            }
            guard let (name, value) = found, !state.reported else { return nil }
            state.reported = true
            return divergence(name, value, step, state)
        }
    }

    /// Where the state began to go bad, should the attempt fail now for another reason (an
    /// exception after the loss climbed): the streaks under way, nil when every metric is in band.
    public func onsetInProgress() -> (step: Int?, healthyUntil: Date?)? {
        state.withLock { state in
            let streaks = state.tracks.values.filter(\.streakStarted)
            guard !streaks.isEmpty else { return nil }
            return (streaks.compactMap(\.streakStep).min(), DivergenceWatch.healthyUntil(streaks))
        }
    }

    private func watched(_ name: String, _ state: inout State) -> Watched {
        if let known = state.names[name] { return known }
        let watched = Watched(
            band: watches(name), spike: settings.spikeMetrics.contains { DivergenceWatch.glob($0, matches: name) })
        state.names[name] = watched
        return watched
    }

    private func diverged(_ value: Double, _ track: Track, spikeWatched: Bool) -> Bool {
        if !value.isFinite { return true }
        guard settings.spike > 1, let best = track.best, track.count >= DivergenceWatch.spikeWarmUp, spikeWatched
        else {
            return false
        }
        return value > DivergenceWatch.ceiling(best, factor: settings.spike)
    }

    private func update(_ track: inout Track, _ value: Double, _ step: Int?, _ at: Date) {
        guard value.isFinite else {
            if !track.streakStarted {
                track.streakStarted = true
                track.streakStep = step
            }
            return
        }
        track.count += 1
        if let best = track.best, settings.band > 1, value > DivergenceWatch.ceiling(best, factor: settings.band) {
            if !track.streakStarted {
                track.streakStarted = true
                track.streakStep = step
            }
        } else {
            track.streakStarted = false
            track.streakStep = nil
            track.healthyAt = at
            track.best = min(track.best ?? value, value)
        }
    }

    private func divergence(_ name: String, _ value: Double, _ step: Int?, _ state: State) -> Divergence {
        let track = state.tracks[name]!
        // The onset: the earliest streak under way among the watched metrics (this one's included).
        let streaks = state.tracks.values.filter(\.streakStarted)
        let onset = streaks.compactMap(\.streakStep).min() ?? step
        let healthy = DivergenceWatch.healthyUntil(streaks)
        let shown = DivergenceWatch.text(value)
        var words = "\(name) became \(shown)"
        if value.isFinite, let best = track.best {
            words =
                "\(name) rose to \(shown), above \(DivergenceWatch.text(settings.spike))× its best \(DivergenceWatch.text(best))"
        }
        if let step { words += " at step \(step)" }
        if let onset, onset != step {
            words += "; above its band (\(DivergenceWatch.text(settings.band))× the best) from step \(onset)"
        }
        return Divergence(
            metric: name, value: shown, step: step, onsetStep: onset, healthyUntil: healthy, best: track.best,
            description: words)
    }

    /// When the earliest of these streaks began, as far as vigil can tell: the last in-band value read
    /// before it; nil when one of them has had none in this attempt.
    static func healthyUntil(_ streaks: [Track]) -> Date? {
        guard !streaks.contains(where: { $0.healthyAt == nil }) else { return nil }
        return streaks.compactMap(\.healthyAt).min()
    }

    /// `best + (factor − 1)·|best|`: `factor`× a positive best, and as far above a negative one.
    static func ceiling(_ best: Double, factor: Double) -> Double {
        best + (factor - 1) * abs(best)
    }

    /// A number as people write it: `nan`, `inf`, `-inf`, `0.021`, `12000`.
    static func text(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return String(cFormat: "%g", value)
    }

    /// `*` matches any run of characters; letters compare without case.
    static func glob(_ pattern: String, matches name: String) -> Bool {
        let parts = pattern.lowercased().split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(name.lowercased())
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return part.isEmpty || rest.hasSuffix(part)
            } else if let found = rest.firstRange(of: part) {
                rest = rest[found.upperBound...]
            } else {
                return false
            }
        }
        return rest.isEmpty
    }
}
