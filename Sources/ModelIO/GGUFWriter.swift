import Foundation

/// Writes GGUF v2/v3 files: metadata in insertion order, tensors aligned to `alignment`
/// (a `general.alignment` key is added when it is not 32). Used by tests (tiny models,
/// deliberately damaged files) and to export checkpoints.
public struct GGUFWriter {
    public var version: UInt32
    public var alignment: Int
    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    public private(set) var tensors: [(name: String, dims: [Int], type: GGMLType, data: [UInt8])] = []

    public init(version: UInt32 = 3, alignment: Int = 32) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "GGUFWriter: alignment must be a power of two")
        self.version = version; self.alignment = alignment
    }

    /// Sets `key` (replacing an earlier value, keeping its position).
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value }
        else { metadata.append((key, value)) }
    }

    /// Adds a tensor from row-major fp32 `values` of `shape` (PyTorch order; stored with
    /// GGUF dims = shape reversed), encoded as `type` (F32, F16, BF16, Q8_0, Q4_0, Q4_1;
    /// quantized types need the last dim to be a multiple of 32).
    public mutating func addTensor(_ name: String, shape: [Int], values: [Float], type: GGMLType = .f32) {
        precondition(shape.reduce(1, *) == values.count, "GGUFWriter: shape/values mismatch for \(name)")
        tensors.append((name, shape.reversed(), type, GGUFWriter.encode(values, type: type)))
    }

    /// Adds a tensor with raw bytes and GGUF-order dims, unchecked (for damage tests).
    public mutating func addRawTensor(_ name: String, dims: [Int], type: GGMLType, data: [UInt8]) {
        tensors.append((name, dims, type, data))
    }

    /// Encodes fp32 values as `type` (blocks of 32 along the flat order for quantized types),
    /// following ggml's reference quantizers:
    /// Q8_0: d = max|x|/127, q = round(x/d). Q4_0: d = (value of largest |x|)/−8,
    /// q = min(15, trunc(x/d + 8.5)). Q4_1: d = (max−min)/15, m = min, q = min(15, trunc((x−m)/d + 0.5)).
    /// d and m are stored as fp16.
    public static func encode(_ values: [Float], type: GGMLType) -> [UInt8] {
        func halves(_ f: (Float) -> UInt16) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 2 * values.count)
            out.withUnsafeMutableBytes { p in
                for (i, v) in values.enumerated() { p.storeBytes(of: f(v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
            return out
        }
        var b: [UInt8] = []
        switch type {
        case .f32:
            b = [UInt8](repeating: 0, count: 4 * values.count)
            b.withUnsafeMutableBytes { p in
                for (i, v) in values.enumerated() { p.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
        case .f16: b = halves(floatToHalfBits)
        case .bf16: b = halves(floatToBF16Bits)
        case .q8_0, .q4_0, .q4_1:
            precondition(values.count % 32 == 0, "GGUFWriter: \(type) needs a multiple of 32 values")
            precondition(values.allSatisfy { $0.isFinite }, "GGUFWriter: \(type) cannot encode NaN/Inf")
            b.reserveCapacity(values.count / 32 * type.bytesPerBlock)
            for blk in stride(from: 0, to: values.count, by: 32) {
                let x = values[blk..<(blk + 32)]
                switch type {
                case .q8_0:
                    let amax = x.reduce(Float(0)) { max($0, abs($1)) }
                    let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
                    appendLE(&b, floatToHalfBits(d))
                    for v in x { b.append(UInt8(bitPattern: Int8((v * id).rounded()))) }
                case .q4_0:
                    var amax: Float = 0, mx: Float = 0
                    for v in x where abs(v) > amax { amax = abs(v); mx = v }
                    let d = mx / -8, id: Float = d != 0 ? 1 / d : 0
                    appendLE(&b, floatToHalfBits(d))
                    let q = x.map { min(15, Int(($0 * id + 8.5).rounded(.towardZero))) }
                    for j in 0..<16 { b.append(UInt8(q[j] | (q[j + 16] << 4))) }
                default:
                    let mn = x.min()!, mx = x.max()!
                    let d = (mx - mn) / 15, id: Float = d != 0 ? 1 / d : 0
                    appendLE(&b, floatToHalfBits(d)); appendLE(&b, floatToHalfBits(mn))
                    let q = x.map { min(15, Int((($0 - mn) * id + 0.5).rounded(.towardZero))) }
                    for j in 0..<16 { b.append(UInt8(q[j] | (q[j + 16] << 4))) }
                }
            }
        default:
            preconditionFailure("GGUFWriter: cannot encode \(type)")
        }
        return b
    }

    /// The file's bytes.
    public func serialized() -> [UInt8] {
        var md = metadata
        if alignment != 32 && !md.contains(where: { $0.key == "general.alignment" }) {
            md.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        var b: [UInt8] = Array("GGUF".utf8)
        b.reserveCapacity(tensors.reduce(4096) { $0 + $1.data.count + alignment })
        appendLE(&b, version)
        appendLE(&b, UInt64(tensors.count))
        appendLE(&b, UInt64(md.count))
        for (k, v) in md {
            Self.putString(&b, k)
            appendLE(&b, v.type.rawValue)
            Self.putValue(&b, v)
        }
        var off = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(off)
            off += (t.data.count + alignment - 1) / alignment * alignment
        }
        for (i, t) in tensors.enumerated() {
            Self.putString(&b, t.name)
            appendLE(&b, UInt32(t.dims.count))
            for d in t.dims { appendLE(&b, UInt64(d)) }
            appendLE(&b, t.type.rawValue)
            appendLE(&b, UInt64(offsets[i]))
        }
        while b.count % alignment != 0 { b.append(0) }
        for t in tensors {
            b += t.data
            while b.count % alignment != 0 { b.append(0) }
        }
        return b
    }

    public func write(to path: String) throws { try writeBytes(serialized(), to: path) }

    static func putString(_ b: inout [UInt8], _ s: String) {
        let u = Array(s.utf8)
        appendLE(&b, UInt64(u.count))
        b += u
    }

    static func putValue(_ b: inout [UInt8], _ v: GGUFValue) {
        switch v {
        case let .uint8(x): b.append(x)
        case let .int8(x): b.append(UInt8(bitPattern: x))
        case let .uint16(x): appendLE(&b, x)
        case let .int16(x): appendLE(&b, x)
        case let .uint32(x): appendLE(&b, x)
        case let .int32(x): appendLE(&b, x)
        case let .uint64(x): appendLE(&b, x)
        case let .int64(x): appendLE(&b, x)
        case let .float32(x): appendLE(&b, x.bitPattern)
        case let .float64(x): appendLE(&b, x.bitPattern)
        case let .bool(x): b.append(x ? 1 : 0)
        case let .string(s): putString(&b, s)
        case let .array(t, a):
            appendLE(&b, t.rawValue)
            appendLE(&b, UInt64(a.count))
            for e in a {
                precondition(e.type == t, "GGUFWriter: array element \(e.type) in an array of \(t)")
                putValue(&b, e)
            }
        }
    }
}

extension LlamaCheckpoint {
    /// Writes the model as a GGUF file in llama.cpp's layout: `llama.*` metadata, GGUF tensor
    /// names, q/k rows permuted to `.interleaved`. 2-D weights are stored as `type` when their
    /// rows are a multiple of 32 long (else F32); 1-D norms as F32. Extra metadata (e.g. a
    /// tokenizer) is appended from `extraMetadata`.
    public func writeGGUF(to path: String, type: GGMLType = .f32,
                          extraMetadata: [(String, GGUFValue)] = []) throws {
        // llama.cpp: Llama/Mistral as `llama` (q/k rows permuted), Qwen2 as `qwen2` (rows as in HF).
        let c = config
        let a = c.architecture == .qwen2 ? "qwen2" : "llama"
        let ck = converted(to: c.architecture == .qwen2 ? .halves : .interleaved)
        var w = GGUFWriter()
        w.set("general.architecture", .string(a))
        w.set("\(a).vocab_size", .uint32(UInt32(c.vocab)))
        w.set("\(a).context_length", .uint32(UInt32(c.contextLength)))
        w.set("\(a).embedding_length", .uint32(UInt32(c.hidden)))
        w.set("\(a).feed_forward_length", .uint32(UInt32(c.intermediate)))
        w.set("\(a).block_count", .uint32(UInt32(c.layers)))
        w.set("\(a).attention.head_count", .uint32(UInt32(c.heads)))
        w.set("\(a).attention.head_count_kv", .uint32(UInt32(c.kvHeads)))
        w.set("\(a).attention.key_length", .uint32(UInt32(c.headDim)))
        w.set("\(a).rope.dimension_count", .uint32(UInt32(c.headDim)))
        w.set("\(a).rope.freq_base", .float32(Float(c.ropeTheta)))
        w.set("\(a).attention.layer_norm_rms_epsilon", .float32(Float(c.rmsEps)))
        switch c.ropeScaling {
        case .none: break
        case .linear(let f):
            w.set("\(a).rope.scaling.type", .string("linear"))
            w.set("\(a).rope.scaling.factor", .float32(Float(f)))
        case .llama3:
            throw ModelIOError.badMetadata(path: path, key: "rope_scaling", expected: "none or linear for a GGUF file (llama3 scaling needs llama.cpp's rope_freqs tensor, not written here)",
                                           found: "llama3")
        }
        if c.slidingWindow != nil {
            throw ModelIOError.badMetadata(path: path, key: "sliding_window", expected: "null for a GGUF file (not written here)",
                                           found: "\(c.slidingWindow!)")
        }
        for (k, v) in extraMetadata { w.set(k, v) }
        for (name, _) in c.expectedTensors() {
            guard let t = ck.tensors[name] else { throw ModelIOError.missingTensor(path: sourcePath, tensor: name) }
            let g = LlamaTensorNames.ggufName(forHF: name)!
            let ty: GGMLType = t.shape.count == 2 && t.shape[1] % 32 == 0 ? type : .f32
            w.addTensor(g, shape: t.shape, values: t.data, type: ty)
        }
        try w.write(to: path)
    }

    /// Writes the model as a Hugging Face folder (`config.json` + `model.safetensors`),
    /// q/k rows in `.halves` layout. Creates the folder if needed.
    public func writeHFFolder(to dir: String, dtype: SafetensorsWriter.DType = .f32) throws {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        catch { throw ModelIOError.cannotOpen(path: dir, reason: "cannot create folder: \(error.localizedDescription)") }
        let ck = converted(to: .halves)
        var w = SafetensorsWriter(metadata: ["format": "pt"])
        for (name, _) in config.expectedTensors() {
            guard let t = ck.tensors[name] else { throw ModelIOError.missingTensor(path: sourcePath, tensor: name) }
            w.add(name, shape: t.shape, values: t.data, dtype: dtype)
        }
        try w.write(to: (dir as NSString).appendingPathComponent("model.safetensors"))
        try writeBytes(Array(config.hfConfigJSON().utf8), to: (dir as NSString).appendingPathComponent("config.json"))
    }
}
