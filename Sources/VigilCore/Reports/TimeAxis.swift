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

/// The horizontal axis of the HTML report's timeline and metric charts: wall-clock time mapped to x,
/// piecewise linear, with long idle gaps (a run stopped in the evening and continued the next day)
/// squeezed to a fixed width so the attempts stay readable.
struct TimeAxis: Sendable {
    /// An idle gap longer than this share of the active time (and longer than a minute) is squeezed.
    static let squeezeShare = 0.25
    /// The width, in px, a squeezed gap takes.
    static let squeezedWidth = 30.0

    /// A squeezed gap: where it is drawn and how long it was.
    struct Gap: Sendable {
        var x: Double
        var seconds: Double
    }

    /// Knots of the piecewise-linear map, increasing in both time and x.
    private(set) var knots: [(t: Double, x: Double)] = []
    private(set) var gaps: [Gap] = []
    /// The first instant shown: ticks are labelled with the time elapsed since it.
    let origin: Double
    /// Seconds per px on the linear parts.
    private(set) var secondsPerPixel = 1.0
    /// Time ranges drawn linearly (where ticks go).
    private(set) var linearRanges: [ClosedRange<Double>] = []

    /// - Parameters:
    ///   - intervals: busy periods (attempts), in seconds since 1970, in any order.
    ///   - left: the x of the earliest instant; `width` the px available from there.
    init(intervals: [(start: Double, end: Double)], left: Double, width: Double) {
        var spans: [(start: Double, end: Double)] = []
        for interval in intervals.sorted(by: { $0.start < $1.start }) {
            let end = max(interval.end, interval.start)
            if let last = spans.last, interval.start <= last.end {
                spans[spans.count - 1].end = max(last.end, end)
            } else {
                spans.append((interval.start, end))
            }
        }
        if spans.isEmpty { spans = [(0, 1)] }
        origin = spans[0].start
        let active = max(spans.reduce(0) { $0 + ($1.end - $1.start) }, 1)
        var squeezed = Set<Int>()
        var linearTotal = active
        for index in spans.indices.dropFirst() {
            let gap = spans[index].start - spans[index - 1].end
            if gap > Swift.max(60, active * TimeAxis.squeezeShare) {
                squeezed.insert(index)
            } else {
                linearTotal += gap
            }
        }
        let linearWidth = Swift.max(width - Double(squeezed.count) * TimeAxis.squeezedWidth, 10)
        let scale = linearWidth / linearTotal
        secondsPerPixel = 1 / scale
        var x = left
        var rangeStart = spans[0].start
        knots.append((spans[0].start, x))
        for index in spans.indices {
            if index > 0 {
                let gap = spans[index].start - spans[index - 1].end
                if squeezed.contains(index) {
                    linearRanges.append(rangeStart...spans[index - 1].end)
                    gaps.append(Gap(x: x + TimeAxis.squeezedWidth / 2, seconds: gap))
                    x += TimeAxis.squeezedWidth
                    rangeStart = spans[index].start
                } else {
                    x += gap * scale
                }
                knots.append((spans[index].start, x))
            }
            x += Swift.max(spans[index].end - spans[index].start, 0) * scale
            if spans[index].end > knots[knots.count - 1].t { knots.append((spans[index].end, x)) }
        }
        linearRanges.append(rangeStart...spans[spans.count - 1].end)
    }

    /// The x of an instant; times outside the axis are clamped to its ends.
    func x(_ time: Date) -> Double { x(time.timeIntervalSince1970) }

    func x(_ t: Double) -> Double {
        guard let first = knots.first, let last = knots.last else { return 0 }
        if t <= first.t { return first.x }
        if t >= last.t { return last.x }
        for index in 1..<knots.count where t <= knots[index].t {
            let a = knots[index - 1]
            let b = knots[index]
            return b.t == a.t ? b.x : a.x + (t - a.t) / (b.t - a.t) * (b.x - a.x)
        }
        return last.x
    }

    /// Tick times (seconds since 1970) at a round interval, only on the linear parts, about `pixels`
    /// apart at least.
    func ticks(atLeast pixels: Double = 70) -> [Double] {
        let steps: [Double] = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172_800,
            604_800,
        ]
        let minimum = pixels * secondsPerPixel
        let step = steps.first { $0 >= minimum } ?? (minimum / 86400).rounded(.up) * 86400
        var ticks: [Double] = []
        for range in linearRanges {
            var elapsed = ((range.lowerBound - origin) / step).rounded(.up) * step
            while origin + elapsed <= range.upperBound {
                let t = origin + elapsed
                if let previous = ticks.last, x(t) - x(previous) < pixels * 0.8 {
                    elapsed += step
                    continue
                }
                ticks.append(t)
                elapsed += step
            }
        }
        return ticks
    }
}
