import Support

/// Float → IEEE binary16 bits, round to nearest even (overflow → ±Inf).
@inlinable public func floatToHalfBits(_ x: Float) -> UInt16 { Float16(x).bitPattern }

/// Float → bfloat16 bits, round to nearest even; NaN stays NaN.
@inlinable public func floatToBF16Bits(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    if x.isNaN { return UInt16(u >> 16) | 0x40 }
    let r = u &+ 0x7FFF &+ ((u >> 16) & 1)
    return UInt16(r >> 16)
}

/// Conversion of ggml-stored tensor bytes to fp32.
///
/// Block layouts (ggml): Q8_0 = {fp16 d; int8 q[32]} → x[j] = q[j]·d.
/// Q4_0 = {fp16 d; uint8 qs[16]} → x[j] = ((qs[j] & 15) − 8)·d, x[j+16] = ((qs[j] >> 4) − 8)·d.
/// Q4_1 = {fp16 d; fp16 m; uint8 qs[16]} → x[j] = (qs[j] & 15)·d + m, x[j+16] = (qs[j] >> 4)·d + m.
public enum Dequant {
    /// fp16 → fp32 for every bit pattern.
    static let halfTable: [Float] = (0...0xFFFF).map { widenF16(UInt16($0)) }

    /// Decodes blocks `[b0, b1)` of `type` from `src` (block-aligned) into `dst` (at element b0·blockSize).
    /// Scalar reference code path, used per chunk by `decode`.
    @inlinable
    static func decodeBlocks(type: GGMLType, src: UnsafeRawPointer, blocks: Range<Int>,
                             dst: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>) {
        switch type {
        case .f32:
            for i in blocks { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in blocks { dst[i] = table[Int(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))] }
        case .bf16:
            for i in blocks { dst[i] = widenBF16(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .q8_0:
            for b in blocks {
                let p = src + 34 * b
                let d = table[Int(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))]
                let q = (p + 2).assumingMemoryBound(to: Int8.self)
                let o = dst + 32 * b
                for j in 0..<32 { o[j] = Float(q[j]) * d }
            }
        case .q4_0:
            for b in blocks {
                let p = src + 18 * b
                let d = table[Int(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))]
                let q = (p + 2).assumingMemoryBound(to: UInt8.self)
                let o = dst + 32 * b
                for j in 0..<16 {
                    o[j] = Float(Int32(q[j] & 15) - 8) * d
                    o[j + 16] = Float(Int32(q[j] >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in blocks {
                let p = src + 20 * b
                let d = table[Int(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))]
                let m = table[Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))]
                let q = (p + 4).assumingMemoryBound(to: UInt8.self)
                let o = dst + 32 * b
                for j in 0..<16 {
                    o[j] = Float(q[j] & 15) * d + m
                    o[j + 16] = Float(q[j] >> 4) * d + m
                }
            }
        default:
            preconditionFailure("Dequant: unsupported type \(type)")
        }
    }

    /// Decodes `count` elements of `type` from `src` into `dst`, in parallel chunks.
    /// `src` must hold `count / blockSize · bytesPerBlock` bytes and `type.isReadable`.
    /// Returns the first (lowest-index) non-finite value when `checkFinite`, else nil.
    /// Deterministic for any thread count.
    public static func decode(type: GGMLType, src: UnsafeRawBufferPointer, count: Int,
                              into dst: UnsafeMutablePointer<Float>, threads: Int? = nil,
                              checkFinite: Bool = false) -> (index: Int, value: Float)? {
        precondition(type.isReadable, "Dequant.decode: \(type) not readable")
        let bs = type.blockSize
        precondition(count % bs == 0 && src.count >= count / bs * type.bytesPerBlock, "Dequant.decode: bad sizes")
        if count == 0 { return nil }
        let nb = count / bs
        let base = UncheckedSendable(src.baseAddress!)
        let out = UncheckedSendable(dst)
        let chunk = max(1, 16384 / bs)                     // ~16K elements per task
        let nChunks = (nb + chunk - 1) / chunk
        var firstBad = [Int](repeating: Int.max, count: nChunks)
        halfTable.withUnsafeBufferPointer { tb in
            let table = UncheckedSendable(tb.baseAddress!)
            firstBad.withUnsafeMutableBufferPointer { fb in
                let fbp = UncheckedSendable(fb.baseAddress!)
                Parallel.forEach(nChunks, threads: nChunks < 4 ? 1 : threads) { ci in
                    let b0 = ci * chunk, b1 = min(nb, b0 + chunk)
                    decodeBlocks(type: type, src: base.value, blocks: b0..<b1, dst: out.value, table: table.value)
                    if checkFinite {
                        let o = out.value
                        for i in (b0 * bs)..<(b1 * bs) where !o[i].isFinite { fbp.value[ci] = i; break }
                    }
                }
            }
        }
        if checkFinite, let i = firstBad.first(where: { $0 != Int.max }) { return (i, dst[i]) }
        return nil
    }
}
