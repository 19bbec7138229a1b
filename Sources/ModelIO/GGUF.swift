import Support

/// A GGUF (v2/v3) model file, memory-mapped and validated on open.
///
/// Opening parses the header, every metadata key/value (all value types, nested arrays)
/// and every tensor info, and checks that each tensor's data lies inside the file and that
/// no two tensors' data overlap. All reads of the mapped bytes are bounds-checked; every
/// length and count is checked against the bytes that remain before anything is allocated
/// for it, and every size is computed with overflow checks, so hostile files give a
/// `ModelIOError`, never a crash. Memory: the parsed metadata holds at most
/// `maxMetadataValues` values, and the tensors' data (the only other thing converted
/// later) cannot be larger than the file.
/// Tensor data is converted on demand by `tensorF32`.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Data alignment (`general.alignment`, default 32).
    public let alignment: Int
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute file offset of the tensor data section.
    public let dataOffset: Int
    public var fileSize: Int { file.size }
    let file: MappedFile
    private let index: [String: Int]

    /// Deepest nesting of arrays accepted in metadata.
    static let maxArrayDepth = 8
    /// ggml's GGML_MAX_DIMS.
    static let maxDims = 4
    /// Most metadata values (scalars, strings and array elements, nested ones included) a
    /// file may hold: bounds the memory of the parsed metadata (~64 bytes per value) to about
    /// 512 MiB whatever the file says. Real tokenizers hold < 2^20 (SmolLM2: ~150k).
    static let maxMetadataValues = 1 << 23

    public init(path: String) throws {
        let f = try MappedFile(path: path)
        file = f
        self.path = path
        var c = ByteCursor(f)
        if f.size < 4 {
            throw ModelIOError.truncated(path: path, what: "GGUF magic", needed: 4, fileSize: f.size)
        }
        let magic = Array(f.bytes(0, 4))
        if magic != Array("GGUF".utf8) {
            let shown = magic.map { b in (32..<127).contains(b) ? String(UnicodeScalar(b)) : "\\x" + String(b, radix: 16) }.joined()
            throw ModelIOError.badMagic(path: path, expected: "GGUF", found: "'\(shown)'")
        }
        c.pos = 4
        version = try c.u32("GGUF version")
        guard version == 2 || version == 3 else { throw ModelIOError.unsupportedVersion(path: path, version: version) }
        let nTensors = try c.u64("tensor count")
        let nKV = try c.u64("metadata count")
        // Each KV needs >= 8 (key len) + 4 (type) + 1 bytes; each tensor info >= 8 + 4 + 4 + 8.
        if nKV > UInt64(c.remaining / 13) {
            throw ModelIOError.truncated(path: path, what: "\(nKV) metadata entries",
                                         needed: saturatingEnd(c.pos, UInt64(saturatingProduct(nKV, 13))), fileSize: f.size)
        }
        if nTensors > UInt64(c.remaining / 24) {
            throw ModelIOError.truncated(path: path, what: "\(nTensors) tensor infos",
                                         needed: saturatingEnd(c.pos, UInt64(saturatingProduct(nTensors, 24))), fileSize: f.size)
        }
        var md: [String: GGUFValue] = [:]
        var keys: [String] = []
        var budget = Self.maxMetadataValues
        keys.reserveCapacity(Int(nKV))
        for i in 0..<Int(nKV) {
            let key = try c.string("metadata key #\(i)")
            let rawType = try c.u32("type of metadata '\(key)'")
            let value = try Self.readValue(&c, rawType: rawType, key: key, depth: 0, budget: &budget)
            if md[key] != nil { throw ModelIOError.malformed(path: path, detail: "duplicate metadata key '\(key)'") }
            md[key] = value
            keys.append(key)
        }
        metadata = md
        metadataKeys = keys

        var align = 32
        if let a = md["general.alignment"] {
            guard case let .uint32(v) = a, v > 0, v & (v - 1) == 0 else {
                throw ModelIOError.badMetadata(path: path, key: "general.alignment",
                                               expected: "a uint32 power of two", found: a.description)
            }
            align = Int(v)
        }
        alignment = align

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(Int(nTensors))
        var idx: [String: Int] = [:]
        for i in 0..<Int(nTensors) {
            let name = try c.string("name of tensor #\(i)")
            let nd = try c.u32("dimension count of tensor '\(name)'")
            guard nd <= UInt32(Self.maxDims) else {
                throw ModelIOError.malformed(path: path, detail: "tensor '\(name)' has \(nd) dimensions; at most \(Self.maxDims) allowed")
            }
            var dims: [Int] = []
            var count = 1
            for d in 0..<Int(nd) {
                let v = try c.u64("dimension \(d) of tensor '\(name)'")
                let (p, o) = count.multipliedReportingOverflow(by: Int(truncatingIfNeeded: v))
                guard v <= UInt64(Int32.max), !o else {
                    throw ModelIOError.malformed(path: path, detail: "tensor '\(name)' dimension \(d) = \(v) is too large")
                }
                dims.append(Int(v)); count = p
            }
            let type = GGMLType(rawValue: try c.u32("type of tensor '\(name)'"))
            let off = try c.u64("offset of tensor '\(name)'")
            guard type.isKnown else {
                throw ModelIOError.unsupportedDType(path: path, tensor: name, dtype: type.name,
                                                    supported: GGMLType.readable.map(\.name))
            }
            if (dims.first ?? 1) % type.blockSize != 0 {
                throw ModelIOError.malformed(path: path, detail: "tensor '\(name)' row length \(dims.first ?? 1) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            guard off <= UInt64(Int.max / 2), Int(off) % align == 0 else {
                throw ModelIOError.malformed(path: path, detail: "tensor '\(name)' offset \(off) is not a multiple of the alignment \(align) or is too large")
            }
            let (bytes, o2) = (count / type.blockSize).multipliedReportingOverflow(by: type.bytesPerBlock)
            guard !o2 else { throw ModelIOError.malformed(path: path, detail: "tensor '\(name)' is too large") }
            if idx[name] != nil { throw ModelIOError.malformed(path: path, detail: "duplicate tensor name '\(name)'") }
            idx[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(off),
                                        elementCount: count, byteCount: bytes))
        }
        tensors = infos
        index = idx
        let start = (c.pos + align - 1) / align * align
        dataOffset = start
        for t in infos {
            let a = saturatingEnd(start, UInt64(t.offset))
            let b = saturatingEnd(a, UInt64(t.byteCount))
            if b > f.size {
                throw ModelIOError.tensorOutOfBounds(path: path, tensor: t.name, start: a, end: b, fileSize: f.size)
            }
        }
        // Data regions must not overlap (else a small file could stand for many copies of
        // one region): sorted by offset, each non-empty region ends before the next begins.
        let byOffset = infos.filter { $0.byteCount > 0 }.sorted { ($0.offset, $0.name) < ($1.offset, $1.name) }
        for (x, y) in zip(byOffset, byOffset.dropFirst()) where x.offset + x.byteCount > y.offset {
            throw ModelIOError.malformed(path: path, detail: "the data of tensors '\(x.name)' [\(x.offset), \(x.offset + x.byteCount)) and '\(y.name)' [\(y.offset), \(y.offset + y.byteCount)) overlap (offsets relative to the data section)")
        }
    }

    /// Reads one value of type `rawType`; `budget` counts down the values still allowed.
    static func readValue(_ c: inout ByteCursor, rawType: UInt32, key: String, depth: Int, budget: inout Int) throws -> GGUFValue {
        guard let t = GGUFValueType(rawValue: rawType) else {
            throw ModelIOError.malformed(path: c.file.path, detail: "metadata '\(key)' has unknown value type \(rawType)")
        }
        let w = "value of metadata '\(key)'"
        switch t {
        case .uint8: return .uint8(try c.u8(w))
        case .int8: return .int8(Int8(bitPattern: try c.u8(w)))
        case .uint16: return .uint16(try c.load(UInt16.self, w))
        case .int16: return .int16(Int16(bitPattern: try c.load(UInt16.self, w)))
        case .uint32: return .uint32(try c.u32(w))
        case .int32: return .int32(Int32(bitPattern: try c.u32(w)))
        case .uint64: return .uint64(try c.u64(w))
        case .int64: return .int64(Int64(bitPattern: try c.u64(w)))
        case .float32: return .float32(Float(bitPattern: try c.u32(w)))
        case .float64: return .float64(Double(bitPattern: try c.u64(w)))
        case .bool: return .bool(try c.u8(w) != 0)
        case .string: return .string(try c.string(w))
        case .array:
            guard depth < maxArrayDepth else {
                throw ModelIOError.malformed(path: c.file.path, detail: "metadata '\(key)' nests arrays deeper than \(maxArrayDepth)")
            }
            let et = try c.u32("element type of metadata '\(key)'")
            guard let elemType = GGUFValueType(rawValue: et) else {
                throw ModelIOError.malformed(path: c.file.path, detail: "metadata '\(key)' has unknown array element type \(et)")
            }
            let n = try c.u64("length of metadata array '\(key)'")
            let minSize: Int
            switch elemType {
            case .uint8, .int8, .bool: minSize = 1
            case .uint16, .int16: minSize = 2
            case .uint32, .int32, .float32: minSize = 4
            case .uint64, .int64, .float64, .string: minSize = 8
            case .array: minSize = 12
            }
            if n > UInt64(c.remaining / minSize) {
                throw ModelIOError.truncated(path: c.file.path, what: "metadata array '\(key)' of \(n) elements",
                                             needed: saturatingEnd(c.pos, UInt64(saturatingProduct(n, minSize))),
                                             fileSize: c.file.size)
            }
            if n > UInt64(budget) {
                throw ModelIOError.malformed(path: c.file.path, detail: "metadata '\(key)' has an array of \(n) elements; a file may hold at most \(maxMetadataValues) metadata values in all")
            }
            budget -= Int(n)
            var a: [GGUFValue] = []
            a.reserveCapacity(Int(n))
            for i in 0..<Int(n) {
                a.append(try readValue(&c, rawType: et, key: elemType == .array ? "\(key)[\(i)]" : key, depth: depth + 1, budget: &budget))
            }
            return .array(elemType, a)
        }
    }

    // MARK: lookup

    public subscript(key: String) -> GGUFValue? { metadata[key] }

    public func hasTensor(_ name: String) -> Bool { index[name] != nil }

    /// The info for `name`, or `ModelIOError.missingTensor`.
    public func tensorInfo(_ name: String) throws -> GGUFTensorInfo {
        guard let i = index[name] else { throw ModelIOError.missingTensor(path: path, tensor: name) }
        return tensors[i]
    }

    /// The stored bytes of a tensor (valid while this object lives).
    public func rawData(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        file.bytes(dataOffset + info.offset, info.byteCount)
    }

    /// Converts tensor `name` to fp32, flat in GGUF order (ne[0] fastest), i.e. row-major
    /// with shape `info.shape`. Types F32, F16, BF16, Q8_0, Q4_0, Q4_1; others throw
    /// `unsupportedDType`. With `checkFinite`, NaN/±Inf throws `nonFinite` (first index).
    /// Multithreaded; the result does not depend on the thread count.
    public func tensorF32(_ name: String, threads: Int? = nil, checkFinite: Bool = true) throws -> [Float] {
        let info = try tensorInfo(name)
        return try tensorF32(info, threads: threads, checkFinite: checkFinite)
    }

    public func tensorF32(_ info: GGUFTensorInfo, threads: Int? = nil, checkFinite: Bool = true) throws -> [Float] {
        var out = [Float](repeating: 0, count: info.elementCount)
        try out.withUnsafeMutableBufferPointer { try tensorF32(info, into: $0, threads: threads, checkFinite: checkFinite) }
        return out
    }

    /// Like `tensorF32` but writes into `out`, which must hold exactly `info.elementCount` floats.
    public func tensorF32(_ info: GGUFTensorInfo, into out: UnsafeMutableBufferPointer<Float>, threads: Int? = nil,
                          checkFinite: Bool = true) throws {
        precondition(out.count == info.elementCount, "tensorF32(into:): buffer holds \(out.count) floats, tensor has \(info.elementCount)")
        guard info.type.isReadable else {
            throw ModelIOError.unsupportedDType(path: path, tensor: info.name, dtype: info.type.name,
                                                supported: GGMLType.readable.map(\.name))
        }
        if info.elementCount == 0 { return }
        if let (i, v) = Dequant.decode(type: info.type, src: rawData(info), count: info.elementCount,
                                       into: out.baseAddress!, threads: threads, checkFinite: checkFinite) {
            throw ModelIOError.nonFinite(path: path, tensor: info.name, index: i, value: v)
        }
    }

    /// Tensor `info` kept 16-bit when it is F16 or BF16 (nil for other types): a view into the
    /// mapped file (GGUF data is aligned), checked finite, its pages then released from the
    /// resident set until used (see `SafetensorsFile.tensorHalf`).
    public func tensorHalf(_ info: GGUFTensorInfo) throws -> HalfWeights? {
        let format: HalfFormat
        if info.type == .f16 { format = .f16 } else if info.type == .bf16 { format = .bf16 } else { return nil }
        return try mappedHalf(file: file, start: dataOffset + info.offset, count: info.elementCount, format: format,
                              path: path, tensor: info.name)
    }

    /// A human-readable summary: version, alignment, metadata (arrays abbreviated), tensor
    /// count by type, and one line per tensor (name, type, row-major shape).
    public func summary(maxTensors: Int = Int.max) -> String {
        var s = "\(path): GGUF v\(version), alignment \(alignment), \(metadata.count) metadata keys, \(tensors.count) tensors, \(fileSize) bytes\n"
        for k in metadataKeys { s += "  \(k) = \(metadata[k]!)\n" }
        var byType: [String: (Int, Int)] = [:]
        for t in tensors { let c = byType[t.type.name] ?? (0, 0); byType[t.type.name] = (c.0 + 1, c.1 + t.elementCount) }
        s += "tensor types: " + byType.keys.sorted().map { "\($0) ×\(byType[$0]!.0) (\(byType[$0]!.1) values)" }.joined(separator: ", ") + "\n"
        for t in tensors.prefix(maxTensors) { s += "  \(t.name)  \(t.type)  \(t.shape)\n" }
        if tensors.count > maxTensors { s += "  … \(tensors.count - maxTensors) more\n" }
        return s
    }
}
