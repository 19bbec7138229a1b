import XCTest
import Foundation
import Support
import MXFormats
import Runtime
import TestSupport
@testable import PTQ

/// Calibration on the integer MX kernels (`PTQOptions.integerKernels`, `AWQ.searchScales(integer:)`):
/// the same quantities as the fp32 fake-quant products up to fp32 summation order, bit-identical
/// for any thread count, and the model left unpacked.
final class IntegerCalibrationTests: XCTestCase {
    /// AWQ's scale search with the integer products: the losses equal the fp32 search's to fp32
    /// rounding (K = 80 is not a multiple of the 32-block; chunks of 7 rows run the GEMV path,
    /// 1024 the GEMM), the same α is chosen, and threads 1 and 3 give the same bits. A group with
    /// an fp32-input member falls back to the fp32 search (bitwise).
    func testIntegerScaleSearchMatchesFP32Search() {
        let t = 45, k = 80
        let x = correlatedInputs(tokens: t, k: k, seed: 61, outliers: [2: 9, 50: 7])
        var mean = [Float](repeating: 0, count: k)
        for r in 0..<t { for j in 0..<k { mean[j] += abs(x[r * k + j]) / Float(t) } }
        let a8 = MXConfig(format: .mxint8)
        let group = [AWQLinear(weight: randomFloats(6 * k, seed: 62, scale: 0.2), rows: 6, weightConfig: MXConfig(format: .mxint4), actConfig: a8),
                     AWQLinear(weight: randomFloats(19 * k, seed: 63, scale: 0.2), rows: 19, weightConfig: MXConfig(format: .mxint8), actConfig: a8)]
        XCTAssertTrue(AWQ.integerSearchApplies(group))
        var opts = AWQOptions()
        opts.gridPoints = 8
        let saved = Parallel.defaultThreads
        defer { Parallel.defaultThreads = saved }
        for chunk in [1024, 7] {
            Parallel.defaultThreads = 1
            let fp = AWQ.searchScales(x: x, tokens: t, k: k, actMean: mean, group: group, options: opts, chunkRows: chunk)
            let i1 = AWQ.searchScales(x: x, tokens: t, k: k, actMean: mean, group: group, options: opts, chunkRows: chunk, integer: true)
            Parallel.defaultThreads = 3
            let i3 = AWQ.searchScales(x: x, tokens: t, k: k, actMean: mean, group: group, options: opts, chunkRows: chunk, integer: true)
            XCTAssertEqual(i1.losses, i3.losses, "chunk \(chunk): thread count changed the integer search")
            XCTAssertEqual(i1.bestAlpha, fp.bestAlpha, "chunk \(chunk)")
            XCTAssertEqual(i1.scales, fp.scales)
            for i in 0..<8 where fp.losses[i] <= fp.losses.min()! * 1.5 && i1.losses[i] <= i1.losses.min()! * 1.5 {
                XCTAssertEqual(i1.losses[i], fp.losses[i], accuracy: 1e-5 * fp.losses[i], "chunk \(chunk) α index \(i)")
            }
        }
        var mixed = group
        mixed[1].actConfig = nil
        XCTAssertFalse(AWQ.integerSearchApplies(mixed))
        let a = AWQ.searchScales(x: x, tokens: t, k: k, actMean: mean, group: mixed, options: opts, chunkRows: 1024)
        let b = AWQ.searchScales(x: x, tokens: t, k: k, actMean: mean, group: mixed, options: opts, chunkRows: 1024, integer: true)
        XCTAssertEqual(a.losses, b.losses)
    }

    /// Whole-model calibration with `integerKernels`: RTN, AWQ, GPTQ and SmoothQuant+AWQ+GPTQ under
    /// W4A8 MXINT. Block 0's calibration inputs are the fp32 model's, so its RTN/GPTQ weights are
    /// bitwise the fake-quant run's; the outputs passed to block 1 differ only by fp32 summation
    /// order, so the final logits agree closely; the choices (AWQ α and clipping, in the notes)
    /// agree; threads 1 and 3 give the same bits; no linear is left packed.
    func testIntegerCalibrationMatchesFakeQuantAndIsThreadInvariant() throws {
        let w4 = MXConfig(format: .mxint4), a8 = MXConfig(format: .mxint8)
        let cal = Tiny.calibration(samples: 2, length: 24)
        let saved = Parallel.defaultThreads
        defer { Parallel.defaultThreads = saved }
        for recipe in ["rtn", "awq", "gptq", "sq,awq,gptq"] {
            func run(integer: Bool, threads: Int) throws -> (LlamaModel, PTQReport) {
                Parallel.defaultThreads = threads
                var o = PTQOptions()
                o.showProgress = false
                o.integerKernels = integer
                o.awq.gridPoints = 5
                o.awq.clipGrid = 6
                let m = Tiny.model()
                let p = QuantPlan(defaults: QuantSpec(weight: w4, act: a8), recipe: try Recipe.parse(recipe))
                return (m, try quantize(model: m, plan: p, calibration: cal, options: o))
            }
            let (mf, rf) = try run(integer: false, threads: 3)
            let (m1, r1) = try run(integer: true, threads: 1)
            let (m3, r3) = try run(integer: true, threads: 3)
            XCTAssertEqual(m1.linears.map(\.weight), m3.linears.map(\.weight), recipe)
            XCTAssertEqual(r1.records.map(\.outputMSE), r3.records.map(\.outputMSE), recipe)
            XCTAssertTrue(m1.linears.allSatisfy { $0.packed == nil }, "\(recipe): a linear was left packed")
            XCTAssertEqual(r1.records.map(\.note), rf.records.map(\.note), "\(recipe): a choice changed")
            if recipe == "rtn" || recipe == "gptq" {
                XCTAssertEqual(m1.blocks[0].linears.map(\.weight), mf.blocks[0].linears.map(\.weight), recipe)
            }
            let lf = mf.logits(Tiny.tokens), l1 = m1.logits(Tiny.tokens)
            let scale = lf.map { abs($0) }.max()!
            XCTAssertLessThan(zip(lf, l1).map { abs($0 - $1) }.max()! / scale, 1e-4, recipe)
            // the integer kernels ran (on this small model their products often equal the fp32
            // ones bit for bit: products of MX values and short sums of them are exact in fp32)
            XCTAssertEqual(r1.integerKernelUses["passes"], 2 * 7, recipe)
            XCTAssertGreaterThanOrEqual(r1.integerKernelUses["records"] ?? 0, 2 * 7, recipe)
            XCTAssertEqual(r1.integerKernelUses["awq"], recipe.contains("awq") ? 2 * 4 : nil, recipe)
            XCTAssertTrue(rf.integerKernelUses.isEmpty, recipe)
        }
    }
}
