// Block-scaled register tile for MX × MX (written out by a template, like MicroKernels.swift).

/// 6×32 block-scaled tile for MX × MX: for each MX block of `block` k-steps, the
/// block sum Σ_k xv[k*6+r]·wv[k*32+j] (exact for integer element values: |sum| < 2^24)
/// is multiplied by xs[b*6+r]·ws[b*32+j] and added to the running total, blocks in order;
/// the total is then stored to C or added to it (`accumulate`).
@inline(never) @usableFromInline
func blockScaledKernel6x32(_ nblocks: Int, _ block: Int, _ xv: UnsafePointer<Float>, _ wv: UnsafePointer<Float>,
                            _ xs: UnsafePointer<Float>, _ ws: UnsafePointer<Float>,
                            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    typealias V = SIMD16<Float>
    var t00 = V(), t01 = V()
    var t10 = V(), t11 = V()
    var t20 = V(), t21 = V()
    var t30 = V(), t31 = V()
    var t40 = V(), t41 = V()
    var t50 = V(), t51 = V()
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
            let b1 = pb.loadUnaligned(fromByteOffset: 64, as: V.self)
            do { let a = V(repeating: pa[0]); s00.addProduct(a, b0); s01.addProduct(a, b1); }
            do { let a = V(repeating: pa[1]); s10.addProduct(a, b0); s11.addProduct(a, b1); }
            do { let a = V(repeating: pa[2]); s20.addProduct(a, b0); s21.addProduct(a, b1); }
            do { let a = V(repeating: pa[3]); s30.addProduct(a, b0); s31.addProduct(a, b1); }
            do { let a = V(repeating: pa[4]); s40.addProduct(a, b0); s41.addProduct(a, b1); }
            do { let a = V(repeating: pa[5]); s50.addProduct(a, b0); s51.addProduct(a, b1); }
            pa += 6; pb += 128
        }
        let wsr = UnsafeRawPointer(ws + b * 32)
        let w0 = wsr.loadUnaligned(fromByteOffset: 0, as: V.self)
        let w1 = wsr.loadUnaligned(fromByteOffset: 64, as: V.self)
        do { let a = V(repeating: xs[b * 6 + 0]); t00.addProduct(s00, a * w0); t01.addProduct(s01, a * w1); }
        do { let a = V(repeating: xs[b * 6 + 1]); t10.addProduct(s10, a * w0); t11.addProduct(s11, a * w1); }
        do { let a = V(repeating: xs[b * 6 + 2]); t20.addProduct(s20, a * w0); t21.addProduct(s21, a * w1); }
        do { let a = V(repeating: xs[b * 6 + 3]); t30.addProduct(s30, a * w0); t31.addProduct(s31, a * w1); }
        do { let a = V(repeating: xs[b * 6 + 4]); t40.addProduct(s40, a * w0); t41.addProduct(s41, a * w1); }
        do { let a = V(repeating: xs[b * 6 + 5]); t50.addProduct(s50, a * w0); t51.addProduct(s51, a * w1); }
    }
    let cr = UnsafeMutableRawPointer(c)
    let rs = ldc * 4
    if accumulate {
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 0*rs + 0, as: V.self) + t00, toByteOffset: 0*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 0*rs + 64, as: V.self) + t01, toByteOffset: 0*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 1*rs + 0, as: V.self) + t10, toByteOffset: 1*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 1*rs + 64, as: V.self) + t11, toByteOffset: 1*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 2*rs + 0, as: V.self) + t20, toByteOffset: 2*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 2*rs + 64, as: V.self) + t21, toByteOffset: 2*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 3*rs + 0, as: V.self) + t30, toByteOffset: 3*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 3*rs + 64, as: V.self) + t31, toByteOffset: 3*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 4*rs + 0, as: V.self) + t40, toByteOffset: 4*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 4*rs + 64, as: V.self) + t41, toByteOffset: 4*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 5*rs + 0, as: V.self) + t50, toByteOffset: 5*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 5*rs + 64, as: V.self) + t51, toByteOffset: 5*rs + 64, as: V.self)
    } else {
        cr.storeBytes(of: t00, toByteOffset: 0*rs + 0, as: V.self)
        cr.storeBytes(of: t01, toByteOffset: 0*rs + 64, as: V.self)
        cr.storeBytes(of: t10, toByteOffset: 1*rs + 0, as: V.self)
        cr.storeBytes(of: t11, toByteOffset: 1*rs + 64, as: V.self)
        cr.storeBytes(of: t20, toByteOffset: 2*rs + 0, as: V.self)
        cr.storeBytes(of: t21, toByteOffset: 2*rs + 64, as: V.self)
        cr.storeBytes(of: t30, toByteOffset: 3*rs + 0, as: V.self)
        cr.storeBytes(of: t31, toByteOffset: 3*rs + 64, as: V.self)
        cr.storeBytes(of: t40, toByteOffset: 4*rs + 0, as: V.self)
        cr.storeBytes(of: t41, toByteOffset: 4*rs + 64, as: V.self)
        cr.storeBytes(of: t50, toByteOffset: 5*rs + 0, as: V.self)
        cr.storeBytes(of: t51, toByteOffset: 5*rs + 64, as: V.self)
    }
}
