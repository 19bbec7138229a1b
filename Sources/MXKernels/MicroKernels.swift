// Register-tile micro-kernels of the packed fp32 GEMM (written out by a template:
// one accumulator variable per SIMD register so that LLVM keeps the whole tile in registers).

/// 8×48 register tile: C[r, 0..<48] (+)= Σ_k xp[k*8+r] · wp[k*48..<+48], k in 0..<kc,
/// summed in increasing k from zero, then added to C if `accumulate`.
@inline(never) @usableFromInline
func microKernel8x48(_ kc: Int, _ xp: UnsafePointer<Float>, _ wp: UnsafePointer<Float>,
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
    var pa = xp
    var pb = UnsafeRawPointer(wp)
    var k = 0
    while k < kc {
        let b0 = pb.loadUnaligned(fromByteOffset: 0, as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: 64, as: V.self)
        let b2 = pb.loadUnaligned(fromByteOffset: 128, as: V.self)
        do { let a = V(repeating: pa[0]); c00.addProduct(a, b0); c01.addProduct(a, b1); c02.addProduct(a, b2); }
        do { let a = V(repeating: pa[1]); c10.addProduct(a, b0); c11.addProduct(a, b1); c12.addProduct(a, b2); }
        do { let a = V(repeating: pa[2]); c20.addProduct(a, b0); c21.addProduct(a, b1); c22.addProduct(a, b2); }
        do { let a = V(repeating: pa[3]); c30.addProduct(a, b0); c31.addProduct(a, b1); c32.addProduct(a, b2); }
        do { let a = V(repeating: pa[4]); c40.addProduct(a, b0); c41.addProduct(a, b1); c42.addProduct(a, b2); }
        do { let a = V(repeating: pa[5]); c50.addProduct(a, b0); c51.addProduct(a, b1); c52.addProduct(a, b2); }
        do { let a = V(repeating: pa[6]); c60.addProduct(a, b0); c61.addProduct(a, b1); c62.addProduct(a, b2); }
        do { let a = V(repeating: pa[7]); c70.addProduct(a, b0); c71.addProduct(a, b1); c72.addProduct(a, b2); }
        pa += 8; pb += 192; k += 1
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

/// 6×16 register tile: C[r, 0..<16] (+)= Σ_k xp[k*6+r] · wp[k*16..<+16], k in 0..<kc,
/// summed in increasing k from zero, then added to C if `accumulate`.
@inline(never) @usableFromInline
func microKernel6x16(_ kc: Int, _ xp: UnsafePointer<Float>, _ wp: UnsafePointer<Float>,
           _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) {
    typealias V = SIMD8<Float>
    var c00 = V(), c01 = V()
    var c10 = V(), c11 = V()
    var c20 = V(), c21 = V()
    var c30 = V(), c31 = V()
    var c40 = V(), c41 = V()
    var c50 = V(), c51 = V()
    var pa = xp
    var pb = UnsafeRawPointer(wp)
    var k = 0
    while k < kc {
        let b0 = pb.loadUnaligned(fromByteOffset: 0, as: V.self)
        let b1 = pb.loadUnaligned(fromByteOffset: 32, as: V.self)
        do { let a = V(repeating: pa[0]); c00.addProduct(a, b0); c01.addProduct(a, b1); }
        do { let a = V(repeating: pa[1]); c10.addProduct(a, b0); c11.addProduct(a, b1); }
        do { let a = V(repeating: pa[2]); c20.addProduct(a, b0); c21.addProduct(a, b1); }
        do { let a = V(repeating: pa[3]); c30.addProduct(a, b0); c31.addProduct(a, b1); }
        do { let a = V(repeating: pa[4]); c40.addProduct(a, b0); c41.addProduct(a, b1); }
        do { let a = V(repeating: pa[5]); c50.addProduct(a, b0); c51.addProduct(a, b1); }
        pa += 6; pb += 64; k += 1
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
