// libFuzzer target: arbitrary bytes as the text of a duration (`90s`, `1h30m`) and of a byte size
// (`100MB`), as a policy or a flag gives them. A result must be finite and ≥ 0, or nil; formatting a
// parsed duration back must not trap. Built and run by scripts/fuzz, not by `swift test`.
import Foundation

@testable import VigilCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let seconds = DurationFormat.seconds(from: text) {
        guard seconds.isFinite, seconds >= 0 else {
            fatalError("DurationFormat.seconds(from: \(text.debugDescription)) = \(seconds)")
        }
        _ = DurationFormat.string(from: seconds)
    }
    if let bytes = ByteSizeFormat.bytes(from: text), bytes < 0 {
        fatalError("ByteSizeFormat.bytes(from: \(text.debugDescription)) = \(bytes)")
    }
    return 0
}
