import XCTest
import Support
import Runtime
import MXFormats
import TestSupport
@testable import PTQ

/// Calibration token ids are checked against the model's vocabulary (issue #12 §2), as
/// evaluation checks its windows: a typed error, not a trap in the embedding lookup.
final class CalibrationVocabTests: XCTestCase {
    func testCalibrationIDOutsideVocabularyIsTypedError() {
        let model = Tiny.model(config: Tiny.oneBlockConfig)
        let vocab = Tiny.oneBlockConfig.vocabSize
        var seq = (0..<16).map { Int32($0 % vocab) }
        seq[5] = Int32(vocab)                      // one past the last id
        let cal = CalibrationSet(sequences: [seq], identity: "bad")
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4)), recipe: Recipe([.gptq(actOrder: false)]))
        var o = PTQOptions(); o.showProgress = false
        XCTAssertThrowsError(try quantize(model: model, plan: plan, calibration: cal, options: o)) { e in
            XCTAssertTrue(e is UserFacingError, "\(e)")
            XCTAssertTrue("\(e)".contains("\(vocab)") && "\(e)".contains("position 5"), "\(e)")
        }
        seq[5] = -1
        XCTAssertThrowsError(try quantize(model: model, plan: plan, calibration: CalibrationSet(sequences: [seq], identity: "neg"), options: o))
    }
}
