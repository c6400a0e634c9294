import Foundation
import Testing

/// The trainer-side helper (examples/vigil_trainer.py) has its own tests, in Python's unittest:
/// atomic saves, the checkpoint flag, SIGTERM, overrides applied to an optimizer, the error file,
/// the heartbeat. They run here so that `swift test` covers them.
@Suite("The Python trainer helper")
struct TrainerHelperTests {
    @Test("examples/vigil_trainer.py passes its unittest suite")
    func unittestSuite() throws {
        let process = try TestProcess(
            [
                TestSupport.python, "-m", "unittest", "-v",
                TestSupport.repositoryRoot + "/Tests/Fixtures/test_vigil_trainer.py",
            ])
        let code = try #require(process.exitCode(timeout: 300))
        #expect(code == 0, "\(process.output)")
        #expect(process.stderr.contains("OK"), "\(process.output)")
    }
}
