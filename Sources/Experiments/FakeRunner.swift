import Foundation
import Support

/// A deterministic stand-in for the real runner, for tests of the sweep machinery
/// (resume after kill, sharding, merge, reports) and `mxq sweep --fake-runner`.
/// It loads no model: perplexities and layer errors are pseudo-random functions of the
/// cell id (SHA-256), so every run of the same cell gives the same numbers. It sleeps
/// `secondsPerCell` (in small steps, reporting fake stages) to simulate work.
public final class FakeRunner: CellRunner {
    public let manifest: Manifest
    public let secondsPerCell: Double
    public static let layers = ["layers.0.self_attn.q_proj", "layers.0.mlp.down_proj", "layers.1.self_attn.v_proj", "layers.1.mlp.up_proj"]

    public init(manifest: Manifest, secondsPerCell: Double) {
        self.manifest = manifest; self.secondsPerCell = secondsPerCell
    }

    /// A number in [0, 1) derived from `key`.
    static func unit(_ key: String) -> Double {
        let h = Array(SHA256.hex(of: Array(key.utf8)).utf8.prefix(13))
        return Double(UInt64(String(decoding: h, as: UTF8.self), radix: 16)!) / Double(1 << 52)
    }

    public func provenance() throws -> Provenance {
        Provenance(modelSHA256: SHA256.hex(of: Array("fake-model".utf8)),
                   calibrationSHA256: SHA256.hex(of: Array("fake-calib-\(manifest.calibrationDataset)".utf8)),
                   dataSHA256: Dictionary(uniqueKeysWithValues: manifest.datasets.map { ($0, SHA256.hex(of: Array("fake-\($0)".utf8))) }))
    }

    func basePPL(_ d: String) -> Double { 10 + 20 * Self.unit("base-" + d) }

    private func eval(_ d: String, ppl: Double) -> DatasetResult {
        let windows = manifest.windows ?? 8
        return DatasetResult(dataset: d, ppl: ppl, nll: Foundation.log(ppl), tokens: windows * (manifest.ctx - 1), windows: windows, seconds: 0)
    }

    public func baseline(progress: SweepProgress) throws -> [DatasetResult] {
        manifest.datasets.map { eval($0, ppl: basePPL($0)) }
    }

    public func runCell(_ cell: Cell, progress: SweepProgress) throws -> CellResult {
        let steps = 10
        for k in 0..<steps {
            progress.stage("fake stage \(k + 1)/\(steps)")
            if secondsPerCell > 0 { usleep(useconds_t(secondsPerCell / Double(steps) * 1e6)) }
        }
        if cell.recipe.isFP32 {
            var r = CellResult(evals: try baseline(progress: progress), layers: [], quantizeSeconds: 0)
            r.path = "fake-runner"
            return r
        }
        let bits = cell.weightBitsPerElement
        let evals = manifest.datasets.map { d in
            eval(d, ppl: basePPL(d) * (1 + 4 / (bits * bits) + 0.05 * Self.unit(cell.id + d)))
        }
        let stageNames = cell.recipe.stages.isEmpty ? ["rtn"] : cell.recipe.stages.map(\.name)
        var layers: [LayerRecord] = []
        for (li, l) in Self.layers.enumerated() {
            for (si, s) in stageNames.enumerated() {
                let u = Self.unit("\(cell.id)|\(l)|\(s)")
                layers.append(LayerRecord(layer: l, stageIndex: si, stage: s, weightSQNR: 6 * bits - 10 + 3 * u + Double(si),
                                          outputSQNR: 5 * bits - 12 + 4 * u + Double(si) - Double(li), outputMSE: 1e-3 * (1 + u) / Double(si + 1),
                                          saturatedShare: 0.001 * u, flushedShare: 0.01 * u, scaleExpMin: -12 - li, scaleExpMedian: -6, scaleExpMax: -1 + li))
            }
        }
        var r = CellResult(evals: evals, layers: layers, quantizeSeconds: 0)
        r.path = "fake-runner"   // nothing was evaluated
        if let b = cell.budget {   // a fake plan: every layer the first format, average just under the budget
            r.plan = PlanInfo(budget: b, averageBits: b - 0.125, predictor: manifest.planPredictor,
                              predictedDeltaNLL: 0.01 * Self.unit(cell.id), exact: true, rankCorrelation: 0.5,
                              overrides: Self.layers.map { "\($0)=\(cell.planFormats[0])" })
        }
        return r
    }
}
