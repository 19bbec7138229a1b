import XCTest
import ModelIO
import Support
import TestSupport
@testable import Experiments

/// Sliding-window attention is not implemented: a model whose config puts it in effect (Mistral's
/// `sliding_window`) runs only windows and calibration sequences no longer than the window; longer
/// ones are refused before anything runs, with an error naming `sliding_window`.
final class SlidingWindowTests: XCTestCase {
    func testContextAboveSlidingWindowIsRefused() throws {
        let (model, tokens, calib) = try RealRunnerTests.tinyModelFolder()
        var c = try LlamaHyperparameters.fromHFConfig(path: model.appendingPathComponent("config.json").path)
        c.architecture = .mistral
        c.slidingWindow = 48
        try c.hfConfigJSON().write(to: model.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        func runner(ctx: Int, calibLen: Int) throws -> RealRunner {
            var a = Args(command: "eval", ["--model", model.path, "--tokens-file", tokens.path, "--windows", "1",
                                           "--ctx", String(ctx), "--weights", "mxint4", "--recipe", "gptq",
                                           "--calib-file", calib.path, "--calib-samples", "2", "--calib-len", String(calibLen), "--no-cache"])
            let inv = try EvalInvocation.parse(&a)
            return try RealRunner(manifest: inv.manifest)
        }
        for (ctx, len, what) in [(64, 32, "eval.ctx"), (32, 64, "calibration.len")] {
            XCTAssertThrowsError(try runner(ctx: ctx, calibLen: len)) { e in
                guard case let .badMetadata(_, key, expected, found)? = e as? ModelIOError else { return XCTFail("\(e)") }
                XCTAssertEqual(key, "sliding_window"); XCTAssertEqual(found, "48")
                XCTAssertTrue(expected.contains(what), expected)
            }
        }
        XCTAssertNoThrow(try runner(ctx: 48, calibLen: 48))
    }
}
