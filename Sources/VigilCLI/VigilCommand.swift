/// Every command of `vigil` the parser knows, with its declaration.
public enum VigilCommand: String, Sendable, CaseIterable {
    case run
    case initialize = "init"
    case status
    case report
    case stop
    case checkpointsList
    case checkpointsPrune
    case checkpointsSummary
    case configCheck
    case policyCheck
    case policyExplain
    case queueAdd
    case queueList
    case queueRun
    case queueShow
    case queueRetry
    case queueRemove
    case queueClear
    case drill
    case checkpointsExport
    case checkpointsVerify

    /// What the command accepts and how its help reads.
    public var spec: CommandSpec {
        switch self {
        case .run: return RunCommand.spec
        case .initialize: return InitCommand.spec
        case .status: return StatusCommand.spec
        case .report: return ReportCommand.spec
        case .stop: return StopCommand.spec
        case .checkpointsList: return CheckpointsCommand.list
        case .checkpointsPrune: return CheckpointsCommand.prune
        case .checkpointsSummary: return CheckpointsCommand.summary
        case .configCheck: return ConfigCommand.check
        case .policyCheck: return PolicyCommand.check
        case .policyExplain: return PolicyCommand.explain
        case .queueAdd: return QueueCommand.add
        case .queueList: return QueueCommand.list
        case .queueRun: return QueueCommand.run
        case .queueShow: return QueueCommand.show
        case .queueRetry: return QueueCommand.retry
        case .queueRemove: return QueueCommand.remove
        case .queueClear: return QueueCommand.clear
        case .drill: return DrillCommand.spec
        case .checkpointsExport: return CheckpointsCommand.export
        case .checkpointsVerify: return CheckpointsCommand.verify
        }
    }

    /// The command whose words after `vigil` are `path`.
    public init?(path: [String]) {
        guard let command = Self.allCases.first(where: { $0.spec.path == path }) else { return nil }
        self = command
    }
}

/// A command with subcommands: `vigil checkpoints`, `vigil config`, `vigil policy`, `vigil queue`.
public struct CommandGroup: Sendable {
    /// The word after `vigil`.
    public let name: String
    /// Its subcommands, in the order they are listed.
    public let subcommands: [VigilCommand]
    /// What `vigil NAME --help` prints.
    public let help: String

    /// The groups, in the order of the usage.
    public static let all = [
        CommandGroup(
            name: "checkpoints",
            subcommands: [
                .checkpointsList, .checkpointsPrune, .checkpointsSummary, .checkpointsExport, .checkpointsVerify,
            ],
            help: CheckpointsCommand.overview),
        // One subcommand: its help is the group's.
        CommandGroup(name: "config", subcommands: [.configCheck], help: ConfigCommand.check.help),
        CommandGroup(name: "policy", subcommands: [.policyCheck, .policyExplain], help: PolicyCommand.overview),
        CommandGroup(
            name: "queue",
            subcommands: [.queueAdd, .queueList, .queueRun, .queueShow, .queueRetry, .queueRemove, .queueClear],
            help: QueueCommand.overview),
    ]

    /// `list, prune or summary`.
    public var expected: String {
        let names = subcommands.map { $0.spec.path.last! }
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    /// The subcommand called `word`.
    public func subcommand(_ word: String) -> VigilCommand? {
        subcommands.first { $0.spec.path.last == word }
    }
}
