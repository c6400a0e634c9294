// libFuzzer target: arbitrary bytes as a YAML config, the editors' contract checked by EditorContract.swift.
// Built and run by scripts/fuzz, not by `swift test`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    checkEditorContract(data, size, formats: [.yaml])
    return 0
}
