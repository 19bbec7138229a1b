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
        let model = try SHA256.hex(ofFileOrFolder: modelURL)
        let p = Provenance(modelSHA256: model, calibrationSHA256: calib, dataSHA256: data)
        provenanceCache = p
        return p
    }

    /// A fresh fp32 model built from the pristine checkpoint.
    func freshModel() throws -> LlamaModel { try LlamaModel(checkpoint: checkpoint) }

    func evaluate(_ model: LlamaModel, progress: SweepProgress) throws -> [DatasetResult] {
        // share of the evaluation done, weighted by windows over all datasets
        let counts = evalTokens.map { e in min(manifest.windows ?? Int.max, perplexityWindowCount(tokenCount: e.tokens.count, ctx: manifest.ctx)) }
        let total = max(1, counts.reduce(0, +))
        var before = 0
        return try evalTokens.enumerated().map { (k, e) in
            defer { before += counts[k] }
            let r = try evaluatePerplexity(model: model, tokens: e.tokens, ctx: manifest.ctx, windows: manifest.windows) { done, n, _ in
                progress.stage("eval \(e.dataset) \(done)/\(n)")
                progress.evaluationFraction(Double(before + done) / Double(total))
            }
            return DatasetResult(dataset: e.dataset, ppl: r.ppl, nll: r.nll, tokens: r.tokens, windows: r.windows, seconds: r.seconds,
                                 windowNLL: r.windowNLL)
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

    /// Calibration sets by seed (shared by every cell with that seed).
    private var calibrationSets: [Int: CalibrationSet] = [:]

    func calibrationSet(seed: Int) throws -> CalibrationSet {
        if let c = calibrationSets[seed] { return c }
        let c = try CalibrationSet(tokens: try calibrationTokens(), samples: manifest.calibrationSamples,
                                   length: manifest.calibrationLength, seed: UInt64(seed), sourceName: manifest.calibrationDataset)
        calibrationSets[seed] = c
        return c
    }

    /// PTQ stages and options of a cell's recipe.
    static func ptqRecipe(_ cell: Cell) -> (PTQ.Recipe, PTQOptions) {
        var o = PTQOptions()
        var stages: [PTQ.Stage] = []
        for st in cell.recipe.stages {
            switch st.name {
            case "smoothquant":
                stages.append(.smoothQuant(alpha: Float(st.params["alpha"]!.doubleValue!)))
            case "awq":
                o.awq.gridPoints = st.params["grid"]!.intValue!
                o.awq.maxShrink = st.params["max_shrink"]!.doubleValue!
                o.awq.searchTokens = st.params["search_tokens"]!.intValue!
                o.awq.clipTokens = st.params["clip_tokens"]!.intValue!
                // the search subsamples the pipeline's per-layer sample: keep at least that many
                o.recordTokens = max(o.recordTokens, o.awq.searchTokens)
                stages.append(.awq)
            case "gptq":
                o.gptq.percDamp = st.params["damp"]!.doubleValue!
                o.gptq.blockSize = st.params["block_size"]!.intValue!
                o.gptq.trueSequential = st.params["true_sequential"]!.boolValue!
                let ao = st.params["act_order"]!.boolValue!
                o.gptq.actOrder = ao
                stages.append(.gptq(actOrder: ao))
            case "rtn":
                stages.append(.rtn)
            default:
                preconditionFailure("stage \(st.name) is in the catalog but not mapped to PTQ")
            }
        }
        return (PTQ.Recipe(stages), o)
    }

    /// Quantizes `model` in place per `cell` (PTQ pipeline, Hessian cache under `.cache/hessians`);
    /// returns per-layer, per-stage error records.
    func quantizeModel(_ model: LlamaModel, cell: Cell, progress: SweepProgress) throws -> [LayerRecord] {
        let (w, a) = try Self.configs(cell)
        let (recipe, ptqOptions) = Self.ptqRecipe(cell)
        var options = ptqOptions
        let plan = QuantPlan(defaults: QuantSpec(weight: w, act: a), recipe: recipe)
        options.cacheDirectory = Paths.cache.appendingPathComponent("hessians")
        options.modelIdentity = try provenance().modelSHA256
        options.showProgress = ProcessInfo.processInfo.environment["MXQ_QUIET"] != "1"
        // Calibration feeds the calibrated stages and the output-error columns of the records (RTN too).
        progress.stage("calibrate+quantize \(recipe.effectiveStages.map(\.name).joined(separator: ">"))")
        let cal = try calibrationSet(seed: cell.seed)
        let report = try quantize(model: model, plan: plan, calibration: cal, options: options)
        return report.records.map {
            LayerRecord(layer: $0.layer, stageIndex: $0.stageIndex, stage: $0.stage, weightSQNR: $0.weightSQNR,
                        outputSQNR: $0.outputSQNR, outputMSE: $0.outputMSE, saturatedShare: $0.saturatedShare,
                        flushedShare: $0.flushedShare, scaleExpMin: $0.scaleExpMin, scaleExpMedian: $0.scaleExpMedian,
                        scaleExpMax: $0.scaleExpMax, seconds: $0.seconds, note: $0.note)
        }
    }
}

/// The runner `mxq sweep` uses unless `--fake-runner` is given.
public func makeRealRunner(_ m: Manifest) throws -> CellRunner { try RealRunner(manifest: m) }
