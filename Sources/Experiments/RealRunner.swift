import Foundation
import Support
import MXFormats
import ModelIO
import Tokenization
import Runtime
import PTQ

/// Runs cells of a manifest on the real model: the one place where a described cell (a
/// `Manifest` and one of its `Cell`s) becomes a quantized model and its perplexities.
/// `mxq sweep` runs every cell of a manifest through it; `mxq eval` turns its flags into a
/// one-cell manifest and runs that cell through it, so both give the same numbers.
///
/// Loads the checkpoint and tokenizer once, tokenizes the evaluation texts once and each
/// calibration text on first use, computes the fp32 baseline once, and per cell builds a fresh
/// model from the pristine fp32 checkpoint, quantizes it with PTQ and evaluates every dataset.
public final class RealRunner: CellRunner {
    public let manifest: Manifest
    let checkpoint: LlamaCheckpoint
    let tokenizer: BPETokenizer
    let modelURL: URL
    /// Token streams of the evaluation datasets, in manifest order.
    let evalTokens: [(dataset: String, url: URL, tokens: [Int32])]
    /// The BOS id that starts every evaluation window and calibration sequence (`eval.bos`), else nil.
    public let bos: Int32?
    /// Fill the output-error columns of the layer records with calibration data also for plain
    /// RTN (which needs no calibration otherwise). Sweeps always do; `mxq eval` only with `--layers`.
    public var recordsForRTN = true
    /// Progress lines from the PTQ pipeline on stderr.
    public var showPTQProgress = ProcessInfo.processInfo.environment["MXQ_QUIET"] != "1"
    /// Benchmarks only (`mxq eval --max-blocks`): models run just their first N decoder blocks
    /// (`LlamaModel.blockLimit`), in PTQ and evaluation. nil: all blocks.
    public var blockLimit: Int? = nil
    private var calibTokensCache: [String: [Int32]] = [:]
    private var calibHashCache: [String: String] = [:]
    private var calibrationSets: [String: CalibrationSet] = [:]
    private var baselineCache: [DatasetResult]?
    private var provenanceCache: Provenance?

    /// The model file or folder a manifest names.
    public static func modelURL(_ m: Manifest) throws -> URL {
        m.model == Catalog.defaultModel
            ? try Paths.requireSetUp(Paths.defaultModel, what: "the default model (SmolLM2-135M GGUF)")
            : Manifest.resolvePath(m.model)
    }

    /// Loads everything a sweep needs and checks the manifest against the real data
    /// (enough tokens for `eval.windows` × `eval.ctx`, ctx and calibration lengths within the
    /// model's context, token ids within its vocabulary). Creates no files.
    /// With `evaluate` false (`mxq export`: quantize, never evaluate) the evaluation datasets are
    /// neither read nor checked (nor is `eval.ctx`); `runCell` and `baseline` must not be called.
    public init(manifest m: Manifest, evaluate: Bool = true) throws {
        manifest = m
        modelURL = try Self.modelURL(m)
        let t0 = monotonicSeconds()
        checkpoint = try LlamaCheckpoint.load(path: modelURL.path)
        tokenizer = try BPETokenizer.load(model: modelURL, preTokenizer: m.preTokenizer)
        bos = m.bos ? try Self.bosID(tokenizer: tokenizer, checkpoint: checkpoint, path: modelURL.path) : nil
        let context = checkpoint.config.contextLength
        if evaluate && m.ctx > context {
            throw UsageError("manifest eval.ctx: \(m.ctx) exceeds the model's context length \(context)")
        }
        for cal in Set(m.cells.filter { !$0.recipe.isFP32 }.map { m.calibration(of: $0) }) where cal.len > context {
            throw UsageError("manifest calibration.len: \(cal.len) tokens per calibration sequence exceed the model's context length \(context) (positions past it were never trained)")
        }
        // Sliding-window attention (Mistral, Qwen2 with use_sliding_window) is not implemented:
        // sequences longer than the window are refused (ModelIOError naming `sliding_window`).
        if evaluate { try checkpoint.config.checkSequenceLength(m.ctx, what: "eval.ctx", path: modelURL.path) }
        for cal in Set(m.cells.filter { !$0.recipe.isFP32 }.map { m.calibration(of: $0) }) {
            try checkpoint.config.checkSequenceLength(cal.len, what: "calibration.len", path: modelURL.path)
        }
        var ev: [(String, URL, [Int32])] = []
        for d in m.datasets where evaluate {
            let url: URL, toks: [Int32]
            if d.hasPrefix(Manifest.tokensPrefix) {
                url = Manifest.resolvePath(String(d.dropFirst(Manifest.tokensPrefix.count)))
                toks = try readTokenFile(url)
            } else {
                let ds = try EvalDataset(parsing: d)
                url = ds.url
                toks = try tokenizer.encode(try ds.text())
            }
            let vocab = checkpoint.config.vocab
            if let bad = toks.firstIndex(where: { Int($0) >= vocab }) {
                throw UsageError("\(d): token id \(toks[bad]) at position \(bad) is outside the model's vocabulary (\(vocab) tokens)")
            }
            let avail = perplexityWindowCount(tokenCount: toks.count, ctx: m.ctx, bos: m.bos)
            let span = m.bos ? m.ctx - 1 : m.ctx   // text tokens per window
            if avail < 1 {
                throw UsageError("\(d): \(toks.count) tokens, fewer than one window of eval.ctx \(m.ctx)\(m.bos ? " (BOS + \(span) text tokens)" : "")")
            }
            if let w = m.windows, w > avail {
                throw UsageError("manifest eval.windows: \(w) windows of ctx \(m.ctx) need \(w * span) text tokens\(m.bos ? " (each window: BOS + \(span))" : ""), but \(d) has \(toks.count) tokens (\(avail) windows); use at most \(avail) or \"all\"")
            }
            ev.append((d, url, toks))
        }
        evalTokens = ev
        printErr("mxq: model \(modelURL.lastPathComponent)" + (evaluate ? " and \(m.datasets.joined(separator: ", ")) loaded and tokenized" : " loaded") +
                 " in \(formatDuration(monotonicSeconds() - t0))")
    }

    /// The loaded checkpoint's hyperparameters.
    public var modelConfig: LlamaHyperparameters { checkpoint.config }
    /// The model file or folder.
    public var modelPath: URL { modelURL }

    /// The model a cell evaluates, without evaluating it (`mxq export`): a fresh fp32 model from the
    /// checkpoint, quantized by PTQ exactly as `runCell` quantizes it (same plan, calibration,
    /// Hessian cache), with fake-quantized fp32 weights (never packed). The report is nil for fp32.
    /// Cells with a bit budget (mixed-precision plans) are refused.
    public func quantizedModel(_ cell: Cell, progress: SweepProgress) throws -> (model: LlamaModel, report: PTQReport?) {
        let model = try freshModel()
        if cell.recipe.isFP32 { return (model, nil) }
        if cell.budget != nil { throw UsageError("cells with a bit budget (mixed-precision plans) cannot be exported") }
        let (report, _) = try quantizeModel(model, cell: cell, progress: progress)
        return (model, report)
    }

    /// The BOS id of a model for `eval.bos`: the tokenizer's (GGUF `tokenizer.ggml.bos_token_id`,
    /// `tokenizer_config.json`'s `bos_token`, a `tokenizer.model`'s `bos_id`), else `config.json`'s
    /// `bos_token_id`; a model with neither is refused.
    static func bosID(tokenizer: BPETokenizer, checkpoint: LlamaCheckpoint, path: String) throws -> Int32 {
        if let b = tokenizer.bosTokenID {
            guard Int(b) < checkpoint.config.vocab else {
                throw UsageError("eval.bos (--bos): the tokenizer's BOS id \(b) is outside the model's vocabulary (\(checkpoint.config.vocab) tokens) in \(path)")
            }
            return b
        }
        if let b = checkpoint.config.bosTokenID, b >= 0, b < checkpoint.config.vocab { return Int32(b) }
        throw UsageError("eval.bos (--bos): the model \(path) has no BOS token id (none of tokenizer.ggml.bos_token_id in a GGUF, bos_token in tokenizer_config.json, the tokenizer.model's bos_id, bos_token_id in config.json); evaluate without BOS")
    }

    /// The file of a calibration dataset name (`ptb-train` or a path).
    static func calibrationURL(_ dataset: String) -> URL {
        dataset == "ptb-train" ? Paths.ptb("train") : Manifest.resolvePath(dataset)
    }

    /// Tokens of a calibration text (tokenized on first use: fp32/RTN-only sweeps never need it),
    /// checked against the model's vocabulary.
    func calibrationTokens(_ dataset: String) throws -> [Int32] {
        if let c = calibTokensCache[dataset] { return c }
        let url = Self.calibrationURL(dataset)
        if dataset != "ptb-train", let why = Manifest.regularFileProblem(url) {
            throw UsageError("calibration dataset \(url.path): \(why)")
        }
        let src: CalibrationSource = dataset == "ptb-train" ? .ptbTrain : .file(url)
        let t = try tokenizer.encode(try src.text())
        let vocab = checkpoint.config.vocab
        if let bad = t.firstIndex(where: { Int($0) >= vocab }) {
            throw UsageError("calibration dataset \(dataset): token id \(t[bad]) at position \(bad) is outside the model's vocabulary (\(vocab) tokens)")
        }
        calibTokensCache[dataset] = t
        return t
    }

    /// SHA-256 of a calibration text ("missing" when the file is absent, e.g. PTB before set-up).
    func calibrationSHA256(_ dataset: String) throws -> String {
        if let h = calibHashCache[dataset] { return h }
        let url = Self.calibrationURL(dataset)
        let h = FileManager.default.fileExists(atPath: url.path) ? try SHA256.hex(ofFile: url) : "missing"
        calibHashCache[dataset] = h
        return h
    }

    public func provenance() throws -> Provenance {
        if let p = provenanceCache { return p }
        var data: [String: String] = [:]
        for e in evalTokens { data[e.dataset] = try SHA256.hex(ofFile: e.url) }
        let p = Provenance(modelSHA256: try SHA256.hex(ofFileOrFolder: modelURL),
                           calibrationSHA256: try calibrationSHA256(manifest.calibrationDataset), dataSHA256: data)
        provenanceCache = p
        return p
    }

    public func calibrationSHA256(for cell: Cell) throws -> String? {
        cell.recipe.isFP32 ? nil : try calibrationSHA256(manifest.calibration(of: cell).dataset)
    }

    /// A fresh fp32 model built from the pristine checkpoint.
    func freshModel() throws -> LlamaModel {
        let m = try LlamaModel(checkpoint: checkpoint)
        m.blockLimit = blockLimit
        return m
    }

    func evaluate(_ model: LlamaModel, progress: SweepProgress) throws -> [DatasetResult] {
        // share of the evaluation done, weighted by windows over all datasets
        let counts = evalTokens.map { e in min(manifest.windows ?? Int.max, perplexityWindowCount(tokenCount: e.tokens.count, ctx: manifest.ctx, bos: bos != nil)) }
        let total = max(1, counts.reduce(0, +))
        var before = 0
        return try evalTokens.enumerated().map { (k, e) in
            defer { before += counts[k] }
            let r = try evaluatePerplexity(model: model, tokens: e.tokens, ctx: manifest.ctx, windows: manifest.windows, bos: bos) { done, n, nll in
                progress.stage("eval \(e.dataset) \(done)/\(n), running PPL \(String(format: "%.4f", Foundation.exp(nll)))")
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
            var r = CellResult(evals: try baseline(progress: progress), layers: [], quantizeSeconds: 0)
            r.path = "fp32"
            return r
        }
        let t0 = monotonicSeconds()
        var run = cell
        var planInfo: PlanInfo? = nil, sens: [LayerSensitivity]? = nil
        if cell.budget != nil {
            // mixed precision: sensitivity (cached) → exact allocation → the plan's per-layer formats,
            // before the cell's own overrides (which win)
            progress.stage("sensitivity \(cell.planFormats.joined(separator: ","))")
            let (info, table) = try planFor(cell)
            planInfo = info; sens = table
            run = Cell(weights: cell.weights, acts: cell.acts, block: cell.block, scaleRule: cell.scaleRule, rounding: cell.rounding,
                       recipe: cell.recipe, seed: cell.seed, roundingSeed: cell.roundingSeed, overrides: info.overrides + cell.overrides,
                       lmHead: cell.lmHead, packed: cell.packed, calibration: cell.calibration)
        }
        let model = try freshModel()
        let (report, plan) = try quantizeModel(model, cell: run, progress: progress)
        if cell.packed {
            let bad = try packWeights(model: model, plan: plan)
            if bad > 0 { progress.note("warning: \(bad) weight values changed when packed (re-encoding with natural block scales)") }
        } else if manifest.evalPath == "auto" {
            packWeightsForIntegerKernels(model: model, plan: plan)
        }
        let qs = monotonicSeconds() - t0
        var r = CellResult(evals: try evaluate(model, progress: progress), layers: report.records, quantizeSeconds: qs)
        r.path = evaluationPath(model: model, plan: plan)
        r.stageSeconds = report.stageSeconds
        r.cachedHessians = report.cachedHessians
        r.calibrationSHA256 = try calibrationSHA256(manifest.calibration(of: cell).dataset)
        r.plan = planInfo
        r.sensitivity = sens
        return r
    }

    /// The stochastic-rounding seed of one side of a cell (`salt` 1: weights, 2: activations), so
    /// the two sides draw independent streams from the cell's rounding seed.
    static func roundingSeed(_ cell: Cell, salt: UInt64) -> UInt64 {
        UInt64(cell.effectiveRoundingSeed) &* 0x9E37_79B9_7F4A_7C15 &+ salt
    }

    /// The quantization plan and PTQ options of a cell (formats, overrides, LM head, recipe).
    public static func plan(_ cell: Cell) throws -> (plan: QuantPlan, options: PTQOptions) {
        let rule: MXScaleRule = cell.scaleRule == "ceil" ? .ceil : .floor
        func rounding(_ salt: UInt64) -> MXRounding {
            switch cell.rounding {
            case "away": return .away
            case "stochastic": return .stochastic(seed: roundingSeed(cell, salt: salt))
            default: return .even
            }
        }
        let wBase = MXConfig(format: .mxint8, block: cell.block, scaleRule: rule, rounding: rounding(1))
        let aBase = MXConfig(format: .mxint8, block: cell.block, scaleRule: rule, rounding: rounding(2))
        func cfg(_ f: String?, _ base: MXConfig) throws -> MXConfig? {
            guard let f = f else { return nil }
            var c = base
            c.format = try MXFormat(parsing: f)
            return c
        }
        // overrides: the weight side takes the weights' rounding stream, the activation side the activations'
        let overrides = try cell.overrides.map { text -> LayerOverride in
            let w = try QuantPlan.parseOverride(text, base: wBase), a = try QuantPlan.parseOverride(text, base: aBase)
            return LayerOverride(pattern: w.pattern, weight: w.weight, act: a.act)
        }
        let (recipe, options) = cell.recipe.ptq
        let plan = QuantPlan(defaults: QuantSpec(weight: try cfg(cell.weights, wBase), act: try cfg(cell.acts, aBase)),
                             overrides: overrides, quantizeLMHead: cell.lmHead, recipe: recipe)
        return (plan, options)
    }

    /// The calibration set of a cell (shared by every cell with the same calibration and seed).
    func calibrationSet(_ cell: Cell) throws -> CalibrationSet {
        let spec = manifest.calibration(of: cell)
        let key = "\(spec.dataset)|\(spec.n)|\(spec.len)|\(cell.seed)"
        if let c = calibrationSets[key] { return c }
        let c = try CalibrationSet(tokens: try calibrationTokens(spec.dataset), samples: spec.n, length: spec.len,
                                   seed: UInt64(cell.seed), sourceName: spec.dataset, bos: bos)
        calibrationSets[key] = c
        return c
    }

    /// Quantizes `model` in place per `cell` (PTQ pipeline; Hessian cache under `.cache/hessians`
    /// unless the manifest says `"cache": false`).
    func quantizeModel(_ model: LlamaModel, cell: Cell, progress: SweepProgress) throws -> (PTQReport, QuantPlan) {
        var (plan, options) = try Self.plan(cell)
        if manifest.cache {
            options.cacheDirectory = Paths.hessianCache
            options.modelIdentity = try provenance().modelSHA256
        }
        options.showProgress = showPTQProgress
        // Calibration runs quantized linears the way evaluation does: on the integer kernels
        // where they apply, unless the manifest forces fake-quant (then fp32 fake-quant throughout).
        options.integerKernels = manifest.evalPath != "fake-quant"
        let calibrated = plan.recipe.effectiveStages.contains { $0 != .rtn }
        progress.stage("calibrate+quantize \(plan.recipe.effectiveStages.map(\.name).joined(separator: ">"))")
        let cal = (calibrated || recordsForRTN) ? try calibrationSet(cell) : nil
        let held = try cal.map { try heldoutSet(cell, calibration: $0) } ?? nil
        return (try quantize(model: model, plan: plan, calibration: cal, options: options, heldout: held), plan)
    }

    /// Held-out sequences of a cell's layer records (`layers.heldout`): about 2048 tokens in windows of
    /// the calibration length, from the calibration text (disjoint from the calibration windows) or
    /// from another text; nil with `none`.
    func heldoutSet(_ cell: Cell, calibration cal: CalibrationSet) throws -> CalibrationSet? {
        let spec = manifest.calibration(of: cell)
        let samples = max(1, min(spec.n, (2048 + spec.len - 1) / spec.len))
        switch manifest.heldout {
        case "none":
            return nil
        case "calibration":
            return try CalibrationSet.heldOut(tokens: try calibrationTokens(spec.dataset), samples: samples, length: spec.len,
                                              seed: UInt64(cell.seed), disjointFrom: cal, sourceName: spec.dataset, bos: bos)
        case let path:
            let same = Manifest.resolvePath(path).standardized == Self.calibrationURL(spec.dataset).standardized
            return try CalibrationSet.heldOut(tokens: try calibrationTokens(path), samples: samples, length: spec.len,
                                              seed: UInt64(cell.seed), disjointFrom: same ? cal : nil, sourceName: path, bos: bos)
        }
    }
}

/// The runner `mxq sweep` uses unless `--fake-runner` is given.
public func makeRealRunner(_ m: Manifest) throws -> CellRunner { try RealRunner(manifest: m) }

/// Whitespace-separated non-negative token ids (a `tokens:PATH` dataset, `mxq eval --tokens-file`).
func readTokenFile(_ url: URL) throws -> [Int32] {
    if let why = Manifest.regularFileProblem(url) { throw UsageError("token file \(url.path): \(why)") }
    guard let d = FileManager.default.contents(atPath: url.path), let s = String(data: d, encoding: .utf8) else {
        throw UsageError("token file \(url.path): cannot read it as UTF-8 text")
    }
    var out: [Int32] = []
    for (i, w) in s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).enumerated() {
        guard let v = Int32(w), v >= 0 else {
            throw UsageError("token file \(url.path): item \(i + 1) ('\(w.prefix(20))') is not a non-negative token id")
        }
        out.append(v)
    }
    return out
}
