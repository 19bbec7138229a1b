// Register-tiled kernels for causal attention of one head over a block of query rows.
// Scores use K stored transposed in panels of 32 keys (panel p holds Kᵀ[hd][32] for keys
// 32p..<32p+32, contiguous) so a tile of scores is an outer-product accumulation over the
// head dimension that streams one contiguous panel; P·V walks V rows [key][hd].
// Every output element is a sum in increasing d (scores) or increasing key (P·V) from
// zero, so results depend on the shapes only (not on threads or tiling).

typealias V16 = SIMD16<Float>

/// `acc += a·b`: FMA in native builds (`-DMXQ_NATIVE_FMA`, see MXKernels/MulAdd.swift), multiply
/// then add otherwise (a baseline x86-64 target has no FMA and would call libm `fmaf` per lane).
/// Concrete on SIMD16<Float>: a generic cross-module helper was measured not to specialise.
@inline(__always) func madd(_ acc: inout V16, _ a: V16, _ b: V16) {
    #if MXQ_NATIVE_FMA
    acc.addProduct(a, b)
    #else
    acc = acc + a * b
    #endif
}

@inline(__always) private func ld(_ p: UnsafePointer<Float>) -> V16 {
    UnsafeRawPointer(p).loadUnaligned(as: V16.self)
}
@inline(__always) private func st(_ v: V16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V16.self)
}

/// S[r, j0..<j0+32] = Σ_d q[r·hd + d] · kt[d·ldk + j0 + c] for 8 rows r (row stride hd in q,
/// lds in s).
@inline(never)
func scoreTile8x32(_ q: UnsafePointer<Float>, _ hd: Int, _ kt: UnsafePointer<Float>, _ ldk: Int,
                   _ s: UnsafeMutablePointer<Float>, _ lds: Int) {
    var a00 = V16(), a01 = V16(), a10 = V16(), a11 = V16(), a20 = V16(), a21 = V16(), a30 = V16(), a31 = V16()
    var a40 = V16(), a41 = V16(), a50 = V16(), a51 = V16(), a60 = V16(), a61 = V16(), a70 = V16(), a71 = V16()
    // Row pointers (pointer indexing has no overflow checks, keeping the loop to loads and FMAs).
    let q0 = q, q1 = q + hd, q2 = q + 2 * hd, q3 = q + 3 * hd
    let q4 = q + 4 * hd, q5 = q + 5 * hd, q6 = q + 6 * hd, q7 = q + 7 * hd
    var kp = kt
    var d = 0
    while d < hd {
        let k0 = ld(kp), k1 = ld(kp + 16)
        do { let x = V16(repeating: q0[d]); madd(&a00, x, k0); madd(&a01, x, k1) }
        do { let x = V16(repeating: q1[d]); madd(&a10, x, k0); madd(&a11, x, k1) }
        do { let x = V16(repeating: q2[d]); madd(&a20, x, k0); madd(&a21, x, k1) }
        do { let x = V16(repeating: q3[d]); madd(&a30, x, k0); madd(&a31, x, k1) }
        do { let x = V16(repeating: q4[d]); madd(&a40, x, k0); madd(&a41, x, k1) }
        do { let x = V16(repeating: q5[d]); madd(&a50, x, k0); madd(&a51, x, k1) }
        do { let x = V16(repeating: q6[d]); madd(&a60, x, k0); madd(&a61, x, k1) }
        do { let x = V16(repeating: q7[d]); madd(&a70, x, k0); madd(&a71, x, k1) }
        kp += ldk
        d &+= 1
    }
    st(a00, s); st(a01, s + 16)
    st(a10, s + lds); st(a11, s + lds + 16)
    st(a20, s + 2 * lds); st(a21, s + 2 * lds + 16)
    st(a30, s + 3 * lds); st(a31, s + 3 * lds + 16)
    st(a40, s + 4 * lds); st(a41, s + 4 * lds + 16)
    st(a50, s + 5 * lds); st(a51, s + 5 * lds + 16)
    st(a60, s + 6 * lds); st(a61, s + 6 * lds + 16)
    st(a70, s + 7 * lds); st(a71, s + 7 * lds + 16)
}

/// One-row version of `scoreTile8x32`.
@inline(never)
func scoreTile1x32(_ q: UnsafePointer<Float>, _ hd: Int, _ kt: UnsafePointer<Float>, _ ldk: Int,
                   _ s: UnsafeMutablePointer<Float>) {
    var a0 = V16(), a1 = V16()
    var kp = kt
    for d in 0..<hd {
        let x = V16(repeating: q[d])
        madd(&a0, x, ld(kp)); madd(&a1, x, ld(kp + 16))
        kp += ldk
    }
    st(a0, s); st(a1, s + 16)
}

/// O[r, c0..<c0+64] (+)= Σ_{j<nk} P[r·ldp + j] · v[j·hd + c0 + c] for 4 rows (row stride ldo in o),
/// continuing the sum from the values in `o` when `accumulate` (so that chunked calls over
/// increasing j sum in exactly the same order as one call).
@inline(never)
func pvTile4x64(_ p: UnsafePointer<Float>, _ ldp: Int, _ v: UnsafePointer<Float>, _ hd: Int, _ nk: Int,
                _ o: UnsafeMutablePointer<Float>, _ ldo: Int, _ accumulate: Bool) {
    var a00 = V16(), a01 = V16(), a02 = V16(), a03 = V16()
    var a10 = V16(), a11 = V16(), a12 = V16(), a13 = V16()
    var a20 = V16(), a21 = V16(), a22 = V16(), a23 = V16()
    var a30 = V16(), a31 = V16(), a32 = V16(), a33 = V16()
    if accumulate {
        a00 = ld(o); a01 = ld(o + 16); a02 = ld(o + 32); a03 = ld(o + 48)
        a10 = ld(o + ldo); a11 = ld(o + ldo + 16); a12 = ld(o + ldo + 32); a13 = ld(o + ldo + 48)
        a20 = ld(o + 2 * ldo); a21 = ld(o + 2 * ldo + 16); a22 = ld(o + 2 * ldo + 32); a23 = ld(o + 2 * ldo + 48)
        a30 = ld(o + 3 * ldo); a31 = ld(o + 3 * ldo + 16); a32 = ld(o + 3 * ldo + 32); a33 = ld(o + 3 * ldo + 48)
    }
    let p0 = p, p1 = p + ldp, p2 = p + 2 * ldp, p3 = p + 3 * ldp
    var vp = v
    var j = 0
    while j < nk {
        let v0 = ld(vp), v1 = ld(vp + 16), v2 = ld(vp + 32), v3 = ld(vp + 48)
        do { let x = V16(repeating: p0[j]); madd(&a00, x, v0); madd(&a01, x, v1); madd(&a02, x, v2); madd(&a03, x, v3) }
        do { let x = V16(repeating: p1[j]); madd(&a10, x, v0); madd(&a11, x, v1); madd(&a12, x, v2); madd(&a13, x, v3) }
        do { let x = V16(repeating: p2[j]); madd(&a20, x, v0); madd(&a21, x, v1); madd(&a22, x, v2); madd(&a23, x, v3) }
        do { let x = V16(repeating: p3[j]); madd(&a30, x, v0); madd(&a31, x, v1); madd(&a32, x, v2); madd(&a33, x, v3) }
        vp += hd
        j &+= 1
    }
    st(a00, o); st(a01, o + 16); st(a02, o + 32); st(a03, o + 48)
    st(a10, o + ldo); st(a11, o + ldo + 16); st(a12, o + ldo + 32); st(a13, o + ldo + 48)
    st(a20, o + 2 * ldo); st(a21, o + 2 * ldo + 16); st(a22, o + 2 * ldo + 32); st(a23, o + 2 * ldo + 48)
    st(a30, o + 3 * ldo); st(a31, o + 3 * ldo + 16); st(a32, o + 3 * ldo + 32); st(a33, o + 3 * ldo + 48)
}

/// One-row, 16-column version of `pvTile4x64` (row tails and head dims that are multiples of 16).
@inline(never)
func pvTile1x16(_ p: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ hd: Int, _ nk: Int,
                _ o: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
    var a = accumulate ? ld(o) : V16()
    var vp = v
    for j in 0..<nk {
        madd(&a, V16(repeating: p[j]), ld(vp))
        vp += hd
    }
    st(a, o)
}

/// 4-row, 16-column version of `pvTile4x64`.
@inline(never)
func pvTile4x16(_ p: UnsafePointer<Float>, _ ldp: Int, _ v: UnsafePointer<Float>, _ hd: Int, _ nk: Int,
                _ o: UnsafeMutablePointer<Float>, _ ldo: Int, _ accumulate: Bool) {
    var a0 = V16(), a1 = V16(), a2 = V16(), a3 = V16()
    if accumulate { a0 = ld(o); a1 = ld(o + ldo); a2 = ld(o + 2 * ldo); a3 = ld(o + 3 * ldo) }
    let p0 = p, p1 = p + ldp, p2 = p + 2 * ldp, p3 = p + 3 * ldp
    var vp = v
    var j = 0
    while j < nk {
        let x = ld(vp)
        madd(&a0, V16(repeating: p0[j]), x)
        madd(&a1, V16(repeating: p1[j]), x)
        madd(&a2, V16(repeating: p2[j]), x)
        madd(&a3, V16(repeating: p3[j]), x)
        vp += hd
        j &+= 1
    }
    st(a0, o); st(a1, o + ldo); st(a2, o + 2 * ldo); st(a3, o + 3 * ldo)
}

/// Causal attention of one head for query rows r0..<r0+m (absolute positions).
/// - q: the block's queries [m][hd] (already RoPE'd and scaled by 1/sqrt(hd)).
/// - kt: Kᵀ panels of the head's KV group: key j, dim d at kt[(j / 32)·hd·32 + d·32 + j % 32],
///   covering keys up to r0+m rounded up to 32 (pad keys finite, e.g. zero).
/// - v: V rows [key][hd].
/// - scores: scratch of at least m · lds + m floats; lds ≥ (r0+m) rounded up to 32.
/// - o: output rows, stride ldo; writes hd values per row.
/// Requires hd % 16 == 0.
func causalAttentionBlock(q: UnsafePointer<Float>, kt: UnsafePointer<Float>,
                          v: UnsafePointer<Float>, hd: Int, r0: Int, m: Int,
                          scores: UnsafeMutablePointer<Float>, lds: Int, o: UnsafeMutablePointer<Float>, ldo: Int) {
    precondition(hd % 16 == 0)
    // Row tiles: 8 rows for scores (then single rows), 4 rows for P·V (then single rows).
    // Loops run key panel by key panel (outer) over the row tiles (inner), so a panel of K
    // or a chunk of V stays in L1 while every row tile that needs it uses it.
    let sTiles = rowTiles(m, 8)
    let lastKey = r0 + m                     // keys 0..<lastKey are used by some row
    // 1. Scores: tile (i, rows) needs keys 0..<r0+i+rows, i.e. panels up to that rounded to 32.
    var j = 0
    while j < lastKey {
        precondition(j + 32 <= lds)
        for (i, rows) in sTiles where j < r0 + i + rows {
            if rows == 8 {
                scoreTile8x32(q + i * hd, hd, kt + j * hd, 32, scores + i * lds + j, lds)
            } else {
                scoreTile1x32(q + i * hd, hd, kt + j * hd, 32, scores + i * lds + j)
            }
        }
        j += 32
    }
    // 2. Stable softmax numerators exp(s - max) over each row's valid keys, zeros after them up
    //    to the row's P·V tile end; the 1/Σ normalisation is applied to the output rows (step 4).
    //    `inv` lives in the scratch after the m score rows.
    let inv = scores + m * lds
    for r in 0..<m {
        let row = scores + r * lds
        let valid = r0 + r + 1
        let mx = rowMax(row, valid)
        inv[r] = 1 / expShiftSum(row, valid, shift: mx)
        let end = min(valid + 4, lds)
        if end > valid { (row + valid).update(repeating: 0, count: end - valid) }
    }
    // 3. O = P · V: tile (i, rows) sums over keys 0..<r0+i+rows, in chunks of 64 keys
    //    (increasing; later chunks continue the running sums, so the order is plain j order).
    let pTiles = rowTiles(m, 4)
    let chunk = 64
    var j0 = 0
    while j0 < lastKey {
        for (i, rows) in pTiles {
            let nk = min(r0 + i + rows, j0 + chunk) - j0
            if nk <= 0 { continue }
            let acc = j0 > 0
            let pp = scores + i * lds + j0, vp = v + j0 * hd, op = o + i * ldo
            var c = 0
            if rows == 4 {
                while c + 64 <= hd { pvTile4x64(pp, lds, vp + c, hd, nk, op + c, ldo, acc); c += 64 }
                while c < hd { pvTile4x16(pp, lds, vp + c, hd, nk, op + c, ldo, acc); c += 16 }
            } else {
                while c < hd { pvTile1x16(pp, vp + c, hd, nk, op + c, acc); c += 16 }
            }
        }
        j0 += chunk
    }
    // 4. Normalise: O[r] *= 1 / Σ_j exp(s_rj - max_r).
    for r in 0..<m { scaleRow(o + r * ldo, hd, by: inv[r]) }
}

/// Splits m rows into tiles of `size` rows, then single rows: [(firstRow, rows)].
@inline(__always)
func rowTiles(_ m: Int, _ size: Int) -> [(Int, Int)] {
    var t: [(Int, Int)] = []
    var i = 0
    while i + size <= m { t.append((i, size)); i += size }
    while i < m { t.append((i, 1)); i += 1 }
    return t
}
