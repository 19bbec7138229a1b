import XCTest
import Support
import MXFormats
import Runtime
import TestSupport
@testable import PTQ

/// GPTQ calibrates each block in one true-sequential staged pass: every Hessian is built from
/// exactly the inputs its layer sees in the final quantized model (o after the quantized q/k/v,
/// gate/up after the quantized attention, down after the quantized gate/up).
final class TrueSequentialGPTQTests: XCTestCase {
    func testHessiansSeeTheQuantizedModelsInputs() throws {
        let model = Tiny.model()
        let cal = Tiny.calibration(samples: 2, length: 20)
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4), act: MXConfig(format: .mxint8)),
                             recipe: Recipe([.gptq(actOrder: false)]))
        var opts = PTQOptions()
        opts.showProgress = false
        var state = PipelineState(model: model, plan: plan, options: opts, stages: plan.recipe.effectiveStages)
        var blockInputs: [Int: [[Float]]] = [:]
        var hessians: [String: [Double]] = [:]
        state.blockInputObserver = { blockInputs[$0] = $1 }
        state.hessianObserver = { bi, m, h in hessians["\(bi).\(m)"] = h }
        try state.runSequential(cal)
        XCTAssertEqual(hessians.count, 2 * 4, "one Hessian per input group and block (q/k/v and gate/up share one)")

        // Hessians rebuilt from the final model's forward pass (activation formats on: the
        // observers see the quantized copies, which is what GPTQ's accumulator quantizes too)
        for bi in 0..<2 {
            let lins = model.blocks[bi].linears
            let leaders = [lins[0].name: 0, lins[3].name: 3, lins[4].name: 4, lins[6].name: 6]
            let accs = [0: HessianAccumulator(k: 64), 3: HessianAccumulator(k: 64), 4: HessianAccumulator(k: 64),
                        6: HessianAccumulator(k: 96)]
            model.inputObserver = { lin, buf, rows in
                if let m = leaders[lin.name] { accs[m]!.add(buf.baseAddress!, rows: rows) }
            }
            for var h in blockInputs[bi]! { model.forwardBlock(bi, hidden: &h, seqLen: cal.length) }
            model.inputObserver = nil
            for m in [0, 3, 4, 6] {
                XCTAssertEqual(hessians["\(bi).\(m)"]!, accs[m]!.hessian, "block \(bi), linear \(m)")
            }
        }

        // ... which is not what the fp32 block gives o_proj (the quantized q/k/v change its input)
        let fp = Tiny.model()
        let o = HessianAccumulator(k: 64)
        fp.inputObserver = { lin, buf, rows in if lin.name == fp.blocks[0].oProj.name { o.add(buf.baseAddress!, rows: rows, quantizedBy: MXConfig(format: .mxint8)) } }
        for var h in blockInputs[0]! { fp.forwardBlock(0, hidden: &h, seqLen: cal.length) }
        fp.inputObserver = nil
        XCTAssertNotEqual(hessians["0.3"]!, o.hessian)
        // q/k/v's Hessian is the (activation-quantized) block input's in both
        let q = HessianAccumulator(k: 64)
        fp.inputObserver = { lin, buf, rows in if lin.name == fp.blocks[0].qProj.name { q.add(buf.baseAddress!, rows: rows, quantizedBy: MXConfig(format: .mxint8)) } }
        for var h in blockInputs[0]! { fp.forwardBlock(0, hidden: &h, seqLen: cal.length) }
        fp.inputObserver = nil
        XCTAssertEqual(hessians["0.0"]!, q.hessian)
    }
}
