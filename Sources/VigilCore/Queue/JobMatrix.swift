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

/// What `vigil queue add` was asked to add, before the matrix is expanded.
public struct QueueAddRequest: Sendable {
    public var command: [String]
    public var workingDirectory: String
    /// `--name`; may hold `{KEY}` placeholders.
    public var name: String?
    public var policy: String?
    /// Other `vigil run` options, as `--option=value`; may hold placeholders.
    public var runArguments: [String] = []
    /// `--matrix KEY=V1,V2` and `--matrix-file`, in order.
    public var matrix: [(key: String, values: [String])] = []
    public var after: [String] = []
    public var priority = 0
    public var retrainAfter: Double?

    public init(command: [String], workingDirectory: String) {
        self.command = command
        self.workingDirectory = workingDirectory
    }
}

/// `--matrix symbol=BTCEUR,ETHEUR --matrix model=lightgbm,lstm`: one job per combination, the first
/// key varying slowest. `{symbol}` and `{model}` are replaced in the command, the name, the policy,
/// the other `vigil run` options and `--after`; the job is named `train-BTCEUR-lightgbm` (the
/// script's base name and the values) unless `--name` says otherwise.
public enum JobMatrix {
    /// The most jobs one `queue add` makes.
    public static let maximumJobs = 100_000

    /// Reads `KEY=V1,V2,…`.
    public static func parse(_ text: String) throws -> (key: String, values: [String]) {
        guard let equals = text.firstIndex(of: "=") else {
            throw VigilError(.usage, "--matrix expects KEY=VALUE1,VALUE2,…, got '\(text)'")
        }
        let key = String(text[..<equals])
        try checkKey(key, in: "--matrix \(text)")
        let values = text[text.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingSpaces() }
        guard !values.contains(where: \.isEmpty) else {
            throw VigilError(.usage, "--matrix \(text): an empty value (two commas, or one at an end)")
        }
        return (key, values)
    }

    /// Reads `--matrix-file KEY=FILE` (or `FILE`, whose base name without extension is the key): one
    /// value per line; blank lines and lines starting with `#` are skipped.
    public static func read(file spec: String, workingDirectory: String) throws -> (key: String, values: [String]) {
        var key: String
        var file = spec
        if let equals = spec.firstIndex(of: "="), !spec[..<equals].contains("/") {
            key = String(spec[..<equals])
            file = String(spec[spec.index(after: equals)...])
        } else {
            key = Path.deletingExtension(Path.lastComponent(spec))
        }
        try checkKey(key, in: "--matrix-file \(spec)")
        let path = Paths.absolute(file, in: workingDirectory)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VigilError(.notFound, file: file, "--matrix-file: cannot read it (no such file?)")
        }
        let values = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !values.isEmpty else { throw VigilError(.usage, file: file, "--matrix-file: no values in it") }
        return (key, values)
    }

    private static func checkKey(_ key: String, in what: String) throws {
        let valid =
            !key.isEmpty && key.first.map { $0.isLetter || $0 == "_" } == true
            && key.allSatisfy { ($0.isLetter || $0.isNumber || $0 == "_") && $0.isASCII }
        guard valid else {
            throw VigilError(
                .usage, "\(what): '\(key)' is not a matrix key (letters, digits and '_', not first a digit)")
        }
    }

    /// The jobs `request` stands for (sequence numbers not yet given), and warnings for the user.
    /// - Throws: `.usage` for a key given twice, a name that is not a valid run name, two jobs of the
    ///   same name, or too many jobs.
    public static func expand(_ request: QueueAddRequest, now: Date) throws -> (jobs: [QueueJob], warnings: [String]) {
        var warnings: [String] = []
        var axes: [(key: String, values: [String])] = []
        for axis in request.matrix {
            guard !axes.contains(where: { $0.key == axis.key }) else {
                throw VigilError(.usage, "the matrix key '\(axis.key)' is given twice")
            }
            var seen = Set<String>()
            let unique = axis.values.filter { seen.insert($0).inserted }
            if unique.count < axis.values.count {
                warnings.append("matrix key '\(axis.key)': \(axis.values.count - unique.count) repeated values ignored")
            }
            axes.append((axis.key, unique))
        }
        let total = axes.reduce(1) { $0.multipliedReportingOverflow(by: $1.values.count).partialValue }
        guard total <= maximumJobs, axes.allSatisfy({ !$0.values.isEmpty }) else {
            throw VigilError(.usage, "the matrix makes \(total) jobs; at most \(maximumJobs) at once")
        }
        warnings += unusedKeys(axes.map(\.key), request)
        var jobs: [QueueJob] = []
        jobs.reserveCapacity(total)
        var names: [String: [QueueJob.MatrixValue]] = [:]
        for combination in combinations(axes) {
            let job = try makeJob(request, combination, now: now)
            if let other = names[job.name] {
                let a = other.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                let b = combination.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                throw VigilError(
                    .usage, "two jobs would be called '\(job.name)' (\(a) and \(b)); use --name with {KEY} placeholders"
                )
            }
            names[job.name] = combination
            jobs.append(job)
        }
        return (jobs, warnings)
    }

    /// Every combination of the axes' values, the first axis varying slowest.
    static func combinations(_ axes: [(key: String, values: [String])]) -> [[QueueJob.MatrixValue]] {
        var result: [[QueueJob.MatrixValue]] = [[]]
        for axis in axes {
            result = result.flatMap { prefix in
                axis.values.map { prefix + [QueueJob.MatrixValue(key: axis.key, value: $0)] }
            }
        }
        return result
    }

    private static func makeJob(
        _ request: QueueAddRequest, _ values: [QueueJob.MatrixValue], now: Date
    ) throws
        -> QueueJob
    {
        func fill(_ text: String) -> String { substitute(text, values) }
        let command = request.command.map(fill)
        let name: String
        if let given = request.name {
            // In a name, values are made safe for a run name (`B/C` → `B-C`); elsewhere they are as given.
            let filled = substitute(given, values.map { .init(key: $0.key, value: nameSuffix([$0])) })
            name = filled != given || values.isEmpty ? filled : given + "-" + nameSuffix(values)
        } else if values.isEmpty {
            name = RunDirectory.defaultName(command: command, workingDirectory: request.workingDirectory)
        } else {
            name = RunDirectory.baseName(command: request.command) + "-" + nameSuffix(values)
        }
        try RunDirectory.validate(name: name)
        var job = QueueJob(
            name: name, sequence: 0, command: command, workingDirectory: request.workingDirectory, addedAt: now)
        job.policy = request.policy.map(fill)
        job.runArguments = request.runArguments.map(fill)
        job.matrix = values
        job.after = request.after.map(fill)
        job.priority = request.priority
        job.retrainAfter = request.retrainAfter
        return job
    }

    /// `text` with each `{KEY}` replaced by its value.
    public static func substitute(_ text: String, _ values: [QueueJob.MatrixValue]) -> String {
        guard text.contains("{") else { return text }
        var out = text
        for item in values { out = out.replacing("{\(item.key)}", with: item.value) }
        return out
    }

    /// `BTCEUR-lightgbm`: the values made safe for a run name, joined by `-`.
    static func nameSuffix(_ values: [QueueJob.MatrixValue]) -> String {
        values.map { item in
            String(item.value.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "-" })
        }.joined(separator: "-")
    }

    /// Keys whose `{KEY}` appears nowhere: their jobs would differ only in name.
    private static func unusedKeys(_ keys: [String], _ request: QueueAddRequest) -> [String] {
        let texts = request.command + request.runArguments + request.after + [request.policy ?? ""]
        return keys.filter { key in !texts.contains { $0.contains("{\(key)}") } }.map { key in
            "matrix key '\(key)' is not used: {\(key)} appears nowhere in the command or the options, so its jobs "
                + "differ only in their names and VIGIL_JOB_KEY"
        }
    }
}
