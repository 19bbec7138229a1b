import Foundation
import Support

/// Llama-family hyperparameters, from GGUF `llama.*` metadata or a Hugging Face `config.json`.
public struct LlamaHyperparameters: Equatable, Sendable {
    public var vocab: Int
    public var hidden: Int
    /// FFN (SwiGLU) width.
    public var intermediate: Int
    public var layers: Int
    /// Query heads.
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// RMSNorm epsilon.
    public var rmsEps: Double
    /// RoPE base frequency θ.
    public var ropeTheta: Double
    /// LM head shares the token embedding (no `lm_head.weight`).
    public var tiedEmbeddings: Bool
    /// Trained context length.
    public var contextLength: Int
    /// Which Hugging Face architecture the checkpoint declares (same maths; decides config defaults
    /// and the names written by `hfConfigJSON`).
    public var architecture: LlamaArchitecture
    /// RoPE frequency scaling (`rope_scaling` in config.json).
    public var ropeScaling: RopeScaling
    /// q/k/v projections have biases (`self_attn.{q,k,v}_proj.bias`): Qwen2, Llama with `attention_bias`.
    public var qkvBias: Bool
    /// o projection has a bias (`self_attn.o_proj.bias`): Llama with `attention_bias`.
    public var outputBias: Bool
    /// Sliding-window attention span when some layer uses it (Mistral `sliding_window`, Qwen2 with
    /// `use_sliding_window`), else nil. The runtime attends to the whole window, so evaluation and
    /// calibration sequences must not be longer than this (see `checkSequenceLength`).
    public var slidingWindow: Int?
    /// `bos_token_id` of config.json (nil when absent or null). mxq adds no BOS by itself.
    public var bosTokenID: Int?

    public init(vocab: Int, hidden: Int, intermediate: Int, layers: Int, heads: Int, kvHeads: Int,
                headDim: Int, rmsEps: Double, ropeTheta: Double, tiedEmbeddings: Bool, contextLength: Int,
                architecture: LlamaArchitecture = .llama, ropeScaling: RopeScaling = .none,
                qkvBias: Bool = false, outputBias: Bool = false, slidingWindow: Int? = nil, bosTokenID: Int? = nil) {
        self.vocab = vocab; self.hidden = hidden; self.intermediate = intermediate; self.layers = layers
        self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.rmsEps = rmsEps
        self.ropeTheta = ropeTheta; self.tiedEmbeddings = tiedEmbeddings; self.contextLength = contextLength
        self.architecture = architecture; self.ropeScaling = ropeScaling; self.qkvBias = qkvBias
        self.outputBias = outputBias; self.slidingWindow = slidingWindow; self.bosTokenID = bosTokenID
    }

    /// Throws when a sequence of `length` tokens (an evaluation window or a calibration sequence,
    /// named by `what`) is longer than the sliding attention window: full causal attention over it
    /// would not be the model's function. The error names the config field `sliding_window`.
    public func checkSequenceLength(_ length: Int, what: String, path: String) throws {
        if let w = slidingWindow, length > w {
            throw ModelIOError.badMetadata(path: path, key: "sliding_window",
                                           expected: "at least the \(what) of \(length) tokens (sliding-window attention is not implemented: sequences longer than the window are refused)",
                                           found: "\(w)")
        }
    }

    /// Every weight the model needs, by Hugging Face name, with its row-major shape
    /// (linear weights are [out, in]). `lm_head.weight` only when not tied.
    public func expectedTensors() -> [(name: String, shape: [Int])] {
        var t: [(String, [Int])] = [("model.embed_tokens.weight", [vocab, hidden])]
        let perLayer = layerTensors
        for i in 0..<layers {
            let p = "model.layers.\(i)."
            t += perLayer.map { (p + $0.suffix, $0.shape) }
        }
        t.append(("model.norm.weight", [hidden]))
        if !tiedEmbeddings { t.append(("lm_head.weight", [vocab, hidden])) }
        return t.map { (name: $0.0, shape: $0.1) }
    }

    /// The weights of one decoder layer: name after `model.layers.N.`, row-major shape.
    var layerTensors: [(suffix: String, shape: [Int])] {
        let q = heads * headDim, kv = kvHeads * headDim
        var t: [(String, [Int])] = [("input_layernorm.weight", [hidden]),
                ("self_attn.q_proj.weight", [q, hidden]),
                ("self_attn.k_proj.weight", [kv, hidden]),
                ("self_attn.v_proj.weight", [kv, hidden]),
                ("self_attn.o_proj.weight", [hidden, q]),
                ("post_attention_layernorm.weight", [hidden]),
                ("mlp.gate_proj.weight", [intermediate, hidden]),
                ("mlp.up_proj.weight", [intermediate, hidden]),
                ("mlp.down_proj.weight", [hidden, intermediate])]
        if qkvBias { t += [("self_attn.q_proj.bias", [q]), ("self_attn.k_proj.bias", [kv]), ("self_attn.v_proj.bias", [kv])] }
        if outputBias { t.append(("self_attn.o_proj.bias", [hidden])) }
        return t.map { (suffix: $0.0, shape: $0.1) }
    }

    /// How many weights `expectedTensors()` lists (computed, not enumerated).
    public var expectedTensorCount: Int {
        2 + (9 + (qkvBias ? 3 : 0) + (outputBias ? 1 : 0)) * layers + (tiedEmbeddings ? 0 : 1)
    }

    /// The row-major shape of weight `name` (Hugging Face name), or nil when the model has no
    /// such weight (unknown name, layer index >= `layers`, `lm_head` of a tied model).
    /// Parses the name; does not enumerate the layers.
    public func expectedShape(of name: String) -> [Int]? {
        switch name {
        case "model.embed_tokens.weight", "model.norm.weight":
            return name == "model.norm.weight" ? [hidden] : [vocab, hidden]
        case "lm_head.weight": return tiedEmbeddings ? nil : [vocab, hidden]
        default: break
        }
        let pre = "model.layers."
        guard name.hasPrefix(pre) else { return nil }
        let rest = name.dropFirst(pre.count).split(separator: ".", maxSplits: 1)
        guard rest.count == 2, let i = Int(rest[0]), i >= 0, i < layers, String(i) == rest[0] else { return nil }
        return layerTensors.first { $0.suffix == rest[1] }?.shape
    }

    /// Checks a checkpoint's list of weights (Hugging Face names, row-major shapes, the file
    /// each comes from) against this config before any data is read or converted: every name
    /// is a weight of this model, appears once, has the expected shape, and none is missing.
    /// The cost is proportional to the list, whatever `layers` says (a 1 KB file claiming
    /// 2^24 layers is rejected at once, without enumerating them). `folder` names the whole
    /// checkpoint in the "missing" error.
    public func checkTensorList(_ list: [(name: String, shape: [Int], file: String)], folder: String) throws {
        var seen: [String: String] = [:]
        for t in list {
            guard let shape = expectedShape(of: t.name) else {
                throw ModelIOError.malformed(path: t.file, detail: "unexpected tensor '\(t.name)' for a Llama model with this config")
            }
            if let other = seen[t.name] {
                throw ModelIOError.malformed(path: t.file, detail: "tensor '\(t.name)' appears twice (also in \(other))")
            }
            seen[t.name] = t.file
            if t.shape != shape { throw ModelIOError.shapeMismatch(path: t.file, tensor: t.name, found: t.shape, expected: shape) }
        }
        if seen.count == expectedTensorCount { return }
        // Some weight is missing: the first one in `expectedTensors()` order is found within
        // the first list.count + 1 names.
        if seen["model.embed_tokens.weight"] == nil { throw ModelIOError.missingTensor(path: folder, tensor: "model.embed_tokens.weight") }
        for i in 0..<layers {
            for (suffix, _) in layerTensors where seen["model.layers.\(i).\(suffix)"] == nil {
                throw ModelIOError.missingTensor(path: folder, tensor: "model.layers.\(i).\(suffix)")
            }
        }
        for n in ["model.norm.weight"] + (tiedEmbeddings ? [] : ["lm_head.weight"]) where seen[n] == nil {
            throw ModelIOError.missingTensor(path: folder, tensor: n)
        }
    }

    /// Checks internal consistency (positive sizes, heads divisible by KV heads, even head dim).
    public func validate(path: String) throws {
        func bad(_ k: String, _ e: String, _ v: Any) -> ModelIOError {
            .badMetadata(path: path, key: k, expected: e, found: "\(v)")
        }
        for (k, v) in [("vocab", vocab), ("hidden", hidden), ("intermediate", intermediate), ("layers", layers),
                       ("heads", heads), ("kvHeads", kvHeads), ("headDim", headDim)] where v <= 0 || v > 1 << 24 {
            throw bad(k, "a positive size", v)
        }
        if heads % kvHeads != 0 { throw bad("kvHeads", "a divisor of heads (\(heads))", kvHeads) }
        if headDim % 2 != 0 { throw bad("headDim", "an even number (RoPE rotates pairs)", headDim) }
        if !(rmsEps > 0 && rmsEps < 1) { throw bad("rmsEps", "a small positive number", rmsEps) }
        if !(ropeTheta > 1 && ropeTheta.isFinite) { throw bad("ropeTheta", "a finite number > 1", ropeTheta) }
        if contextLength <= 0 || contextLength > 1 << 24 { throw bad("contextLength", "a positive length up to 2^24", contextLength) }
        if let w = slidingWindow, w <= 0 { throw bad("sliding_window", "a positive number of tokens", w) }
        try ropeScaling.validate(path: path)
    }
}

/// The Hugging Face architectures mxq runs (one decoder: RMSNorm, RoPE, GQA attention, SwiGLU).
public enum LlamaArchitecture: String, Sendable, Hashable, CaseIterable {
    case llama, mistral, qwen2

    /// The `architectures` entry of config.json.
    public var hfClassName: String {
        switch self {
        case .llama: return "LlamaForCausalLM"
        case .mistral: return "MistralForCausalLM"
        case .qwen2: return "Qwen2ForCausalLM"
        }
    }
}

/// RoPE frequency scaling (`rope_scaling` of a Hugging Face config).
public enum RopeScaling: Sendable, Hashable {
    /// Plain RoPE: inverse frequency θ^(−2i/d).
    case none
    /// Position interpolation: every inverse frequency divided by `factor`.
    case linear(factor: Double)
    /// Llama 3.1: low frequencies (wavelength above original/lowFreqFactor) divided by `factor`,
    /// high ones (wavelength below original/highFreqFactor) unchanged, a linear blend between.
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalContext: Int)

    /// Inverse frequencies of the `headDim/2` rotation pairs, in Double (pair i rotates by
    /// position · result[i] radians).
    public func inverseFrequencies(headDim: Int, theta: Double) -> [Double] {
        let half = headDim / 2
        var f = (0..<half).map { Foundation.pow(theta, -Double(2 * $0) / Double(headDim)) }
        switch self {
        case .none: break
        case .linear(let factor):
            for i in 0..<half { f[i] /= factor }
        case let .llama3(factor, low, high, orig):
            let o = Double(orig)
            for i in 0..<half {
                let wavelen = 2 * Double.pi / f[i]
                if wavelen > o / low {
                    f[i] /= factor
                } else if wavelen >= o / high {
                    let smooth = (o / wavelen - low) / (high - low)
                    f[i] = (1 - smooth) * f[i] / factor + smooth * f[i]
                }
            }
        }
        return f
    }

    /// Checks the parameters are usable (finite, positive, high > low); errors name the field.
    public func validate(path: String) throws {
        func bad(_ k: String, _ e: String, _ v: Any) -> ModelIOError {
            .badMetadata(path: path, key: "rope_scaling." + k, expected: e, found: "\(v)")
        }
        switch self {
        case .none: break
        case .linear(let f):
            if !(f > 0 && f.isFinite) { throw bad("factor", "a positive number", f) }
        case let .llama3(f, low, high, orig):
            if !(f > 0 && f.isFinite) { throw bad("factor", "a positive number", f) }
            if !(low > 0 && low.isFinite) { throw bad("low_freq_factor", "a positive number", low) }
            if !(high > low && high.isFinite) { throw bad("high_freq_factor", "a number greater than low_freq_factor (\(low))", high) }
            if orig <= 0 || orig > 1 << 24 { throw bad("original_max_position_embeddings", "a positive length up to 2^24", orig) }
        }
    }
}

/// Which pairs of a head's q/k vector RoPE rotates, determined by where the weights came from.
public enum RopeLayout: String, Sendable, Hashable {
    /// GGUF: llama.cpp's converter permuted the q/k rows, so rotate adjacent pairs (x[2i], x[2i+1]).
    case interleaved
    /// Hugging Face: rotate (x[i], x[i + d/2]).
    case halves

    /// llama.cpp's q/k row permutation (`permute` in convert_hf_to_gguf.py), HF → GGUF.
    ///
    /// `w` is row-major [heads·d, cols] (a q or k weight: `heads` = query heads for q, KV heads
    /// for k). Within each head, new row 2i ← old row i and new row 2i+1 ← old row i + d/2.
    /// Rotating adjacent pairs of the permuted projection then equals rotating halves of the
    /// original one, which is why GGUF weights use `.interleaved`.
    public static func permuteHalvesToInterleaved(_ w: [Float], heads: Int, cols: Int) -> [Float] {
        permute(w, heads: heads, cols: cols, inverse: false)
    }

    /// The inverse of `permuteHalvesToInterleaved` (GGUF → HF): new row i ← old row 2i,
    /// new row i + d/2 ← old row 2i+1, within each head.
    public static func permuteInterleavedToHalves(_ w: [Float], heads: Int, cols: Int) -> [Float] {
        permute(w, heads: heads, cols: cols, inverse: true)
    }

    static func permute(_ w: [Float], heads: Int, cols: Int, inverse: Bool) -> [Float] {
        precondition(heads > 0 && cols > 0 && w.count % (heads * cols) == 0, "permute: bad shape")
        let d = w.count / (heads * cols)
        precondition(d % 2 == 0, "permute: head dim must be even")
        var out = [Float](repeating: 0, count: w.count)
        for h in 0..<heads {
            for i in 0..<(d / 2) {
                for j in 0..<2 {
                    let halvesRow = h * d + j * (d / 2) + i, interRow = h * d + 2 * i + j
                    let (dstRow, srcRow) = inverse ? (halvesRow, interRow) : (interRow, halvesRow)
                    for c in 0..<cols { out[dstRow * cols + c] = w[srcRow * cols + c] }
                }
            }
        }
        return out
    }
}

/// GGUF ↔ Hugging Face tensor names for Llama.
public enum LlamaTensorNames {
    static let layerMap: [(String, String)] = [
        ("attn_q.weight", "self_attn.q_proj.weight"), ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_v.weight", "self_attn.v_proj.weight"), ("attn_output.weight", "self_attn.o_proj.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"), ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"), ("attn_norm.weight", "input_layernorm.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("attn_q.bias", "self_attn.q_proj.bias"), ("attn_k.bias", "self_attn.k_proj.bias"),
        ("attn_v.bias", "self_attn.v_proj.bias"), ("attn_output.bias", "self_attn.o_proj.bias"),
    ]
    static let globalMap: [(String, String)] = [
        ("token_embd.weight", "model.embed_tokens.weight"), ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ]

    /// `blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`; nil if not a Llama weight.
    public static func hfName(forGGUF g: String) -> String? {
        if let m = globalMap.first(where: { $0.0 == g }) { return m.1 }
        let parts = g.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let i = Int(parts[1]), i >= 0, String(i) == parts[1],
              let m = layerMap.first(where: { $0.0 == parts[2] }) else { return nil }
        return "model.layers.\(i).\(m.1)"
    }

    /// The inverse of `hfName(forGGUF:)`.
    public static func ggufName(forHF h: String) -> String? {
        if let m = globalMap.first(where: { $0.1 == h }) { return m.0 }
        let pre = "model.layers."
        guard h.hasPrefix(pre) else { return nil }
        let rest = h.dropFirst(pre.count).split(separator: ".", maxSplits: 1)
        guard rest.count == 2, let i = Int(rest[0]), i >= 0, String(i) == rest[0],
              let m = layerMap.first(where: { $0.1 == rest[1] }) else { return nil }
        return "blk.\(i).\(m.0)"
    }
}

/// A Llama checkpoint in memory: fp32 weights by Hugging Face name plus hyperparameters.
public struct LlamaCheckpoint: Sendable {
    /// A dense fp32 tensor. `shape` is row-major (PyTorch order; for GGUF, `ne` reversed).
    /// A tensor loaded from BF16/F16 data keeps it 16-bit (`half`, usually a view into the mapped
    /// file); `data` then widens it to fp32 on every read (exact). Assigning `data` stores fp32.
    public struct Tensor: Sendable, Equatable {
        public var shape: [Int]
        /// The 16-bit values as stored, or nil for an fp32 tensor.
        public private(set) var half: HalfWeights?
        private var values: [Float]
        /// The values as fp32, row-major (`shape`).
        public var data: [Float] {
            get { half?.widened() ?? values }
            set { values = newValue; half = nil }
        }
        public init(shape: [Int], data: [Float]) {
            precondition(shape.reduce(1, *) == data.count, "Tensor: shape \(shape) does not match \(data.count) values")
            self.shape = shape; self.values = data; self.half = nil
        }
        /// A tensor kept 16-bit.
        public init(shape: [Int], half: HalfWeights) {
            precondition(shape.reduce(1, *) == half.count, "Tensor: shape \(shape) does not match \(half.count) values")
            self.shape = shape; self.values = []; self.half = half
        }
        public static func == (a: Tensor, b: Tensor) -> Bool { a.shape == b.shape && a.data == b.data }
        /// The first non-finite value (index, value), or nil.
        public func firstNonFinite() -> (index: Int, value: Float)? {
            if let h = half { return h.firstNonFinite() }
            return values.firstIndex(where: { !$0.isFinite }).map { ($0, values[$0]) }
        }
    }

    public var config: LlamaHyperparameters
    /// How RoPE pairs q/k elements for these weights (GGUF: `.interleaved`, HF: `.halves`).
    public var ropeLayout: RopeLayout
    /// The file or folder it was loaded from ("" if built in memory).
    public var sourcePath: String
    /// Weights by Hugging Face name (see `LlamaHyperparameters.expectedTensors`).
    public var tensors: [String: Tensor]

    public init(config: LlamaHyperparameters, ropeLayout: RopeLayout, sourcePath: String = "", tensors: [String: Tensor]) {
        self.config = config; self.ropeLayout = ropeLayout; self.sourcePath = sourcePath; self.tensors = tensors
    }

    /// Loads a `.gguf` file or a folder with `config.json` and `*.safetensors` (sharded or not),
    /// converting every weight to fp32, and validates it (`validate()`).
    public static func load(path: String, threads: Int? = nil) throws -> LlamaCheckpoint {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelIOError.cannotOpen(path: path, reason: "no such file or folder")
        }
        let ck: LlamaCheckpoint = isDir.boolValue ? try loadHFFolder(path: path, threads: threads)
                                        : try loadGGUF(path: path, threads: threads)
        try ck.validate()
        return ck
    }

    /// Checks that every expected tensor is present with the expected shape and finite values,
    /// and that there are no unexpected tensors.
    public func validate() throws {
        try config.validate(path: sourcePath)
        let expected = config.expectedTensors()
        for (name, shape) in expected {
            guard let t = tensors[name] else { throw ModelIOError.missingTensor(path: sourcePath, tensor: name) }
            if t.shape != shape { throw ModelIOError.shapeMismatch(path: sourcePath, tensor: name, found: t.shape, expected: shape) }
        }
        let names = Set(expected.map(\.name))
        for name in tensors.keys.sorted() where !names.contains(name) {
            throw ModelIOError.malformed(path: sourcePath, detail: "unexpected tensor '\(name)' for a Llama model with this config")
        }
        for (name, _) in expected {
            let t = tensors[name]!
            if let (i, v) = t.firstNonFinite() {
                throw ModelIOError.nonFinite(path: sourcePath, tensor: name, index: i, value: v)
            }
            t.half?.releaseResidentPages()     // the check read a mapped tensor: leave it on disk until used
        }
    }

    /// The same model with q/k rows permuted for `layout` (a no-op if already in it).
    public func converted(to layout: RopeLayout) -> LlamaCheckpoint {
        if layout == ropeLayout { return self }
        var c = self
        c.ropeLayout = layout
        for i in 0..<config.layers {
            for (proj, h) in [("q_proj", config.heads), ("k_proj", config.kvHeads)] {
                // the weight's rows and, when present, the bias (one value per row) move together
                for kind in ["weight", "bias"] {
                    let name = "model.layers.\(i).self_attn.\(proj).\(kind)"
                    guard let t = tensors[name], t.shape.count == (kind == "weight" ? 2 : 1) else { continue }
                    let cols = kind == "weight" ? t.shape[1] : 1
                    guard cols > 0, t.data.count % (h * cols) == 0, (t.data.count / (h * cols)) % 2 == 0 else { continue }
                    let p = layout == .interleaved
                        ? RopeLayout.permuteHalvesToInterleaved(t.data, heads: h, cols: cols)
                        : RopeLayout.permuteInterleavedToHalves(t.data, heads: h, cols: cols)
                    c.tensors[name] = Tensor(shape: t.shape, data: p)
                }
            }
        }
        return c
    }

    // MARK: GGUF

    static func loadGGUF(path: String, threads: Int?) throws -> LlamaCheckpoint {
        let f = try GGUFFile(path: path)
        let config = try hyperparameters(f)
        // Names and shapes are checked before anything is converted (no allocation for a
        // tensor the model does not have or of a size the config does not imply).
        var list: [(name: String, shape: [Int], file: String)] = []
        for info in f.tensors {
            guard let hf = LlamaTensorNames.hfName(forGGUF: info.name) else {
                throw ModelIOError.malformed(path: path, detail: "unexpected tensor '\(info.name)' (not part of a Llama/Qwen2 model)")
            }
            list.append((hf, info.shape, path))
        }
        try config.checkTensorList(list, folder: path)
        var tensors: [String: Tensor] = [:]
        let progress = ProgressReporter("loading \(path.split(separator: "/").last ?? "")", total: f.tensors.count)
        for (info, (hf, _, _)) in zip(f.tensors, list) {
            // F16/BF16 linear weights stay 16-bit (a view into the mapping); the rest becomes fp32
            if info.shape.count == 2, hf != "model.embed_tokens.weight", let h = try f.tensorHalf(info) {
                tensors[hf] = Tensor(shape: info.shape, half: h)
            } else {
                tensors[hf] = Tensor(shape: info.shape, data: try f.tensorF32(info, threads: threads, checkFinite: true))
            }
            progress.advance()
        }
        // llama.cpp permutes q/k rows for `llama` (its "normal" RoPE on adjacent pairs) but not for
        // `qwen2` (NEOX RoPE: pairs d/2 apart, the Hugging Face order).
        let layout: RopeLayout = config.architecture == .qwen2 ? .halves : .interleaved
        return LlamaCheckpoint(config: config, ropeLayout: layout, sourcePath: path, tensors: tensors)
    }

    /// Hyperparameters from a GGUF file's metadata: `general.architecture` `llama` (keys `llama.*`)
    /// or `qwen2` (keys `qwen2.*`, q/k/v biases required). Biases of a `llama` file are taken
    /// from the tensors present in block 0 (`attn_{q,k,v}.bias` together, `attn_output.bias`);
    /// every block must then have the same ones.
    public static func hyperparameters(_ f: GGUFFile) throws -> LlamaHyperparameters {
        let p = f.path
        let archName = f["general.architecture"]?.string
        guard let arch = archName.flatMap({ LlamaArchitecture(rawValue: $0) }), arch != .mistral else {
            throw ModelIOError.badMetadata(path: p, key: "general.architecture", expected: "\"llama\" or \"qwen2\"",
                                           found: f["general.architecture"]?.description ?? "missing")
        }
        let a = arch.rawValue
        func int(_ k: String) throws -> Int {
            guard let v = f[k] else { throw ModelIOError.missingMetadata(path: p, key: k) }
            guard let i = v.int else { throw ModelIOError.badMetadata(path: p, key: k, expected: "an integer", found: v.description) }
            return i
        }
        func num(_ k: String) throws -> Double {
            guard let v = f[k] else { throw ModelIOError.missingMetadata(path: p, key: k) }
            guard let d = v.double else { throw ModelIOError.badMetadata(path: p, key: k, expected: "a number", found: v.description) }
            return d
        }
        var scaling = RopeScaling.none
        if let s = f["\(a).rope.scaling.type"], s.string != "none" {
            guard s.string == "linear" else {
                throw ModelIOError.badMetadata(path: p, key: "\(a).rope.scaling.type", expected: "none or linear (other RoPE scalings are not supported)", found: s.description)
            }
            scaling = .linear(factor: try num("\(a).rope.scaling.factor"))
        }
        if f.hasTensor("rope_freqs.weight") {
            throw ModelIOError.malformed(path: p, detail: "tensor 'rope_freqs.weight' (RoPE frequency scaling) is not supported")
        }
        let hidden = try int("\(a).embedding_length")
        let heads = try int("\(a).attention.head_count")
        let kvHeads = f["\(a).attention.head_count_kv"] == nil ? heads : try int("\(a).attention.head_count_kv")
        let headDim = f["\(a).attention.key_length"] == nil ? (heads > 0 ? hidden / heads : 0) : try int("\(a).attention.key_length")
        if f["\(a).attention.value_length"] != nil, try int("\(a).attention.value_length") != headDim {
            throw ModelIOError.badMetadata(path: p, key: "\(a).attention.value_length", expected: "the key length \(headDim)",
                                           found: f["\(a).attention.value_length"]!.description)
        }
        if f["\(a).rope.dimension_count"] != nil, try int("\(a).rope.dimension_count") != headDim {
            throw ModelIOError.badMetadata(path: p, key: "\(a).rope.dimension_count", expected: "the head dim \(headDim) (partial RoPE is not supported)",
                                           found: f["\(a).rope.dimension_count"]!.description)
        }
        var vocab: Int
        if f["\(a).vocab_size"] != nil { vocab = try int("\(a).vocab_size") }
        else if let toks = f["tokenizer.ggml.tokens"]?.array { vocab = toks.count }
        else { vocab = try f.tensorInfo("token_embd.weight").shape.first ?? 0 }
        let c = LlamaHyperparameters(
            vocab: vocab, hidden: hidden, intermediate: try int("\(a).feed_forward_length"),
            layers: try int("\(a).block_count"), heads: heads, kvHeads: kvHeads, headDim: headDim,
            rmsEps: try num("\(a).attention.layer_norm_rms_epsilon"),
            ropeTheta: f["\(a).rope.freq_base"] == nil ? 10_000 : try num("\(a).rope.freq_base"),
            tiedEmbeddings: !f.hasTensor("output.weight"),
            contextLength: f["\(a).context_length"] == nil ? 2048 : try int("\(a).context_length"),
            architecture: arch, ropeScaling: scaling,
            qkvBias: arch == .qwen2 || f.hasTensor("blk.0.attn_q.bias"),
            outputBias: arch == .llama && f.hasTensor("blk.0.attn_output.bias"))
        try c.validate(path: p)
        return c
    }
}
