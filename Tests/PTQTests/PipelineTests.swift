import XCTest
import Foundation
import Support
import MXFormats
import Runtime
import TestSupport
@testable import PTQ

/// Tiny models and calibration sets for the model-level mechanics.
enum Tiny {
    /// 2 layers, hidden 64 (4 query heads of 16, 2 KV heads: grouped-query), FFN 96, vocab 60.
    static let config = LlamaConfig.tiny(vocabSize: 60, hiddenSize: 64, intermediateSize: 96, numLayers: 2,
                                         numHeads: 4, numKVHeads: 2)
    /// The same shapes with one decoder block (for properties of block 0 alone).
    static let oneBlockConfig = LlamaConfig.tiny(vocabSize: 60, hiddenSize: 64, intermediateSize: 96, numLayers: 1,
                                                 numHeads: 4, numKVHeads: 2)

    /// A random model whose input norms give a few channels large gains (activation outliers,
    /// as in real LLMs), so smoothing/AWQ scales are far from 1.
    static func model(seed: UInt64 = 7, config: LlamaConfig = Tiny.config) -> LlamaModel {
        var t = LlamaModel.randomTensors(config: config, seed: seed)
        for i in 0..<config.numLayers {
            for name in ["input_layernorm", "post_attention_layernorm"] {
                var w = t["model.layers.\(i).\(name).weight"]!
                w[3] *= 8; w[17] *= 5; w[40] *= 12
                t["model.layers.\(i).\(name).weight"] = w
            }
        }
        return try! LlamaModel(config: config, tensor: { t[$0] })
    }

    static func calibration(samples: Int = 3, length: Int = 40, seed: UInt64 = 1) -> CalibrationSet {
        var g = SplitMix64(seed: 1234)
        let stream = (0..<600).map { _ in Int32(g.next() % UInt64(config.vocabSize)) }
        return try! CalibrationSet(tokens: stream, samples: samples, length: length, seed: seed)
    }

    static let tokens: [Int32] = (0..<24).map { Int32(($0 * 17 + 5) % 60) }
}

final class PipelineTests: XCTestCase {
    func quiet() -> PTQOptions { var o = PTQOptions(); o.showProgress = false; return o }

    func testCalibrationSamplingIsSeededAndBounded() throws {
        let stream = (0..<100).map { Int32($0) }
        let a = try CalibrationSet(tokens: stream, samples: 5, length: 10, seed: 3)
        let b = try CalibrationSet(tokens: stream, samples: 5, length: 10, seed: 3)
        let c = try CalibrationSet(tokens: stream, samples: 5, length: 10, seed: 4)
        XCTAssertEqual(a.sequences, b.sequences)
        XCTAssertNotEqual(a.sequences, c.sequences)
        XCTAssertNotEqual(a.identity, c.identity)
        for s in a.sequences {
            XCTAssertEqual(s.count, 10)
            // contiguous windows of the stream
            for i in 1..<10 { XCTAssertEqual(s[i], s[i - 1] + 1) }
            XCTAssertLessThan(Int(s[9]), 100)
        }
        XCTAssertThrowsError(try CalibrationSet(tokens: Array(stream.prefix(10)), samples: 2, length: 10, seed: 0))
        XCTAssertThrowsError(try CalibrationSet(tokens: stream, samples: 0, length: 10, seed: 0))
    }

    /// SmoothQuant folded into RMSNorm (q/k/v, gate/up), v_proj rows (o_proj, grouped-query:
    /// shared per KV head) and up_proj rows (down_proj) keeps the fp32 model's function.
    func testSmoothQuantFoldingKeepsFP32Logits() throws {
        let model = Tiny.model()
        let before = model.logits(Tiny.tokens)
        let norm0 = model.blocks[0].inputNorm, v0 = model.blocks[1].vProj.weight, up0 = model.blocks[1].upProj.weight
        let plan = QuantPlan(defaults: .fp32, recipe: Recipe([.smoothQuant(alpha: 0.5)]))
        var state = PipelineState(model: model, plan: plan, options: quiet(), stages: plan.recipe.stages)
        try state.runSequential(Tiny.calibration())
        let after = model.logits(Tiny.tokens)
        // the transform really did something at every fold point
        XCTAssertGreaterThan(zip(norm0, model.blocks[0].inputNorm).map { abs($0 - $1) }.max()!, 0.1)
        XCTAssertNotEqual(v0, model.blocks[1].vProj.weight)
        XCTAssertNotEqual(up0, model.blocks[1].upProj.weight)
        let scale = before.map { abs($0) }.max()!
        let diff = zip(before, after).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(diff / scale, 1e-4, "fp32 logits changed by smoothing: \(diff) of \(scale)")
        XCTAssertEqual(state.records.count, 2 * 7)
        for r in state.records where r.weightFormat == "fp32" && r.actFormat == "fp32" {
            XCTAssertGreaterThan(r.outputSQNR, 80, "\(r.layer): smoothing alone is an equivalence")
        }
    }

    /// Sequential calibration: block i is calibrated on the outputs of blocks 0..<i as already
    /// quantized (weights and activation formats), i.e. exactly what the final model computes.
    func testBlocksSeeQuantizedPrefixOutputs() throws {
        let model = Tiny.model()
        let cal = Tiny.calibration(samples: 2, length: 16)
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4), act: MXConfig(format: .mxfp4_e2m1)),
                             recipe: Recipe([.gptq(actOrder: false)]))
        var state = PipelineState(model: model, plan: plan, options: quiet(), stages: plan.recipe.effectiveStages)
        var seen: [Int: [[Float]]] = [:]
        state.blockInputObserver = { seen[$0] = $1 }
        try state.runSequential(cal)
        XCTAssertNotNil(model.blocks[0].qProj.actQuant)
        for (s, seq) in cal.sequences.enumerated() {
            var h = model.embed(seq)
            XCTAssertEqual(seen[0]![s], h)
            model.forwardBlock(0, hidden: &h, seqLen: seq.count)
            XCTAssertEqual(seen[1]![s], h, "block 1 must be calibrated on quantized block 0's outputs")
        }
        // and that is not the fp32 model's hidden state
        let fp = Tiny.model()
        var h = fp.embed(cal.sequences[0])
        fp.forwardBlock(0, hidden: &h, seqLen: cal.length)
        XCTAssertNotEqual(seen[1]![0], h)
    }

    /// Runtime hook used by the calibration passes: `observeBlock` shows every linear the same
    /// input as `forwardBlock` (activation-quantized where set) and skips only down_proj's product.
    func testObserveBlockSeesForwardInputs() {
        let model = Tiny.model()
        model.blocks[1].downProj.actQuant = MXConfig(format: .mxint4)
        model.blocks[1].qProj.actQuant = MXConfig(format: .mxfp4_e2m1)
        var h = model.embed(Array(Tiny.tokens.prefix(12)))
        model.forwardBlock(0, hidden: &h, seqLen: 12)
        func observed(_ run: (inout [Float]) -> Void) -> [String: [Float]] {
            var seen: [String: [Float]] = [:]
            model.inputObserver = { lin, buf, _ in seen[lin.name] = Array(buf) }
            var x = h
            run(&x)
            model.inputObserver = nil
            return seen
        }
        let full = observed { model.forwardBlock(1, hidden: &$0, seqLen: 12) }
        let partial = observed { model.observeBlock(1, hidden: &$0, seqLen: 12) }
        XCTAssertEqual(full.count, 7)
        XCTAssertEqual(full, partial, "forwardBlock shows the activation-quantized copies; observeBlock must too")
    }

    func testRecipeNeedsCalibrationAndValidPlan() {
        let model = Tiny.model()
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4)), recipe: Recipe([.gptq(actOrder: false)]))
        XCTAssertThrowsError(try quantize(model: model, plan: plan, calibration: nil, options: quiet())) { XCTAssertTrue($0 is UserFacingError) }
        let bad = QuantPlan(defaults: QuantSpec(act: MXConfig(format: .mxint8)), recipe: Recipe([.awq]))
        XCTAssertThrowsError(try quantize(model: model, plan: bad, calibration: Tiny.calibration(), options: quiet()))
    }

    /// Plain RTN without calibration = the format layer's fake-quant of every block weight,
    /// activation formats set on the hooks, LM head untouched.
    func testRTNWithoutCalibration() throws {
        let model = Tiny.model()
        let w4 = MXConfig(format: .mxint4), a8 = MXConfig(format: .mxint8)
        let orig = model.linears.map(\.weight)
        var plan = QuantPlan(defaults: QuantSpec(weight: w4, act: a8))
        plan.overrides = [LayerOverride(pattern: "layers.1.mlp.*", weight: .fp32, act: .inherit)]
        let rep = try quantize(model: model, plan: plan, calibration: nil, options: quiet())
        for (i, lin) in model.linears.enumerated() {
            if lin.name == "lm_head" {
                XCTAssertEqual(lin.weight, orig[i]); XCTAssertNil(lin.actQuant)
            } else if lin.name.hasPrefix("layers.1.mlp.") {
                XCTAssertEqual(lin.weight, orig[i]); XCTAssertEqual(lin.actQuant, a8)
            } else {
                XCTAssertEqual(lin.weight, RTN.quantized(orig[i], rows: lin.outFeatures, cols: lin.inFeatures, config: w4), lin.name)
                XCTAssertEqual(lin.actQuant, a8)
            }
        }
        XCTAssertEqual(rep.records.count, 14)
        XCTAssertTrue(rep.csv.hasPrefix(StageLayerRecord.csvHeader))
        XCTAssertEqual(rep.csv.split(separator: "\n").count, 15)
    }

    /// RTN's observing pass computes only the sampled rows (4 of the 40 positions of each of the 3
    /// sequences): the same records as the pass over every row.
    func testRTNRecordsFromSampledRowsEqualTheFullPass() throws {
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4), act: MXConfig(format: .mxint8)))
        var records: [[StageLayerRecord]] = []
        for sampled in [true, false] {
            var o = quiet()
            o.recordTokens = 12
            o.observeSampleRowsOnly = sampled
            var state = PipelineState(model: Tiny.model(), plan: plan, options: o, stages: [.rtn])
            try state.runSequential(Tiny.calibration())
            XCTAssertEqual(state.sampledObservingPasses, sampled ? 2 : 0)
            records.append(state.records.map { var r = $0; r.seconds = 0; return r })
        }
        XCTAssertEqual(records[0].count, 14)
        XCTAssertEqual(records[0], records[1])
        XCTAssertTrue(records[0].allSatisfy { $0.outputSQNR.isFinite && $0.outputMSE > 0 })
    }

    /// Sum over a block-0 input group of the records' output squared error (MSE · rows · N).
    func groupSSE(_ recs: [StageLayerRecord], stage: String, names: [String], model: LlamaModel, rows: Int) -> Double {
        names.reduce(0.0) { acc, n in
            let r = recs.first { $0.layer == n && $0.stage == stage }!
            return acc + r.outputMSE * Double(rows * model.linear(named: n)!.outFeatures)
        }
    }

    /// On block 0 (same calibration inputs in both runs), AWQ's output error for each input
    /// group is never above RTN's, and GPTQ's is below RTN's. Only block 0 is compared, so the
    /// model has that block alone (a second block would be calibrated and never looked at).
    func testAWQAndGPTQAgainstRTNOnCalibrationData() throws {
        let w4 = MXConfig(format: .mxint4), a8 = MXConfig(format: .mxint8)
        let cal = Tiny.calibration(samples: 2, length: 24)
        var opts = quiet()
        opts.recordTokens = 10_000   // keep every token: the records see exactly the search data
        opts.awq.gridPoints = 5      // α = 0 stays in the grid (the property under test); fewer points for debug speed
        opts.awq.clipGrid = 6        // shrink ratios 1.0, 0.83, 0.67
        func run(_ stages: [Stage]) throws -> (LlamaModel, PTQReport) {
            let m = Tiny.model(config: Tiny.oneBlockConfig)
            let p = QuantPlan(defaults: QuantSpec(weight: w4, act: a8), recipe: Recipe(stages))
            return (m, try quantize(model: m, plan: p, calibration: cal, options: opts))
        }
        let (m, rtn) = try run([.rtn])
        let (_, awq) = try run([.awq])
        let (_, gptq) = try run([.gptq(actOrder: false)])
        let rows = cal.tokenCount
        let groups = [["q_proj", "k_proj", "v_proj"].map { "layers.0.self_attn.\($0)" }, ["layers.0.self_attn.o_proj"],
                      ["layers.0.mlp.gate_proj", "layers.0.mlp.up_proj"], ["layers.0.mlp.down_proj"]]
        for g in groups {
            let eR = groupSSE(rtn.records, stage: "rtn", names: g, model: m, rows: rows)
            let eA = groupSSE(awq.records, stage: "rtn", names: g, model: m, rows: rows)   // AWQ, then its final RTN
            let eG = groupSSE(gptq.records, stage: "gptq", names: g, model: m, rows: rows)
            XCTAssertLessThanOrEqual(eA, eR * (1 + 1e-4), "\(g): AWQ worse than RTN")
            XCTAssertLessThan(eG, eR, "\(g): GPTQ not better than RTN")
        }
        // the AWQ record's own stage row equals its trailing RTN row (AWQ rows are measured as RTN-rounded)
        let a0 = awq.records.first { $0.layer == "layers.0.mlp.down_proj" && $0.stage == "awq" }!
        let a1 = awq.records.first { $0.layer == "layers.0.mlp.down_proj" && $0.stage == "rtn" }!
        XCTAssertEqual(a0.outputMSE, a1.outputMSE, accuracy: 1e-9 * max(1, a1.outputMSE))
    }

    /// Deterministic for any thread count, and the Hessian cache returns the same result.
    func testDeterminismAndHessianCache() throws {
        let dir = makeTempDir("ptq-cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxfp4_e2m1), act: MXConfig(format: .mxint8)),
                             recipe: try Recipe.parse("sq,gptq(act_order)"))
        var opts = quiet()
        opts.cacheDirectory = dir
        opts.modelIdentity = "tiny-7"
        let saved = Parallel.defaultThreads
        defer { Parallel.defaultThreads = saved }
        Parallel.defaultThreads = 1
        let m1 = Tiny.model()
        let r1 = try quantize(model: m1, plan: plan, calibration: Tiny.calibration(samples: 2, length: 24), options: opts)
        Parallel.defaultThreads = 3
        let m2 = Tiny.model()
        let r2 = try quantize(model: m2, plan: plan, calibration: Tiny.calibration(samples: 2, length: 24), options: opts)
        XCTAssertEqual(r1.cacheWrites, 2 * 4)
        XCTAssertEqual(r2.cacheHits, 2 * 4)
        XCTAssertEqual(m1.linears.map(\.weight), m2.linears.map(\.weight))
        XCTAssertEqual(m1.blocks.map(\.inputNorm), m2.blocks.map(\.inputNorm))
        XCTAssertEqual(r1.records.map(\.outputMSE), r2.records.map(\.outputMSE))
        XCTAssertEqual(r2.cachedHessians.count, 2 * 4)
        // damaged or foreign cache files are ignored (and rewritten), never used: a flipped payload
        // bit, a truncated file, another key's file under this name; a stale temporary is removed
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".bin") }.sorted()
        XCTAssertEqual(files.count, 8)
        var flipped = try Data(contentsOf: dir.appendingPathComponent(files[0]))
        flipped[flipped.count / 2] ^= 0x10
        try flipped.write(to: dir.appendingPathComponent(files[0]))
        let whole = try Data(contentsOf: dir.appendingPathComponent(files[1]))
        try whole.prefix(whole.count - 9).write(to: dir.appendingPathComponent(files[1]))
        try Data(contentsOf: dir.appendingPathComponent(files[3])).write(to: dir.appendingPathComponent(files[2]))
        let stale = dir.appendingPathComponent(".tmp-999999999-hessian-x.bin")
        try Data([1, 2, 3]).write(to: stale)
        let m4 = Tiny.model()
        let r4 = try quantize(model: m4, plan: plan, calibration: Tiny.calibration(samples: 2, length: 24), options: opts)
        XCTAssertEqual(r4.cacheHits, 8 - 3)
        XCTAssertEqual(r4.cacheWrites, 3)
        XCTAssertEqual(m4.linears.map(\.weight), m1.linears.map(\.weight))
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))
        let m5 = Tiny.model()
        XCTAssertEqual(try quantize(model: m5, plan: plan, calibration: Tiny.calibration(samples: 2, length: 24), options: opts).cacheHits, 8)
        // a different calibration set must not hit the cache
        let m3 = Tiny.model()
        let r3 = try quantize(model: m3, plan: plan, calibration: Tiny.calibration(samples: 2, length: 24, seed: 9), options: opts)
        XCTAssertEqual(r3.cacheHits, 0)
    }

    /// Fake-quant and packed MX weights give the same logits (up to fp32 reassociation).
    func testPackedMatchesFakeQuant() throws {
        let model = Tiny.model()
        let plan = QuantPlan(defaults: QuantSpec(weight: MXConfig(format: .mxint4), act: MXConfig(format: .mxint8)),
                             recipe: Recipe([.gptq(actOrder: false)]))
        _ = try quantize(model: model, plan: plan, calibration: Tiny.calibration(samples: 2, length: 24), options: quiet())
        let fake = model.logits(Tiny.tokens)
        let mismatches = try packWeights(model: model, plan: plan)
        XCTAssertEqual(mismatches, 0, "GPTQ output must be exactly representable after re-encoding")
        XCTAssertNotNil(model.blocks[0].qProj.packed)
        let packed = model.logits(Tiny.tokens)
        let scale = fake.map { abs($0) }.max()!
        XCTAssertLessThan(zip(fake, packed).map { abs($0 - $1) }.max()! / scale, 1e-4)
    }
}
