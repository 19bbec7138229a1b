import Foundation
import Support
import MXFormats
import ModelIO
import Tokenization
import Runtime
import PTQ

/// The model runner of `mxq sweep`: loads the checkpoint and tokenizer once, tokenizes the
/// evaluation and calibration texts once, computes the fp32 baseline once, and per cell
/// builds a fresh model from the pristine fp32 checkpoint, quantizes it with PTQ and
/// evaluates every dataset.
public final class RealRunner: CellRunner {
    public let manifest: Manifest
    let checkpoint: LlamaCheckpoint
    let tokenizer: BPETokenizer
    let modelURL: URL
    /// Token streams of the evaluation datasets, in manifest order.
    let evalTokens: [(dataset: String, url: URL, tokens: [Int32])]
    let calibURL: URL
    private var calibTokensCache: [Int32]?
    private var baselineCache: [DatasetResult]?
    private var provenanceCache: Provenance?

    /// Loads everything a sweep needs and checks the manifest against the real data
    /// (enough tokens for `eval.windows` × `eval.ctx`, ctx within the model's context).
    public init(manifest m: Manifest, progress: SweepProgress? = nil) throws {
        manifest = m
        if m.model == Catalog.defaultModel {
            modelURL = try Paths.requireSetUp(Paths.defaultModel, what: "the default model (SmolLM2-135M GGUF)")
        } else {
            modelURL = Manifest.resolvePath(m.model)
        }
        let t0 = monotonicSeconds()
        checkpoint = try LlamaCheckpoint.load(path: modelURL.path)
        tokenizer = try BPETokenizer.load(model: modelURL)
        if m.ctx > checkpoint.config.contextLength {
            throw UsageError("manifest eval.ctx: \(m.ctx) exceeds the model's context length \(checkpoint.config.contextLength)")
        }
        var ev: [(String, URL, [Int32])] = []
        for d in m.datasets {
            let ds = try EvalDataset(parsing: d)
            let toks = tokenizer.encode(try ds.text())
            let avail = perplexityWindowCount(tokenCount: toks.count, ctx: m.ctx)
            if let w = m.windows, w > avail {
                throw UsageError("manifest eval.windows: \(w) windows of ctx \(m.ctx) need \(w * m.ctx) tokens, but \(d) has \(toks.count) tokens (\(avail) windows); use at most \(avail) or \"all\"")
            }
            ev.append((d, ds.url, toks))
        }
        evalTokens = ev
        calibURL = m.calibrationDataset == "ptb-train" ? Paths.ptb("train") : Manifest.resolvePath(m.calibrationDataset)
        printErr("sweep: model \(modelURL.lastPathComponent) and \(m.datasets.joined(separator: ", ")) loaded and tokenized in \(formatDuration(monotonicSeconds() - t0))")
    }

    /// Tokens of the calibration text (tokenized on first use: fp32/RTN-only sweeps never need it).
    func calibrationTokens() throws -> [Int32] {
        if let c = calibTokensCache { return c }
        let src: CalibrationSource = manifest.calibrationDataset == "ptb-train" ? .ptbTrain : .file(calibURL)
        let t = tokenizer.encode(try src.text())
        calibTokensCache = t
        return t
    }

    public func provenance() throws -> Provenance {
        if let p = provenanceCache { return p }
        var data: [String: String] = [:]
        for e in evalTokens { data[e.dataset] = try SHA256.hex(ofFile: e.url) }
        let calib = FileManager.default.fileExists(atPath: calibURL.path) ? try SHA256.hex(ofFile: calibURL) : "missing"
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: modelURL.path, isDirectory: &isDir)
        let model: String
        if isDir.boolValue {
            // a checkpoint folder: hash of the sorted (name, file hash) list of its files
            let names = try FileManager.default.contentsOfDirectory(atPath: modelURL.path).sorted()
            var s = SHA256()
            for n in names where !n.hasPrefix(".") {
                s.update(n + "\n" + (try SHA256.hex(ofFile: modelURL.appendingPathComponent(n))) + "\n")
            }
            model = s.finalizeHex()
        } else { model = try SHA256.hex(ofFile: modelURL) }
        let p = Provenance(modelSHA256: model, calibrationSHA256: calib, dataSHA256: data)
        provenanceCache = p
        return p
    }

    /// A fresh fp32 model built from the pristine checkpoint.
    func freshModel() throws -> LlamaModel {
        let c = checkpoint.config
        let cfg = LlamaConfig(vocabSize: c.vocab, hiddenSize: c.hidden, intermediateSize: c.intermediate, numLayers: c.layers,
                              numHeads: c.heads, numKVHeads: c.kvHeads, headDim: c.headDim, rmsNormEps: Float(c.rmsEps),
                              ropeTheta: c.ropeTheta, ropePairing: checkpoint.ropeLayout == .interleaved ? .interleaved : .halves,
                              tiedEmbeddings: c.tiedEmbeddings)
        return try LlamaModel(config: cfg) { checkpoint.tensors[$0]?.data }
    }

    func evaluate(_ model: LlamaModel, progress: SweepProgress) throws -> [DatasetResult] {
        try evalTokens.map { e in
            let r = try evaluatePerplexity(model: model, tokens: e.tokens, ctx: manifest.ctx, windows: manifest.windows) { done, total, _ in
                progress.stage("eval \(e.dataset) \(done)/\(total)")
            }
            return DatasetResult(dataset: e.dataset, ppl: r.ppl, nll: r.nll, tokens: r.tokens, windows: r.windows, seconds: r.seconds)
        }
    }

    public func baseline(progress: SweepProgress) throws -> [DatasetResult] {
        if let b = baselineCache { return b }
        let model = try freshModel()
        let b = try evaluate(model, progress: progress)
        baselineCache = b
        return b
    }

    public func runCell(_ cell: Cell, progress: SweepProgress) throws -> CellResult {
        if cell.recipe.isFP32 {
            return CellResult(evals: try baseline(progress: progress), layers: [], quantizeSeconds: 0)
        }
        let model = try freshModel()
        let t0 = monotonicSeconds()
        let layers = try quantizeModel(model, cell: cell, progress: progress)
        let qs = monotonicSeconds() - t0
        return CellResult(evals: try evaluate(model, progress: progress), layers: layers, quantizeSeconds: qs)
    }

    /// MX configuration of a cell's weights / activations.
    static func configs(_ cell: Cell) throws -> (weights: MXConfig?, acts: MXConfig?) {
        let rule: MXScaleRule = cell.scaleRule == "ceil" ? .ceil : .floor
        func rounding(_ salt: UInt64) -> MXRounding {
            switch cell.rounding {
            case "away": return .away
            case "stochastic": return .stochastic(seed: UInt64(cell.seed) &* 0x9E37_79B9_7F4A_7C15 &+ salt)
            default: return .even
            }
        }
        let w = try cell.weights.map { MXConfig(format: try MXFormat(parsing: $0), block: cell.block, scaleRule: rule, rounding: rounding(1)) }
        let a = try cell.acts.map { MXConfig(format: try MXFormat(parsing: $0), block: cell.block, scaleRule: rule, rounding: rounding(2)) }
        return (w, a)
    }

    /// Quantizes `model` in place per `cell`; returns per-layer, per-stage error records.
    func quantizeModel(_ model: LlamaModel, cell: Cell, progress: SweepProgress) throws -> [LayerRecord] {
        throw UsageError("sweep: quantized cells need the PTQ pipeline entry point, which is not integrated yet; fp32-only manifests run")
    }
}

/// The runner `mxq sweep` uses unless `--fake-runner` is given.
public func makeRealRunner(_ m: Manifest) throws -> CellRunner { try RealRunner(manifest: m) }
