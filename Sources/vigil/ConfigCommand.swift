import VigilCLI
import VigilCore

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

func configCommand(_ arguments: ParsedArguments) throws -> Int32 {
    typealias Option = ConfigCommand
    let policy = try loader().load(arguments.text(Option.policy))
    let repair = arguments.flag(Option.repair)
    guard let path = arguments.text(Option.config) ?? policy.config.path else {
        throw VigilError(.usage, "no config file: give --config FILE or a policy with config.path")
    }
    guard FileManager.default.fileExists(atPath: path) else {
        throw VigilError(.notFound, file: path, "config file not found")
    }
    guard let format = ConfigFormat(path: path) else {
        throw VigilError(
            .invalidConfig, file: path,
            "unknown config format: expected .json, .yaml/.yml, .toml, .ini/.cfg/.conf or .env")
    }
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw VigilError(.invalidConfig, file: path, "cannot be read as UTF-8 text")
    }
    let document = try ConfigFile.parse(text, format: format, path: path)
    if policy.config.schema.isEmpty {
        print(
            "\(path): parses as \(format.rawValue) (\(document.keys.count) keys); the policy has no config.schema to check"
        )
        return 0
    }
    let check = ConfigSchema.check(document, schema: policy.config.schema, file: path)
    for problem in check.problems { print("problem: \(problem)") }
    for item in check.repairs {
        print(
            "\(repair && check.problems.isEmpty ? "repaired" : "repairable"): \(item.record.line) (\(item.record.reason))"
        )
    }
    guard check.problems.isEmpty else { return ExitCode.invalidConfiguration.rawValue }
    if repair && !check.repairs.isEmpty {
        var updated = text
        for item in check.repairs {
            updated = try ConfigFile.parse(updated, format: format, path: path).setting(item.key, to: item.value)
        }
        var info = stat()
        let mode = stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0o644
        try AtomicFile.write(Data(updated.utf8), to: path, permissions: mode)
    }
    if check.repairs.isEmpty { print("\(path): valid against config.schema") }
    return 0
}
