import Foundation
import Testing

@testable import VigilCore

/// examples/kubernetes/job.yaml against Vigil's contract: the same as job.json, a podFailurePolicy
/// rule for every exit code as the README's table for schedulers says, a grace period that covers the
/// policy's stop sequence, the run's files on the volume.
@Suite("The Kubernetes example")
struct KubernetesManifestTests {
    static let directory = TestSupport.repositoryRoot + "/examples/kubernetes"

    func manifest() throws -> JSONValue {
        try YAMLSubset.parse(TestSupport.read(KubernetesManifestTests.directory + "/job.yaml"))
    }

    func member(_ value: JSONValue?, _ path: String) -> JSONValue? {
        path.split(separator: ".").reduce(value) { current, key in
            if case .object(let members)? = current { return members[String(key)] }
            return nil
        }
    }

    func container(_ job: JSONValue) throws -> [String: JSONValue] {
        guard case .array(let containers)? = member(job, "spec.template.spec.containers"),
            case .object(let first)? = containers.first
        else { throw YAMLSubset.Failure(line: 0, message: "no container") }
        return first
    }

    @Test("job.yaml and job.json say the same")
    func yamlIsJSON() throws {
        let json = try JSONDecoder().decode(
            JSONValue.self, from: Data(TestSupport.read(KubernetesManifestTests.directory + "/job.json").utf8))
        #expect(try manifest() == json)
    }

    @Test("the YAML subset reader: what the manifest uses, and refusals for what it does not read")
    func yamlSubset() throws {
        let text = """
            # comment
            a: 1
            b:
              - x: "q # not a comment"
                y: [1, 'two', three]
              - plain
            c:
            - 2
            d: null
            """
        let expected: JSONValue = .object([
            "a": .int(1),
            "b": .array([
                .object(["x": .string("q # not a comment"), "y": .array([.int(1), .string("two"), .string("three")])]),
                .string("plain"),
            ]),
            "c": .array([.int(2)]),
            "d": .null,
        ])
        #expect(try YAMLSubset.parse(text) == expected)
        for unsupported in ["a: &x 1", "a: |\n  text", "a: {b: 1}", "a: 1\na: 2", "a: [[1]]"] {
            #expect(throws: YAMLSubset.Failure.self, "\(unsupported)") { try YAMLSubset.parse(unsupported) }
        }
    }

    /// The Kubernetes column of the README's table for schedulers: code → `FailJob`, `Ignore`, `Count` or success.
    func readmeActions() throws -> [Int32: String] {
        let readme = TestSupport.read(TestSupport.repositoryRoot + "/README.md")
        let section = try #require(readme.range(of: "### Exit codes for schedulers"))
        let rows = readme[section.upperBound...].split(separator: "\n").drop { !$0.hasPrefix("|") }
            .prefix { $0.hasPrefix("|") }
        let cells = rows.map { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } }
        let header = try #require(cells.first)
        let column = try #require(header.firstIndex { $0.contains("Kubernetes") })
        var actions: [Int32: String] = [:]
        for row in cells.dropFirst(2) {
            let code = try #require(Int32(row[0]), "\(row)")
            let cell = row[column]
            actions[code] = cell.hasPrefix("success") ? "success" : String(cell.split(separator: "`")[0])
        }
        return actions
    }

    @Test("every exit code of Vigil has its rule, as the README's table says; disruptions are ignored")
    func exitCodeRules() throws {
        let job = try manifest()
        #expect(member(job, "spec.template.spec.restartPolicy") == .string("Never"))
        guard case .int(let backoff)? = member(job, "spec.backoffLimit") else {
            Issue.record("backoffLimit is not set")
            return
        }
        #expect(backoff >= 1)
        #expect(member(job, "spec.activeDeadlineSeconds") != nil, "75 is ignored: something must cap the Job")
        guard case .array(let rules)? = member(job, "spec.podFailurePolicy.rules") else {
            Issue.record("no podFailurePolicy rules")
            return
        }
        let name = try container(job)["name"]
        var byCode: [Int32: String] = [:]
        var disruption: String?
        for rule in rules {
            guard case .string(let action)? = member(rule, "action") else { continue }
            if let codes = member(rule, "onExitCodes") {
                #expect(member(codes, "containerName") == name, "a rule for another container")
                #expect(member(codes, "operator") == .string("In"))
                guard case .array(let values)? = member(codes, "values") else { continue }
                for case .int(let code) in values where byCode[Int32(code)] == nil { byCode[Int32(code)] = action }
            }
            if case .array(let conditions)? = member(rule, "onPodConditions"),
                conditions.contains(where: { member($0, "type") == .string("DisruptionTarget") })
            {
                disruption = disruption ?? action
            }
        }
        #expect(disruption == "Ignore")
        #expect(byCode[0] == nil, "Kubernetes refuses 0 in an In rule")
        let readme = try readmeActions()
        #expect(Set(readme.keys) == Set(ExitCode.allCases.map(\.rawValue)), "the README's table lists every code")
        for code in ExitCode.allCases.map(\.rawValue) {
            switch readme[code] {
            case "success"?: #expect(code == 0)
            case "Count"?: #expect(byCode[code] == nil, "exit \(code): the README says the default (Count)")
            case let action?: #expect(byCode[code] == action, "exit \(code)")
            case nil: Issue.record("exit \(code) is not in the README's table")
            }
        }
        #expect(byCode[75] == "Ignore" && byCode[1] == "FailJob" && byCode[78] == "FailJob")
    }

    @Test("the grace period covers the policy's stop sequence; the run's files are on the volume")
    func gracePeriodAndVolume() throws {
        let job = try manifest()
        let trainer = try container(job)
        guard case .array(let items)? = trainer["command"] else {
            Issue.record("no command")
            return
        }
        let command = items.compactMap { item -> String? in
            if case .string(let text) = item { return text }
            return nil
        }
        #expect(Array(command.prefix(2)) == ["vigil", "run"])
        func option(_ name: String) -> String? {
            guard let index = command.firstIndex(of: name), index + 1 < command.count else { return nil }
            return command[index + 1]
        }
        var policy = try PolicyLoader(searchDirectories: []).load(option("--policy"))
        if let grace = option("--term-grace") {
            policy.stop.termGrace = try #require(DurationFormat.seconds(from: grace))
        }
        guard case .int(let grace)? = member(job, "spec.template.spec.terminationGracePeriodSeconds") else {
            Issue.record("no terminationGracePeriodSeconds")
            return
        }
        // The stop (the checkpoint wait; a save still under way holds SIGTERM off as long again;
        // then SIGTERM and the grace), the sweep of leftovers (the grace again), then vigil's last
        // writes.
        let stop = 2 * policy.stop.checkpointTimeout + 2 * policy.stop.termGrace
        #expect(Double(grace) > stop, "\(grace)s does not cover \(stop)s of \(policy.name)'s stop sequence")
        #expect(member(.object(trainer), "terminationMessagePath") == .string(TerminationLog.kubernetesPath))

        guard case .array(let mounts)? = trainer["volumeMounts"],
            case .array(let volumes)? =
                member(job, "spec.template.spec.volumes")
        else {
            Issue.record("no volumes")
            return
        }
        let claims = volumes.filter { member($0, "persistentVolumeClaim.claimName") != nil }.compactMap {
            member($0, "name")
        }
        let persistent = mounts.filter { claims.contains(member($0, "name") ?? .null) }.compactMap { mount in
            if case .string(let path)? = member(mount, "mountPath") { return path }
            return nil
        }
        for flag in ["--log-dir", "--checkpoint-dir"] {
            let path = try #require(option(flag), "\(flag) is not given")
            #expect(persistent.contains { path.hasPrefix($0 + "/") }, "\(flag) \(path) is not on a claim")
        }
    }
}
