import Foundation
import Support

/// A `.safetensors` file, memory-mapped: 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the data
/// (offsets relative to its start). Every entry is validated on open (offsets inside the
/// file, size = elements × dtype size).
public final class SafetensorsFile: @unchecked Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        /// safetensors dtype string ("F32", "F16", "BF16", "I64", …).
        public let dtype: String
        /// Row-major shape.
        public let shape: [Int]
        /// Absolute file offsets of the data `[start, end)`.
        public let start: Int, end: Int
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    /// Entries in data order.
    public let entries: [Entry]
    /// The `__metadata__` string map.
    public let metadata: [String: String]
    let file: MappedFile
    private let index: [String: Int]

    static let dtypeSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
        "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    ]
    /// dtypes `tensorF32` converts.
    public static let readableDTypes = ["F32", "F16", "BF16"]
    /// Largest JSON header accepted (real ones are < 16 MiB even for 100k tensors): Foundation's
    /// JSON parser costs up to ~30 bytes of memory per byte of text (measured on an array of
    /// zeros), so this bounds the parse to about 1 GiB.
    static let maxHeader = 32 << 20

    public init(path: String) throws {
        let f = try MappedFile(path: path)
        file = f; self.path = path
        if f.size < 8 { throw ModelIOError.truncated(path: path, what: "safetensors header length", needed: 8, fileSize: f.size) }
        let n = UInt64(littleEndian: f.base!.loadUnaligned(as: UInt64.self))
        if n > UInt64(f.size - 8) {
            throw ModelIOError.truncated(path: path, what: "safetensors JSON header of \(n) bytes",
                                         needed: n > UInt64(Int.max / 2) ? Int.max : 8 + Int(n), fileSize: f.size)
        }
        if n > UInt64(Self.maxHeader) { throw ModelIOError.malformed(path: path, detail: "JSON header of \(n) bytes is implausibly large") }
        let hb = f.bytes(8, Int(n))
        guard hb.first == UInt8(ascii: "{"),
              let obj = try? JSONSerialization.jsonObject(with: Data(hb), options: []),
              let dict = obj as? [String: Any] else {
            throw ModelIOError.badMagic(path: path, expected: "safetensors (JSON header object)", found: "a header that is not a JSON object")
        }
        let dataStart = 8 + Int(n)
        var es: [Entry] = []
        var meta: [String: String] = [:]
        for (name, v) in dict {
            if name == "__metadata__" {
                if let m = v as? [String: Any] { for (k, x) in m { meta[k] = x as? String ?? "\(x)" } }
                continue
            }
            func bad(_ what: String) -> ModelIOError { .malformed(path: path, detail: "tensor '\(name)': \(what)") }
            guard let e = v as? [String: Any] else { throw bad("header entry is not an object") }
            guard let dtype = e["dtype"] as? String else { throw bad("missing string 'dtype'") }
            guard let shapeAny = e["shape"] as? [Any] else { throw bad("missing array 'shape'") }
            var shape: [Int] = []
            var count = 1
            for s in shapeAny {
                guard let d = jsonInt(s), d >= 0, d <= Int(Int32.max) else { throw bad("shape \(shapeAny) is not a list of sizes") }
                let (p, o) = count.multipliedReportingOverflow(by: d)
                if o { throw bad("shape \(shapeAny) is too large") }
                shape.append(d); count = p
            }
            guard let offs = e["data_offsets"] as? [Any], offs.count == 2,
                  let b = jsonInt(offs[0]), let en = jsonInt(offs[1]),
                  b >= 0, en >= b else { throw bad("'data_offsets' is not [begin, end] with begin <= end") }
            guard let es1 = Self.dtypeSizes[dtype] else {
                throw ModelIOError.unsupportedDType(path: path, tensor: name, dtype: dtype, supported: Self.readableDTypes)
            }
            if en > f.size - dataStart {
                throw ModelIOError.tensorOutOfBounds(path: path, tensor: name, start: dataStart + b,
                                                     end: en > Int.max - dataStart ? Int.max : dataStart + en, fileSize: f.size)
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: es1)
            if o || bytes != en - b {
                throw bad("data_offsets span \(en - b) bytes but shape \(shape) of \(dtype) needs \(o ? Int.max : bytes)")
            }
            es.append(Entry(name: name, dtype: dtype, shape: shape, start: dataStart + b, end: dataStart + en))
        }
        es.sort { ($0.start, $0.name) < ($1.start, $1.name) }
        // Data regions must not overlap (else a small file could stand for many copies of one region).
        let nonEmpty = es.filter { $0.end > $0.start }
        for (x, y) in zip(nonEmpty, nonEmpty.dropFirst()) where x.end > y.start {
            throw ModelIOError.malformed(path: path, detail: "the data of tensors '\(x.name)' [\(x.start - dataStart), \(x.end - dataStart)) and '\(y.name)' [\(y.start - dataStart), \(y.end - dataStart)) overlap")
        }
        entries = es
        metadata = meta
        var idx: [String: Int] = [:]
        for (i, e) in es.enumerated() { idx[e.name] = i }
        index = idx
    }

    public func hasTensor(_ name: String) -> Bool { index[name] != nil }

    public func entry(_ name: String) throws -> Entry {
        guard let i = index[name] else { throw ModelIOError.missingTensor(path: path, tensor: name) }
        return entries[i]
    }

    /// Tensor `name` as row-major fp32 (`entry.shape`). F32/F16/BF16; others throw
    /// `unsupportedDType`. With `checkFinite`, NaN/±Inf throws `nonFinite`.
    public func tensorF32(_ name: String, threads: Int? = nil, checkFinite: Bool = true) throws -> [Float] {
        let e = try entry(name)
        let type: GGMLType
        switch e.dtype {
        case "F32": type = .f32
        case "F16": type = .f16
        case "BF16": type = .bf16
        default: throw ModelIOError.unsupportedDType(path: path, tensor: name, dtype: e.dtype, supported: Self.readableDTypes)
        }
        let n = e.elementCount
        if n == 0 { return [] }
        var out = [Float](repeating: 0, count: n)
        let raw = file.bytes(e.start, e.end - e.start)
        let bad = out.withUnsafeMutableBufferPointer {
            Dequant.decode(type: type, src: raw, count: n, into: $0.baseAddress!, threads: threads, checkFinite: checkFinite)
        }
        if let (i, v) = bad { throw ModelIOError.nonFinite(path: path, tensor: name, index: i, value: v) }
        return out
    }
}

extension SafetensorsFile {
    /// Tensor `name` kept 16-bit when its dtype is F16 or BF16 (nil for other dtypes): a view into
    /// the mapped file when its data is 2-byte aligned, else an owned copy. Values are checked to be
    /// finite (`nonFinite` otherwise); the pages the check read are then released from the resident
    /// set (`HalfWeights.releaseResidentPages`), so a loaded model costs memory only once used.
    public func tensorHalf(_ name: String) throws -> HalfWeights? {
        let e = try entry(name)
        let format: HalfFormat
        switch e.dtype {
        case "F16": format = .f16
        case "BF16": format = .bf16
        default: return nil
        }
        return try mappedHalf(file: file, start: e.start, count: e.elementCount, format: format, path: path, tensor: name)
    }
}

/// `count` 16-bit values at byte `start` of `file` (tensor `tensor` of the file at `path`): a view
/// (kept alive by the mapping) when aligned, else a copy; checked finite (`nonFinite` otherwise),
/// then the pages the check read are released from the resident set until a product reads them.
func mappedHalf(file: MappedFile, start: Int, count: Int, format: HalfFormat, path: String, tensor: String) throws -> HalfWeights {
    let raw = file.bytes(start, 2 * count)
    guard let b = raw.baseAddress, count > 0 else { return HalfWeights(format: format, bits: []) }
    let h = Int(bitPattern: b) % 2 == 0
        ? HalfWeights(format: format, base: b.assumingMemoryBound(to: UInt16.self), count: count, owner: file, isMapped: true)
        : HalfWeights(format: format, copying: b, count: count)
    if let (i, v) = h.firstNonFinite() { throw ModelIOError.nonFinite(path: path, tensor: tensor, index: i, value: v) }
    h.releaseResidentPages()
    return h
}

/// Writes `.safetensors` files (tests, tiny models, deliberately damaged files).
public struct SafetensorsWriter {
    public enum DType: String, Sendable { case f32 = "F32", f16 = "F16", bf16 = "BF16" }
    struct Item { let name: String; let dtype: String; let shape: [Int]; let bytes: [UInt8] }
    var items: [Item] = []
    public var metadata: [String: String]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    /// Adds a tensor (row-major `shape`, `values.count` = product of shape) stored as `dtype`.
    public mutating func add(_ name: String, shape: [Int], values: [Float], dtype: DType = .f32) {
        precondition(shape.reduce(1, *) == values.count, "SafetensorsWriter: shape/values mismatch for \(name)")
        let b: [UInt8]
        switch dtype {
        case .f32: b = GGUFWriter.encode(values, type: .f32)
        case .f16: b = GGUFWriter.encode(values, type: .f16)
        case .bf16: b = GGUFWriter.encode(values, type: .bf16)
        }
        items.append(Item(name: name, dtype: dtype.rawValue, shape: shape, bytes: b))
    }

    /// Adds a tensor with arbitrary dtype string and raw bytes (no checks; for damage tests).
    public mutating func addRaw(_ name: String, dtype: String, shape: [Int], bytes: [UInt8]) {
        items.append(Item(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// The file's bytes. The header is padded with spaces to a multiple of 8.
    public func serialized() -> [UInt8] {
        var out = safetensorsHeader(metadata: metadata, tensors: items.map { ($0.name, $0.dtype, $0.shape, $0.bytes.count) })
        out.reserveCapacity(out.count + items.reduce(0) { $0 + $1.bytes.count })
        for it in items { out += it.bytes }
        return out
    }

    public func write(to path: String) throws { try writeBytes(serialized(), to: path) }
}

/// The start of a safetensors file: the header's byte length (UInt64, little-endian), then the
/// JSON header — `__metadata__` first (keys sorted; left out when empty), then the tensors in the
/// given order with consecutive `data_offsets` from their byte counts — padded with spaces to a
/// multiple of 8 bytes. The tensors' data follows in the same order.
func safetensorsHeader(metadata: [String: String], tensors: [(name: String, dtype: String, shape: [Int], bytes: Int)]) -> [UInt8] {
    var parts: [String] = []
    if !metadata.isEmpty {
        parts.append(jsonString("__metadata__") + ":{" + metadata.keys.sorted().map { jsonString($0) + ":" + jsonString(metadata[$0]!) }.joined(separator: ",") + "}")
    }
    var off = 0
    for t in tensors {
        parts.append(jsonString(t.name) + ":{\"dtype\":" + jsonString(t.dtype) + ",\"shape\":[" +
                     t.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(off),\(off + t.bytes)]}")
        off += t.bytes
    }
    var header = Array(("{" + parts.joined(separator: ",") + "}").utf8)
    while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
    var out: [UInt8] = []
    out.reserveCapacity(8 + header.count)
    appendLE(&out, UInt64(header.count))
    return out + header
}

/// Whether a JSONSerialization value is a JSON true/false (on Linux `is Bool` also holds
/// for the numbers 0 and 1, so look at the NSNumber's storage type).
func isJSONBool(_ x: Any?) -> Bool {
    guard let n = x as? NSNumber else { return false }
    return String(cString: n.objCType) == "c" || type(of: x!) == Bool.self
}

/// A JSON true/false, else nil.
func jsonBool(_ x: Any?) -> Bool? { isJSONBool(x) ? (x as! NSNumber).boolValue : nil }

/// A JSON number that is an exact integer within ±2^53 (not a bool), else nil.
func jsonInt(_ x: Any?) -> Int? {
    guard let n = x as? NSNumber, !isJSONBool(x) else { return nil }
    let d = n.doubleValue
    guard d.isFinite, abs(d) <= 9_007_199_254_740_992, d == d.rounded() else { return nil }
    return Int(d)
}

func appendLE<T: FixedWidthInteger>(_ b: inout [UInt8], _ v: T) {
    var x = v.littleEndian
    withUnsafeBytes(of: &x) { b.append(contentsOf: $0) }
}

func jsonString(_ s: String) -> String {
    var o = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": o += "\\\""
        case "\\": o += "\\\\"
        case "\n": o += "\\n"
        case "\r": o += "\\r"
        case "\t": o += "\\t"
        default:
            if u.value < 0x20 { o += String(format: "\\u%04x", u.value) } else { o.unicodeScalars.append(u) }
        }
    }
    return o + "\""
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    guard let fp = fopen(path, "wb") else {
        throw ModelIOError.cannotOpen(path: path, reason: "cannot write: " + String(cString: strerror(errno)))
    }
    let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, fp) }
    let closed = fclose(fp)
    if n != bytes.count || closed != 0 {
        throw ModelIOError.cannotOpen(path: path, reason: "write failed: " + String(cString: strerror(errno)))
    }
}

extension LlamaHyperparameters {
    /// Parses a Hugging Face `config.json` of a Llama, Mistral or Qwen2 model. Required:
    /// hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size (and
    /// num_key_value_heads for Mistral/Qwen2, whose Hugging Face defaults are not `heads`).
    /// Defaults: num_key_value_heads = heads (Llama), head_dim = hidden/heads, rms_norm_eps 1e-6,
    /// rope_theta 10000, tie_word_embeddings false, max_position_embeddings 2048.
    /// Every field that changes the maths is honoured or refused with an error naming it
    /// (`LlamaHyperparameters.hfConfigFields` lists them): `architectures`, `model_type`,
    /// `rope_scaling` (null, linear, llama3) or transformers 5's `rope_parameters`,
    /// `partial_rotary_factor`, `hidden_act` (silu), `attention_bias`, `mlp_bias`,
    /// `sliding_window`/`use_sliding_window`/`max_window_layers`/`layer_types`, `bos_token_id`.
    public static func fromHFConfig(path: String) throws -> LlamaHyperparameters {
        let data: Data
        do { data = try readRegularFile(path, maxBytes: 16 << 20, what: "config.json") } catch let e as FileReadError {
            throw ModelIOError.cannotOpen(path: path, reason: e.reason)
        }
        guard let obj = try? JSONSerialization.jsonObject(with: data, options: []), let j = obj as? [String: Any] else {
            throw ModelIOError.malformed(path: path, detail: "not a JSON object")
        }
        return try fromHFConfig(j, path: path)
    }

    public static func fromHFConfig(_ j: [String: Any], path: String) throws -> LlamaHyperparameters {
        func present(_ k: String) -> Bool { j[k] != nil && !(j[k] is NSNull) }
        func bad(_ k: String, _ expected: String) -> ModelIOError {
            .badMetadata(path: path, key: k, expected: expected, found: jsonDescription(j[k]))
        }
        func int(_ k: String, _ def: Int? = nil) throws -> Int {
            guard present(k) else {
                if let d = def { return d }
                throw ModelIOError.missingMetadata(path: path, key: k)
            }
            guard let i = jsonInt(j[k]) else { throw bad(k, "an integer") }
            return i
        }
        func num(_ k: String, _ def: Double) throws -> Double {
            guard present(k) else { return def }
            guard let n = j[k] as? NSNumber, !isJSONBool(j[k]) else { throw bad(k, "a number") }
            return n.doubleValue
        }
        func bool(_ k: String, _ def: Bool) throws -> Bool {
            guard present(k) else { return def }
            guard let b = jsonBool(j[k]) else { throw bad(k, "true or false") }
            return b
        }
        // Architecture: `model_type` and `architectures` must agree when both are given.
        let allowed = LlamaArchitecture.allCases
        var arch: LlamaArchitecture? = nil
        if present("model_type") {
            guard let t = j["model_type"] as? String, let a = LlamaArchitecture(rawValue: t) else {
                throw bad("model_type", "\"llama\", \"mistral\" or \"qwen2\"")
            }
            arch = a
        }
        if present("architectures") {
            let classes = allowed.map(\.hfClassName)
            guard let list = j["architectures"] as? [Any], list.count == 1, let name = list[0] as? String,
                  let a = allowed.first(where: { $0.hfClassName == name }) else {
                throw bad("architectures", "one of " + classes.map { "[\"\($0)\"]" }.joined(separator: ", "))
            }
            if let m = arch, m != a {
                throw bad("architectures", "[\"\(m.hfClassName)\"] (model_type is \"\(m.rawValue)\")")
            }
            arch = a
        }
        let architecture = arch ?? .llama
        if present("hidden_act"), (j["hidden_act"] as? String) != "silu" {
            throw bad("hidden_act", "\"silu\" (the SwiGLU MLP of these models)")
        }
        if present("partial_rotary_factor"), try num("partial_rotary_factor", 1) != 1 {
            throw bad("partial_rotary_factor", "1 (partial RoPE is not supported)")
        }
        // Biases: Llama `attention_bias` puts one on q/k/v/o; Qwen2 always has q/k/v biases and
        // no `attention_bias` field; Mistral has none. MLP biases are not supported.
        var qkvBias = false, outputBias = false
        switch architecture {
        case .llama:
            qkvBias = try bool("attention_bias", false); outputBias = qkvBias
        case .qwen2:
            qkvBias = true
            if try !bool("attention_bias", true) {
                throw bad("attention_bias", "absent or true (Qwen2 checkpoints always have q/k/v biases)")
            }
        case .mistral:
            if try bool("attention_bias", false) { throw bad("attention_bias", "absent or false (Mistral has no attention biases)") }
        }
        if try bool("mlp_bias", false) { throw bad("mlp_bias", "absent or false (MLP biases are not supported)") }
        let hidden = try int("hidden_size"), heads = try int("num_attention_heads")
        let layers = try int("num_hidden_layers")
        // Sliding-window attention: Mistral on every layer unless `sliding_window` is null (absent
        // means Hugging Face's default 4096); Qwen2 only with `use_sliding_window`, on the layers
        // from `max_window_layers` on (or those `layer_types` marks); Llama has none.
        var window: Int? = nil
        switch architecture {
        case .llama:
            if present("sliding_window") { throw bad("sliding_window", "absent or null (LlamaForCausalLM has no sliding-window attention)") }
            if try bool("use_sliding_window", false) { throw bad("use_sliding_window", "absent or false (LlamaForCausalLM has no sliding-window attention)") }
        case .mistral:
            window = j["sliding_window"] == nil ? 4096 : present("sliding_window") ? try int("sliding_window") : nil
        case .qwen2:
            // absent `sliding_window` is Qwen2Config's default 4096; null is none
            if try bool("use_sliding_window", false), j["sliding_window"] == nil || present("sliding_window") {
                let w = j["sliding_window"] == nil ? 4096 : try int("sliding_window")
                let firstSliding = try int("max_window_layers", 28)
                var sliding = layers > firstSliding
                if present("layer_types") {
                    guard let types = j["layer_types"] as? [Any], types.count == layers,
                          types.allSatisfy({ ["full_attention", "sliding_attention"].contains($0 as? String ?? "") }) else {
                        throw bad("layer_types", "\(layers) entries \"full_attention\" or \"sliding_attention\"")
                    }
                    sliding = types.contains { ($0 as? String) == "sliding_attention" }
                }
                if sliding { window = w }
            }
        }
        // RoPE: `rope_theta` + `rope_scaling`, or transformers 5's `rope_parameters` holding both.
        var theta = try num("rope_theta", 10_000)
        var scaling = RopeScaling.none
        if present("rope_scaling") && present("rope_parameters") {
            throw bad("rope_parameters", "absent when rope_scaling is given (two RoPE descriptions)")
        }
        for key in ["rope_scaling", "rope_parameters"] where present(key) {
            guard let r = j[key] as? [String: Any] else { throw bad(key, "null or an object") }
            let parsed = try ropeScaling(r, field: key, path: path)
            scaling = parsed.scaling
            if let t = parsed.theta {
                if present("rope_theta") && t != theta { throw bad("rope_theta", "the rope_parameters.rope_theta \(t)") }
                theta = t
            }
        }
        var bos: Int? = nil
        if present("bos_token_id") {
            bos = try int("bos_token_id")
        }
        let c = LlamaHyperparameters(
            vocab: try int("vocab_size"), hidden: hidden, intermediate: try int("intermediate_size"),
            layers: layers, heads: heads,
            // explicit null means `heads` in every Hugging Face config class; absent means heads for
            // Llama only (Mistral's default is 8, Qwen2's 32: required here instead)
            kvHeads: try int("num_key_value_heads", architecture == .llama || j["num_key_value_heads"] is NSNull ? heads : nil),
            headDim: try int("head_dim", heads > 0 ? hidden / heads : 0), rmsEps: try num("rms_norm_eps", 1e-6),
            ropeTheta: theta, tiedEmbeddings: try bool("tie_word_embeddings", false),
            contextLength: try int("max_position_embeddings", 2048),
            architecture: architecture, ropeScaling: scaling, qkvBias: qkvBias, outputBias: outputBias,
            slidingWindow: window, bosTokenID: bos)
        try c.validate(path: path)
        if let b = bos, b < 0 || b >= c.vocab { throw bad("bos_token_id", "a token id in 0..<\(c.vocab)") }
        return c
    }

    /// `rope_scaling` (or `rope_parameters`) object: `rope_type` (or its old name `type`) null-equivalent
    /// "default", "linear" with `factor`, or "llama3" with `factor`, `low_freq_factor`,
    /// `high_freq_factor`, `original_max_position_embeddings`. Any other type or key is refused,
    /// named `FIELD.KEY`. `rope_parameters` may also hold `rope_theta` (returned) and
    /// `partial_rotary_factor` (must be 1).
    static func ropeScaling(_ r: [String: Any], field: String, path: String) throws -> (scaling: RopeScaling, theta: Double?) {
        func bad(_ k: String, _ expected: String) -> ModelIOError {
            .badMetadata(path: path, key: field + "." + k, expected: expected, found: jsonDescription(r[k]))
        }
        func num(_ k: String) throws -> Double {
            guard r[k] != nil, !(r[k] is NSNull) else { throw ModelIOError.missingMetadata(path: path, key: field + "." + k) }
            guard let n = r[k] as? NSNumber, !isJSONBool(r[k]), n.doubleValue.isFinite else { throw bad(k, "a number") }
            return n.doubleValue
        }
        let typeKey = r["rope_type"] != nil ? "rope_type" : "type"
        if r["rope_type"] != nil, r["type"] != nil, (r["rope_type"] as? String) != (r["type"] as? String) {
            throw bad("type", "the same as rope_type")
        }
        guard r[typeKey] != nil else { throw ModelIOError.missingMetadata(path: path, key: field + ".rope_type") }
        guard let type = r[typeKey] as? String, ["default", "linear", "llama3"].contains(type) else {
            throw bad(typeKey, "\"default\", \"linear\" or \"llama3\" (other RoPE scalings such as dynamic, yarn, longrope are not supported)")
        }
        var known: Set<String> = ["rope_type", "type"]
        if field == "rope_parameters" { known.formUnion(["rope_theta", "partial_rotary_factor"]) }
        var theta: Double? = nil
        if field == "rope_parameters" {
            if r["rope_theta"] != nil { theta = try num("rope_theta") }
            if r["partial_rotary_factor"] != nil, try num("partial_rotary_factor") != 1 {
                throw bad("partial_rotary_factor", "1 (partial RoPE is not supported)")
            }
        }
        let scaling: RopeScaling
        switch type {
        case "linear":
            known.insert("factor")
            scaling = .linear(factor: try num("factor"))
        case "llama3":
            known.formUnion(["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"])
            let o = try num("original_max_position_embeddings")
            guard o == o.rounded(), abs(o) < 1e9 else { throw bad("original_max_position_embeddings", "an integer") }
            scaling = .llama3(factor: try num("factor"), lowFreqFactor: try num("low_freq_factor"),
                              highFreqFactor: try num("high_freq_factor"), originalContext: Int(o))
        default:
            scaling = .none
        }
        if let extra = r.keys.sorted().first(where: { !known.contains($0) }) {
            throw bad(extra, "absent (not a parameter of rope_type \"\(type)\")")
        }
        try scaling.validate(path: path)
        return (scaling, theta)
    }

    /// A Hugging Face `config.json` object for these hyperparameters.
    public func hfConfigJSON() -> String {
        var extra = ""
        switch architecture {
        case .llama: extra += "  \"attention_bias\": \(qkvBias),\n  \"mlp_bias\": false,\n"
        case .mistral: extra += "  \"sliding_window\": \(slidingWindow.map(String.init) ?? "null"),\n"
        case .qwen2:
            extra += "  \"use_sliding_window\": \(slidingWindow != nil),\n  \"sliding_window\": \(slidingWindow.map(String.init) ?? "null"),\n"
            if slidingWindow != nil { extra += "  \"max_window_layers\": 0,\n" }
        }
        if let b = bosTokenID { extra += "  \"bos_token_id\": \(b),\n" }
        let rope: String
        switch ropeScaling {
        case .none: rope = "null"
        case .linear(let f): rope = "{\"rope_type\": \"linear\", \"factor\": \(f)}"
        case let .llama3(f, lo, hi, o):
            rope = "{\"rope_type\": \"llama3\", \"factor\": \(f), \"low_freq_factor\": \(lo), \"high_freq_factor\": \(hi), \"original_max_position_embeddings\": \(o)}"
        }
        return """
        {
          "architectures": ["\(architecture.hfClassName)"],
          "model_type": "\(architecture.rawValue)",
          "vocab_size": \(vocab),
          "hidden_size": \(hidden),
          "intermediate_size": \(intermediate),
          "num_hidden_layers": \(layers),
          "num_attention_heads": \(heads),
          "num_key_value_heads": \(kvHeads),
          "head_dim": \(headDim),
          "rms_norm_eps": \(rmsEps),
          "rope_theta": \(ropeTheta),
          "tie_word_embeddings": \(tiedEmbeddings),
          "max_position_embeddings": \(contextLength),
          "hidden_act": "silu",
        \(extra)  "rope_scaling": \(rope)
        }

        """
    }
}

/// A JSON value as found in a file, for error messages ("missing" when absent).
func jsonDescription(_ x: Any?) -> String {
    guard let x = x else { return "missing" }
    if x is NSNull { return "null" }
    if let s = x as? String { return "\"" + s + "\"" }
    if isJSONBool(x) { return jsonBool(x)! ? "true" : "false" }
    if let d = try? JSONSerialization.data(withJSONObject: x, options: [.sortedKeys, .fragmentsAllowed]),
       let s = String(data: d, encoding: .utf8) { return s }
    return "\(x)"
}

extension LlamaCheckpoint {
    /// Loads a Hugging Face folder: `config.json` + every `*.safetensors` in it (one file or
    /// shards). Tied models ignore a stored `lm_head.weight`; `rotary_emb.inv_freq` buffers are skipped.
    static func loadHFFolder(path: String, threads: Int?) throws -> LlamaCheckpoint {
        let dir = URL(fileURLWithPath: path)
        let config = try LlamaHyperparameters.fromHFConfig(path: dir.appendingPathComponent("config.json").path)
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasSuffix(".safetensors") }.sorted()
        if files.isEmpty { throw ModelIOError.cannotOpen(path: path, reason: "folder has no *.safetensors files") }
        // Open every shard (headers only) and check names and shapes against the config
        // before converting anything.
        var opened: [(SafetensorsFile, [SafetensorsFile.Entry])] = []
        var list: [(name: String, shape: [Int], file: String)] = []
        var seen: [String: String] = [:]
        for fname in files {
            let fp = dir.appendingPathComponent(fname).path
            let f = try SafetensorsFile(path: fp)
            var used: [SafetensorsFile.Entry] = []
            for e in f.entries {
                if e.name.hasSuffix("rotary_emb.inv_freq") { continue }
                if e.name == "lm_head.weight" && config.tiedEmbeddings { continue }
                if let other = seen[e.name] {
                    throw ModelIOError.malformed(path: fp, detail: "tensor '\(e.name)' also appears in \(other)")
                }
                seen[e.name] = fname
                used.append(e)
                list.append((e.name, e.shape, fp))
            }
            opened.append((f, used))
        }
        try config.checkTensorList(list, folder: path)
        var tensors: [String: Tensor] = [:]
        let progress = ProgressReporter("loading \(dir.lastPathComponent)", total: files.count)
        for (f, used) in opened {
            for e in used {
                // F16/BF16 linear weights stay 16-bit (a view into the mapping); the rest becomes fp32
                if e.shape.count == 2, e.name != "model.embed_tokens.weight", let h = try f.tensorHalf(e.name) {
                    tensors[e.name] = Tensor(shape: e.shape, half: h)
                } else {
                    tensors[e.name] = Tensor(shape: e.shape, data: try f.tensorF32(e.name, threads: threads, checkFinite: true))
                }
            }
            progress.advance()
        }
        return LlamaCheckpoint(config: config, ropeLayout: .halves, sourcePath: path, tensors: tensors)
    }
}
