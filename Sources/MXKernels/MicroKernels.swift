// Register-tile micro-kernels of the packed fp32 GEMM (written out by a template:
// one accumulator variable per SIMD register so that LLVM keeps the whole tile in registers).

/// 8×48 register tile: C[r, 0..<48] (+)= Σ_k x[r·rs + k·ks] · wp[k·48 ..< k·48+48] for k in 0..<kc,
/// summed in increasing k from zero by FMA, then stored to C or added to it (`accumulate`).
/// X is read in place (rs = ldx, ks = 1) or from a packed panel (rs = 1, ks = 8).
@inline(never) @usableFromInline
func microKernel8x48(_ kc: Int, _ x: UnsafePointer<Float>, _ rs: Int, _ ks: Int, _ wp: UnsafePointer<Float>,
           _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    typealias V = SIMD16<Float>
    var c00 = V(), c01 = V(), c02 = V()
    var c10 = V(), c11 = V(), c12 = V()
    var c20 = V(), c21 = V(), c22 = V()
    var c30 = V(), c31 = V(), c32 = V()
    var c40 = V(), c41 = V(), c42 = V()
    var c50 = V(), c51 = V(), c52 = V()
    var c60 = V(), c61 = V(), c62 = V()
    var c70 = V(), c71 = V(), c72 = V()
    let x0 = x + 0 * rs
    let x1 = x + 1 * rs
    let x2 = x + 2 * rs
    let x3 = x + 3 * rs
    let x4 = x + 4 * rs
    let x5 = x + 5 * rs
    let x6 = x + 6 * rs
    let x7 = x + 7 * rs
    var pb = UnsafeRawPointer(wp)
    var o = 0
    let end = kc * ks
    while o < end {
        let b0 = pb.loadUnaligned(fromByteOffset: 0, as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: 64, as: V.self)
        let b2 = pb.loadUnaligned(fromByteOffset: 128, as: V.self)
        do { let a = V(repeating: x0[o]); c00.addProduct(a, b0); c01.addProduct(a, b1); c02.addProduct(a, b2); }
        do { let a = V(repeating: x1[o]); c10.addProduct(a, b0); c11.addProduct(a, b1); c12.addProduct(a, b2); }
        do { let a = V(repeating: x2[o]); c20.addProduct(a, b0); c21.addProduct(a, b1); c22.addProduct(a, b2); }
        do { let a = V(repeating: x3[o]); c30.addProduct(a, b0); c31.addProduct(a, b1); c32.addProduct(a, b2); }
        do { let a = V(repeating: x4[o]); c40.addProduct(a, b0); c41.addProduct(a, b1); c42.addProduct(a, b2); }
        do { let a = V(repeating: x5[o]); c50.addProduct(a, b0); c51.addProduct(a, b1); c52.addProduct(a, b2); }
        do { let a = V(repeating: x6[o]); c60.addProduct(a, b0); c61.addProduct(a, b1); c62.addProduct(a, b2); }
        do { let a = V(repeating: x7[o]); c70.addProduct(a, b0); c71.addProduct(a, b1); c72.addProduct(a, b2); }
        pb += 192; o += ks
    }
    let cr = UnsafeMutableRawPointer(c)
    let rs = ldc * 4
    if accumulate {
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 0*rs + 0, as: V.self) + c00, toByteOffset: 0*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 0*rs + 64, as: V.self) + c01, toByteOffset: 0*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 0*rs + 128, as: V.self) + c02, toByteOffset: 0*rs + 128, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 1*rs + 0, as: V.self) + c10, toByteOffset: 1*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 1*rs + 64, as: V.self) + c11, toByteOffset: 1*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 1*rs + 128, as: V.self) + c12, toByteOffset: 1*rs + 128, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 2*rs + 0, as: V.self) + c20, toByteOffset: 2*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 2*rs + 64, as: V.self) + c21, toByteOffset: 2*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 2*rs + 128, as: V.self) + c22, toByteOffset: 2*rs + 128, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 3*rs + 0, as: V.self) + c30, toByteOffset: 3*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 3*rs + 64, as: V.self) + c31, toByteOffset: 3*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 3*rs + 128, as: V.self) + c32, toByteOffset: 3*rs + 128, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 4*rs + 0, as: V.self) + c40, toByteOffset: 4*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 4*rs + 64, as: V.self) + c41, toByteOffset: 4*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 4*rs + 128, as: V.self) + c42, toByteOffset: 4*rs + 128, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 5*rs + 0, as: V.self) + c50, toByteOffset: 5*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 5*rs + 64, as: V.self) + c51, toByteOffset: 5*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 5*rs + 128, as: V.self) + c52, toByteOffset: 5*rs + 128, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 6*rs + 0, as: V.self) + c60, toByteOffset: 6*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 6*rs + 64, as: V.self) + c61, toByteOffset: 6*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 6*rs + 128, as: V.self) + c62, toByteOffset: 6*rs + 128, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 7*rs + 0, as: V.self) + c70, toByteOffset: 7*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 7*rs + 64, as: V.self) + c71, toByteOffset: 7*rs + 64, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 7*rs + 128, as: V.self) + c72, toByteOffset: 7*rs + 128, as: V.self)
    } else {
        cr.storeBytes(of: c00, toByteOffset: 0*rs + 0, as: V.self)
        cr.storeBytes(of: c01, toByteOffset: 0*rs + 64, as: V.self)
        cr.storeBytes(of: c02, toByteOffset: 0*rs + 128, as: V.self)
        cr.storeBytes(of: c10, toByteOffset: 1*rs + 0, as: V.self)
        cr.storeBytes(of: c11, toByteOffset: 1*rs + 64, as: V.self)
        cr.storeBytes(of: c12, toByteOffset: 1*rs + 128, as: V.self)
        cr.storeBytes(of: c20, toByteOffset: 2*rs + 0, as: V.self)
        cr.storeBytes(of: c21, toByteOffset: 2*rs + 64, as: V.self)
        cr.storeBytes(of: c22, toByteOffset: 2*rs + 128, as: V.self)
        cr.storeBytes(of: c30, toByteOffset: 3*rs + 0, as: V.self)
        cr.storeBytes(of: c31, toByteOffset: 3*rs + 64, as: V.self)
        cr.storeBytes(of: c32, toByteOffset: 3*rs + 128, as: V.self)
        cr.storeBytes(of: c40, toByteOffset: 4*rs + 0, as: V.self)
        cr.storeBytes(of: c41, toByteOffset: 4*rs + 64, as: V.self)
        cr.storeBytes(of: c42, toByteOffset: 4*rs + 128, as: V.self)
        cr.storeBytes(of: c50, toByteOffset: 5*rs + 0, as: V.self)
        cr.storeBytes(of: c51, toByteOffset: 5*rs + 64, as: V.self)
        cr.storeBytes(of: c52, toByteOffset: 5*rs + 128, as: V.self)
        cr.storeBytes(of: c60, toByteOffset: 6*rs + 0, as: V.self)
        cr.storeBytes(of: c61, toByteOffset: 6*rs + 64, as: V.self)
        cr.storeBytes(of: c62, toByteOffset: 6*rs + 128, as: V.self)
        cr.storeBytes(of: c70, toByteOffset: 7*rs + 0, as: V.self)
        cr.storeBytes(of: c71, toByteOffset: 7*rs + 64, as: V.self)
        cr.storeBytes(of: c72, toByteOffset: 7*rs + 128, as: V.self)
    }
}

/// 6×16 register tile: C[r, 0..<16] (+)= Σ_k x[r·rs + k·ks] · wp[k·16 ..< k·16+16] for k in 0..<kc,
/// summed in increasing k from zero by FMA, then stored to C or added to it (`accumulate`).
/// X is read in place (rs = ldx, ks = 1) or from a packed panel (rs = 1, ks = 6).
@inline(never) @usableFromInline
func microKernel6x16(_ kc: Int, _ x: UnsafePointer<Float>, _ rs: Int, _ ks: Int, _ wp: UnsafePointer<Float>,
           _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    typealias V = SIMD8<Float>
    var c00 = V(), c01 = V()
    var c10 = V(), c11 = V()
    var c20 = V(), c21 = V()
    var c30 = V(), c31 = V()
    var c40 = V(), c41 = V()
    var c50 = V(), c51 = V()
    let x0 = x + 0 * rs
    let x1 = x + 1 * rs
    let x2 = x + 2 * rs
    let x3 = x + 3 * rs
    let x4 = x + 4 * rs
    let x5 = x + 5 * rs
    var pb = UnsafeRawPointer(wp)
    var o = 0
    let end = kc * ks
    while o < end {
        let b0 = pb.loadUnaligned(fromByteOffset: 0, as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: 32, as: V.self)
        do { let a = V(repeating: x0[o]); c00.addProduct(a, b0); c01.addProduct(a, b1); }
        do { let a = V(repeating: x1[o]); c10.addProduct(a, b0); c11.addProduct(a, b1); }
        do { let a = V(repeating: x2[o]); c20.addProduct(a, b0); c21.addProduct(a, b1); }
        do { let a = V(repeating: x3[o]); c30.addProduct(a, b0); c31.addProduct(a, b1); }
        do { let a = V(repeating: x4[o]); c40.addProduct(a, b0); c41.addProduct(a, b1); }
        do { let a = V(repeating: x5[o]); c50.addProduct(a, b0); c51.addProduct(a, b1); }
        pb += 64; o += ks
    }
    let cr = UnsafeMutableRawPointer(c)
    let rs = ldc * 4
    if accumulate {
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 0*rs + 0, as: V.self) + c00, toByteOffset: 0*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 0*rs + 32, as: V.self) + c01, toByteOffset: 0*rs + 32, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 1*rs + 0, as: V.self) + c10, toByteOffset: 1*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 1*rs + 32, as: V.self) + c11, toByteOffset: 1*rs + 32, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 2*rs + 0, as: V.self) + c20, toByteOffset: 2*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 2*rs + 32, as: V.self) + c21, toByteOffset: 2*rs + 32, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 3*rs + 0, as: V.self) + c30, toByteOffset: 3*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 3*rs + 32, as: V.self) + c31, toByteOffset: 3*rs + 32, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 4*rs + 0, as: V.self) + c40, toByteOffset: 4*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 4*rs + 32, as: V.self) + c41, toByteOffset: 4*rs + 32, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 5*rs + 0, as: V.self) + c50, toByteOffset: 5*rs + 0, as: V.self)
        cr.storeBytes(of: cr.loadUnaligned(fromByteOffset: 5*rs + 32, as: V.self) + c51, toByteOffset: 5*rs + 32, as: V.self)
    } else {
        cr.storeBytes(of: c00, toByteOffset: 0*rs + 0, as: V.self)
        cr.storeBytes(of: c01, toByteOffset: 0*rs + 32, as: V.self)
        cr.storeBytes(of: c10, toByteOffset: 1*rs + 0, as: V.self)
        cr.storeBytes(of: c11, toByteOffset: 1*rs + 32, as: V.self)
        cr.storeBytes(of: c20, toByteOffset: 2*rs + 0, as: V.self)
        cr.storeBytes(of: c21, toByteOffset: 2*rs + 32, as: V.self)
        cr.storeBytes(of: c30, toByteOffset: 3*rs + 0, as: V.self)
        cr.storeBytes(of: c31, toByteOffset: 3*rs + 32, as: V.self)
        cr.storeBytes(of: c40, toByteOffset: 4*rs + 0, as: V.self)
        cr.storeBytes(of: c41, toByteOffset: 4*rs + 32, as: V.self)
        cr.storeBytes(of: c50, toByteOffset: 5*rs + 0, as: V.self)
        cr.storeBytes(of: c51, toByteOffset: 5*rs + 32, as: V.self)
    }
}
