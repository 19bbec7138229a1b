import Foundation
import Support
import MXFormats
import Runtime
import PTQ

/// The models `mxq bench eval` times on one evaluation window, prepared by the sweep's own code
/// (`RealRunner`: same loading, tokenization, plan and RTN quantization as a sweep cell
/// `{"weights": "mxint4", "acts": "mxint8", "recipe": "rtn"}`, same packing as `eval.path`
/// `auto`): the fp32 model, and one W4A8 MXINT RTN model that runs either fake-quant (fp32
/// dequantized weights, inputs fake-quantized) or packed on the integer kernels (`setPacked`).
public final class EvalBenchSetup {
    /// The first `ctx` tokens of the dataset (one window).
    public let window: [Int32]
    public let ctx: Int
    public let fp32: LlamaModel
    /// W4A8 MXINT RTN; fake-quant until `setPacked(true)`.
    public let quantized: LlamaModel
    /// What `quantized` runs when packed (`evaluationPath`, e.g. `packed-int`) and when not.
    public let packedPath: String, fakeQuantPath: String
    /// Linears packed for the integer kernels (of `quantized.linears.count`).
    public let packedCount: Int
    /// The model file or folder.
    public let modelPath: URL
    private let packed: [MXTensor?]

    /// Loads `model` (nil: the shipped SmolLM2-135M), tokenizes `dataset` (`wikitext2`, `ptb`)
    /// and quantizes. Throws a UserFacingError for a missing model, a text shorter than `ctx`.
    public init(model: String?, dataset: String, ctx: Int) throws {
        var top: [String: Any] = [
            "name": "bench-eval", "cache": false,
            "eval": ["datasets": [dataset], "windows": 1, "ctx": ctx] as [String: Any],
            "cells": [["recipe": "fp32"], ["weights": "mxint4", "acts": "mxint8", "recipe": "rtn"]],
        ]
        if let m = model { top["model"] = m }
        let manifest: Manifest
        do {
            manifest = try Manifest.parse(try JSONSerialization.data(withJSONObject: top), file: "(bench eval)", defaultName: "bench-eval")
        } catch let e as ManifestError {
            // only the model path, dataset and ctx come from the user: name them as flags
            throw UsageError("bench eval: " + e.issues.map { i in
                let flag = i.path.hasPrefix("model") ? "--model" : i.path.hasPrefix("eval.ctx") ? "--ctx" : i.path.hasPrefix("eval.datasets") ? "--dataset" : i.path
                return "\(flag): \(i.message)"
            }.joined(separator: "; "))
        }
        let runner = try RealRunner(manifest: manifest)
        runner.recordsForRTN = false
        runner.showPTQProgress = false
        self.ctx = ctx
        window = Array(runner.evalTokens[0].tokens.prefix(ctx))
        modelPath = runner.modelPath
        let progress = SweepProgress(cost: { _ in 1 })
        fp32 = try runner.quantizedModel(manifest.cells[0], progress: progress).model
        let cell = manifest.cells[1]
        quantized = try runner.quantizedModel(cell, progress: progress).model
        progress.endLine()
        let plan = try RealRunner.plan(cell).plan
        fakeQuantPath = evaluationPath(model: quantized, plan: plan)
        packedCount = packWeightsForIntegerKernels(model: quantized, plan: plan)
        packedPath = evaluationPath(model: quantized, plan: plan)
        packed = quantized.linears.map(\.packed)
        setPacked(false)
    }

    /// Switches `quantized` between its packed weights (integer kernels) and fp32 fake-quant weights.
    public func setPacked(_ on: Bool) {
        for (lin, p) in zip(quantized.linears, packed) { lin.packed = on ? p : nil }
    }
}
