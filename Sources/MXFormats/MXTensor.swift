import Support

/// Packed MX tensor, logical `[rows, cols]` row-major, blocks of `config.block` along cols.
///
/// Storage (mx-numerics.md): `scales` is `[rows, blocksPerRow]` E8M0 bytes; `elements` is
/// `[rows, blocksPerRow, bytesPerBlock]`: 8-bit codes one per byte, 4-bit codes two per byte
/// (element 2i in the low nibble), 6-bit codes as a little-endian bit stream per block
/// (element i in bits [6i, 6i+6)). A partial last block is zero-padded.
public struct MXTensor: Sendable, Hashable {
    public let rows: Int, cols: Int, config: MXConfig
    /// E8M0 scale bytes, `[rows * blocksPerRow]`.
    public var scales: [UInt8]
    /// Packed element codes, `[rows * blocksPerRow * bytesPerBlock]`.
    public var elements: [UInt8]

    /// Blocks per row: ceil(cols / block).
    @inlinable public var blocksPerRow: Int { (cols + config.block - 1) / config.block }
    /// Bytes of packed codes per block: ceil(block * elementBits / 8).
    @inlinable public var bytesPerBlock: Int { (config.block * config.format.elementBits + 7) / 8 }
    /// Bytes of packed codes per row.
    @inlinable public var bytesPerRow: Int { blocksPerRow * bytesPerBlock }

    /// Wraps existing storage; sizes must match the layout.
    public init(rows: Int, cols: Int, config: MXConfig, scales: [UInt8], elements: [UInt8]) {
        precondition(rows >= 0 && cols >= 0)
        self.rows = rows; self.cols = cols; self.config = config
        self.scales = scales; self.elements = elements
        precondition(scales.count == rows * blocksPerRow, "MXTensor: scales has \(scales.count) bytes, expected \(rows * blocksPerRow)")
        precondition(elements.count == rows * bytesPerRow, "MXTensor: elements has \(elements.count) bytes, expected \(rows * bytesPerRow)")
    }

    /// Encodes row-major fp32 `values` (`[rows*cols]`); multithreaded over rows,
    /// bit-identical to `MXReference.encode` for any thread count.
    public init(encoding values: UnsafeBufferPointer<Float>, rows: Int, cols: Int, config: MXConfig, threads: Int? = nil) {
        self = MXTensor.encodeFast(values, rows: rows, cols: cols, config: config, threads: threads, stats: false).0
    }

    public init(encoding values: [Float], rows: Int, cols: Int, config: MXConfig, threads: Int? = nil) {
        self = values.withUnsafeBufferPointer { MXTensor(encoding: $0, rows: rows, cols: cols, config: config, threads: threads) }
    }

    /// Encodes and also returns the diagnostics of the encoding (as `mxFakeQuantize` would).
    public static func encodeWithDiagnostics(_ values: UnsafeBufferPointer<Float>, rows: Int, cols: Int, config: MXConfig,
                                             threads: Int? = nil) -> (MXTensor, MXDiagnostics) {
        let (t, d) = encodeFast(values, rows: rows, cols: cols, config: config, threads: threads, stats: true)
        return (t, d!)
    }

    /// Decodes to row-major fp32 `[rows*cols]`; NaN for blocks with scale 0xFF.
    public func decoded(threads: Int? = nil) -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        out.withUnsafeMutableBufferPointer { decode(into: $0.baseAddress!, threads: threads) }
        return out
    }

    /// Decodes into `out[0..<rows*cols]` (row-major), multithreaded over rows.
    public func decode(into out: UnsafeMutablePointer<Float>, threads: Int? = nil) {
        if rows == 0 || cols == 0 { return }
        let base = UncheckedSendable(out)
        let codec = RowCodec(config)
        let nb = blocksPerRow, bpr = bytesPerRow, cols = cols
        scales.withUnsafeBufferPointer { s in
            elements.withUnsafeBufferPointer { e in
                let sp = UncheckedSendable(s.baseAddress!), ep = UncheckedSendable(e.baseAddress!)
                Parallel.forRanges(rows, threads: threads, minChunk: max(1, 65536 / cols)) { range in
                    for r in range {
                        codec.decodeRow(scales: sp.value + r * nb, packed: ep.value + r * bpr, cols: cols,
                                        out: base.value + r * cols)
                    }
                }
            }
        }
    }

    /// Decodes row `r` into `out[0..<cols]`.
    public func decodeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(r >= 0 && r < rows)
        let codec = RowCodec(config)
        scales.withUnsafeBufferPointer { s in
            elements.withUnsafeBufferPointer { e in
                codec.decodeRow(scales: s.baseAddress! + r * blocksPerRow, packed: e.baseAddress! + r * bytesPerRow,
                                cols: cols, out: out)
            }
        }
    }

    /// The element code at (`row`, `col`) (unpacked).
    public func code(row: Int, col: Int) -> UInt8 {
        precondition(row >= 0 && row < rows && col >= 0 && col < cols)
        let b = config.block
        let base = row * bytesPerRow + (col / b) * bytesPerBlock
        return elements.withUnsafeBufferPointer { unpackCode($0.baseAddress! + base, index: col % b, bits: config.format.elementBits) }
    }

    /// Shared exponent E of block `blk` of `row`, nil for a non-finite block.
    public func scaleExponent(row: Int, block blk: Int) -> Int? {
        E8M0.exponent(scales[row * blocksPerRow + blk])
    }
}

/// Code `index` of a packed block starting at `p`.
@inlinable func unpackCode(_ p: UnsafePointer<UInt8>, index i: Int, bits: Int) -> UInt8 {
    switch bits {
    case 8: return p[i]
    case 4: return (p[i >> 1] >> UInt8((i & 1) * 4)) & 0xF
    default:
        let bit = i * 6, byte = bit >> 3, sh = bit & 7
        var w = UInt16(p[byte])
        if sh > 2 { w |= UInt16(p[byte + 1]) << 8 }
        return UInt8(truncatingIfNeeded: w >> UInt16(sh)) & 0x3F
    }
}

/// Quantize-dequantize `x` (row-major `[rows, cols]`) in place: what a model sees through an
/// MX quantizer. Returns the diagnostics (see `MXDiagnostics`); with `diagnostics: false` it
/// skips them (faster) and returns only `elements`. Values are bit-identical to
/// `MXReference.fakeQuantize` for any thread count.
@discardableResult
public func mxFakeQuantize(_ x: UnsafeMutableBufferPointer<Float>, rows: Int, cols: Int, config: MXConfig,
                           threads: Int? = nil, diagnostics: Bool = true) -> MXDiagnostics {
    precondition(x.count >= rows * cols)
    if rows == 0 || cols == 0 { return MXDiagnostics() }
    let d = MXTensor.runRows(UnsafeBufferPointer(x), rows: rows, cols: cols, config: config, threads: threads,
                             stats: diagnostics, scales: nil, packed: nil, fakeOut: x.baseAddress)
    if let d = d { return d }
    var e = MXDiagnostics(); e.elements = rows * cols
    return e
}

extension MXTensor {
    static func encodeFast(_ values: UnsafeBufferPointer<Float>, rows: Int, cols: Int, config: MXConfig,
                           threads: Int?, stats: Bool) -> (MXTensor, MXDiagnostics?) {
        precondition(rows >= 0 && cols >= 0 && values.count >= rows * cols)
        let nb = (cols + config.block - 1) / config.block
        let bpb = (config.block * config.format.elementBits + 7) / 8
        if rows == 0 || cols == 0 {
            let t = MXTensor(rows: rows, cols: cols, config: config, scales: [], elements: [])
            return (t, stats ? MXDiagnostics() : nil)
        }
        // Every scale byte and every packed byte (padding included) is written by runRows.
        var diag: MXDiagnostics? = nil
        var elements: [UInt8] = []
        let scales = [UInt8](unsafeUninitializedCapacity: rows * nb) { s, sCount in
            elements = [UInt8](unsafeUninitializedCapacity: rows * nb * bpb) { e, eCount in
                #if DEBUG   // poison, so tests catch any byte the encoder fails to write
                s.initialize(repeating: 0xA5); e.initialize(repeating: 0xA5)
                #endif
                diag = runRows(values, rows: rows, cols: cols, config: config, threads: threads, stats: stats,
                               scales: s.baseAddress, packed: e.baseAddress, fakeOut: nil)
                eCount = rows * nb * bpb
            }
            sCount = rows * nb
        }
        return (MXTensor(rows: rows, cols: cols, config: config, scales: scales, elements: elements), diag)
    }

    /// Row driver shared by encoding and fake quantization: splits rows over threads; each
    /// row's error sums are stored and added in row order afterwards (thread-count independent).
    static func runRows(_ values: UnsafeBufferPointer<Float>, rows: Int, cols: Int, config: MXConfig, threads: Int?,
                        stats: Bool, scales: UnsafeMutablePointer<UInt8>?, packed: UnsafeMutablePointer<UInt8>?,
                        fakeOut: UnsafeMutablePointer<Float>?) -> MXDiagnostics? {
        if rows == 0 || cols == 0 {
            if !stats { return nil }
            var d = MXDiagnostics(); d.elements = 0; return d
        }
        let codec = RowCodec(config)
        let nb = (cols + config.block - 1) / config.block
        let bpr = nb * codec.bytesPerBlock
        var rowSums = [Double](repeating: 0, count: stats ? 2 * rows : 0)
        let parts = max(1, min(threads ?? Parallel.defaultThreads, rows))
        var partStats = [RowStats](repeating: RowStats(), count: stats ? parts : 0)
        let src = UncheckedSendable(values.baseAddress!)
        let sc = UncheckedSendable(scales), pk = UncheckedSendable(packed), fo = UncheckedSendable(fakeOut)
        rowSums.withUnsafeMutableBufferPointer { rs in
            partStats.withUnsafeMutableBufferPointer { ps in
                let rsp = UncheckedSendable(rs.baseAddress), psp = UncheckedSendable(ps.baseAddress)
                let minRows = max(1, 32768 / cols)
                let chunks = max(1, min(parts, (rows + minRows - 1) / minRows))
                Parallel.forEach(chunks, threads: threads) { p in
                    let lo = rows * p / chunks, hi = rows * (p + 1) / chunks
                    var st = RowStats()
                    withUnsafeMutablePointer(to: &st) { stp in
                        for r in lo..<hi {
                            let (sse, sss) = codec.encodeRow(
                                src.value + r * cols, cols: cols, row: r,
                                scales: sc.value.map { $0 + r * nb }, packed: pk.value.map { $0 + r * bpr },
                                fakeOut: fo.value.map { $0 + r * cols }, stats: stats ? stp : nil)
                            if stats { rsp.value![2 * r] = sse; rsp.value![2 * r + 1] = sss }
                        }
                    }
                    if stats { psp.value![p] = st }
                }
            }
        }
        if !stats { return nil }
        var d = MXDiagnostics()
        d.elements = rows * cols
        for st in partStats {
            d.finiteElements += st.finiteElements
            d.saturated += st.saturated
            d.flushedToZero += st.flushedToZero
            d.nonFiniteBlocks += st.nonFiniteBlocks
            for i in 0..<256 { d.exponentHistogram[i] += st.histogram[i] }
        }
        for r in 0..<rows {
            d.sumSquaredError += rowSums[2 * r]
            d.sumSquaredSignal += rowSums[2 * r + 1]
        }
        return d
    }
}

// MARK: - Serialization

extension MXTensor {
    static let magic: [UInt8] = Array("MXQT".utf8)
    static let version: UInt8 = 1

    /// Self-describing little-endian bytes: "MXQT", version, format name, block, scale rule,
    /// rounding (+seed), rows, cols, scales, elements, FNV-1a-64 checksum of all preceding bytes.
    public func serialized() -> [UInt8] {
        var out = MXTensor.magic
        out.append(MXTensor.version)
        let name = Array(config.format.rawValue.utf8)
        out.append(UInt8(name.count)); out += name
        appendLE(&out, UInt64(config.block), bytes: 4)
        out.append(config.scaleRule == .floor ? 0 : 1)
        switch config.rounding {
        case .even: out.append(0); appendLE(&out, 0, bytes: 8)
        case .away: out.append(1); appendLE(&out, 0, bytes: 8)
        case .stochastic(let s): out.append(2); appendLE(&out, s, bytes: 8)
        }
        appendLE(&out, UInt64(rows), bytes: 8)
        appendLE(&out, UInt64(cols), bytes: 8)
        out += scales
        out += elements
        appendLE(&out, fnv1a64(out[...]), bytes: 8)
        return out
    }

    /// Parses `serialized()` output; throws `MXFormatError.badData` on any damage
    /// (truncation, bad magic/version/format/sizes, checksum mismatch).
    public init(deserializing bytes: [UInt8]) throws {
        func bad(_ s: String) -> MXFormatError { .badData(s) }
        var pos = 0
        func take(_ n: Int) throws -> ArraySlice<UInt8> {
            guard n >= 0, bytes.count - pos >= n else { throw bad("truncated at byte \(pos) (total \(bytes.count))") }
            defer { pos += n }
            return bytes[pos..<(pos + n)]
        }
        func le(_ n: Int) throws -> UInt64 {
            var v: UInt64 = 0
            for (i, b) in try take(n).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
            return v
        }
        guard Array(try take(4)) == MXTensor.magic else { throw bad("missing 'MXQT' magic") }
        let ver = try take(1).first!
        guard ver == MXTensor.version else { throw bad("unsupported version \(ver), expected \(MXTensor.version)") }
        let nameLen = Int(try take(1).first!)
        let name = String(decoding: try take(nameLen), as: UTF8.self)
        guard let format = MXFormat(rawValue: name) else { throw bad("unknown format '\(name)'") }
        let block = Int(try le(4))
        guard MXConfig.isValidBlock(block) else { throw bad("block size \(block) is not a positive even number") }
        let ruleByte = try take(1).first!
        guard ruleByte <= 1 else { throw bad("scale rule byte \(ruleByte), expected 0 or 1") }
        let roundByte = try take(1).first!
        let seed = try le(8)
        let rounding: MXRounding
        switch roundByte {
        case 0: rounding = .even
        case 1: rounding = .away
        case 2: rounding = .stochastic(seed: seed)
        default: throw bad("rounding byte \(roundByte), expected 0, 1 or 2")
        }
        let rows64 = try le(8), cols64 = try le(8)
        guard rows64 < (1 << 40), cols64 < (1 << 40) else { throw bad("implausible shape [\(rows64), \(cols64)]") }
        let rows = Int(rows64), cols = Int(cols64)
        let config = MXConfig(format: format, block: block, scaleRule: ruleByte == 0 ? .floor : .ceil, rounding: rounding)
        let nb = (cols + block - 1) / block
        let bpb = (block * format.elementBits + 7) / 8
        let (nScales, o1) = rows.multipliedReportingOverflow(by: nb)
        let (nElems, o2) = nScales.multipliedReportingOverflow(by: bpb)
        guard !o1, !o2, bytes.count - pos == nScales + nElems + 8 else {
            throw bad("size mismatch: \(bytes.count) bytes for shape [\(rows), \(cols)] \(config)")
        }
        let scales = Array(try take(nScales)), elements = Array(try take(nElems))
        let sum = try le(8)
        guard sum == fnv1a64(bytes[0..<(bytes.count - 8)]) else { throw bad("checksum mismatch (damaged data)") }
        self.init(rows: rows, cols: cols, config: config, scales: scales, elements: elements)
    }
}

private func appendLE(_ out: inout [UInt8], _ v: UInt64, bytes n: Int) {
    for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
}

private func fnv1a64(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return h
}
