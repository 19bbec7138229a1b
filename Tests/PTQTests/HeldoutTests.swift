import XCTest
import Support
import MXFormats
import Runtime
@testable import PTQ

/// Held-out layer errors, disjoint held-out sampling, and GPTQ's per-layer facts in the records.
final class HeldoutTests: XCTestCase {
    func quiet() -> PTQOptions { var o = PTQOptions(); o.showProgress = false; return o }

    /// With the calibration sequences themselves as "held-out" data, the held-out columns must equal
    /// the calibration columns exactly (same inputs, same positions, same weights); with other
    /// sequences they differ, and every record has them.
    func testHeldoutColumnsEqualCalibrationOnTheSameInputs() throws {
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4), act: MXConfig(format: .mxint8)),
                             recipe: try Recipe.parse("sq,awq"))
        var o = quiet(); o.awq.gridPoints = 3
        let cal = Tiny.calibration(samples: 2, length: 24)
        let same = try quantize(model: Tiny.model(), plan: plan, calibration: cal, options: o, heldout: cal)
        XCTAssertEqual(same.records.count, 2 * 7 * 3)
        for r in same.records {
            XCTAssertEqual(r.heldoutOutputSQNR, r.outputSQNR, r.layer)
            XCTAssertEqual(r.heldoutOutputMSE, r.outputMSE, r.layer)
        }
        let other = Tiny.calibration(samples: 2, length: 24, seed: 77)
        let diff = try quantize(model: Tiny.model(), plan: plan, calibration: cal, options: o, heldout: other)
        XCTAssertTrue(diff.records.allSatisfy { $0.heldoutOutputSQNR != nil })
        XCTAssertTrue(diff.records.contains { $0.heldoutOutputSQNR != $0.outputSQNR })
        // calibration-side numbers do not depend on the held-out data
        XCTAssertEqual(diff.records.map(\.outputSQNR), same.records.map(\.outputSQNR))
        let none = try quantize(model: Tiny.model(), plan: plan, calibration: cal, options: o)
        XCTAssertTrue(none.records.allSatisfy { $0.heldoutOutputSQNR == nil })
        XCTAssertEqual(none.records.map(\.outputSQNR), same.records.map(\.outputSQNR))
    }

    func testHeldoutWindowsAreDisjointFromCalibration() throws {
        let stream = (0..<400).map { Int32($0 % 50) }
        let cal = try CalibrationSet(tokens: stream, samples: 6, length: 30, seed: 3)
        XCTAssertEqual(cal.starts.count, 6)
        let h = try CalibrationSet.heldOut(tokens: stream, samples: 4, length: 30, seed: 3, disjointFrom: cal, sourceName: "t")
        XCTAssertEqual(h.sequences.count, 4)
        for s in h.starts { for c in cal.starts { XCTAssertTrue(s + 30 <= c || c + 30 <= s, "\(s) overlaps \(c)") } }
        for (s, seq) in zip(h.starts, h.sequences) { XCTAssertEqual(seq, Array(stream[s..<(s + 30)])) }
        // deterministic
        XCTAssertEqual(try CalibrationSet.heldOut(tokens: stream, samples: 4, length: 30, seed: 3, disjointFrom: cal, sourceName: "t").starts, h.starts)
        // no room: a typed error, not a hang
        let full = try CalibrationSet(tokens: Array(stream.prefix(70)), samples: 40, length: 30, seed: 1)
        XCTAssertThrowsError(try CalibrationSet.heldOut(tokens: Array(stream.prefix(70)), samples: 1, length: 30, seed: 1, disjointFrom: full, sourceName: "t"))
    }

    /// With a BOS id every calibration and held-out sequence is [BOS] + len − 1 consecutive text
    /// tokens; the held-out windows stay disjoint from the calibration windows' text tokens, and
    /// the set's identity (Hessian cache key) differs from the set without BOS.
    func testBOSCalibrationAndHeldoutSequences() throws {
        let stream = (0..<400).map { Int32(100 + $0) }
        let bos: Int32 = 7
        let cal = try CalibrationSet(tokens: stream, samples: 6, length: 30, seed: 3, bos: bos)
        let plain = try CalibrationSet(tokens: stream, samples: 6, length: 30, seed: 3)
        XCTAssertNotEqual(cal.identity, plain.identity)
        XCTAssertEqual(cal.length, 30)
        for (s, seq) in zip(cal.starts, cal.sequences) {
            XCTAssertEqual(seq, [bos] + Array(stream[s..<(s + 29)]))
        }
        let h = try CalibrationSet.heldOut(tokens: stream, samples: 4, length: 30, seed: 3, disjointFrom: cal, sourceName: "t", bos: bos)
        for (s, seq) in zip(h.starts, h.sequences) { XCTAssertEqual(seq, [bos] + Array(stream[s..<(s + 29)])) }
        for s in h.starts { for c in cal.starts { XCTAssertTrue(s + 29 <= c || c + 29 <= s, "\(s) overlaps \(c)") } }
        // as without BOS, the text must be longer than a sequence's text tokens (GPTQ's randint bound)
        XCTAssertThrowsError(try CalibrationSet(tokens: Array(stream.prefix(29)), samples: 1, length: 30, seed: 0, bos: bos))
        XCTAssertEqual(try CalibrationSet(tokens: Array(stream.prefix(30)), samples: 1, length: 30, seed: 0, bos: bos).sequences[0],
                       [bos] + Array(stream.prefix(29)))
    }

    func testGPTQRecordsDampLossAndTraceShare() throws {
        // hand-derived: k = 200 → the top 1% is ceil(2) = 2 channels; diagonal [100, 3, 1 × 198]
        var h = [Double](repeating: 0, count: 200 * 200)
        h[0] = 100; h[201] = 3
        for i in 2..<200 { h[i * 200 + i] = 1 }
        XCTAssertEqual(GPTQLayerInfo.topShare(hessian: h, k: 200, fraction: 0.01), 103.0 / 301.0, accuracy: 1e-15)
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4)), recipe: try Recipe.parse("gptq"))
        let r = try quantize(model: Tiny.model(), plan: plan, calibration: Tiny.calibration(samples: 2, length: 24), options: quiet())
        for rec in r.records where rec.stage.hasPrefix("gptq") {
            XCTAssertNotNil(rec.gptqDamp); XCTAssertNotNil(rec.gptqLoss)
            let t = try XCTUnwrap(rec.hessianTop1Share)
            XCTAssertTrue(t > 0 && t <= 1, "\(t)")
            XCTAssertTrue(rec.note.contains("damp="))
        }
    }
}
