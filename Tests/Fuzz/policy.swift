// libFuzzer target: arbitrary bytes as one JSON5 policy layer over the embedded default, the way
// `PolicyLoader.load` reads a file (the syntax locator, Foundation's JSON5 reader, the strict decoder,
// the cross-layer checks), then what `vigil policy check` and a run do with the result. Errors are
// fine; a trap, a crash or a hang is a bug. Built and run by scripts/fuzz, not by `swift test`.
import Foundation

@testable import VigilCore

/// The embedded default, resolved once: each input is a layer over it.
private let base = try! PolicyLoader(searchDirectories: []).load(nil)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Data(bytes: data, count: size)
    let file = "fuzz.json5"
    do {
        let tree = try JSONValue.parseJSON5(bytes, file: file)
        var policy = base
        let layerRules = try PolicyDecoder.apply(tree, file: file, to: &policy)
        let names = Set(layerRules.map(\.name))
        policy.rules = layerRules + base.rules.filter { !names.contains($0.name) }
        try PolicyDecoder.validate(policy, file: file)
        _ = policy.limitThatCannotWork
        _ = policy.resolvedTree.rendered()
        _ = tree.rendered()
    } catch {
        _ = String(describing: error)
    }
    return 0
}
