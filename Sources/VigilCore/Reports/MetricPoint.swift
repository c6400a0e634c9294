import Foundation

/// One line of `logs/<run>/metrics.jsonl`: the values a policy's `metrics` patterns parsed from one
/// line of the trainer's output, with the attempt and the time.
///
/// `{"attempt":1,"time":"2026-11-23T01:02:03.000Z","step":12,"values":{"loss":0.5}}`
public struct MetricPoint: Codable, Sendable, Equatable {
    public var attempt: Int
    public var time: Date
    /// The training step, when the line carried one.
    public var step: Int?
    /// The total number of steps, when the progress pattern gave it.
    public var total: Int?
    /// Metric name → value.
    public var values: [String: Double]

    public init(attempt: Int, time: Date, step: Int? = nil, total: Int? = nil, values: [String: Double]) {
        self.attempt = attempt
        self.time = time
        self.step = step
        self.total = total
        self.values = values
    }

    /// The point as one compact JSON line (no newline), timestamps as in the journal.
    public func jsonLine() throws -> String {
        String(decoding: try MetricPoint.lineEncoder.encode(self), as: UTF8.self)
    }

    static let lineEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Journal.timestamp(date))
        }
        return encoder
    }()

    /// Reads a metrics file. A missing file is no points; a line that is not a point (a write cut
    /// short by a crash, a stray edit) is skipped, so one bad line never hides the rest.
    public static func read(_ path: String) -> [MetricPoint] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var points: [MetricPoint] = []
        for line in data.split(separator: 0x0A) {
            guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }),
                let point = try? Journal.decoder.decode(MetricPoint.self, from: Data(line))
            else { continue }
            points.append(point)
        }
        return points
    }
}

/// What one metric did over a run, for `vigil report --json` and the text summary.
public struct MetricSeries: Codable, Sendable, Equatable {
    public var name: String
    public var count: Int
    public var first: Double
    public var last: Double
    public var min: Double
    public var max: Double
    /// The attempts that reported it, in order.
    public var attempts: [Int]

    /// One series per metric name, in the order the names first appear.
    public static func summarize(_ points: [MetricPoint]) -> [MetricSeries] {
        var order: [String] = []
        var series: [String: MetricSeries] = [:]
        for point in points {
            for name in point.values.keys.sorted() {
                guard let value = point.values[name], value.isFinite else { continue }
                if var existing = series[name] {
                    existing.count += 1
                    existing.last = value
                    existing.min = Swift.min(existing.min, value)
                    existing.max = Swift.max(existing.max, value)
                    if existing.attempts.last != point.attempt { existing.attempts.append(point.attempt) }
                    series[name] = existing
                } else {
                    order.append(name)
                    series[name] = MetricSeries(
                        name: name, count: 1, first: value, last: value, min: value, max: value,
                        attempts: [point.attempt])
                }
            }
        }
        return order.compactMap { series[$0] }
    }
}

/// `vigil report --json`: the journal as recorded, plus what the metrics file holds.
public struct ReportDocument: Encodable, Sendable {
    public var journal: Journal
    public var metrics: Metrics
    /// Where the run's wall time went.
    public var goodput: Goodput

    public struct Metrics: Encodable, Sendable {
        /// Lines read from metrics.jsonl.
        public var points: Int
        public var series: [MetricSeries]
    }

    public init(journal: Journal, metrics: [MetricPoint], now: Date = Date()) {
        self.journal = journal
        self.metrics = Metrics(points: metrics.count, series: MetricSeries.summarize(metrics))
        self.goodput = Goodput(journal: journal, now: now)
    }

    /// Pretty-printed JSON, timestamps as in the journal.
    public func encoded() throws -> Data {
        var data = try Journal.encoder.encode(self)
        data.append(0x0A)
        return data
    }
}
