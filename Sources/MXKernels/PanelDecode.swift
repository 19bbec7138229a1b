// Decoding packed MX weight rows straight into the fp32 GEMM's packed W panel
// (`dst[k · nr + j]`), for the dequant GEMM (M > 8).
//
// Block 32, every format: each whole block is decoded with the GEMV's word decoders
// (integer ops on 4 or 8 words at once, exact), multiplied by its scale (a power of two,
// times the format factor), stored to a small buffer and scattered to the panel column.
// NaN/Inf element codes (FP8), partial blocks at K-block edges and other block sizes
// take the table decoder (`PackedMX.decode`). Both give bitwise the same values,
// code value × 2^(scale − 127), exact in fp32 (for scale bytes < 20 the value may fall
// below the fp32 subnormal range and the two multiplication orders may round differently).

/// One whole block (32 elements) of one row: decoded values × `scale` to `out[e · stride]`.
/// Returns false (nothing written) if the block holds NaN/Inf element codes.
@inline(__always) @usableFromInline
func decodeBlockFast<D: WordDecoder, V: SIMD, F: SIMD>(_: D.Type, _ p: UnsafeRawPointer, scale: Float,
                                                       out: UnsafeMutablePointer<Float>, stride: Int,
                                                       tmp: UnsafeMutablePointer<Float>, _: V.Type, _: F.Type) -> Bool
    where V.Scalar == UInt32, F.Scalar == Float {
    let L = V.scalarCount, E = D.elemsPerWord
    let w: V
    if D.unitBytes == 3 {
        // 3-byte units read 4 bytes each: go through a padded copy (never past the array).
        var pad = (SIMD16<UInt32>(), SIMD4<UInt32>())
        w = withUnsafeMutableBytes(of: &pad) { b in
            b.baseAddress!.copyMemory(from: p, byteCount: L * 3)
            return D.load(UnsafeRawPointer(b.baseAddress!), V.self)
        }
    } else {
        w = D.load(p, V.self)
    }
    if D.checksBadCodes && (D.probe(w) & V(repeating: 0x8080_8080)) != V() { return false }
    let s = F(repeating: scale)
    let t = UnsafeMutableRawPointer(tmp)
    let fs = MemoryLayout<F>.size
    t.storeBytes(of: D.decode(w, 0, F.self) * s, toByteOffset: 0, as: F.self)
    t.storeBytes(of: D.decode(w, 1, F.self) * s, toByteOffset: fs, as: F.self)
    t.storeBytes(of: D.decode(w, 2, F.self) * s, toByteOffset: 2 * fs, as: F.self)
    t.storeBytes(of: D.decode(w, 3, F.self) * s, toByteOffset: 3 * fs, as: F.self)
    if E == 8 {
        t.storeBytes(of: D.decode(w, 4, F.self) * s, toByteOffset: 4 * fs, as: F.self)
        t.storeBytes(of: D.decode(w, 5, F.self) * s, toByteOffset: 5 * fs, as: F.self)
        t.storeBytes(of: D.decode(w, 6, F.self) * s, toByteOffset: 6 * fs, as: F.self)
        t.storeBytes(of: D.decode(w, 7, F.self) * s, toByteOffset: 7 * fs, as: F.self)
    }
    // tmp[j · L + l] is element l · E + j.
    for l in 0..<L {
        for j in 0..<E { out[(l * E + j) * stride] = tmp[j * L + l] }
    }
    return true
}

/// Rows `j0 ..< j0 + jn` of W, columns `k0 ..< k0 + kc`, decoded and scaled into
/// `dst[(k − k0) · nr + (j − j0)]`; `sTab[byte]` = 2^(byte − 127) · format factor.
@inline(never) @usableFromInline
func decodePanelRows<D: WordDecoder>(_: D.Type, _ pw: PackedMX, dst: UnsafeMutablePointer<Float>, j0: Int, jn: Int,
                                     k0: Int, kc: Int, nr: Int, sTab: UnsafePointer<Float>,
                                     tmp: UnsafeMutablePointer<Float>, codes: UnsafeMutablePointer<UInt8>) {
    let B = 32
    let kEnd = k0 + kc
    let bFirst = (k0 + B - 1) / B, bEnd = kEnd / B          // whole blocks inside [k0, kEnd)
    let headEnd = min(bFirst * B, kEnd)
    for j in 0..<jn {
        let r = j0 + j
        let col = dst + j
        if bFirst >= bEnd {
            pw.decode(row: r, k0: k0, kc: kc, into: col, stride: nr, codes: codes)
            continue
        }
        if headEnd > k0 { pw.decode(row: r, k0: k0, kc: headEnd - k0, into: col, stride: nr, codes: codes) }
        let rowBytes = UnsafeRawPointer(pw.elements + r * pw.blocksPerRow * pw.bytesPerBlock)
        let sc = pw.scales + r * pw.blocksPerRow
        for b in bFirst..<bEnd {
            let out = col + (b * B - k0) * nr
            let p = rowBytes + b * pw.bytesPerBlock
            let s = sTab[Int(sc[b])]
            let ok: Bool
            switch D.elemsPerWord {
            case 8: ok = decodeBlockFast(D.self, p, scale: s, out: out, stride: nr, tmp: tmp, SIMD4<UInt32>.self, SIMD4<Float>.self)
            default: ok = decodeBlockFast(D.self, p, scale: s, out: out, stride: nr, tmp: tmp, SIMD8<UInt32>.self, SIMD8<Float>.self)
            }
            if !ok { pw.decode(row: r, k0: b * B, kc: B, into: out, stride: nr, codes: codes) }
        }
        if bEnd * B < kEnd { pw.decode(row: r, k0: bEnd * B, kc: kEnd - bEnd * B, into: col + (bEnd * B - k0) * nr, stride: nr, codes: codes) }
    }
}

/// Format factor folded into the scale table (the word decoders return k for MXINT8/MXINT4
/// element k·2^-6 / k·2^-2, and 2·v for MXFP4).
@usableFromInline
func wordDecoderFactor(_ kind: ElementKind) -> Float {
    switch kind {
    case .int4: return 0x1p-2
    case .int8: return 0x1p-6
    case .e2m1: return 0.5
    default: return 1
    }
}

/// Panel packer for `packedGemm` with packed MX weights: rows `j0 ..< j0 + jn` of W,
/// columns `k0 ..< k0 + kc`, into `dst[k · nr + j]`, zero-padded to `nr` columns.
@usableFromInline
func packMXPanel(_ pw: PackedMX, sTab: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, j0: Int, jn: Int, k0: Int, kc: Int, nr: Int) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 + pw.block) { tb in
        let tmp = tb.baseAddress!
        let codes = UnsafeMutableRawPointer(tmp + 32).bindMemory(to: UInt8.self, capacity: pw.block)
        if pw.block == 32 {
            switch pw.kind {
            case .int4: decodePanelRows(DecodeInt4.self, pw, dst: dst, j0: j0, jn: jn, k0: k0, kc: kc, nr: nr, sTab: sTab, tmp: tmp, codes: codes)
            case .int8: decodePanelRows(DecodeInt8.self, pw, dst: dst, j0: j0, jn: jn, k0: k0, kc: kc, nr: nr, sTab: sTab, tmp: tmp, codes: codes)
            case .e2m1: decodePanelRows(DecodeE2M1.self, pw, dst: dst, j0: j0, jn: jn, k0: k0, kc: kc, nr: nr, sTab: sTab, tmp: tmp, codes: codes)
            case .e4m3: decodePanelRows(DecodeE4M3.self, pw, dst: dst, j0: j0, jn: jn, k0: k0, kc: kc, nr: nr, sTab: sTab, tmp: tmp, codes: codes)
            case .e5m2: decodePanelRows(DecodeE5M2.self, pw, dst: dst, j0: j0, jn: jn, k0: k0, kc: kc, nr: nr, sTab: sTab, tmp: tmp, codes: codes)
            case .e2m3: decodePanelRows(DecodeE2M3.self, pw, dst: dst, j0: j0, jn: jn, k0: k0, kc: kc, nr: nr, sTab: sTab, tmp: tmp, codes: codes)
            case .e3m2: decodePanelRows(DecodeE3M2.self, pw, dst: dst, j0: j0, jn: jn, k0: k0, kc: kc, nr: nr, sTab: sTab, tmp: tmp, codes: codes)
            }
        } else {
            for j in 0..<jn { pw.decode(row: j0 + j, k0: k0, kc: kc, into: dst + j, stride: nr, codes: codes) }
        }
    }
    if jn < nr {
        for kk in 0..<kc { (dst + kk * nr + jn).update(repeating: 0, count: nr - jn) }
    }
}
