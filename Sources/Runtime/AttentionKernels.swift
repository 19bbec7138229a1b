// Register-tiled kernels for causal attention of one head over a block of query rows.
// Scores use K stored transposed (Kᵀ[hd][ldk], keys contiguous) so a tile of scores is
// an outer-product accumulation over the head dimension; P·V walks V rows [key][hd].
// Every output element is a sum in increasing d (scores) or increasing key (P·V) from
// zero, so results depend on the shapes only (not on threads or tiling).

typealias V16 = SIMD16<Float>

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
    var kp = kt
    for d in 0..<hd {
        let k0 = ld(kp), k1 = ld(kp + 16)
        do { let x = V16(repeating: q[d]); a00.addProduct(x, k0); a01.addProduct(x, k1) }
        do { let x = V16(repeating: q[hd + d]); a10.addProduct(x, k0); a11.addProduct(x, k1) }
        do { let x = V16(repeating: q[2 * hd + d]); a20.addProduct(x, k0); a21.addProduct(x, k1) }
        do { let x = V16(repeating: q[3 * hd + d]); a30.addProduct(x, k0); a31.addProduct(x, k1) }
        do { let x = V16(repeating: q[4 * hd + d]); a40.addProduct(x, k0); a41.addProduct(x, k1) }
        do { let x = V16(repeating: q[5 * hd + d]); a50.addProduct(x, k0); a51.addProduct(x, k1) }
        do { let x = V16(repeating: q[6 * hd + d]); a60.addProduct(x, k0); a61.addProduct(x, k1) }
        do { let x = V16(repeating: q[7 * hd + d]); a70.addProduct(x, k0); a71.addProduct(x, k1) }
        kp += ldk
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
        a0.addProduct(x, ld(kp)); a1.addProduct(x, ld(kp + 16))
        kp += ldk
    }
    st(a0, s); st(a1, s + 16)
}

/// O[r, c0..<c0+64] = Σ_{j<nk} P[r·ldp + j] · v[j·hd + c0 + c] for 4 rows (row stride ldo in o).
@inline(never)
func pvTile4x64(_ p: UnsafePointer<Float>, _ ldp: Int, _ v: UnsafePointer<Float>, _ hd: Int, _ nk: Int,
                _ o: UnsafeMutablePointer<Float>, _ ldo: Int) {
    var a00 = V16(), a01 = V16(), a02 = V16(), a03 = V16()
    var a10 = V16(), a11 = V16(), a12 = V16(), a13 = V16()
    var a20 = V16(), a21 = V16(), a22 = V16(), a23 = V16()
    var a30 = V16(), a31 = V16(), a32 = V16(), a33 = V16()
    var vp = v
    for j in 0..<nk {
        let v0 = ld(vp), v1 = ld(vp + 16), v2 = ld(vp + 32), v3 = ld(vp + 48)
        do { let x = V16(repeating: p[j]); a00.addProduct(x, v0); a01.addProduct(x, v1); a02.addProduct(x, v2); a03.addProduct(x, v3) }
        do { let x = V16(repeating: p[ldp + j]); a10.addProduct(x, v0); a11.addProduct(x, v1); a12.addProduct(x, v2); a13.addProduct(x, v3) }
        do { let x = V16(repeating: p[2 * ldp + j]); a20.addProduct(x, v0); a21.addProduct(x, v1); a22.addProduct(x, v2); a23.addProduct(x, v3) }
        do { let x = V16(repeating: p[3 * ldp + j]); a30.addProduct(x, v0); a31.addProduct(x, v1); a32.addProduct(x, v2); a33.addProduct(x, v3) }
        vp += hd
    }
    st(a00, o); st(a01, o + 16); st(a02, o + 32); st(a03, o + 48)
    st(a10, o + ldo); st(a11, o + ldo + 16); st(a12, o + ldo + 32); st(a13, o + ldo + 48)
    st(a20, o + 2 * ldo); st(a21, o + 2 * ldo + 16); st(a22, o + 2 * ldo + 32); st(a23, o + 2 * ldo + 48)
    st(a30, o + 3 * ldo); st(a31, o + 3 * ldo + 16); st(a32, o + 3 * ldo + 32); st(a33, o + 3 * ldo + 48)
}

/// One-row, 16-column version of `pvTile4x64` (row tails and head dims that are multiples of 16).
@inline(never)
func pvTile1x16(_ p: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ hd: Int, _ nk: Int,
                _ o: UnsafeMutablePointer<Float>) {
    var a = V16()
    var vp = v
    for j in 0..<nk {
        a.addProduct(V16(repeating: p[j]), ld(vp))
        vp += hd
    }
    st(a, o)
}

/// 4-row, 16-column version of `pvTile4x64`.
@inline(never)
func pvTile4x16(_ p: UnsafePointer<Float>, _ ldp: Int, _ v: UnsafePointer<Float>, _ hd: Int, _ nk: Int,
                _ o: UnsafeMutablePointer<Float>, _ ldo: Int) {
    var a0 = V16(), a1 = V16(), a2 = V16(), a3 = V16()
    var vp = v
    for j in 0..<nk {
        let x = ld(vp)
        a0.addProduct(V16(repeating: p[j]), x)
        a1.addProduct(V16(repeating: p[ldp + j]), x)
        a2.addProduct(V16(repeating: p[2 * ldp + j]), x)
        a3.addProduct(V16(repeating: p[3 * ldp + j]), x)
        vp += hd
    }
    st(a0, o); st(a1, o + ldo); st(a2, o + 2 * ldo); st(a3, o + 3 * ldo)
}

/// Causal attention of one head for query rows r0..<r0+m (absolute positions).
/// - q: the block's queries [m][hd] (already RoPE'd and scaled by 1/sqrt(hd)).
/// - kt: Kᵀ of the head's KV group, [hd][ldk] with ldk ≥ keys rounded up to 32 (pad columns finite).
/// - v: V rows [key][hd].
/// - scores: scratch of at least m · ldk floats.
/// - o: output rows, stride ldo; writes hd values per row.
/// Requires hd % 16 == 0.
func causalAttentionBlock(q: UnsafePointer<Float>, kt: UnsafePointer<Float>, ldk: Int,
                          v: UnsafePointer<Float>, hd: Int, r0: Int, m: Int,
                          scores: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>, ldo: Int) {
    precondition(hd % 16 == 0)
    let lds = ldk
    // 1. Scores for each row tile up to the tile's last valid key (rounded up to 32).
    var i = 0
    while i < m {
        let rows = m - i >= 8 ? 8 : 1
        let keys = r0 + i + rows             // keys 0..<keys are valid for some row of the tile
        let kPad = (keys + 31) & ~31
        precondition(kPad <= ldk)
        var j = 0
        while j < kPad {
            if rows == 8 {
                scoreTile8x32(q + i * hd, hd, kt + j, ldk, scores + i * lds + j, lds)
            } else {
                scoreTile1x32(q + i * hd, hd, kt + j, ldk, scores + i * lds + j)
            }
            j += 32
        }
        i += rows
    }
    // 2. Stable softmax over each row's valid keys; zeros after them up to the row tile's end.
    for r in 0..<m {
        let row = scores + r * lds
        let valid = r0 + r + 1
        let mx = rowMax(row, valid)
        let sum = expShiftSum(row, valid, shift: mx)
        scaleRow(row, valid, by: 1 / sum)
        let end = min(((r0 + r + 8) + 31) & ~31, ldk)
        if end > valid { (row + valid).update(repeating: 0, count: end - valid) }
    }
    // 3. O = P · V over each row tile's valid keys.
    i = 0
    while i < m {
        let rows = m - i >= 4 ? 4 : 1
        let nk = r0 + i + rows
        var c = 0
        if rows == 4 {
            while c + 64 <= hd {
                pvTile4x64(scores + i * lds, lds, v + c, hd, nk, o + i * ldo + c, ldo); c += 64
            }
            while c < hd {
                pvTile4x16(scores + i * lds, lds, v + c, hd, nk, o + i * ldo + c, ldo); c += 16
            }
        } else {
            while c < hd { pvTile1x16(scores + i * lds, v + c, hd, nk, o + i * ldo + c); c += 16 }
        }
        i += rows
    }
}
