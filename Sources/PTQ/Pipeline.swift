import Support
import Foundation
import MXFormats
import MXKernels
import Runtime

/// Settings of the model-level pipeline beyond the plan.
public struct PTQOptions: Sendable {
    /// GPTQ settings (`actOrder` is taken from the recipe's gptq stage).
    public var gptq = GPTQOptions()
    public var awq = AWQOptions()
    /// SmoothQuant α per consumer kind, overriding the stage's α: `.q` for the q/k/v group
    /// (whose producer is the input RMSNorm), `.o` (producer v_proj), `.gate` for gate/up
    /// (producer the post-attention RMSNorm), `.down` (producer up_proj).
    public var smoothAlpha: [LinearKind: Float] = [:]
    /// Calibration tokens kept per linear input (evenly strided over positions of every
    /// sequence) for AWQ's searches and for the stage-wise error records.
    public var recordTokens = 2048
    /// Positions of each calibration sequence in that sample: `recordTokens` spread over
    /// `sequences` of `length` tokens (at least 1, at most `length`).
    public func recordPositionsPerSequence(sequences: Int, length: Int) -> Int {
        max(1, min(length, (recordTokens + sequences - 1) / max(1, sequences)))
    }
    /// GPTQ Hessian cache directory (nil: no cache). Keys include `modelIdentity`, the
    /// calibration set and the whole plan (see `hessianKey`).
    public var cacheDirectory: URL? = nil
    /// Identifies the model weights for the cache (e.g. file path, size and modification time, or a hash).
    public var modelIdentity: String = ""
    /// Progress lines on stderr.
    public var showProgress = true
    /// Keep each block linear's final weight mapped back through the equivalence scales of the
    /// stages (`PTQReport.effectiveWeights`): the weight that, in the original fp32 model, stands
    /// for the quantized layer (used by sensitivity measurements).
    public var keepEffectiveWeights = false
    /// Run the products of already-quantized linears during calibration on the integer MX kernels
    /// where they apply (`Kernels.intMXApplies`: MXINT8 activations × MXINT4/MXINT8 weights,
    /// block 32), as evaluation does: each block's passes after its linears are quantized (GPTQ's
    /// staged pass, the pass that yields the block's outputs for the next block, the held-out
    /// pass) and AWQ's scale search (`AWQ.searchScales(integer:)`). The same numbers as the fp32
    /// fake-quant products up to fp32 summation order. Off (the default): fp32 fake-quant
    /// throughout, as before. Every linear is left unpacked (fp32 fake-quant weights) on return.
    public var integerKernels = false
    /// Tests: false makes RTN's observing pass compute every row, not only the sample's.
    var observeSampleRowsOnly = true
    public init() {}
}

/// One row of the stage-wise error table: what the weights/outputs of one linear look like
/// after one stage. For stages that are not a rounding (SmoothQuant, AWQ) the weights are
/// measured as if rounded by RTN at that point, so every row describes a runnable model.
///
/// - `weightSQNR`: 10·log10(‖W₀‖²/‖W₀ − W‖²) where W₀ is the layer's fp32 weight before any
///   stage and W the quantized weight mapped back through the equivalence scales of the stages.
/// - `outputSQNR`/`outputMSE`: on calibration inputs X of this layer (the quantized path's inputs,
///   subsampled to `recordTokens`), Y₀ = X·W₀ᵀ against Y = Q_a(X/s)·Q(W·s)ᵀ (scaled back), i.e.
///   including activation quantization when the layer has it.
/// - MX diagnostics of the weight rounding: saturated and flushed-to-zero shares, scale exponent range.
public struct StageLayerRecord: Sendable, Codable, Equatable {
    public var layer: String
    public var block: Int
    public var kind: String
    public var stageIndex: Int
    public var stage: String
    public var weightFormat: String
    public var actFormat: String
    public var weightSQNR: Double
    public var outputSQNR: Double
    public var outputMSE: Double
    public var saturatedShare: Double
    public var flushedShare: Double
    public var scaleExpMin: Int?
    public var scaleExpMedian: Int?
    public var scaleExpMax: Int?
    /// Stage-specific facts (chosen α, clipped elements, GPTQ loss, dampening, dead columns).
    public var note: String
    /// Seconds the stage spent on this layer's group (shared work is attributed to the group's first layer).
    public var seconds: Double
    /// Output SQNR/MSE as `outputSQNR`/`outputMSE`, on held-out inputs no stage saw (nil without held-out data).
    public var heldoutOutputSQNR: Double? = nil
    public var heldoutOutputMSE: Double? = nil
    /// GPTQ: dampening as applied (absolute, added to the Hessian's diagonal), GPTQ's loss estimate, and the
    /// share of the Hessian's trace held by the top 1% of input channels (nil for other stages).
    public var gptqDamp: Double? = nil
    public var gptqLoss: Double? = nil
    public var hessianTop1Share: Double? = nil

    public static let csvHeader = "layer,block,kind,stage_index,stage,weight_format,act_format,weight_sqnr_db,output_sqnr_db,output_mse,saturated_share,flushed_share,scale_exp_min,scale_exp_median,scale_exp_max,seconds,note"

    public var csvRow: String {
        func f(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : (x.isNaN ? "" : (x > 0 ? "inf" : "-inf")) }
        func i(_ x: Int?) -> String { x.map(String.init) ?? "" }
        let safeNote = note.contains(",") || note.contains("\"") ? "\"" + note.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : note
        return [layer, String(block), kind, String(stageIndex), "\"\(stage)\"", weightFormat, actFormat,
                f(weightSQNR), f(outputSQNR), f(outputMSE), f(saturatedShare), f(flushedShare),
                i(scaleExpMin), i(scaleExpMedian), i(scaleExpMax), String(format: "%.3f", seconds), safeNote]
            .joined(separator: ",")
    }
}

extension StageLayerRecord {
    /// A record with the block, kind and formats derived from nothing (tests, fakes, CSV readers):
    /// `block`/`kind` from the layer name when it is a block linear.
    public init(layer: String, stageIndex: Int, stage: String, weightSQNR: Double, outputSQNR: Double, outputMSE: Double,
                saturatedShare: Double, flushedShare: Double, scaleExpMin: Int?, scaleExpMedian: Int?, scaleExpMax: Int?,
                seconds: Double = 0, note: String = "", block: Int? = nil, kind: String? = nil,
                weightFormat: String = "", actFormat: String = "") {
        let parsed = LinearKind.parse(layer)
        self.init(layer: layer, block: block ?? parsed?.layer ?? -1, kind: kind ?? parsed?.kind.rawValue ?? layer,
                  stageIndex: stageIndex, stage: stage, weightFormat: weightFormat, actFormat: actFormat,
                  weightSQNR: weightSQNR, outputSQNR: outputSQNR, outputMSE: outputMSE, saturatedShare: saturatedShare,
                  flushedShare: flushedShare, scaleExpMin: scaleExpMin, scaleExpMedian: scaleExpMedian,
                  scaleExpMax: scaleExpMax, note: note, seconds: seconds)
    }

    enum CodingKeys: String, CodingKey {
        case layer, block, kind, stageIndex, stage, weightFormat, actFormat, weightSQNR, outputSQNR, outputMSE
        case saturatedShare, flushedShare, scaleExpMin, scaleExpMedian, scaleExpMax, note, seconds
        case heldoutOutputSQNR, heldoutOutputMSE, gptqDamp, gptqLoss, hessianTop1Share
    }

    /// Decodes records written before `block`, `kind` and the formats were stored (derived or empty then).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let layer = try c.decode(String.self, forKey: .layer)
        self.init(layer: layer, stageIndex: try c.decode(Int.self, forKey: .stageIndex), stage: try c.decode(String.self, forKey: .stage),
                  weightSQNR: try c.decode(Double.self, forKey: .weightSQNR), outputSQNR: try c.decode(Double.self, forKey: .outputSQNR),
                  outputMSE: try c.decode(Double.self, forKey: .outputMSE),
                  saturatedShare: try c.decode(Double.self, forKey: .saturatedShare),
                  flushedShare: try c.decode(Double.self, forKey: .flushedShare),
                  scaleExpMin: try c.decodeIfPresent(Int.self, forKey: .scaleExpMin),
                  scaleExpMedian: try c.decodeIfPresent(Int.self, forKey: .scaleExpMedian),
                  scaleExpMax: try c.decodeIfPresent(Int.self, forKey: .scaleExpMax),
                  seconds: try c.decodeIfPresent(Double.self, forKey: .seconds) ?? 0,
                  note: try c.decodeIfPresent(String.self, forKey: .note) ?? "",
                  block: try c.decodeIfPresent(Int.self, forKey: .block), kind: try c.decodeIfPresent(String.self, forKey: .kind),
                  weightFormat: try c.decodeIfPresent(String.self, forKey: .weightFormat) ?? "",
                  actFormat: try c.decodeIfPresent(String.self, forKey: .actFormat) ?? "")
        heldoutOutputSQNR = try c.decodeIfPresent(Double.self, forKey: .heldoutOutputSQNR)
        heldoutOutputMSE = try c.decodeIfPresent(Double.self, forKey: .heldoutOutputMSE)
        gptqDamp = try c.decodeIfPresent(Double.self, forKey: .gptqDamp)
        gptqLoss = try c.decodeIfPresent(Double.self, forKey: .gptqLoss)
        hessianTop1Share = try c.decodeIfPresent(Double.self, forKey: .hessianTop1Share)
    }
}

/// Result of `quantize(model:plan:calibration:options:)`.
public struct PTQReport: Sendable {
    public var records: [StageLayerRecord]
    /// Wall-clock seconds of the whole quantization (calibration passes included).
    public var seconds: Double
    /// Seconds per stage name, summed over blocks; `passes` is the forward passes' share (with the
    /// statistics and Hessians collected during them), `records` the stage-error records' share.
    public var stageSeconds: [String: Double]
    /// GPTQ Hessians found in / written to the cache.
    public var cacheHits: Int
    public var cacheWrites: Int
    /// The Hessians that came from the cache: `block N <input group>|<activation format>`.
    public var cachedHessians: [String] = []
    /// With `PTQOptions.keepEffectiveWeights`: each calibrated block linear's final weight in the
    /// original model's basis ([N·K]), by name.
    public var effectiveWeights: [String: [Float]] = [:]
    /// With `PTQOptions.integerKernels`: how often calibration ran on the integer MX kernels —
    /// `passes`: block linears packed for their block's passes after quantization (once per
    /// linear), `awq`: AWQ scale searches (per input group), `records`: output-error products of
    /// the records. Empty without `integerKernels` or when no format pair runs there.
    public var integerKernelUses: [String: Int] = [:]

    /// The records as CSV (header + one line per record).
    public var csv: String { ([StageLayerRecord.csvHeader] + records.map(\.csvRow)).joined(separator: "\n") + "\n" }
}

/// Errors of the quantization pipeline caused by user input.
public struct PTQError: UserFacingError {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

/// Quantizes `model` in place according to `plan`: runs the recipe's stages block by block
/// (sequential calibration: block i is calibrated on the outputs of blocks 0..<i as already
/// quantized, activation quantization included) and leaves every linear with its final
/// fake-quantized fp32 weight and its activation format set on the runtime hook. Memory:
/// one hidden state per calibration sequence plus per-block statistics.
///
/// `calibration` is required when the recipe has a calibrated stage (smoothquant, awq, gptq);
/// with plain RTN it is optional and only used to fill the output-error columns of the records.
/// Within a block, the statistics of all linears are collected in one pass over the block in its
/// current fp32 (transformed) state, as in the GPTQ/AWQ reference code (not "true sequential").
///
/// `heldout`: sequences no stage sees (disjoint from the calibration windows, or another text);
/// they follow the calibration through the quantized blocks and fill the records' held-out
/// output-error columns (a diagnostic of over-fitting; never used for fitting).
public func quantize(model: LlamaModel, plan: QuantPlan, calibration: CalibrationSet?,
                     options: PTQOptions = PTQOptions(), heldout: CalibrationSet? = nil) throws -> PTQReport {
    let t0 = monotonicSeconds()
    let names = model.linears.map(\.name)
    let specs = names.map { plan.spec(for: $0) }
    let weightsQ = specs.contains { $0.weight != nil }
    let actsQ = specs.contains { $0.act != nil }
    try plan.recipe.validate(weightsQuantized: weightsQ, actsQuantized: actsQ)
    for (n, s) in zip(names, specs) {
        for c in [s.weight, s.act].compactMap({ $0 }) where c.block <= 0 {
            throw PTQError("\(n): MX block size must be positive, got \(c.block)")
        }
    }
    let stages = plan.recipe.effectiveStages
    let calibrated = stages.contains { $0 != .rtn }
    if calibrated && calibration == nil {
        throw PTQError("recipe '\(plan.recipe)' needs calibration data (stages \(stages.filter { $0 != .rtn }.map(\.name).joined(separator: ", ")))")
    }
    if let cal = calibration {
        // Tokens of the calibration text must index the model's embedding (a tokenizer from
        // another model could produce larger ids), as evaluation checks its windows.
        let vocab = model.config.vocabSize
        for (s, seq) in cal.sequences.enumerated() {
            if let j = seq.firstIndex(where: { $0 < 0 || Int($0) >= vocab }) {
                throw PTQError("calibration token id \(seq[j]) (sequence \(s), position \(j)) is outside the model's vocabulary 0..<\(vocab) (tokenizer and model do not match)")
            }
        }
    }
    for l in model.linears { l.packed = nil }   // the pipeline works on (and leaves) fp32 fake-quant weights
    var state = PipelineState(model: model, plan: plan, options: options, stages: stages)
    if let cal = calibration {
        try state.runSequential(cal, heldout: heldout)
        model.releaseScratch()      // the forward workspaces and LM-head scratch
    } else {
        state.runRTNOnly()
    }
    state.finishLMHead()
    model.inputObserver = nil
    return PTQReport(records: state.records, seconds: monotonicSeconds() - t0, stageSeconds: state.stageSeconds,
                     cacheHits: state.cacheHits, cacheWrites: state.cacheWrites, cachedHessians: state.cachedHessians,
                     effectiveWeights: state.effectiveWeights, integerKernelUses: state.integerKernelUses)
}

/// The four inputs of a decoder block's linears.
enum InputGroup: Int, CaseIterable {
    case attnIn = 0, attnOut, mlpIn, mlpAct
    /// The group reading at `point`.
    init(_ point: BlockInputPoint) {
        switch point { case .attentionInput: self = .attnIn; case .attentionOutput: self = .attnOut
        case .mlpInput: self = .mlpIn; case .mlpActivation: self = .mlpAct }
    }
    /// Indices into `LlamaBlock.linears` (q, k, v, o, gate, up, down).
    var members: [Int] {
        switch self { case .attnIn: return [0, 1, 2]; case .attnOut: return [3]; case .mlpIn: return [4, 5]; case .mlpAct: return [6] }
    }
    static func of(_ index: Int) -> InputGroup {
        switch index { case 0, 1, 2: return .attnIn; case 3: return .attnOut; case 4, 5: return .mlpIn; default: return .mlpAct }
    }
    var name: String { ["attn_in", "attn_out", "mlp_in", "mlp_act"][rawValue] }
}

/// Per-input statistics of one block over the calibration set (fp32 inputs of the block as it
/// was before any stage): max |x|, mean |x| per channel, and a strided token subsample.
final class GroupStats {
    let k: Int
    var absMax: [Float]
    var absSum: [Double]
    var count = 0
    var sample: [Float] = []
    var sampleRows = 0
    init(k: Int) { self.k = k; absMax = [Float](repeating: 0, count: k); absSum = [Double](repeating: 0, count: k) }
    var absMean: [Float] { absSum.map { Float($0 / Double(max(count, 1))) } }

    /// Adds `rows` input rows [rows, k]: per-channel max |x| and Σ|x| (rows in order, so the
    /// sums do not depend on the vectorization across channels), and the rows at `positions`
    /// to the sample.
    func add(_ x: UnsafePointer<Float>, rows: Int, positions: [Int]) {
        let k = self.k
        absMax.withUnsafeMutableBufferPointer { MX in
            absSum.withUnsafeMutableBufferPointer { SM in
                let mx = MX.baseAddress!, sm = SM.baseAddress!
                for r in 0..<rows {
                    let row = x + r * k
                    for j in 0..<k {       // plain pointer loop: vectorized by the optimizer, cheap in debug
                        let a = abs(row[j])
                        if a > mx[j] { mx[j] = a }
                        sm[j] += Double(a)
                    }
                }
            }
        }
        count += rows
        for p in positions { sample.append(contentsOf: UnsafeBufferPointer(start: x + p * k, count: k)) }
        sampleRows += positions.count
    }

    /// Adds `rows` rows [rows, k] to the sample only: absMax, absSum and count stay as they are
    /// (zero), so only for stages that read nothing but the sample (RTN's records).
    func addSample(_ x: UnsafePointer<Float>, rows: Int) {
        sample.append(contentsOf: UnsafeBufferPointer(start: x, count: rows * k))
        sampleRows += rows
    }
}

struct PipelineState {
    let model: LlamaModel
    let plan: QuantPlan
    let options: PTQOptions
    let stages: [Stage]
    var records: [StageLayerRecord] = []
    var stageSeconds: [String: Double] = [:]
    var cacheHits = 0, cacheWrites = 0
    var integerKernelUses: [String: Int] = [:]
    var cachedHessians: [String] = []
    /// Tests: blocks whose observing pass computed only the sampled rows.
    var sampledObservingPasses = 0
    var effectiveWeights: [String: [Float]] = [:]
    /// Tests: sees the calibration hidden states entering each block.
    var blockInputObserver: ((Int, [[Float]]) -> Void)? = nil
    /// Tests: sees every GPTQ Hessian used (block, linear index 0..<7 of the group's first
    /// quantized member, Hessian [K*K]).
    var hessianObserver: ((Int, Int, [Double]) -> Void)? = nil

    init(model: LlamaModel, plan: QuantPlan, options: PTQOptions, stages: [Stage]) {
        self.model = model; self.plan = plan; self.options = options; self.stages = stages
    }

    // MARK: RTN without calibration

    mutating func runRTNOnly() {
        let progress = options.showProgress ? ProgressReporter("rtn", total: model.activeBlockCount) : nil
        for (bi, blk) in model.blocks.prefix(model.activeBlockCount).enumerated() {
            for (li, lin) in blk.linears.enumerated() {
                let spec = plan.spec(for: lin.name)
                var note = ""
                var diag = WeightDiagnostics()
                var sqnr = Double.infinity
                if let wc = spec.weight {
                    let orig = lin.weight
                    var w = orig
                    diag = RTN.quantize(weight: &w, rows: lin.outFeatures, cols: lin.inFeatures, config: wc)
                    let e = ErrorStats.sse(w, reference: orig)
                    sqnr = ErrorStats.sqnrDB(err: e.err, signal: e.signal)
                    lin.weight = w
                } else { note = "weights fp32" }
                setActivationFormat(lin, spec.act)
                records.append(record(lin, block: bi, index: li, stageIndex: 0, stage: .rtn, spec: spec, weightSQNR: sqnr,
                                      out: (.nan, .nan), diag: diag, note: note, seconds: 0))
            }
            progress?.advance()
        }
        progress?.finish()
    }

    mutating func finishLMHead() {
        let lin = model.lmHead
        let spec = plan.spec(for: lin.name)
        guard spec.weight != nil || spec.act != nil else { return }
        var diag = WeightDiagnostics(), sqnr = Double.infinity
        if let wc = spec.weight {
            let orig = lin.weight
            var w = orig
            diag = RTN.quantize(weight: &w, rows: lin.outFeatures, cols: lin.inFeatures, config: wc)
            let e = ErrorStats.sse(w, reference: orig)
            sqnr = ErrorStats.sqnrDB(err: e.err, signal: e.signal)
            lin.weight = w
        }
        setActivationFormat(lin, spec.act)
        records.append(record(lin, block: -1, index: 7, stageIndex: 0, stage: .rtn, spec: spec, weightSQNR: sqnr,
                              out: (.nan, .nan), diag: diag, note: "lm_head: RTN only", seconds: 0))
    }

    // MARK: sequential calibration

    mutating func runSequential(_ cal: CalibrationSet, heldout: CalibrationSet? = nil) throws {
        let L = cal.length
        var hidden = cal.sequences.map { model.embed($0) }
        var held = heldout.map { h in (sequences: h.sequences.map { model.embed($0) }, length: h.length) }
        let nb = model.activeBlockCount     // every block unless a benchmark set `blockLimit`
        let progress = options.showProgress ? ProgressReporter("calibrate \(stages.map(\.description).joined(separator: "→"))", total: nb) : nil
        for bi in 0..<nb {
            blockInputObserver?(bi, hidden)
            try calibrateBlock(bi, hidden: &hidden, seqLen: L, cal: cal, heldout: &held)
            progress?.advance(detail: "block \(bi)")
        }
        progress?.finish()
    }

    /// Token positions of every sequence kept in the subsample.
    func samplePositions(seqLen: Int, sequences: Int) -> [Int] {
        let per = options.recordPositionsPerSequence(sequences: sequences, length: seqLen)
        return (0..<per).map { ($0 * seqLen) / per }
    }

    mutating func calibrateBlock(_ bi: Int, hidden: inout [[Float]], seqLen L: Int, cal: CalibrationSet,
                                 heldout: inout (sequences: [[Float]], length: Int)?) throws {
        let blk = model.blocks[bi]
        let lins = blk.linears
        let specs = lins.map { plan.spec(for: $0.name) }
        for l in lins { setActivationFormat(l, nil) }
        let orig = lins.map(\.weight)
        var colScale = lins.map { [Float](repeating: 1, count: $0.inFeatures) }
        var rowScale = lins.map { [Float](repeating: 1, count: $0.outFeatures) }

        // Pass A: fp32 statistics of the four inputs. When GPTQ is the first stage the block is
        // unchanged until then: its staged pass collects them instead (on the inputs each group
        // sees there, i.e. after the groups before it are quantized).
        let stats = InputGroup.allCases.map { GroupStats(k: lins[$0.members[0]].inFeatures) }
        let positions = samplePositions(seqLen: L, sequences: hidden.count)
        let gptqFirst = stages[0].isGPTQ
        if !gptqFirst {
            let tA = monotonicSeconds()
            var statsSeconds = 0.0
            let leaders = groupLeaders(lins)
            // RTN uses no statistics, the records only the sample: the pass then computes the
            // sample's rows only (bitwise the same values; `LlamaModel.observeBlockRows`).
            let sampleOnly = options.observeSampleRowsOnly && stages.allSatisfy { $0 == .rtn } && positions.count < L && L > 8 && hidden.count * positions.count > 8
            model.inputObserver = { lin, buf, m in
                guard let g = leaders[lin.name] else { return }
                let t0 = monotonicSeconds()
                if sampleOnly {
                    stats[g.rawValue].addSample(buf.baseAddress!, rows: m)
                } else {
                    precondition(m == L)
                    stats[g.rawValue].add(buf.baseAddress!, rows: m, positions: positions)
                }
                statsSeconds += monotonicSeconds() - t0
            }
            if sampleOnly {
                model.observeBlockRows(bi, hidden: hidden, seqLen: L, rows: positions)
                sampledObservingPasses += 1
            } else {
                observeInputs(bi, hidden: hidden, seqLen: L)
            }
            model.inputObserver = nil
            stageSeconds["passes", default: 0] += monotonicSeconds() - tA - statsSeconds
            stageSeconds["statistics", default: 0] += statsSeconds
        }
        var outputsDone = false     // set when a staged GPTQ pass has produced the block's outputs
        // Held-out sample: inputs of the block's linears (block as before its stages) on the held-out
        // sequences, strided as the calibration sample.
        var heldStats: [GroupStats]? = nil
        if let h = heldout {
            let hs = InputGroup.allCases.map { GroupStats(k: lins[$0.members[0]].inFeatures) }
            let hp = samplePositions(seqLen: h.length, sequences: h.sequences.count)
            let leaders = groupLeaders(lins)
            model.inputObserver = { lin, buf, m in
                guard let g = leaders[lin.name] else { return }
                hs[g.rawValue].add(buf.baseAddress!, rows: m, positions: hp)
            }
            observeInputs(bi, hidden: h.sequences, seqLen: h.length)
            model.inputObserver = nil
            heldStats = hs
        }

        // Stage-error records: fp32 reference outputs on the sample (once per linear), and the
        // inputs/result of each linear's latest output-error measurement.
        var yRefs = [[Float]?](repeating: nil, count: 7), heldRefs = [[Float]?](repeating: nil, count: 7)
        var lastOutput = [(weight: [Float], col: [Float], row: [Float], error: (err: Double, signal: Double), held: (err: Double, signal: Double)?)?](repeating: nil, count: 7)
        /// Output error of linear `m` (weights `weff`, equivalence scales) on the sample `x` [rows, k]
        /// against the fp32 layer's outputs (computed once per sample into `ref`).
        func outputError(_ m: Int, _ x: [Float], rows: Int, weff: [Float], ref: inout [Float]?) -> (err: Double, signal: Double) {
            let k = lins[m].inFeatures, n = lins[m].outFeatures
            if ref == nil { ref = MatOps.gemm(x, orig[m], m: rows, n: n, k: k) }
            var xs = x
            divideColumns(&xs, rows: rows, k: k, by: colScale[m])
            var y: [Float]
            if let a = specs[m].act, let wc = specs[m].weight, let w = integerOperand(weff, rows: n, cols: k, acts: a, weights: wc) {
                integerKernelUses["records", default: 0] += 1
                // the integer kernels quantize xs while packing it: the product inference runs
                y = [Float](repeating: 0, count: rows * n)
                xs.withUnsafeBufferPointer { X in y.withUnsafeMutableBufferPointer { Y in
                    Kernels.intmxgemm(m: rows, x: X.baseAddress!, acts: a, w: w, y: Y.baseAddress!)
                } }
            } else {
                if let a = specs[m].act { _ = xs.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: rows, cols: k, config: a) } }
                y = MatOps.gemm(xs, weff, m: rows, n: n, k: k)
            }
            multiplyColumns(&y, rows: rows, n: n, by: rowScale[m])
            return ErrorStats.sse(y, reference: ref!)
        }
        for (si, stage) in stages.enumerated() {
            var notes = [String](repeating: "", count: 7)
            var gptqInfo = [GPTQLayerInfo?](repeating: nil, count: 7)
            var diags = [WeightDiagnostics?](repeating: nil, count: 7)
            let ts = monotonicSeconds()
            var algorithmSeconds: Double? = nil     // set by stages whose wall time includes a calibration pass
            switch stage {
            case .smoothQuant(let alpha):
                for g in InputGroup.allCases {
                    let a = smoothAlpha(g, default: alpha)
                    let k = stats[g.rawValue].k
                    var actMax = (0..<k).map { stats[g.rawValue].absMax[$0] / colScale[g.members[0]][$0] }
                    var wMax = SmoothQuant.columnMax(g.members.map { lins[$0].weight }, k: k)
                    if g == .attnOut { actMax = tieHeads(actMax, reduce: max); wMax = tieHeads(wMax, reduce: max) }
                    let s = SmoothQuant.scales(actMax: actMax, weightMax: wMax, alpha: a)
                    applyScales(s, group: g, block: blk, colScale: &colScale, rowScale: &rowScale)
                    for m in g.members { notes[m] = "alpha=\(a)" }
                }
            case .awq:
                for g in InputGroup.allCases {
                    let st = stats[g.rawValue]
                    let k = st.k
                    let members = g.members.filter { specs[$0].weight != nil }
                    if members.isEmpty { continue }
                    let cs = colScale[g.members[0]]
                    var mean = st.absMean
                    for j in 0..<k { mean[j] /= cs[j] }
                    if g == .attnOut { mean = tieHeads(mean, reduce: +).map { $0 / Float(model.config.numHeads / model.config.numKVHeads) } }
                    var x = st.sample
                    divideColumns(&x, rows: st.sampleRows, k: k, by: cs)
                    let (xs, rows) = AWQ.subsample(x, rows: st.sampleRows, k: k, maxRows: options.awq.searchTokens)
                    let group = members.map { AWQLinear(weight: lins[$0].weight, rows: lins[$0].outFeatures,
                                                         weightConfig: specs[$0].weight!, actConfig: specs[$0].act) }
                    let res = AWQ.searchScales(x: xs, tokens: rows, k: k, actMean: mean, group: group, options: options.awq,
                                               integer: options.integerKernels)
                    if res.integer { integerKernelUses["awq", default: 0] += 1 }
                    applyScales(res.scales, group: g, block: blk, colScale: &colScale, rowScale: &rowScale)
                    var xn = xs
                    divideColumns(&xn, rows: rows, k: k, by: res.scales)
                    for m in g.members { notes[m] = String(format: "alpha=%.2f", res.bestAlpha) }
                    var clipInputs: [AWQ.ClipInputs] = []    // shared by members with the same act format and block
                    for m in members where m != 0 && m != 1 {     // no clipping search for q/k
                        let wc = specs[m].weight!
                        let inputs: AWQ.ClipInputs
                        if let c = clipInputs.first(where: { $0.act == specs[m].act && $0.block == wc.block }) { inputs = c } else {
                            inputs = AWQ.ClipInputs(x: xn, tokens: rows, k: k, block: wc.block, actConfig: specs[m].act,
                                                    clipTokens: options.awq.clipTokens)
                            clipInputs.append(inputs)
                        }
                        var w = lins[m].weight
                        let changed = AWQ.clip(weight: &w, rows: lins[m].outFeatures, weightConfig: wc, inputs: inputs,
                                               options: options.awq)
                        lins[m].weight = w
                        notes[m] += " clipped=\(changed)"
                    }
                }
            case .gptq(let actOrder):
                // GPTQ is the rounding, hence the last stage: its staged pass also produces the outputs.
                algorithmSeconds = try gptqStaged(bi, stageIndex: si, actOrder: actOrder, specs: specs, hidden: &hidden, seqLen: L, cal: cal,
                               stats: gptqFirst ? (stats, positions) : nil, diags: &diags, notes: &notes, info: &gptqInfo)
                outputsDone = true
            case .rtn:
                for (m, lin) in lins.enumerated() {
                    guard let wc = specs[m].weight else { continue }
                    var w = lin.weight
                    diags[m] = RTN.quantize(weight: &w, rows: lin.outFeatures, cols: lin.inFeatures, config: wc)
                    lin.weight = w
                }
            }
            let secs = algorithmSeconds ?? (monotonicSeconds() - ts)
            stageSeconds[stage.name, default: 0] += secs
            // records
            let tR = monotonicSeconds()
            for (m, lin) in lins.enumerated() {
                let g = InputGroup.of(m)
                let st = stats[g.rawValue]
                var weff = lin.weight
                var diag = diags[m] ?? WeightDiagnostics()
                if let wc = specs[m].weight, !stage.isRounding {
                    diag = RTN.quantize(weight: &weff, rows: lin.outFeatures, cols: lin.inFeatures, config: wc)
                }
                let k = lin.inFeatures, n = lin.outFeatures
                var back = weff
                scaleBack(&back, rows: n, k: k, rowScale: rowScale[m], colScale: colScale[m])
                let we = ErrorStats.sse(back, reference: orig[m])
                if options.keepEffectiveWeights && si == stages.count - 1 { effectiveWeights[lin.name] = back }
                // output error: the same weights and scales as the previous stage's record give the same numbers
                let oe: (err: Double, signal: Double), he: (err: Double, signal: Double)?
                if let last = lastOutput[m], last.weight == weff, last.col == colScale[m], last.row == rowScale[m] {
                    oe = last.error
                    he = last.held
                } else {
                    oe = outputError(m, st.sample, rows: st.sampleRows, weff: weff, ref: &yRefs[m])
                    he = heldStats.map { hs in outputError(m, hs[g.rawValue].sample, rows: hs[g.rawValue].sampleRows, weff: weff, ref: &heldRefs[m]) }
                    lastOutput[m] = (weff, colScale[m], rowScale[m], oe, he)
                }
                let rows = st.sampleRows
                var rec = record(lin, block: bi, index: m, stageIndex: si, stage: stage, spec: specs[m],
                                 weightSQNR: ErrorStats.sqnrDB(err: we.err, signal: we.signal),
                                 out: (ErrorStats.sqnrDB(err: oe.err, signal: oe.signal), oe.err / Double(max(1, rows * n))),
                                 diag: diag, note: notes[m], seconds: m == InputGroup.of(m).members[0] ? secs / 4 : 0)
                if let he = he, let hs = heldStats {
                    rec.heldoutOutputSQNR = ErrorStats.sqnrDB(err: he.err, signal: he.signal)
                    rec.heldoutOutputMSE = he.err / Double(max(1, hs[g.rawValue].sampleRows * n))
                }
                if let gi = gptqInfo[m] { rec.gptqDamp = gi.damp; rec.gptqLoss = gi.loss; rec.hessianTop1Share = gi.top1Share }
                records.append(rec)
            }
            stageSeconds["records", default: 0] += monotonicSeconds() - tR
        }

        // Final state of the block: activation formats on (and packed for the integer kernels
        // where `integerKernels` applies), then its outputs for the next block.
        for (l, s) in zip(lins, specs) {
            setActivationFormat(l, s.act)
            if !outputsDone { packForCalibration(l, spec: s) }      // GPTQ's staged pass packed them already
        }
        defer { for l in lins { l.packed = nil } }
        // The last block's outputs feed no further block: not computed.
        let last = bi == model.activeBlockCount - 1
        if !outputsDone && !last {
            let tC = monotonicSeconds()
            for s in 0..<hidden.count { model.forwardBlock(bi, hidden: &hidden[s], seqLen: L) }
            stageSeconds["passes", default: 0] += monotonicSeconds() - tC
        }
        if heldout != nil && !last {
            let tH = monotonicSeconds()
            let hl = heldout!.length
            for s in 0..<heldout!.sequences.count { model.forwardBlock(bi, hidden: &heldout!.sequences[s], seqLen: hl) }
            stageSeconds["heldout", default: 0] += monotonicSeconds() - tH
        }
    }

    /// Shows `model.inputObserver` the inputs of block `bi`'s linears for every sequence, leaving
    /// `hidden` as it is (`observeBlock` on copies: down_proj's product is skipped).
    func observeInputs(_ bi: Int, hidden: [[Float]], seqLen L: Int) {
        for s in 0..<hidden.count {
            var h = hidden[s]
            model.observeBlock(bi, hidden: &h, seqLen: L)
        }
    }

    /// Hook names of the first linear of each input group (q, o, gate, down).
    func groupLeaders(_ lins: [Linear]) -> [String: InputGroup] {
        [lins[0].name: .attnIn, lins[3].name: .attnOut, lins[4].name: .mlpIn, lins[6].name: .mlpAct]
    }

    /// GPTQ of block `bi` in one true-sequential staged pass (`LlamaModel.forwardBlockStaged`)
    /// (with `options.gptq.trueSequential` false: Hessians and statistics from a separate pass
    /// over the block before GPTQ, then the staged pass only quantizes and yields the outputs):
    /// q/k/v are quantized from the Hessian of the block's input; o from the Hessian of the
    /// attention output computed with the quantized q/k/v (activation formats on); gate/up from
    /// the input after the quantized attention; down from silu(gate)·up of the quantized gate/up.
    /// Each Hessian sees exactly the inputs its layer sees in the final model (what GPTQ's
    /// reference calls true-sequential), and the pass leaves the quantized block's outputs in
    /// `hidden`. Hessians come from the cache when present. With `stats`, the group statistics
    /// (records, sample) are collected in the same pass.
    mutating func gptqStaged(_ bi: Int, stageIndex si: Int, actOrder: Bool, specs: [QuantSpec], hidden: inout [[Float]],
                             seqLen L: Int, cal: CalibrationSet, stats: (groups: [GroupStats], positions: [Int])?,
                             diags: inout [WeightDiagnostics?], notes: inout [String], info: inout [GPTQLayerInfo?]) throws -> Double {
        let lins = model.blocks[bi].linears
        let job = prepareHessians(bi, specs: specs, cal: cal, stageIndex: si)
        cacheHits += job.cached.count
        cachedHessians += job.cached.keys.sorted().map { "block \(bi) \($0)" }
        let leaders = groupLeaders(lins)
        var hessianSeconds = 0.0, statsSeconds = 0.0, gptqSeconds = 0.0
        model.inputObserver = { lin, buf, m in
            guard let g = leaders[lin.name] else { return }
            let t0 = monotonicSeconds()
            job.accumulate(group: g, buf, rows: m)
            let t1 = monotonicSeconds()
            hessianSeconds += t1 - t0
            if let st = stats {
                precondition(m == L)
                st.groups[g.rawValue].add(buf.baseAddress!, rows: m, positions: st.positions)
                statsSeconds += monotonicSeconds() - t1
            }
        }
        defer { model.inputObserver = nil }
        let t = monotonicSeconds()
        if !options.gptq.trueSequential {
            // every Hessian from the block before GPTQ: a separate observing pass first
            if !job.byGroup.isEmpty || stats != nil {
                observeInputs(bi, hidden: hidden, seqLen: L)
            }
            model.inputObserver = nil
        }
        var opt = options.gptq
        opt.actOrder = actOrder
        var factors: [String: GPTQ.Factor] = [:]
        var top1: [String: Double] = [:]
        model.forwardBlockStaged(bi, hidden: &hidden, seqLen: L) { point in
            let g = InputGroup(point)
            let t0 = monotonicSeconds()
            for m in g.members {
                let lin = lins[m]
                defer {     // later sweeps see this layer as at inference
                    setActivationFormat(lin, specs[m].act)
                    packForCalibration(lin, spec: specs[m])
                }
                guard let wc = specs[m].weight, let key = job.keyOf[m] else { continue }
                if factors[key] == nil {
                    let (h, stored) = job.hessian(key: key, cacheDirectory: options.cacheDirectory)
                    if stored { cacheWrites += 1 }
                    hessianObserver?(bi, m, h)
                    factors[key] = GPTQ.factor(hessian: h, k: lin.inFeatures, options: opt)
                    top1[key] = GPTQLayerInfo.topShare(hessian: h, k: lin.inFeatures, fraction: 0.01)
                }
                var w = lin.weight
                let r = GPTQ.quantize(weight: &w, rows: lin.outFeatures, factor: factors[key]!, config: wc, options: opt)
                lin.weight = w
                diags[m] = r.diagnostics
                notes[m] = String(format: "gptq_loss=%.4g damp=%.3g dead=%d", r.loss, r.damping, r.deadColumns)
                info[m] = GPTQLayerInfo(damp: r.damping, loss: r.loss, top1Share: top1[key]!)
            }
            gptqSeconds += monotonicSeconds() - t0
        }
        let total = monotonicSeconds() - t
        stageSeconds["passes", default: 0] += total - hessianSeconds - statsSeconds - gptqSeconds
        stageSeconds["hessians", default: 0] += hessianSeconds
        stageSeconds["statistics", default: 0] += statsSeconds
        return gptqSeconds
    }

    func smoothAlpha(_ g: InputGroup, default a: Float) -> Float {
        switch g {
        case .attnIn: return options.smoothAlpha[.q] ?? options.smoothAlpha[.k] ?? options.smoothAlpha[.v] ?? a
        case .attnOut: return options.smoothAlpha[.o] ?? a
        case .mlpIn: return options.smoothAlpha[.gate] ?? options.smoothAlpha[.up] ?? a
        case .mlpAct: return options.smoothAlpha[.down] ?? a
        }
    }

    /// o_proj's input channel c = head·hd + d; all query heads sharing a KV head must share a
    /// scale (the fold goes into v_proj row kv·hd + d): reduces over each group's heads and
    /// broadcasts the result back to every channel of the group.
    func tieHeads(_ v: [Float], reduce: (Float, Float) -> Float) -> [Float] {
        let c = model.config
        let hd = c.headDim, per = c.numHeads / c.numKVHeads
        var out = v
        for kv in 0..<c.numKVHeads {
            for d in 0..<hd {
                var acc = v[(kv * per) * hd + d]
                for h in 1..<max(1, per) { acc = reduce(acc, v[(kv * per + h) * hd + d]) }
                for h in 0..<per { out[(kv * per + h) * hd + d] = acc }
            }
        }
        return out
    }

    /// Multiplies the group's weight columns by s and divides the producer by s (RMSNorm weight,
    /// v_proj rows, up_proj rows — and the producer's bias entries, which stay fp32), so the
    /// fp32 block computes the same function.
    func applyScales(_ s: [Float], group g: InputGroup, block blk: LlamaBlock,
                     colScale: inout [[Float]], rowScale: inout [[Float]]) {
        let lins = blk.linears
        for m in g.members {
            let lin = lins[m]
            let k = lin.inFeatures
            var w = lin.weight
            for r in 0..<lin.outFeatures { for j in 0..<k { w[r * k + j] *= s[j] } }
            lin.weight = w
            for j in 0..<k { colScale[m][j] *= s[j] }
        }
        switch g {
        case .attnIn:
            for j in 0..<s.count { blk.inputNorm[j] /= s[j] }
        case .mlpIn:
            for j in 0..<s.count { blk.postAttentionNorm[j] /= s[j] }
        case .attnOut:
            // v row kv·hd + d takes the (tied) scale of o channel (kv·per)·hd + d
            let c = model.config
            let hd = c.headDim, per = c.numHeads / c.numKVHeads
            let v = blk.vProj
            var w = v.weight
            var b = v.bias
            let k = v.inFeatures
            for kv in 0..<c.numKVHeads {
                for d in 0..<hd {
                    let sc = s[(kv * per) * hd + d]
                    let r = kv * hd + d
                    for j in 0..<k { w[r * k + j] /= sc }
                    if b != nil { b![r] /= sc }
                    rowScale[2][r] *= sc
                }
            }
            v.weight = w
            v.bias = b
        case .mlpAct:
            let up = blk.upProj
            var w = up.weight
            var b = up.bias
            let k = up.inFeatures
            for r in 0..<up.outFeatures {
                for j in 0..<k { w[r * k + j] /= s[r] }
                if b != nil { b![r] /= s[r] }
                rowScale[5][r] *= s[r]
            }
            up.weight = w
            up.bias = b
        }
    }

    func record(_ lin: Linear, block: Int, index: Int, stageIndex: Int, stage: Stage, spec: QuantSpec, weightSQNR: Double,
                out: (Double, Double), diag: WeightDiagnostics, note: String, seconds: Double) -> StageLayerRecord {
        StageLayerRecord(layer: lin.name, block: block, kind: LinearKind.parse(lin.name)?.kind.rawValue ?? lin.name,
                         stageIndex: stageIndex, stage: stage.description,
                         weightFormat: spec.weight.map(formatLabel) ?? "fp32", actFormat: spec.act.map(formatLabel) ?? "fp32",
                         weightSQNR: weightSQNR, outputSQNR: out.0, outputMSE: out.1,
                         saturatedShare: diag.saturatedShare, flushedShare: diag.flushedShare,
                         scaleExpMin: diag.exponentMin, scaleExpMedian: diag.exponentMedian, scaleExpMax: diag.exponentMax,
                         note: note, seconds: seconds)
    }

    // MARK: GPTQ Hessians (cached; collected in the staged pass)

    /// Which Hessians a block needs (one per input group and activation format), which were
    /// found in the cache, and accumulators for the others.
    func prepareHessians(_ bi: Int, specs: [QuantSpec], cal: CalibrationSet, stageIndex: Int) -> HessianJob {
        let lins = model.blocks[bi].linears
        var job = HessianJob()
        var needed: [String: (group: InputGroup, act: MXConfig?, k: Int)] = [:]
        for m in 0..<7 where specs[m].weight != nil {
            let g = InputGroup.of(m)
            let key = "\(g.name)|\(specs[m].act.map(configKey) ?? "fp32")"
            job.keyOf[m] = key
            needed[key] = (g, specs[m].act, lins[m].inFeatures)
        }
        for (key, v) in needed.sorted(by: { $0.key < $1.key }) {
            if let dir = options.cacheDirectory, !options.modelIdentity.isEmpty {
                let ck = hessianKey(block: bi, inputKey: key, cal: cal, stageIndex: stageIndex)
                job.cacheKeys[key] = ck
                if let h = HessianCache.load(dir: dir, key: ck, k: v.k) { job.cached[key] = h; continue }
            }
            let acc = HessianAccumulator(k: v.k)
            job.byGroup[v.group, default: []].append((key, v.act, acc))
        }
        return job
    }

    /// Cache key: the Hessian of block `block` depends on the model, the calibration set, and —
    /// through sequential calibration — on the whole plan (every format, override and stage before
    /// it, in this block and all earlier ones), so the plan description is part of the key.
    func hessianKey(block: Int, inputKey: String, cal: CalibrationSet, stageIndex: Int) -> String {
        let planParts = [plan.defaults.description, plan.overrides.map { "\($0)" }.joined(separator: ";"),
                        stages.prefix(stageIndex).map(\.description).joined(separator: ","),
                        "awq=\(options.awq)", "gptq=\(options.gptq)", "sq=\(options.smoothAlpha.sorted { $0.key.rawValue < $1.key.rawValue })",
                        "rec=\(options.recordTokens)", "full=\(stages.map(\.description))",
                        "specs=\(model.linears.prefix(7 * (block + 1)).map { "\(plan.spec(for: $0.name))" })"]
            // the integer kernels change the calibration inputs by fp32 summation order: own entries
            + (options.integerKernels ? ["integer-kernels"] : [])
        let planText = planParts.joined(separator: "|")
        let text = "v3|\(HessianCache.codeVersion)|model=\(options.modelIdentity)|cal=\(cal.identity)|plan=\(planText)|block=\(block)|input=\(inputKey)"
        return String(format: "%016llx", fnv1a64(text)) + String(format: "%016llx", fnv1a64(String(text.reversed())))
    }
}

/// What GPTQ did to one layer, for its record.
struct GPTQLayerInfo {
    var damp: Double, loss: Double, top1Share: Double
    /// Share of the trace of `hessian` [k*k] held by the `ceil(fraction·k)` largest diagonal entries.
    static func topShare(hessian h: [Double], k: Int, fraction: Double) -> Double {
        let d = (0..<k).map { h[$0 * k + $0] }.sorted(by: >)
        let trace = d.reduce(0, +)
        let n = max(1, Int((fraction * Double(k)).rounded(.up)))
        return trace > 0 ? d.prefix(n).reduce(0, +) / trace : 0
    }
}

/// The Hessians one GPTQ stage of one block needs.
struct HessianJob {
    /// Hessian key of each of the block's 7 linears (nil: weights not quantized).
    var keyOf = [String?](repeating: nil, count: 7)
    var cached: [String: [Double]] = [:]
    var cacheKeys: [String: String] = [:]
    /// Accumulators to feed, per input group: (key, activation format applied first, accumulator).
    var byGroup: [InputGroup: [(String, MXConfig?, HessianAccumulator)]] = [:]

    /// Feeds one observed input X[rows, K] of `group` (activation-quantized per accumulator first).
    func accumulate(group: InputGroup, _ buf: UnsafeBufferPointer<Float>, rows m: Int) {
        guard let list = byGroup[group] else { return }
        for (_, act, acc) in list { acc.add(buf.baseAddress!, rows: m, quantizedBy: act) }
    }

    /// The Hessian for `key`: from the cache, or from its accumulator (then written to
    /// `cacheDirectory` when given; `stored` says whether that happened).
    func hessian(key: String, cacheDirectory: URL?) -> (h: [Double], stored: Bool) {
        if let h = cached[key] { return (h, false) }
        for list in byGroup.values {
            for (k, _, acc) in list where k == key {
                let h = acc.hessian
                var stored = false
                if let dir = cacheDirectory, let ck = cacheKeys[key] { stored = HessianCache.store(dir: dir, key: ck, hessian: h, k: acc.k) }
                return (h, stored)
            }
        }
        preconditionFailure("GPTQ: no Hessian prepared for \(key)")
    }
}

func configKey(_ c: MXConfig) -> String { "\(c.format.rawValue)/\(c.block)/\(c.scaleRule.rawValue)/\(c.rounding)" }
func formatLabel(_ c: MXConfig) -> String { c.block == 32 ? c.format.rawValue : "\(c.format.rawValue)/b\(c.block)" }

/// On-disk GPTQ Hessians, `<dir>/hessian-<key>.bin` (little-endian):
///
///     magic "MXQHESS\0" (8 bytes) | format version UInt32 | code-version length UInt32 | code version (UTF-8)
///     | key length UInt32 | key (UTF-8) | K UInt64 | count UInt64 (= K·K) | K·K Double
///     | SHA-256 of everything before it (32 bytes)
///
/// A file whose header, key, code version, size or checksum does not match is ignored with a
/// warning on stderr (and recomputed and replaced); writes are durable (temp file, fsync,
/// rename); temporaries of killed processes are removed on the next write.
enum HessianCache {
    static func sha256Bytes(_ b: [UInt8]) -> [UInt8] { var h = SHA256(); h.update(b); return h.finalize() }
    static let magic: [UInt8] = Array("MXQHESS".utf8) + [0]
    static let formatVersion: UInt32 = 1
    /// Identifies the accumulation code: bump it whenever the Hessian's bits can change (a
    /// different summation order changes GPTQ's results measurably on small models).
    static let codeVersion = "hessian-accumulator-2: fp32 GEMM per chunk of \(HessianAccumulator.defaultChunkRows) rows, upper triangle, Double sums"

    static func url(dir: URL, key: String) -> URL { dir.appendingPathComponent("hessian-\(key).bin") }

    /// The Hessian stored under `key`, or nil (absent, or damaged/foreign: then a warning).
    static func load(dir: URL, key: String, k: Int) -> [Double]? {
        let u = url(dir: dir, key: key)
        guard FileManager.default.fileExists(atPath: u.path) else { return nil }
        func reject(_ why: String) -> [Double]? {
            printErr("warning: ignoring Hessian cache file \(u.path): \(why); recomputing it")
            return nil
        }
        let cv = Array(codeVersion.utf8), kb = Array(key.utf8)
        let payload = k.multipliedReportingOverflow(by: k * 8)
        guard !payload.overflow else { return reject("implausible size") }
        let expected = 8 + 4 + 4 + cv.count + 4 + kb.count + 16 + payload.partialValue + 32
        var st = stat()
        guard stat(u.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return reject("not a regular file") }
        guard Int(st.st_size) == expected else { return reject("\(st.st_size) bytes, expected \(expected)") }
        guard let data = FileManager.default.contents(atPath: u.path), data.count == expected else { return reject("cannot read it") }
        let bytes = [UInt8](data)
        let body = bytes[0..<(expected - 32)]
        guard Array(bytes[(expected - 32)...]) == sha256Bytes(Array(body)) else { return reject("checksum mismatch (damaged)") }
        var pos = 0
        func take(_ n: Int) -> ArraySlice<UInt8> { defer { pos += n }; return bytes[pos..<(pos + n)] }
        func u32() -> UInt32 { take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u64() -> UInt64 { take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        guard Array(take(8)) == magic else { return reject("not a Hessian cache file") }
        guard u32() == formatVersion else { return reject("another format version") }
        guard Int(u32()) == cv.count, Array(take(cv.count)) == cv else { return reject("written by other accumulation code") }
        guard Int(u32()) == kb.count, Array(take(kb.count)) == kb else { return reject("stored under another key") }
        guard u64() == UInt64(k), u64() == UInt64(k * k) else { return reject("another matrix size") }
        return data.withUnsafeBytes { raw in (0..<(k * k)).map { raw.loadUnaligned(fromByteOffset: pos + 8 * $0, as: Double.self) } }
    }

    @discardableResult
    static func store(dir: URL, key: String, hessian: [Double], k: Int) -> Bool {
        precondition(hessian.count == k * k)
        var b: [UInt8] = magic
        func put32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        func put64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        put32(formatVersion)
        put32(UInt32(codeVersion.utf8.count)); b += Array(codeVersion.utf8)
        put32(UInt32(key.utf8.count)); b += Array(key.utf8)
        put64(UInt64(k)); put64(UInt64(hessian.count))
        hessian.withUnsafeBytes { b.append(contentsOf: $0) }
        b += sha256Bytes(b)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            removeStaleTemporaries(in: dir)
            try writeDurably(Data(b), to: url(dir: dir, key: key))
            return true
        } catch {
            printErr("warning: cannot write the Hessian cache in \(dir.path): \(error)")
            return false
        }
    }
}

/// x[r, j] /= s[j] for x [rows, k] (nothing when every s is 1: the same values).
func divideColumns(_ x: inout [Float], rows: Int, k: Int, by s: [Float]) {
    guard s.contains(where: { $0 != 1 }) else { return }
    x.withUnsafeMutableBufferPointer { X in s.withUnsafeBufferPointer { S in
        for r in 0..<rows { let row = X.baseAddress! + r * k; for j in 0..<k { row[j] /= S[j] } }
    } }
}

/// y[r, o] *= s[o] for y [rows, n] (nothing when every s is 1).
func multiplyColumns(_ y: inout [Float], rows: Int, n: Int, by s: [Float]) {
    guard s.contains(where: { $0 != 1 }) else { return }
    y.withUnsafeMutableBufferPointer { Y in s.withUnsafeBufferPointer { S in
        for r in 0..<rows { let row = Y.baseAddress! + r * n; for o in 0..<n { row[o] *= S[o] } }
    } }
}

/// w[r, j] *= rowScale[r] / colScale[j] for w [rows, k]: a weight mapped back through the
/// equivalence scales (nothing when every scale is 1).
func scaleBack(_ w: inout [Float], rows: Int, k: Int, rowScale: [Float], colScale: [Float]) {
    guard rowScale.contains(where: { $0 != 1 }) || colScale.contains(where: { $0 != 1 }) else { return }
    w.withUnsafeMutableBufferPointer { W in rowScale.withUnsafeBufferPointer { R in colScale.withUnsafeBufferPointer { C in
        for r in 0..<rows { let row = W.baseAddress! + r * k, rs = R[r]; for j in 0..<k { row[j] *= rs / C[j] } }
    } } }
}

/// Sets the runtime hook's dynamic activation format of `lin` (nil: fp32 input).
func setActivationFormat(_ lin: Linear, _ c: MXConfig?) {
    lin.actQuant = c
}

extension PipelineState {
    /// With `options.integerKernels`, when the formats run on the integer MX kernels: the
    /// fake-quantized weight `w` [rows, cols] packed (nil if it does not re-encode exactly).
    func integerOperand(_ w: [Float], rows: Int, cols: Int, acts: MXConfig, weights: MXConfig) -> MXTensor? {
        guard options.integerKernels, Kernels.intMXApplies(acts: acts, weights: weights) else { return nil }
        let (t, bad) = packedEncoding(w, rows: rows, cols: cols, config: weights)
        return bad == 0 ? t : nil
    }

    /// With `options.integerKernels`: `packForIntegerKernels(lin, weights: spec.weight)` (packed
    /// when its formats run on the integer MX kernels and the quantized weight re-encodes exactly);
    /// otherwise leaves `lin` unpacked.
    mutating func packForCalibration(_ lin: Linear, spec: QuantSpec) {
        guard options.integerKernels else { lin.packed = nil; return }
        if packForIntegerKernels(lin, weights: spec.weight) { integerKernelUses["passes", default: 0] += 1 }
    }
}

/// Replaces every quantized linear's fp32 weight by packed MX storage (`Linear.packed`) encoded
/// from its fake-quantized values, for evaluation through the packed kernels. Returns the number
/// of weight values that the re-encoding did not reproduce exactly (0 expected: a weight on its
/// block's grid re-encodes to itself; GPTQ's frozen scales can differ from the re-encoded ones only
/// in rare MXFP8 E4M3 top-binade cases).
@discardableResult
public func packWeights(model: LlamaModel, plan: QuantPlan) throws -> Int {
    var mismatches = 0
    for lin in model.linears {
        guard let wc = plan.spec(for: lin.name).weight else { continue }
        let (t, bad) = packedEncoding(lin, config: wc)
        mismatches += bad
        lin.packed = t
    }
    return mismatches
}

/// `lin`'s fake-quantized weight encoded as packed MX under `config`, and how many of its values
/// the packed form does not decode to exactly.
func packedEncoding(_ lin: Linear, config: MXConfig) -> (tensor: MXTensor, mismatches: Int) {
    packedEncoding(lin.weight, rows: lin.outFeatures, cols: lin.inFeatures, config: config)
}

/// The fake-quantized values `w` [rows, cols] encoded as packed MX under `config`, and how many of
/// them the packed form does not decode to exactly.
func packedEncoding(_ w: [Float], rows: Int, cols: Int, config: MXConfig) -> (tensor: MXTensor, mismatches: Int) {
    let t = MXTensor(encoding: w, rows: rows, cols: cols, config: config)
    let d = t.decoded()
    var bad = 0
    for i in 0..<d.count where d[i] != w[i] { bad += 1 }
    return (t, bad)
}
