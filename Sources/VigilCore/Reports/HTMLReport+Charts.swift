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

/// The metric curves of the HTML report: one SVG chart per metric, on the timeline's axis.
extension HTMLReport {
    static func charts(_ page: inout Page, journal: Journal, metrics: [MetricPoint], axis: TimeAxis) {
        let series = MetricSeries.summarize(metrics)
        guard !series.isEmpty else { return }
        page.raw("<section>\n<h2>Metrics</h2>\n")
        let shown = series.prefix(Layout.maxCharts)
        for metric in shown {
            chart(&page, metric: metric, journal: journal, metrics: metrics, axis: axis)
        }
        if series.count > shown.count {
            let rest = series.dropFirst(shown.count).map(\.name).joined(separator: ", ")
            page.element("p", "Not charted: \(rest).", class: "none")
        }
        page.raw("</section>\n")
    }

    static func chart(
        _ page: inout Page, metric: MetricSeries, journal: Journal, metrics: [MetricPoint], axis: TimeAxis
    ) {
        let top = 14.0
        let plotHeight = 104.0
        let height = 146.0
        var low = metric.min
        var high = metric.max
        if high - low < 1e-12 {
            low -= max(abs(low) * 0.05, 0.5)
            high += max(abs(high) * 0.05, 0.5)
        }
        let pad = (high - low) * 0.06
        low -= pad
        high += pad
        func y(_ value: Double) -> Double { top + (high - value) / (high - low) * plotHeight }

        page.raw("<div class=\"chart\">\n<h3>")
        page.text(metric.name)
        page.raw(" <span class=\"summary\">")
        page.text(
            "\(Page.value(metric.first)) → \(Page.value(metric.last)) · min \(Page.value(metric.min)) · "
                + "max \(Page.value(metric.max)) · \(metric.count) points")
        page.raw("</span></h3>\n")
        page.raw(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"metric-chart\" viewBox=\"0 0 \(Layout.width) \(height)\" "
                + "width=\"\(Layout.width)\" height=\"\(height)\" role=\"img\">\n")
        page.raw(
            "<rect class=\"plot\" x=\"\(Layout.left)\" y=\"\(top)\" width=\"\(Layout.plotWidth)\" height=\"\(plotHeight)\"/>\n"
        )
        for value in [metric.max, (metric.max + metric.min) / 2, metric.min] {
            let yy = Page.number(y(value))
            page.raw(
                "<line class=\"grid\" x1=\"\(Layout.left)\" y1=\"\(yy)\" x2=\"\(Layout.left + Layout.plotWidth)\" y2=\"\(yy)\"/>\n"
            )
            page.raw("<text class=\"y-label\" x=\"\(Layout.left - 6)\" y=\"\(Page.number(y(value) + 4))\">")
            page.text(Page.value(value))
            page.raw("</text>\n")
        }
        // Restarts close together (a crash right after a restart) share one label.
        var labels: [(x: Double, numbers: [Int])] = []
        for attempt in journal.attempts.dropFirst() {
            let position = axis.x(attempt.startedAt)
            let x = Page.number(position)
            page.raw(
                "<line class=\"restart\" x1=\"\(x)\" y1=\"\(top)\" x2=\"\(x)\" y2=\"\(top + plotHeight)\"><title>")
            page.text("attempt \(attempt.number) started \(display(attempt.startedAt))")
            page.raw("</title></line>\n")
            if let last = labels.last, position - last.x < 8 + 7 * Double(last.numbers.count) {
                labels[labels.count - 1].numbers.append(attempt.number)
            } else {
                labels.append((position, [attempt.number]))
            }
        }
        for label in labels {
            page.raw("<text class=\"restart-label\" x=\"\(Page.number(label.x + 3))\" y=\"\(top + 9)\">")
            page.text("#" + label.numbers.map(String.init).joined(separator: ","))
            page.raw("</text>\n")
        }
        // One line per attempt: a line drawn across a restart would invent values for the gap.
        var byAttempt: [Int: [(time: Date, step: Int?, value: Double)]] = [:]
        var order: [Int] = []
        for point in metrics {
            guard let value = point.values[metric.name], value.isFinite else { continue }
            if byAttempt[point.attempt] == nil { order.append(point.attempt) }
            byAttempt[point.attempt, default: []].append((point.time, point.step, value))
        }
        // A long run logs far more points than the chart has pixels: draw every n-th (and each
        // attempt's last), so the page stays small.
        let stride = max(1, metric.count / Layout.maxPointsPerChart)
        for number in order {
            let all = byAttempt[number]!.sorted { $0.time < $1.time }
            let points = all.enumerated().filter { $0.offset % stride == 0 || $0.offset == all.count - 1 }.map(
                \.element)
            let steps = all.compactMap(\.step)
            var title = "attempt \(number): \(all.count) points"
            if let first = steps.first, let last = steps.last { title += ", steps \(first)–\(last)" }
            title += ", \(Page.value(points[0].value)) → \(Page.value(points[points.count - 1].value))"
            if points.count == 1 {
                page.raw(
                    "<circle class=\"metric-dot\" cx=\"\(Page.number(axis.x(points[0].time)))\" "
                        + "cy=\"\(Page.number(y(points[0].value)))\" r=\"2.5\"><title>")
            } else {
                let coordinates = points.map { "\(Page.number(axis.x($0.time))),\(Page.number(y($0.value)))" }
                page.raw(
                    "<polyline class=\"metric\" data-attempt=\"\(number)\" points=\"\(coordinates.joined(separator: " "))\"><title>"
                )
            }
            page.text(title)
            page.raw(points.count == 1 ? "</title></circle>\n" : "</title></polyline>\n")
        }
        axisTicks(&page, axis: axis, y: top + plotHeight, labelY: height - 10)
        page.raw("</svg>\n</div>\n")
    }

    static func axisTicks(_ page: inout Page, axis: TimeAxis, y: Double, labelY: Double) {
        for tick in axis.ticks() {
            let x = Page.number(axis.x(tick))
            page.raw("<line class=\"tick\" x1=\"\(x)\" y1=\"\(y)\" x2=\"\(x)\" y2=\"\(y + 4)\"/>\n")
            page.raw("<text class=\"x-label\" x=\"\(x)\" y=\"\(labelY)\">")
            page.text(tick == axis.origin ? "0" : DurationFormat.string(from: tick - axis.origin))
            page.raw("</text>\n")
        }
    }
}
