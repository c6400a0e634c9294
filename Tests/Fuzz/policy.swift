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
    var bytes = Data(bytes: data, count: size)
    // Foundation's JSON5 decoder reads past the end of a text that ends in an integer too large for Int (see
    // FuzzRegressionTests.policyHugeIntegerAtEnd): a newline after such a text, as most files have, lets the run go
    // on to other bugs until Vigil pads the text itself.
    if let last = bytes.last,
        last == UInt8(ascii: ".") || (last < 0x80 && Character(Unicode.Scalar(last)).isLetter)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(last)
    {
        bytes.append(UInt8(ascii: "\n"))
    }
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
