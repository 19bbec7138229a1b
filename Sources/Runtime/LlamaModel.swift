// The Llama-family decoder (SmolLM2, Llama 2/3 shapes): fp32 forward pass over a whole
// window at once, with every linear layer a named hook point.
import Foundation
import Support
import ModelIO

/// Hyperparameters the forward pass needs.
public struct LlamaConfig: Sendable, Hashable {
    public var vocabSize: Int
    /// Model width (embedding size).
    public var hiddenSize: Int
    /// SwiGLU inner width (gate/up rows, down columns).
    public var intermediateSize: Int
    public var numLayers: Int
    /// Query heads.
    public var numHeads: Int
    /// Key/value heads (grouped-query attention: numHeads is a multiple of numKVHeads).
    public var numKVHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    /// How q/k rows pair up for RoPE (GGUF: interleaved, Hugging Face: halves).
    public var ropeLayout: RopeLayout
    /// True when the LM head reuses the token embedding matrix.
    public var tiedEmbeddings: Bool
    /// RoPE frequency scaling (Llama 3.1 `llama3`, `linear`, or none).
    public var ropeScaling: RopeScaling
    /// q/k/v projections carry fp32 biases (`self_attn.{q,k,v}_proj.bias`, e.g. Qwen2).
    public var qkvBias: Bool
    /// o projection carries an fp32 bias (`self_attn.o_proj.bias`, Llama with attention_bias).
    public var outputBias: Bool

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numLayers: Int, numHeads: Int,
                numKVHeads: Int, headDim: Int, rmsNormEps: Float, ropeTheta: Double,
                ropeLayout: RopeLayout, tiedEmbeddings: Bool, ropeScaling: RopeScaling = .none,
                qkvBias: Bool = false, outputBias: Bool = false) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numLayers = numLayers; self.numHeads = numHeads; self.numKVHeads = numKVHeads
        self.headDim = headDim; self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta
        self.ropeLayout = ropeLayout; self.tiedEmbeddings = tiedEmbeddings
        self.ropeScaling = ropeScaling; self.qkvBias = qkvBias; self.outputBias = outputBias
    }

    /// Checks that the shapes fit together; throws `RuntimeError.badConfig` naming the field.
    public func validate() throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw RuntimeError.badConfig(msg) } }
        try need(vocabSize > 0, "vocab_size must be positive, got \(vocabSize)")
        try need(hiddenSize > 0, "hidden_size must be positive, got \(hiddenSize)")
        try need(intermediateSize > 0, "intermediate_size must be positive, got \(intermediateSize)")
        try need(numLayers > 0, "num_hidden_layers must be positive, got \(numLayers)")
        try need(numHeads > 0 && numKVHeads > 0, "attention heads must be positive, got \(numHeads)/\(numKVHeads)")
        try need(numHeads % numKVHeads == 0,
                 "num_attention_heads (\(numHeads)) must be a multiple of num_key_value_heads (\(numKVHeads))")
        try need(headDim > 0 && headDim % 2 == 0, "head_dim must be positive and even, got \(headDim)")
        try need(rmsNormEps > 0 && rmsNormEps.isFinite, "rms_norm_eps must be positive, got \(rmsNormEps)")
        try need(ropeTheta > 0 && ropeTheta.isFinite, "rope_theta must be positive, got \(ropeTheta)")
        do { try ropeScaling.validate(path: "config") } catch { throw RuntimeError.badConfig("\(error)") }
    }
}

/// Errors from building or running a model on user-supplied input.
public enum RuntimeError: UserFacingError, Equatable {
    case badConfig(String)
    /// A weight tensor has the wrong number of values (tensor, expected shape, count found).
    case tensorShape(String, String, Int)
    case missingTensor(String)
    /// Evaluation input problems (too few tokens, bad ctx, token id out of range).
    case badInput(String)

    public var description: String {
        switch self {
        case .badConfig(let m): return "model config: \(m)"
        case .tensorShape(let t, let shape, let n):
            return "tensor '\(t)': expected shape \(shape) (\(shape.split(separator: "×").compactMap { Int($0) }.reduce(1, *)) values), found \(n) values"
        case .missingTensor(let t): return "tensor '\(t)' is missing from the checkpoint"
        case .badInput(let m): return m
        }
    }
}

/// One decoder layer: pre-norm attention and pre-norm SwiGLU MLP, both residual.
public final class LlamaBlock {
    /// RMSNorm weight before attention, [hidden].
    public var inputNorm: [Float]
    /// q: [heads·headDim, hidden], k/v: [kvHeads·headDim, hidden], o: [hidden, heads·headDim].
    public let qProj: Linear, kProj: Linear, vProj: Linear, oProj: Linear
    /// RMSNorm weight before the MLP, [hidden].
    public var postAttentionNorm: [Float]
    /// gate/up: [intermediate, hidden], down: [hidden, intermediate].
    public let gateProj: Linear, upProj: Linear, downProj: Linear

    public init(inputNorm: [Float], qProj: Linear, kProj: Linear, vProj: Linear, oProj: Linear,
                postAttentionNorm: [Float], gateProj: Linear, upProj: Linear, downProj: Linear) {
        self.inputNorm = inputNorm; self.qProj = qProj; self.kProj = kProj; self.vProj = vProj
        self.oProj = oProj; self.postAttentionNorm = postAttentionNorm
        self.gateProj = gateProj; self.upProj = upProj; self.downProj = downProj
    }

    /// The block's linears in forward order: q, k, v, o, gate, up, down.
    public var linears: [Linear] { [qProj, kProj, vProj, oProj, gateProj, upProj, downProj] }
}

/// A Llama-family causal LM. Not thread-safe: one forward at a time per instance
/// (each forward is itself multithreaded).
/// The points of a decoder layer where linears read their input (see `forwardBlockStaged`).
public enum BlockInputPoint: Int, CaseIterable, Sendable {
    /// RMSNorm(hidden), read by q/k/v.
    case attentionInput
    /// The attention output, read by o.
    case attentionOutput
    /// RMSNorm(hidden after attention), read by gate/up.
    case mlpInput
    /// silu(gate) · up, read by down.
    case mlpActivation
}

public final class LlamaModel {
    public let config: LlamaConfig
    /// Token embeddings E[vocab, hidden] row-major.
    public var embedding: [Float]
    public let blocks: [LlamaBlock]
    /// Final RMSNorm weight, [hidden].
    public var finalNorm: [Float]
    /// LM head W[vocab, hidden]; when tied it starts as (a copy-on-write share of) `embedding`.
    public let lmHead: Linear
    /// Every linear in forward order: per block q, k, v, o, gate, up, down; then `lm_head`.
    public let linears: [Linear]
    private let byName: [String: Linear]
    /// Optional hook called with each linear's input just before it is multiplied (see
    /// `LinearInputObserver`): once per linear per block forward with M = seqLen, and for
    /// `lm_head` once per row chunk in `tokenNLL`. When nil it costs nothing.
    public var inputObserver: LinearInputObserver?
    /// Memory and speed benchmarks only: run just the first `blockLimit` decoder blocks (the
    /// forward pass then goes from block `blockLimit − 1` straight to the final norm and LM head,
    /// and PTQ calibrates only those blocks). nil: every block. Not a model of anything: results
    /// made with it are not perplexities of the model.
    public var blockLimit: Int? {
        didSet { if let n = blockLimit { precondition(n >= 1, "blockLimit must be at least 1") } }
    }
    /// Blocks the forward pass and PTQ run: `min(blocks.count, blockLimit)`.
    public var activeBlockCount: Int { min(blocks.count, blockLimit ?? blocks.count) }
    /// Threads for the forward pass (nil: `Parallel.defaultThreads`). Results do not depend on it.
    public var threads: Int?
    /// Linears that read one input (q/k/v, gate/up) and all run the integer MX GEMM quantize and
    /// pack it once (`Linear.forward(_:…)`; bit-identical either way). False: once per linear
    /// (for `mxq bench eval`'s measurement of the saving).
    public var shareActivationQuantization = true
    /// Largest total size (bytes) of the silu(gate)·up copies `forwardBlockStaged` keeps between
    /// its last two sweeps (sequences × seqLen × intermediate × 4); above it they are recomputed.
    /// Default 2 GiB: SmolLM2-135M at 128 × 2048 calibration tokens keeps them (1.6 GB), a 7B model
    /// at that size (11.5 GB) recomputes. Results are the same bits either way.
    public var stagedKeepBytes: Int = 2 << 30
    /// Query rows per attention work item (tests use small values to exercise the blocking).
    public var attentionRowBlock = 128 {
        didSet { precondition(attentionRowBlock >= 1); workspace = nil }
    }

    private var ropeCache: RopeTables?
    private var nllNormed: [Float] = [], nllLogits: [Float] = []
    private var workspace: Workspace?

    /// Builds a model from Hugging Face–named tensors (`model.embed_tokens.weight`,
    /// `model.layers.{i}.self_attn.q_proj.weight`, …, `model.norm.weight`, `lm_head.weight`
    /// unless tied). `tensor(name)` returns the fp32 values row-major or nil when absent.
    /// q/k rows must already be in the order `config.ropeLayout` describes.
    public convenience init(config: LlamaConfig, tensor: (String) throws -> [Float]?) throws {
        try self.init(config: config, stored: { try tensor($0).map { Linear.Storage.f32($0) } })
    }

    /// As `init(config:tensor:)`, with each tensor as stored: fp32, or 16-bit (bf16/f16), which
    /// linear weights keep (see `Linear.Storage`); embeddings, norms and biases are widened to fp32.
    public init(config: LlamaConfig, stored: (String) throws -> Linear.Storage?) throws {
        try config.validate()
        self.config = config
        let h = config.hiddenSize, f = config.intermediateSize
        let qd = config.numHeads * config.headDim, kvd = config.numKVHeads * config.headDim
        func getStored(_ name: String, _ rows: Int, _ cols: Int?) throws -> Linear.Storage {
            guard let t = try stored(name) else { throw RuntimeError.missingTensor(name) }
            let n = rows * (cols ?? 1)
            let count: Int
            switch t { case .f32(let a): count = a.count; case .half(let h): count = h.count }
            guard count == n else {
                throw RuntimeError.tensorShape(name, cols.map { "\(rows)×\($0)" } ?? "\(rows)", count)
            }
            return t
        }
        func get(_ name: String, _ rows: Int, _ cols: Int?) throws -> [Float] {
            switch try getStored(name, rows, cols) {
            case .f32(let a): return a
            case .half(let h): return h.widened()
            }
        }
        /// A linear from `<hf>.weight` [n, k], with the fp32 bias `<hf>.bias` [n] when `bias`.
        func lin(_ hf: String, _ hook: String, _ n: Int, _ k: Int, bias: Bool = false) throws -> Linear {
            let l = Linear(name: hook, outFeatures: n, inFeatures: k, storage: try getStored(hf + ".weight", n, k))
            if bias {
                let b = try get(hf + ".bias", n, nil)
                if let bad = b.firstIndex(where: { !$0.isFinite }) {
                    throw RuntimeError.badInput("tensor '\(hf).bias': non-finite value \(b[bad]) at index \(bad)")
                }
                l.bias = b
            }
            return l
        }
        embedding = try get("model.embed_tokens.weight", config.vocabSize, h)
        var bl: [LlamaBlock] = []
        for i in 0..<config.numLayers {
            let p = "model.layers.\(i).", hp = "layers.\(i)."
            bl.append(LlamaBlock(
                inputNorm: try get(p + "input_layernorm.weight", h, nil),
                qProj: try lin(p + "self_attn.q_proj", hp + "self_attn.q_proj", qd, h, bias: config.qkvBias),
                kProj: try lin(p + "self_attn.k_proj", hp + "self_attn.k_proj", kvd, h, bias: config.qkvBias),
                vProj: try lin(p + "self_attn.v_proj", hp + "self_attn.v_proj", kvd, h, bias: config.qkvBias),
                oProj: try lin(p + "self_attn.o_proj", hp + "self_attn.o_proj", h, qd, bias: config.outputBias),
                postAttentionNorm: try get(p + "post_attention_layernorm.weight", h, nil),
                gateProj: try lin(p + "mlp.gate_proj", hp + "mlp.gate_proj", f, h),
                upProj: try lin(p + "mlp.up_proj", hp + "mlp.up_proj", f, h),
                downProj: try lin(p + "mlp.down_proj", hp + "mlp.down_proj", h, f)))
        }
        blocks = bl
        finalNorm = try get("model.norm.weight", h, nil)
        if config.tiedEmbeddings {
            lmHead = Linear(name: "lm_head", outFeatures: config.vocabSize, inFeatures: h, weight: embedding)
        } else {
            lmHead = try lin("lm_head", "lm_head", config.vocabSize, h)
        }
        linears = bl.flatMap { $0.linears } + [lmHead]
        byName = Dictionary(uniqueKeysWithValues: linears.map { ($0.name, $0) })
        for (name, w) in [("model.embed_tokens.weight", embedding), ("model.norm.weight", finalNorm)] {
            if let bad = w.firstIndex(where: { !$0.isFinite }) {
                throw RuntimeError.badInput("tensor '\(name)': non-finite value \(w[bad]) at index \(bad)")
            }
        }
    }

    /// The linear with hook name `name` (e.g. `layers.3.mlp.up_proj`, `lm_head`), or nil.
    public func linear(named name: String) -> Linear? { byName[name] }

    // MARK: stages (for sequential calibration)

    /// Token embeddings of `tokens`: [T · hidden] row-major. Ids must be in 0..<vocab.
    public func embed(_ tokens: [Int32]) -> [Float] {
        let h = config.hiddenSize
        var out = [Float](repeating: 0, count: tokens.count * h)
        embedding.withUnsafeBufferPointer { e in
            out.withUnsafeMutableBufferPointer { o in
                for (t, id) in tokens.enumerated() {
                    precondition(id >= 0 && Int(id) < config.vocabSize, "token id \(id) outside 0..<\(config.vocabSize)")
                    (o.baseAddress! + t * h).update(from: e.baseAddress! + Int(id) * h, count: h)
                }
            }
        }
        return out
    }

    /// Applies decoder layer `i` in place to `hidden` [seqLen · hidden] (positions 0..<seqLen,
    /// causal). Linear inputs go through `inputObserver`.
    public func forwardBlock(_ i: Int, hidden: inout [Float], seqLen: Int) {
        precondition(i >= 0 && i < blocks.count, "block index \(i) outside 0..<\(blocks.count)")
        precondition(hidden.count == seqLen * config.hiddenSize, "hidden must hold seqLen×hidden values")
        if seqLen == 0 { return }
        let ws = workspaceFor(seqLen)
        let rope = ropeFor(seqLen)
        hidden.withUnsafeMutableBufferPointer { hp in
            runBlock(blocks[i], hidden: hp.baseAddress!, seqLen: seqLen, ws: ws, rope: rope)
        }
    }

    /// Runs decoder layer `i` on `hidden` only as far as needed for `inputObserver` to see the
    /// inputs of all seven linears: the down projection's product and its residual add are
    /// skipped, so `hidden` is left half-updated (attention residual only). For calibration
    /// passes that collect linear inputs; the observed values equal `forwardBlock`'s.
    public func observeBlock(_ i: Int, hidden: inout [Float], seqLen: Int) {
        precondition(i >= 0 && i < blocks.count, "block index \(i) outside 0..<\(blocks.count)")
        precondition(hidden.count == seqLen * config.hiddenSize, "hidden must hold seqLen×hidden values")
        if seqLen == 0 { return }
        let ws = workspaceFor(seqLen)
        let rope = ropeFor(seqLen)
        hidden.withUnsafeMutableBufferPointer { hp in
            runBlock(blocks[i], hidden: hp.baseAddress!, seqLen: seqLen, ws: ws, rope: rope, stopBeforeDown: true)
        }
    }

    /// Shows `inputObserver` the inputs of decoder layer `i`'s seven linears at the token
    /// positions `rows` (increasing, each < seqLen) of every sequence in `hidden` ([seqLen ·
    /// hidden] each), compacted: every call sees hidden.count · rows.count rows, sequence by
    /// sequence, each bitwise `observeBlock`'s row at that position. Only what those rows need
    /// is computed: the keys and values of every position (RMSNorm, k/v products), then q, the
    /// attention, o, the residual, RMSNorm, gate/up and silu(gate)·up of the chosen rows only
    /// (head dims that are not multiples of 16: q and the attention of every position). Requires
    /// seqLen > 8 and hidden.count · rows.count > 8 (every product then takes the same GEMM path
    /// as in `observeBlock`), and the block's linears unpacked (fp32 products, as the observer
    /// forces in `observeBlock`) with no stochastic activation rounding (its random bits follow
    /// the row index); `hidden` is not changed.
    public func observeBlockRows(_ i: Int, hidden: [[Float]], seqLen T: Int, rows: [Int]) {
        precondition(i >= 0 && i < blocks.count, "block index \(i) outside 0..<\(blocks.count)")
        for h in hidden { precondition(h.count == T * config.hiddenSize, "hidden must hold seqLen×hidden values") }
        precondition(zip(rows, rows.dropFirst()).allSatisfy { $0 < $1 } && (rows.first ?? 0) >= 0 && (rows.last ?? 0) < T,
                     "rows must be increasing positions in 0..<seqLen")
        precondition(T > 8 && hidden.count * rows.count > 8, "observeBlockRows needs seqLen > 8 and more than 8 rows")
        let b = blocks[i]
        precondition(b.linears.allSatisfy { l in
            l.packed == nil && { if case .stochastic = l.actQuant?.rounding { return false }; return true }()
        }, "observeBlockRows needs unpacked linears without stochastic activation rounding")
        guard let obs = inputObserver else { return }
        let h = config.hiddenSize, hd = config.headDim, qd = config.numHeads * hd, f = config.intermediateSize
        let P = rows.count, M = hidden.count * P
        let fast = hd % 16 == 0
        let ws = workspaceFor(T)
        let rope = ropeFor(T)
        let th = threads
        var res = [Float](repeating: 0, count: M * h)     // hidden at the rows, later + o(att)
        for (s, hs) in hidden.enumerated() {
            for (p, r) in rows.enumerated() { res.replaceSubrange(((s * P + p) * h)..<((s * P + p + 1) * h), with: hs[(r * h)..<((r + 1) * h)]) }
        }
        var xn = [Float](repeating: 0, count: M * h)      // RMSNorm(res): q/k/v's input at the rows
        var att = [Float](repeating: 0, count: M * qd)    // attention output at the rows: o's input
        var qh = [Float](repeating: 0, count: fast ? M * qd : 0)   // RoPE'd queries, [head][M][hd]
        let positions = (0..<M).map { rows[$0 % P] }
        res.withUnsafeBufferPointer { rp in xn.withUnsafeMutableBufferPointer { xp in
            normInto(xp.baseAddress!, rp.baseAddress!, b.inputNorm, M)
            for l in [b.qProj, b.kProj, b.vProj] { l.observe(xp.baseAddress!, rows: M, observer: obs, threads: th) }
            if fast {
                att.withUnsafeMutableBufferPointer { q in     // q's product, before it becomes o's input
                    b.qProj.forward(xp.baseAddress!, rows: M, into: q.baseAddress!, threads: th)
                    qh.withUnsafeMutableBufferPointer { ropeQueries(q.baseAddress!, rows: M, positions: positions, into: $0.baseAddress!, rope: rope) }
                }
            }
        } }
        for (s, hs) in hidden.enumerated() {
            hs.withUnsafeBufferPointer { normInto(ws.xn, $0.baseAddress!, b.inputNorm, T) }
            if fast {
                Linear.forward([b.kProj, b.vProj], ws.xn, rows: T, into: [ws.k, ws.v], threads: th,
                               shareInput: shareActivationQuantization)
                ropeKeys(ws: ws, rope: rope, seqLen: T)
                Self.layoutKeys(config: config, threads: th, ws: ws, seqLen: T)
                qh.withUnsafeBufferPointer { q in att.withUnsafeMutableBufferPointer { o in
                    Self.attention(config: config, threads: th, ws: ws, seqLen: T, queries: q.baseAddress! + s * P * hd,
                                   headStride: M * hd, rows: rows, into: o.baseAddress! + s * P * qd)
                } }
            } else {
                attentionCore(b, ws: ws, rope: rope, seqLen: T, observer: nil)
                for (p, r) in rows.enumerated() {
                    att.withUnsafeMutableBufferPointer { ($0.baseAddress! + (s * P + p) * qd).update(from: ws.attn + r * qd, count: qd) }
                }
            }
        }
        var gate = [Float](repeating: 0, count: M * f), up = [Float](repeating: 0, count: M * f)
        res.withUnsafeMutableBufferPointer { rp in
            xn.withUnsafeMutableBufferPointer { xp in
                att.withUnsafeBufferPointer { ap in
                    b.oProj.forward(ap.baseAddress!, rows: M, into: xp.baseAddress!, observer: obs, threads: th)
                }
                addInPlace(rp.baseAddress!, xp.baseAddress!, count: M * h)
                normInto(xp.baseAddress!, rp.baseAddress!, b.postAttentionNorm, M)
            }
        }
        xn.withUnsafeBufferPointer { xp in gate.withUnsafeMutableBufferPointer { gp in up.withUnsafeMutableBufferPointer { upp in
            mlpCore(b, x: xp.baseAddress!, rows: M, gate: gp.baseAddress!, up: upp.baseAddress!, observer: obs)
            b.downProj.observe(gp.baseAddress!, rows: M, observer: obs, threads: th)
        } } }
    }

    /// Applies decoder layer `i` to several sequences (`hidden[s]`: [seqLen · hidden] each) in
    /// four sweeps, one per input point of the layer's linears, for true-sequential calibration:
    /// in sweep p every sequence's input at point p is shown to `inputObserver` (once per linear
    /// reading it, as `observeBlock` shows it; nothing else is observed), then `after(p)` runs,
    /// before any linear reading at p has multiplied. `after` may change the weights and
    /// activation formats of the linears reading at p or later (q/k/v at `.attentionInput`, o at
    /// `.attentionOutput`, gate/up at `.mlpInput`, down at `.mlpActivation`): later sweeps use
    /// the changed layers. On return `hidden[s]` is exactly what `forwardBlock` gives with the
    /// final layers. Memory: one [seqLen · heads·hd] buffer per sequence (the attention output, which
    /// is hidden-size wide in Llama/Mistral/Qwen2 shapes) from sweep 2 to the end of sweep 3 (freed
    /// before `after(.mlpInput)`); silu(gate)·up (intermediate-size wide) is kept from sweep 4 for
    /// down's product only while all sequences' copies fit `stagedKeepBytes`, otherwise computed
    /// twice, in sweep 4 for the observer and after it for down's product (gate/up do not change
    /// between, so both ways give the same bits).
    public func forwardBlockStaged(_ i: Int, hidden: inout [[Float]], seqLen T: Int,
                                   after: (BlockInputPoint) throws -> Void) rethrows {
        precondition(i >= 0 && i < blocks.count, "block index \(i) outside 0..<\(blocks.count)")
        for h in hidden { precondition(h.count == T * config.hiddenSize, "hidden must hold seqLen×hidden values") }
        if T == 0 || hidden.isEmpty {
            for p in BlockInputPoint.allCases { try after(p) }
            return
        }
        let b = blocks[i]
        let ws = workspaceFor(T)
        let rope = ropeFor(T)
        let h = config.hiddenSize, qd = config.numHeads * config.headDim
        let th = threads, obs = inputObserver
        let need = T * qd
        var stash = [[Float]]()     // filled in sweep 2 (uninitialized, then copied: no zero fill)
        stash.reserveCapacity(hidden.count)
        // 1: q/k/v read RMSNorm(hidden)
        for s in hidden.indices {
            hidden[s].withUnsafeBufferPointer { normInto(ws.xn, $0.baseAddress!, b.inputNorm, T) }
            if let o = obs { for l in [b.qProj, b.kProj, b.vProj] { l.observe(ws.xn, rows: T, observer: o, threads: th) } }
        }
        try after(.attentionInput)
        // 2: o reads the attention output (kept per sequence)
        for s in hidden.indices {
            hidden[s].withUnsafeBufferPointer { normInto(ws.xn, $0.baseAddress!, b.inputNorm, T) }
            attentionCore(b, ws: ws, rope: rope, seqLen: T, observer: nil)
            stash.append([Float](unsafeUninitializedCapacity: need) { buf, n in
                buf.baseAddress!.update(from: ws.attn, count: need); n = need
            })
            if let o = obs { stash[s].withUnsafeBufferPointer { b.oProj.observe($0.baseAddress!, rows: T, observer: o, threads: th) } }
        }
        try after(.attentionOutput)
        // 3: residual; gate/up read RMSNorm(hidden)
        for s in hidden.indices {
            stash[s].withUnsafeBufferPointer { b.oProj.forward($0.baseAddress!, rows: T, into: ws.out, threads: th) }
            hidden[s].withUnsafeMutableBufferPointer { hp in
                addInPlace(hp.baseAddress!, ws.out, count: T * h)
                normInto(ws.xn, hp.baseAddress!, b.postAttentionNorm, T)
            }
            if let o = obs { for l in [b.gateProj, b.upProj] { l.observe(ws.xn, rows: T, observer: o, threads: th) } }
        }
        // the attention outputs are not needed any more: free them before the callbacks of the MLP
        // points (GPTQ's largest solves, K = intermediate size, run there)
        stash = []
        try after(.mlpInput)
        // 4: down reads silu(gate) · up — kept for 5 when every sequence's copy fits the budget
        let f = config.intermediateSize
        let keep = hidden.count.multipliedReportingOverflow(by: T * f * MemoryLayout<Float>.size).partialValue
            <= stagedKeepBytes
        var acts: [[Float]] = []
        for s in hidden.indices {
            hidden[s].withUnsafeBufferPointer { normInto(ws.xn, $0.baseAddress!, b.postAttentionNorm, T) }
            mlpCore(b, ws: ws, seqLen: T, observer: nil)
            if keep { acts.append(Array(UnsafeBufferPointer(start: ws.gate, count: T * f))) }
            if let o = obs { b.downProj.observe(ws.gate, rows: T, observer: o, threads: th) }
        }
        try after(.mlpActivation)
        // 5: down on silu(gate) · up — the kept copy, or recomputed (bitwise the same: gate/up and
        //    their inputs are unchanged since 4), then the residual
        for s in hidden.indices {
            if keep {
                acts[s].withUnsafeBufferPointer { b.downProj.forward($0.baseAddress!, rows: T, into: ws.out, threads: th) }
                acts[s] = []
            } else {
                hidden[s].withUnsafeBufferPointer { normInto(ws.xn, $0.baseAddress!, b.postAttentionNorm, T) }
                mlpCore(b, ws: ws, seqLen: T, observer: nil)
                b.downProj.forward(ws.gate, rows: T, into: ws.out, threads: th)
            }
            hidden[s].withUnsafeMutableBufferPointer { addInPlace($0.baseAddress!, ws.out, count: T * h) }
        }
    }

    /// Hidden states after all decoder layers (before the final norm): [T · hidden].
    public func hiddenStates(_ tokens: [Int32]) -> [Float] {
        var h = embed(tokens)
        for i in 0..<activeBlockCount { forwardBlock(i, hidden: &h, seqLen: tokens.count) }
        return h
    }

    /// Logits [seqLen · vocab] from hidden states after the last layer (applies the final
    /// norm and the LM head). Memory: seqLen·vocab floats — for long windows prefer `tokenNLL`.
    public func logits(hidden: [Float], seqLen: Int) -> [Float] {
        precondition(hidden.count == seqLen * config.hiddenSize)
        let h = config.hiddenSize
        var normed = [Float](repeating: 0, count: seqLen * h)
        var out = [Float](repeating: 0, count: seqLen * config.vocabSize)
        hidden.withUnsafeBufferPointer { hp in
            finalNorm.withUnsafeBufferPointer { w in
                normed.withUnsafeMutableBufferPointer { np in
                    rmsNorm(hp.baseAddress!, weight: w.baseAddress!, into: np.baseAddress!, rows: seqLen, n: h,
                            eps: config.rmsNormEps, threads: threads)
                    out.withUnsafeMutableBufferPointer { op in
                        lmHead.forward(np.baseAddress!, rows: seqLen, into: op.baseAddress!,
                                       observer: inputObserver, threads: threads)
                    }
                }
            }
        }
        return out
    }

    /// Logits [T · vocab] for `tokens` (whole window, causal).
    public func logits(_ tokens: [Int32]) -> [Float] {
        logits(hidden: hiddenStates(tokens), seqLen: tokens.count)
    }

    /// Rows of the LM head computed at once in `tokenNLL` (bounds logits memory to
    /// nllChunkRows · vocab floats: 512 · 49152 · 4 B = 100 MB for SmolLM2; larger chunks
    /// re-pack the LM head weight less often).
    public var nllChunkRows = 512

    /// Next-token negative log-likelihoods from the last layer's hidden states [T · hidden]:
    /// element t (0 ≤ t < T-1) is -log p(tokens[t+1] | tokens[0...t]) (natural log), computed
    /// with a stable log-softmax in chunks of rows. The LM head sees rows 0..<T-1 only.
    public func tokenNLL(hidden: [Float], tokens: [Int32]) -> [Double] {
        scoreNextTokens(hidden: hidden, tokens: tokens, reference: nil).nll
    }

    /// The next-token distributions of one sequence, kept as the reference of `tokenNLLAndKL`:
    /// for rows t < T-1, the logits ([rows · vocab] row-major) and the probabilities
    /// p = exp(logit − logZ) (same layout). Memory: 8 · rows · vocab bytes.
    public struct NextTokenReference: Sendable {
        public let rows: Int, vocab: Int
        public var logits: [Float]
        public var probs: [Float]
    }

    /// The reference distributions of `tokens` from the last layer's hidden states [T · hidden].
    public func nextTokenReference(hidden: [Float], seqLen T: Int) -> NextTokenReference {
        let V = config.vocabSize, rows = max(0, T - 1)
        precondition(hidden.count == T * config.hiddenSize)
        var logits = [Float](repeating: 0, count: rows * V), probs = logits
        logits.withUnsafeMutableBufferPointer { lgp in
        probs.withUnsafeMutableBufferPointer { pp in
            let lg = UncheckedSendable(lgp.baseAddress!), pr = UncheckedSendable(pp.baseAddress!)
            forEachLogitChunk(hidden: hidden, rows: rows) { r0, c, lp in
                let lps = UncheckedSendable(lp)
                Parallel.forRanges(c, threads: threads) { range in
                    for r in range {
                        let row = lps.value + r * V, t = r0 + r
                        let lz = logSumExp(row, V)
                        (lg.value + t * V).update(from: row, count: V)
                        let pRow = pr.value + t * V
                        for v in 0..<V { pRow[v] = Float(Foundation.exp(Double(row[v]) - lz)) }
                    }
                }
            }
        }}
        return NextTokenReference(rows: rows, vocab: V, logits: logits, probs: probs)
    }

    /// `tokenNLL` (bit-identical) and, per row t < T-1, KL(reference ‖ this model) =
    /// Σ_v p_v (log p_v − log q_v) in nats, q this model's next-token distribution and p the
    /// reference's (`nextTokenReference` of the same tokens, usually the unquantized model).
    public func tokenNLLAndKL(hidden: [Float], tokens: [Int32], reference: NextTokenReference) -> (nll: [Double], kl: [Double]) {
        precondition(reference.rows == max(0, tokens.count - 1) && reference.vocab == config.vocabSize,
                     "reference distributions must be of the same tokens and vocabulary")
        let r = scoreNextTokens(hidden: hidden, tokens: tokens, reference: reference)
        return (r.nll, r.kl)
    }

    /// Runs the final norm and the LM head over rows 0..<rows of `hidden` in chunks of
    /// `nllChunkRows`; `body(firstRow, rowCount, logits [rowCount · vocab])` sees each chunk.
    private func forEachLogitChunk(hidden: [Float], rows: Int, _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        let h = config.hiddenSize, V = config.vocabSize
        if rows == 0 { return }
        let chunk = max(1, min(nllChunkRows, rows))
        // Scratch kept between calls (the logits chunk is ~100 MB for SmolLM2: re-mapping it for
        // every window costs page faults).
        if nllNormed.count < chunk * h { nllNormed = [Float](repeating: 0, count: chunk * h) }
        if nllLogits.count < chunk * V { nllLogits = [Float](repeating: 0, count: chunk * V) }
        var normed = nllNormed, logit = nllLogits
        nllNormed = []; nllLogits = []
        defer { nllNormed = normed; nllLogits = logit }
        hidden.withUnsafeBufferPointer { hp in
        finalNorm.withUnsafeBufferPointer { w in
        normed.withUnsafeMutableBufferPointer { np in
        logit.withUnsafeMutableBufferPointer { lp in
            var r0 = 0
            while r0 < rows {
                let c = min(chunk, rows - r0)
                rmsNorm(hp.baseAddress! + r0 * h, weight: w.baseAddress!, into: np.baseAddress!, rows: c, n: h,
                        eps: config.rmsNormEps, threads: threads)
                lmHead.forward(np.baseAddress!, rows: c, into: lp.baseAddress!, observer: inputObserver,
                               threads: threads)
                body(r0, c, lp.baseAddress!)
                r0 += c
            }
        }}}}
    }

    private func scoreNextTokens(hidden: [Float], tokens: [Int32], reference: NextTokenReference?) -> (nll: [Double], kl: [Double]) {
        let T = tokens.count, V = config.vocabSize
        precondition(hidden.count == T * config.hiddenSize)
        if T < 2 { return ([], []) }
        let rows = T - 1
        var nll = [Double](repeating: 0, count: rows)
        var kl = [Double](repeating: 0, count: reference == nil ? 0 : rows)
        nll.withUnsafeMutableBufferPointer { outp in
        kl.withUnsafeMutableBufferPointer { klp in
        tokens.withUnsafeBufferPointer { tp in
            let ops = UncheckedSendable(outp.baseAddress!), kls = UncheckedSendable(klp.baseAddress)
            let tps = UncheckedSendable(tp.baseAddress!)
            forEachLogitChunk(hidden: hidden, rows: rows) { base, c, lp in
                let lps = UncheckedSendable(lp)
                Parallel.forRanges(c, threads: threads) { range in
                    for r in range {
                        let row = lps.value + r * V
                        let target = Int(tps.value[base + r + 1])
                        ops.value[base + r] = logSumExp(row, V) - Double(row[target])
                        if let ref = reference, let k = kls.value {
                            let t = base + r
                            k[t] = ref.probs.withUnsafeBufferPointer { pp in
                                ref.logits.withUnsafeBufferPointer { rl in
                                    klRow(pp.baseAddress! + t * V, rl.baseAddress! + t * V, row, V)
                                }
                            }
                        }
                    }
                }
            }
        }}}
        return (nll, kl)
    }

    // MARK: internals

    private func ropeFor(_ seqLen: Int) -> RopeTables {
        if let r = ropeCache, r.positions >= seqLen { return r }
        let r = RopeTables(headDim: config.headDim, positions: max(seqLen, 1),
                           inverseFrequencies: config.ropeScaling.inverseFrequencies(headDim: config.headDim, theta: config.ropeTheta))
        ropeCache = r
        return r
    }

    private func workspaceFor(_ seqLen: Int) -> Workspace {
        if let w = workspace, w.capacity >= seqLen,
           w.workers >= max(1, threads ?? Parallel.defaultThreads) { return w }
        workspace = nil
        let w = Workspace(config: config, capacity: seqLen, workers: max(1, threads ?? Parallel.defaultThreads),
                          rowBlock: attentionRowBlock)
        workspace = w
        return w
    }

    /// Frees the scratch buffers kept between forward calls (they are re-created on demand).
    public func releaseScratch() { workspace = nil; nllNormed = []; nllLogits = [] }

    private func runBlock(_ b: LlamaBlock, hidden: UnsafeMutablePointer<Float>, seqLen T: Int,
                          ws: Workspace, rope: RopeTables, stopBeforeDown: Bool = false) {
        let h = config.hiddenSize
        let obs = inputObserver
        let th = threads

        // Attention: xn = RMSNorm(hidden); q, k, v projections, RoPE, attention; o_proj and residual.
        normInto(ws.xn, hidden, b.inputNorm, T)
        attentionCore(b, ws: ws, rope: rope, seqLen: T, observer: obs)
        b.oProj.forward(ws.attn, rows: T, into: ws.out, observer: obs, threads: th)
        addInPlace(hidden, ws.out, count: T * h)

        // MLP: xn = RMSNorm(hidden); down(silu(gate(xn)) * up(xn)).
        normInto(ws.xn, hidden, b.postAttentionNorm, T)
        mlpCore(b, ws: ws, seqLen: T, observer: obs)
        if stopBeforeDown {
            if let o = obs { b.downProj.observe(ws.gate, rows: T, observer: o, threads: th) }
            return
        }
        b.downProj.forward(ws.gate, rows: T, into: ws.out, observer: obs, threads: th)
        addInPlace(hidden, ws.out, count: T * h)
    }

    /// dst[T, hidden] = RMSNorm(src) with `weight`.
    private func normInto(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ weight: [Float], _ T: Int) {
        weight.withUnsafeBufferPointer { w in
            rmsNorm(src, weight: w.baseAddress!, into: dst, rows: T, n: config.hiddenSize, eps: config.rmsNormEps,
                    threads: threads)
        }
    }

    /// ws.attn [T, heads·hd] = causal attention of the q/k/v projections of ws.xn [T, hidden].
    private func attentionCore(_ b: LlamaBlock, ws: Workspace, rope: RopeTables, seqLen T: Int,
                               observer obs: LinearInputObserver?) {
        Linear.forward([b.qProj, b.kProj, b.vProj], ws.xn, rows: T, into: [ws.q, ws.k, ws.v], observer: obs, threads: threads,
                       shareInput: shareActivationQuantization)
        ropeQueries(ws.q, rows: T, positions: nil, into: ws.qh, rope: rope)
        ropeKeys(ws: ws, rope: rope, seqLen: T)
        Self.layoutKeys(config: config, threads: threads, ws: ws, seqLen: T)
        Self.attention(config: config, threads: threads, ws: ws, seqLen: T)
    }

    /// Query rows q [rows, heads·hd] to head-major dst [head][rows][hd], RoPE'd at each row's
    /// position (`positions[r]`, or r) and pre-scaled by 1/sqrt(hd).
    private func ropeQueries(_ q: UnsafePointer<Float>, rows: Int, positions: [Int]?, into dst: UnsafeMutablePointer<Float>,
                             rope: RopeTables) {
        let hd = config.headDim, nh = config.numHeads, qd = nh * hd
        let scale = Float(1.0 / Double(hd).squareRoot())
        let pairing = config.ropeLayout
        let Q = UncheckedSendable(q), D = UncheckedSendable(dst), PS = UncheckedSendable(positions)
        rope.cos.withUnsafeBufferPointer { cb in
        rope.sin.withUnsafeBufferPointer { sb in
            let cbs = UncheckedSendable(cb.baseAddress!), sbs = UncheckedSendable(sb.baseAddress!)
            Parallel.forRanges(rows, threads: threads, minChunk: 16) { range in
                for t in range {
                    let pos = PS.value?[t] ?? t
                    for hh in 0..<nh {
                        let d = D.value + (hh * rows + t) * hd
                        d.update(from: Q.value + t * qd + hh * hd, count: hd)
                        rope.rotate(d, pos: pos, layout: pairing, cosBase: cbs.value, sinBase: sbs.value)
                        for e in 0..<hd { d[e] *= scale }
                    }
                }
            }
        }}
    }

    /// RoPE on ws.k [T][kvHeads·hd] in place; ws.v to head-major ws.vh [kvHead][T][hd].
    private func ropeKeys(ws: Workspace, rope: RopeTables, seqLen T: Int) {
        let hd = config.headDim, nkv = config.numKVHeads, kvd = nkv * hd
        let pairing = config.ropeLayout
        let S = UncheckedSendable(ws)
        rope.cos.withUnsafeBufferPointer { cb in
        rope.sin.withUnsafeBufferPointer { sb in
            let cbs = UncheckedSendable(cb.baseAddress!), sbs = UncheckedSendable(sb.baseAddress!)
            Parallel.forRanges(T, threads: threads, minChunk: 16) { range in
                let ws = S.value
                for t in range {
                    for kh in 0..<nkv {
                        rope.rotate(ws.k + t * kvd + kh * hd, pos: t, layout: pairing,
                                    cosBase: cbs.value, sinBase: sbs.value)
                        (ws.vh + (kh * T + t) * hd).update(from: ws.v + t * kvd + kh * hd, count: hd)
                    }
                }
            }
        }}
    }

    /// ws.kh from ws.k ([T][kvHeads·hd], RoPE applied), per KV head: 32-key panels of Kᵀ ([hd][32],
    /// zero-padded to `Workspace.paddedKeys(T)` keys) for the tiled kernels when hd % 16 == 0, else
    /// row-major [T][hd] for the GEMM fallback of `attention`.
    static func layoutKeys(config: LlamaConfig, threads th: Int?, ws: Workspace, seqLen T: Int) {
        let hd = config.headDim, nkv = config.numKVHeads, kvd = nkv * hd
        let S = UncheckedSendable(ws)
        let fast = hd % 16 == 0
        let ldk = Workspace.paddedKeys(T)
        if fast {
            // Panels of 32 keys: key t, dim e of KV head kh at kh·hd·ldk + (t/32)·hd·32 + e·32 + t%32.
            let panels = ldk / 32
            Parallel.forRanges(nkv * panels, threads: th) { range in
                let ws = S.value
                for idx in range {
                    let kh = idx / panels, p = idx % panels
                    let dst = ws.kh + kh * hd * ldk + p * hd * 32
                    for c in 0..<32 {
                        let t = p * 32 + c
                        if t < T {
                            let src = ws.k + t * kvd + kh * hd
                            for e in 0..<hd { dst[e * 32 + c] = src[e] }
                        } else {
                            for e in 0..<hd { dst[e * 32 + c] = 0 }
                        }
                    }
                }
            }
        } else {
            Parallel.forRanges(nkv * hd, threads: th) { range in
                let ws = S.value
                for idx in range {
                    let kh = idx / hd, e = idx % hd
                    for t in 0..<T { ws.kh[(kh * T + t) * hd + e] = ws.k[t * kvd + kh * hd + e] }
                }
            }
        }
    }

    /// ws.gate [T, ffn] = silu(gate(ws.xn)) · up(ws.xn).
    private func mlpCore(_ b: LlamaBlock, ws: Workspace, seqLen T: Int, observer obs: LinearInputObserver?) {
        mlpCore(b, x: ws.xn, rows: T, gate: ws.gate, up: ws.up, observer: obs)
    }

    /// gate [rows, ffn] = silu(gate(x)) · up(x) for x [rows, hidden]; up [rows, ffn] is scratch.
    private func mlpCore(_ b: LlamaBlock, x: UnsafePointer<Float>, rows: Int, gate: UnsafeMutablePointer<Float>,
                         up: UnsafeMutablePointer<Float>, observer obs: LinearInputObserver?) {
        let f = config.intermediateSize
        Linear.forward([b.gateProj, b.upProj], x, rows: rows, into: [gate, up], observer: obs, threads: threads,
                       shareInput: shareActivationQuantization)
        let G = UncheckedSendable(gate), U = UncheckedSendable(UnsafePointer(up))
        Parallel.forRanges(rows, threads: threads, minChunk: 16) { range in
            swiGLU(G.value + range.lowerBound * f, U.value + range.lowerBound * f, n: range.count * f)
        }
    }

    /// Causal grouped-query attention from ws.qh/kh/vh into ws.attn [T, heads·hd].
    /// Work items are (head, block of query rows), handed out dynamically to one worker per
    /// thread (each with its own score scratch); every item writes only its own rows of its
    /// head's columns, so the result does not depend on the schedule.
    static func attention(config: LlamaConfig, threads: Int?, ws: Workspace, seqLen T: Int) {
        let hd = config.headDim, nh = config.numHeads
        let group = nh / config.numKVHeads
        let qd = nh * hd
        let rb = ws.rowBlock
        let ldk = Workspace.paddedKeys(T)
        let fast = hd % 16 == 0
        let nBlocks = (T + rb - 1) / rb
        // Largest blocks first (cost grows with the row index) for better balance.
        var items: [(head: Int, block: Int)] = []
        for blk in stride(from: nBlocks - 1, through: 0, by: -1) { for hh in 0..<nh { items.append((hh, blk)) } }
        attentionWorkers(ws: ws, threads: threads, seqLen: T, items: items.count) { idx, scores, lds in
            let (hh, blk) = items[idx]
            let kv = hh / group
            let r0 = blk * rb, r1 = min(T, r0 + rb), m = r1 - r0
            let q = ws.qh + (hh * T + r0) * hd
            let v = ws.vh + kv * T * hd
            let out = ws.attn + r0 * qd + hh * hd
            if fast {
                causalAttentionBlock(q: q, kt: ws.kh + kv * hd * ldk, v: v, hd: hd, r0: r0, m: m,
                                     scores: scores, lds: lds, o: out, ldo: qd)
                return
            }
            // Fallback for head dims that are not multiples of 16: GEMMs over the block.
            let k = ws.kh + kv * T * hd
            Gemm.xwt(m: m, n: r1, k: hd, x: q, w: k, y: scores, threads: 1)
            for i in 0..<m {
                let row = scores + i * r1
                let valid = r0 + i + 1  // keys 0...r0+i
                let mx = rowMax(row, valid)
                let sum = expShiftSum(row, valid, shift: mx)
                scaleRow(row, valid, by: 1 / sum)
                for j in valid..<r1 { row[j] = 0 }
            }
            Gemm.xb(m: m, n: hd, k: r1, x: scores, b: v, y: out, threads: 1, ldy: qd)
        }
    }

    /// Runs `body(item, scores, lds)` for items 0..<count, handed out dynamically to one worker
    /// per thread (at most `ws.workers`), each with its own score scratch in ws.scores (score
    /// rows lds = padded keys + 16 apart: not a multiple of 4 KB, which avoids cache-set conflicts).
    /// Items must write disjoint memory; the result does not depend on the schedule.
    static func attentionWorkers(ws: Workspace, threads: Int?, seqLen T: Int, items count: Int,
                                 _ body: (Int, UnsafeMutablePointer<Float>, Int) -> Void) {
        let queue = WorkQueue(count: count)
        let S = UncheckedSendable(ws)
        let workers = min(ws.workers, max(1, threads ?? Parallel.defaultThreads), count)
        let lds = Workspace.paddedKeys(T) + 16
        Parallel.forEach(workers, threads: workers) { wkr in
            let ws = S.value
            let scores = ws.scores + wkr * (ws.rowBlock * ws.scoreStride + ws.rowBlock)
            while let idx = queue.next() { body(idx, scores, lds) }
        }
    }

    /// Attention of single query rows (head dims that are multiples of 16) over the keys and
    /// values in ws.kh/ws.vh: query p (position rows[p]) of head hh at queries + hh·headStride +
    /// p·hd (RoPE'd and scaled), its output at into + p·heads·hd + hh·hd. The same kernel as
    /// `attention` on one row at a time, hence bitwise its rows. Work items are (row, head),
    /// latest rows (the most keys) first, handed out dynamically.
    static func attention(config: LlamaConfig, threads: Int?, ws: Workspace, seqLen T: Int, queries: UnsafePointer<Float>,
                          headStride: Int, rows: [Int], into out: UnsafeMutablePointer<Float>) {
        let hd = config.headDim, nh = config.numHeads
        precondition(hd % 16 == 0, "attention(queries:) needs a head dim that is a multiple of 16")
        let group = nh / config.numKVHeads
        let qd = nh * hd
        let ldk = Workspace.paddedKeys(T)
        var items: [(head: Int, row: Int)] = []
        for p in rows.indices.reversed() { for hh in 0..<nh { items.append((hh, p)) } }
        attentionWorkers(ws: ws, threads: threads, seqLen: T, items: items.count) { idx, scores, lds in
            let (hh, p) = items[idx]
            let kv = hh / group
            causalAttentionBlock(q: queries + hh * headStride + p * hd, kt: ws.kh + kv * hd * ldk, v: ws.vh + kv * T * hd,
                                 hd: hd, r0: rows[p], m: 1, scores: scores, lds: lds, o: out + p * qd + hh * hd, ldo: qd)
        }
    }

    private func addInPlace(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
        let A = UncheckedSendable(a), B = UncheckedSendable(b)
        Parallel.forRanges(count, threads: threads, minChunk: 16384) { r in
            for i in r { A.value[i] += B.value[i] }
        }
    }
}

/// Scratch buffers for one window of up to `capacity` positions.
final class Workspace {
    let rowBlock: Int
    let capacity: Int
    let workers: Int
    let xn, q, k, v, qh, kh, vh, attn, out, gate, up: UnsafeMutablePointer<Float>
    let scores: UnsafeMutablePointer<Float>
    private var all: [UnsafeMutablePointer<Float>] = []

    /// Keys rounded up to a multiple of 32 (the score tile width): the row stride of Kᵀ.
    static func paddedKeys(_ t: Int) -> Int { (t + 31) & ~31 }
    /// Per-row room in the score scratch (padded keys + 16).
    var scoreStride: Int { Workspace.paddedKeys(capacity) + 16 }

    init(config c: LlamaConfig, capacity T: Int, workers: Int, rowBlock: Int) {
        self.capacity = T
        self.rowBlock = rowBlock
        self.workers = workers
        let qd = c.numHeads * c.headDim, kvd = c.numKVHeads * c.headDim
        var all: [UnsafeMutablePointer<Float>] = []
        func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            all.append(p)
            return p
        }
        xn = alloc(T * c.hiddenSize); out = alloc(T * c.hiddenSize)
        q = alloc(T * qd); qh = alloc(T * qd); attn = alloc(T * qd)
        k = alloc(T * kvd); v = alloc(T * kvd); kh = alloc(Workspace.paddedKeys(T) * kvd); vh = alloc(T * kvd)
        gate = alloc(T * c.intermediateSize); up = alloc(T * c.intermediateSize)
        scores = alloc(workers * (rowBlock * (Workspace.paddedKeys(T) + 16) + rowBlock))
        self.all = all
    }

    deinit { for p in all { p.deallocate() } }
}
