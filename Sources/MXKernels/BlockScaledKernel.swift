// Block-scaled register tiles for MX × MX (written out by a template, like MicroKernels.swift).

/// 8×48 block-scaled tile for MX × MX. For each MX block b (of `block` k-steps) the block
/// sums S[r,j] = Σ_k xv[k·8+r]·wv[k·48+j] are formed in registers (exact for integer element
/// values, |S| < 2^24), then tile[r,j] = fma(S, xs[b·8+r]·ws[b·48+j], tile[r,j]); blocks in
/// order, tile (row stride 48, in L1) starting from zero.
@inline(never) @usableFromInline
func blockScaledKernel8x48(_ nblocks: Int, _ block: Int, _ xv: UnsafePointer<Float>, _ wv: UnsafePointer<Float>,
               _ xs: UnsafePointer<Float>, _ ws: UnsafePointer<Float>, _ tile: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    tile.update(repeating: 0, count: 384)
    let tr = UnsafeMutableRawPointer(tile)
    var pa = xv
    var pb = UnsafeRawPointer(wv)
    for b in 0..<nblocks {
        var s00 = V(), s01 = V(), s02 = V()
        var s10 = V(), s11 = V(), s12 = V()
        var s20 = V(), s21 = V(), s22 = V()
        var s30 = V(), s31 = V(), s32 = V()
        var s40 = V(), s41 = V(), s42 = V()
        var s50 = V(), s51 = V(), s52 = V()
        var s60 = V(), s61 = V(), s62 = V()
        var s70 = V(), s71 = V(), s72 = V()
        for _ in 0..<block {
            let b0 = pb.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = pb.loadUnaligned(fromByteOffset: 64, as: V.self)
            let b2 = pb.loadUnaligned(fromByteOffset: 128, as: V.self)
            do { let a = V(repeating: pa[0]); s00.addProduct(a, b0); s01.addProduct(a, b1); s02.addProduct(a, b2); }
            do { let a = V(repeating: pa[1]); s10.addProduct(a, b0); s11.addProduct(a, b1); s12.addProduct(a, b2); }
            do { let a = V(repeating: pa[2]); s20.addProduct(a, b0); s21.addProduct(a, b1); s22.addProduct(a, b2); }
            do { let a = V(repeating: pa[3]); s30.addProduct(a, b0); s31.addProduct(a, b1); s32.addProduct(a, b2); }
            do { let a = V(repeating: pa[4]); s40.addProduct(a, b0); s41.addProduct(a, b1); s42.addProduct(a, b2); }
            do { let a = V(repeating: pa[5]); s50.addProduct(a, b0); s51.addProduct(a, b1); s52.addProduct(a, b2); }
            do { let a = V(repeating: pa[6]); s60.addProduct(a, b0); s61.addProduct(a, b1); s62.addProduct(a, b2); }
            do { let a = V(repeating: pa[7]); s70.addProduct(a, b0); s71.addProduct(a, b1); s72.addProduct(a, b2); }
            pa += 8; pb += 192
        }
        let wsr = UnsafeRawPointer(ws + b * 48)
        let xsb = xs + b * 8
        do { let a = V(repeating: xsb[0]); var t0 = tr.loadUnaligned(fromByteOffset: 0, as: V.self); t0.addProduct(s00, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 0, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 64, as: V.self); t1.addProduct(s01, a * wsr.loadUnaligned(fromByteOffset: 64, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 64, as: V.self); var t2 = tr.loadUnaligned(fromByteOffset: 128, as: V.self); t2.addProduct(s02, a * wsr.loadUnaligned(fromByteOffset: 128, as: V.self)); tr.storeBytes(of: t2, toByteOffset: 128, as: V.self) }
        do { let a = V(repeating: xsb[1]); var t0 = tr.loadUnaligned(fromByteOffset: 192, as: V.self); t0.addProduct(s10, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 192, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 256, as: V.self); t1.addProduct(s11, a * wsr.loadUnaligned(fromByteOffset: 64, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 256, as: V.self); var t2 = tr.loadUnaligned(fromByteOffset: 320, as: V.self); t2.addProduct(s12, a * wsr.loadUnaligned(fromByteOffset: 128, as: V.self)); tr.storeBytes(of: t2, toByteOffset: 320, as: V.self) }
        do { let a = V(repeating: xsb[2]); var t0 = tr.loadUnaligned(fromByteOffset: 384, as: V.self); t0.addProduct(s20, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 384, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 448, as: V.self); t1.addProduct(s21, a * wsr.loadUnaligned(fromByteOffset: 64, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 448, as: V.self); var t2 = tr.loadUnaligned(fromByteOffset: 512, as: V.self); t2.addProduct(s22, a * wsr.loadUnaligned(fromByteOffset: 128, as: V.self)); tr.storeBytes(of: t2, toByteOffset: 512, as: V.self) }
        do { let a = V(repeating: xsb[3]); var t0 = tr.loadUnaligned(fromByteOffset: 576, as: V.self); t0.addProduct(s30, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 576, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 640, as: V.self); t1.addProduct(s31, a * wsr.loadUnaligned(fromByteOffset: 64, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 640, as: V.self); var t2 = tr.loadUnaligned(fromByteOffset: 704, as: V.self); t2.addProduct(s32, a * wsr.loadUnaligned(fromByteOffset: 128, as: V.self)); tr.storeBytes(of: t2, toByteOffset: 704, as: V.self) }
        do { let a = V(repeating: xsb[4]); var t0 = tr.loadUnaligned(fromByteOffset: 768, as: V.self); t0.addProduct(s40, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 768, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 832, as: V.self); t1.addProduct(s41, a * wsr.loadUnaligned(fromByteOffset: 64, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 832, as: V.self); var t2 = tr.loadUnaligned(fromByteOffset: 896, as: V.self); t2.addProduct(s42, a * wsr.loadUnaligned(fromByteOffset: 128, as: V.self)); tr.storeBytes(of: t2, toByteOffset: 896, as: V.self) }
        do { let a = V(repeating: xsb[5]); var t0 = tr.loadUnaligned(fromByteOffset: 960, as: V.self); t0.addProduct(s50, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 960, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 1024, as: V.self); t1.addProduct(s51, a * wsr.loadUnaligned(fromByteOffset: 64, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 1024, as: V.self); var t2 = tr.loadUnaligned(fromByteOffset: 1088, as: V.self); t2.addProduct(s52, a * wsr.loadUnaligned(fromByteOffset: 128, as: V.self)); tr.storeBytes(of: t2, toByteOffset: 1088, as: V.self) }
        do { let a = V(repeating: xsb[6]); var t0 = tr.loadUnaligned(fromByteOffset: 1152, as: V.self); t0.addProduct(s60, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 1152, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 1216, as: V.self); t1.addProduct(s61, a * wsr.loadUnaligned(fromByteOffset: 64, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 1216, as: V.self); var t2 = tr.loadUnaligned(fromByteOffset: 1280, as: V.self); t2.addProduct(s62, a * wsr.loadUnaligned(fromByteOffset: 128, as: V.self)); tr.storeBytes(of: t2, toByteOffset: 1280, as: V.self) }
        do { let a = V(repeating: xsb[7]); var t0 = tr.loadUnaligned(fromByteOffset: 1344, as: V.self); t0.addProduct(s70, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 1344, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 1408, as: V.self); t1.addProduct(s71, a * wsr.loadUnaligned(fromByteOffset: 64, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 1408, as: V.self); var t2 = tr.loadUnaligned(fromByteOffset: 1472, as: V.self); t2.addProduct(s72, a * wsr.loadUnaligned(fromByteOffset: 128, as: V.self)); tr.storeBytes(of: t2, toByteOffset: 1472, as: V.self) }
    }
}

/// 6×16 block-scaled tile for MX × MX. For each MX block b (of `block` k-steps) the block
/// sums S[r,j] = Σ_k xv[k·6+r]·wv[k·16+j] are formed in registers (exact for integer element
/// values, |S| < 2^24), then tile[r,j] = fma(S, xs[b·6+r]·ws[b·16+j], tile[r,j]); blocks in
/// order, tile (row stride 16, in L1) starting from zero.
@inline(never) @usableFromInline
func blockScaledKernel6x16(_ nblocks: Int, _ block: Int, _ xv: UnsafePointer<Float>, _ wv: UnsafePointer<Float>,
               _ xs: UnsafePointer<Float>, _ ws: UnsafePointer<Float>, _ tile: UnsafeMutablePointer<Float>) {
    typealias V = SIMD8<Float>
    tile.update(repeating: 0, count: 96)
    let tr = UnsafeMutableRawPointer(tile)
    var pa = xv
    var pb = UnsafeRawPointer(wv)
    for b in 0..<nblocks {
        var s00 = V(), s01 = V()
        var s10 = V(), s11 = V()
        var s20 = V(), s21 = V()
        var s30 = V(), s31 = V()
        var s40 = V(), s41 = V()
        var s50 = V(), s51 = V()
        for _ in 0..<block {
            let b0 = pb.loadUnaligned(fromByteOffset: 0, as: V.self)
            let b1 = pb.loadUnaligned(fromByteOffset: 32, as: V.self)
            do { let a = V(repeating: pa[0]); s00.addProduct(a, b0); s01.addProduct(a, b1); }
            do { let a = V(repeating: pa[1]); s10.addProduct(a, b0); s11.addProduct(a, b1); }
            do { let a = V(repeating: pa[2]); s20.addProduct(a, b0); s21.addProduct(a, b1); }
            do { let a = V(repeating: pa[3]); s30.addProduct(a, b0); s31.addProduct(a, b1); }
            do { let a = V(repeating: pa[4]); s40.addProduct(a, b0); s41.addProduct(a, b1); }
            do { let a = V(repeating: pa[5]); s50.addProduct(a, b0); s51.addProduct(a, b1); }
            pa += 6; pb += 64
        }
        let wsr = UnsafeRawPointer(ws + b * 16)
        let xsb = xs + b * 6
        do { let a = V(repeating: xsb[0]); var t0 = tr.loadUnaligned(fromByteOffset: 0, as: V.self); t0.addProduct(s00, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 0, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 32, as: V.self); t1.addProduct(s01, a * wsr.loadUnaligned(fromByteOffset: 32, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 32, as: V.self) }
        do { let a = V(repeating: xsb[1]); var t0 = tr.loadUnaligned(fromByteOffset: 64, as: V.self); t0.addProduct(s10, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 64, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 96, as: V.self); t1.addProduct(s11, a * wsr.loadUnaligned(fromByteOffset: 32, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 96, as: V.self) }
        do { let a = V(repeating: xsb[2]); var t0 = tr.loadUnaligned(fromByteOffset: 128, as: V.self); t0.addProduct(s20, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 128, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 160, as: V.self); t1.addProduct(s21, a * wsr.loadUnaligned(fromByteOffset: 32, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 160, as: V.self) }
        do { let a = V(repeating: xsb[3]); var t0 = tr.loadUnaligned(fromByteOffset: 192, as: V.self); t0.addProduct(s30, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 192, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 224, as: V.self); t1.addProduct(s31, a * wsr.loadUnaligned(fromByteOffset: 32, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 224, as: V.self) }
        do { let a = V(repeating: xsb[4]); var t0 = tr.loadUnaligned(fromByteOffset: 256, as: V.self); t0.addProduct(s40, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 256, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 288, as: V.self); t1.addProduct(s41, a * wsr.loadUnaligned(fromByteOffset: 32, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 288, as: V.self) }
        do { let a = V(repeating: xsb[5]); var t0 = tr.loadUnaligned(fromByteOffset: 320, as: V.self); t0.addProduct(s50, a * wsr.loadUnaligned(fromByteOffset: 0, as: V.self)); tr.storeBytes(of: t0, toByteOffset: 320, as: V.self); var t1 = tr.loadUnaligned(fromByteOffset: 352, as: V.self); t1.addProduct(s51, a * wsr.loadUnaligned(fromByteOffset: 32, as: V.self)); tr.storeBytes(of: t1, toByteOffset: 352, as: V.self) }
    }
}
