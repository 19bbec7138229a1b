import Support
import MXFormats

// MX × MX: Y = Q(X) · decode(W)ᵀ where Q quantizes each row of X to an MX format
// (blocks along K, same block size as W). Per pair of blocks the product is
//     (sx · sw · cx · cw) · Σ_{k ∈ block} ex_k · ew_k
// with ex, ew the element values in "unit" form: the integer k for MXINT (cx = 2^-6
// for 8-bit, 2^-2 for 4-bit), the FP element value for FP formats (c = 1). For INT × INT
// the block sum is an integer of magnitude ≤ block·127² < 2^24, so the fp32 FMA
// accumulation inside a block is exact integer arithmetic; the scales are powers of
// two, so every block-pair term equals the fake-quant fp32 partial sum exactly and
// the result differs from the fake-quant fp32 product only by the fp32 summation
// order across blocks.

/// Element values in unit form (see above) and the factor that restores the value.
@usableFromInline
func unitTable(_ kind: ElementKind) -> (table: [Float], factor: Float) {
    switch kind {
    case .int8: return (kind.table.map { $0 * 64 }, 0x1p-6)
    case .int4: return (kind.table.map { $0 * 4 }, 0x1p-2)
    default: return (kind.table, 1)
    }
}

@usableFromInline let unitTables: [(table: [Float], factor: Float)] = ElementKind.allCases.map { unitTable($0) }

/// MX K blocks for the block-scaled GEMM: runs of whole MX blocks, ≤ 640 elements, near-equal.
@usableFromInline
func mxKBlocks(blocks: Int, block: Int) -> [(b0: Int, nb: Int)] {
    let per = max(1, 640 / block)
    let parts = max(1, (blocks + per - 1) / per)
    var out: [(b0: Int, nb: Int)] = []
    var b0 = 0
    for p in 0..<parts {
        let b1 = blocks * (p + 1) / parts
        out.append((b0, b1 - b0)); b0 = b1
    }
    return out
}

/// Writes unit values of blocks `b0..<b0+nb` of row `r` to `out[(k) * stride]` (k from 0)
/// and returns nothing; scales go to `scaleOut[b * sStride]` as 2^(s−127)·factor.
/// Unit values are small integers or FP element values: multiplying by `unitMul` (1 or 1/2)
/// is exact, so the fast and table paths agree bitwise.
@inline(__always) @usableFromInline
func unpackUnits(_ p: PackedMX, row r: Int, b0: Int, nb: Int, unit: UnsafePointer<Float>, factor: Float,
                 out: UnsafeMutablePointer<Float>, stride: Int, scaleOut: UnsafeMutablePointer<Float>, sStride: Int,
                 codes: UnsafeMutablePointer<UInt8>) {
    let B = p.block
    // Block 32: the GEMV's word decoders (exact; they return the unit value, or twice it
    // for MXFP4), falling back to the table for NaN/Inf codes.
    let unitMul: Float = p.kind == .e2m1 ? 0.5 : 1
    let rowBytes = UnsafeRawPointer(p.elements + r * p.blocksPerRow * p.bytesPerBlock)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { tb in
        let tmp = tb.baseAddress!
        for b in 0..<nb {
            scaleOut[b * sStride] = p.scaleLUT[Int(p.scales[r * p.blocksPerRow + b0 + b])] * factor
            let o = out + b * B * stride
            if B == 32 {
                let q = rowBytes + (b0 + b) * p.bytesPerBlock
                let ok: Bool
                switch p.kind {
                case .int4: ok = decodeBlockFast(DecodeInt4.self, q, scale: unitMul, out: o, stride: stride, tmp: tmp, SIMD4<UInt32>.self, SIMD4<Float>.self)
                case .e2m1: ok = decodeBlockFast(DecodeE2M1.self, q, scale: unitMul, out: o, stride: stride, tmp: tmp, SIMD4<UInt32>.self, SIMD4<Float>.self)
                case .int8: ok = decodeBlockFast(DecodeInt8.self, q, scale: unitMul, out: o, stride: stride, tmp: tmp, SIMD8<UInt32>.self, SIMD8<Float>.self)
                case .e4m3: ok = decodeBlockFast(DecodeE4M3.self, q, scale: unitMul, out: o, stride: stride, tmp: tmp, SIMD8<UInt32>.self, SIMD8<Float>.self)
                case .e5m2: ok = decodeBlockFast(DecodeE5M2.self, q, scale: unitMul, out: o, stride: stride, tmp: tmp, SIMD8<UInt32>.self, SIMD8<Float>.self)
                case .e2m3: ok = decodeBlockFast(DecodeE2M3.self, q, scale: unitMul, out: o, stride: stride, tmp: tmp, SIMD8<UInt32>.self, SIMD8<Float>.self)
                case .e3m2: ok = decodeBlockFast(DecodeE3M2.self, q, scale: unitMul, out: o, stride: stride, tmp: tmp, SIMD8<UInt32>.self, SIMD8<Float>.self)
                }
                if ok { continue }
            }
            p.blockCodes(row: r, block: b0 + b, into: codes)
            for i in 0..<B { o[i * stride] = unit[Int(codes[i])] }
        }
    }
}

/// A block-scaled register tile (see BlockScaledKernel.swift) and its shape.
@usableFromInline
struct BlockTile: @unchecked Sendable {
    @usableFromInline let mr: Int, nr: Int, blockCols: Int
    @usableFromInline let kernel: (Int, Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    static func wide<P: MulAdd>(_: P.Type) -> BlockTile {
        BlockTile(mr: 8, nr: 48, blockCols: 384, kernel: { blockScaledKernel8x48(P.self, $0, $1, $2, $3, $4, $5, $6) })
    }
    static func mid<P: MulAdd>(_: P.Type) -> BlockTile {
        BlockTile(mr: 6, nr: 16, blockCols: 128, kernel: { blockScaledKernel6x16(P.self, $0, $1, $2, $3, $4, $5, $6) })
    }
    static func narrow<P: MulAdd>(_: P.Type) -> BlockTile {
        BlockTile(mr: 6, nr: 8, blockCols: 128, kernel: { blockScaledKernel6x8(P.self, $0, $1, $2, $3, $4, $5, $6) })
    }
    /// The tile matching the fp32 GEMM's choice (TileConfig.current) with this build's multiply-add.
    @usableFromInline static let current: BlockTile = {
        switch TileConfig.current.nr {
        case 48: return wide(BuildMA.self)
        case 16: return mid(BuildMA.self)
        default: return narrow(BuildMA.self)
        }
    }()
}

/// Y[M,N] = (block-scaled) Xq[M,·] · Wq[N,·]ᵀ for packed Xq (acts) and W with equal block sizes.
@usableFromInline
func blockScaledGemm(xq: PackedMX, w: PackedMX, y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int, tile: BlockTile = .current) {
    let m = xq.rows, n = w.rows, B = w.block
    precondition(xq.block == B && xq.cols == w.cols && xq.blocksPerRow == w.blocksPerRow)
    if m == 0 || n == 0 { return }
    let MR = tile.mr, NR = tile.nr
    let kernel = tile.kernel
    let nBlk = w.blocksPerRow
    let kpad = nBlk * B
    let kb = mxKBlocks(blocks: nBlk, block: B)
    let nbMax = kb.map(\.nb).max() ?? 0
    let mPanels = (m + MR - 1) / MR, mPad = mPanels * MR
    let nPanels = (n + NR - 1) / NR
    let T = max(1, threads)
    let ux = unitTables[xq.kind.rawValue], uw = unitTables[w.kind.rawValue]
    if nBlk == 0 {
        for i in 0..<m { (y + i * ldy).update(repeating: 0, count: n) }
        return
    }
    // Pack X: values [kb][panel][k][MR], scales [kb][panel][b][MR].
    let xvBytes = mPad * kpad * 4, xsBytes = mPad * nBlk * 4
    let xbuf = Scratch.take(bytes: xvBytes + xsBytes)
    defer { Scratch.give(xbuf) }
    let xv = xbuf.0.bindMemory(to: Float.self, capacity: (xvBytes + xsBytes) / 4)
    let xs = xv + mPad * kpad
    ux.table.withUnsafeBufferPointer { ut in
        let utAddr = Int(bitPattern: ut.baseAddress!)
        Parallel.forRanges(mPanels, threads: T, minChunk: 4) { range in
            let ut = UnsafePointer<Float>(bitPattern: utAddr)!
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: B) { codes in
                for p in range {
                    for (b0, nb) in kb {
                        let vdst = xv + b0 * B * mPad + p * MR * nb * B
                        let sdst = xs + b0 * mPad + p * MR * nb
                        for r in 0..<MR {
                            let i = p * MR + r
                            if i < m {
                                unpackUnits(xq, row: i, b0: b0, nb: nb, unit: ut, factor: ux.factor, out: vdst + r, stride: MR,
                                            scaleOut: sdst + r, sStride: MR, codes: codes.baseAddress!)
                            } else {
                                for kk in 0..<(nb * B) { vdst[kk * MR + r] = 0 }
                                for b in 0..<nb { sdst[b * MR + r] = 0 }
                            }
                        }
                    }
                }
            }
        }
    }
    // Tasks over W column blocks (× row chunks when N is small), as in packedGemm.
    let panelsPerBlockMax = max(1, tile.blockCols / NR)
    let plan = PanelTaskPlan(nPanels: nPanels, mPanels: mPanels, panelsPerBlockMax: panelsPerBlockMax, threads: T)
    let pPerBlock = plan.pPerBlock, mChunks = plan.mChunks, mpPerChunk = plan.mpPerChunk
    let tasks = plan.tasks, workers = plan.workers
    let counter = WorkQueue(count: tasks)
    let xvAddr = Int(bitPattern: xv), xsAddr = Int(bitPattern: xs)
    uw.table.withUnsafeBufferPointer { wt in
        let wtAddr = Int(bitPattern: wt.baseAddress!)
        Parallel.forEach(workers, threads: workers) { t in
                        let xv = UnsafePointer<Float>(bitPattern: xvAddr)!, xs = UnsafePointer<Float>(bitPattern: xsAddr)!
            let ut = UnsafePointer<Float>(bitPattern: wtAddr)!
            let wvCount = pPerBlock * NR * nbMax * B, wsCount = pPerBlock * NR * nbMax
            Scratch.withFloats(wvCount + wsCount + MR * NR) { wbuf in
                let wsb = wbuf + wvCount, tmp = wsb + wsCount
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: B) { codesBuf in
                    let codes = codesBuf.baseAddress!
                    while let task = counter.next() {
                        let nbk = task / mChunks, mc = task % mChunks
                        let p0 = nbk * pPerBlock, p1 = min(nPanels, p0 + pPerBlock)
                        let mp0 = mc * mpPerChunk, mp1 = min(mPanels, mp0 + mpPerChunk)
                        for (bi, (b0, nb)) in kb.enumerated() {
                            for p in p0..<p1 {
                                let vdst = wbuf + (p - p0) * NR * nb * B, sdst = wsb + (p - p0) * NR * nb
                                for j in 0..<NR {
                                    let row = p * NR + j
                                    if row < n {
                                        unpackUnits(w, row: row, b0: b0, nb: nb, unit: ut, factor: uw.factor, out: vdst + j, stride: NR,
                                                    scaleOut: sdst + j, sStride: NR, codes: codes)
                                    } else {
                                        for kk in 0..<(nb * B) { vdst[kk * NR + j] = 0 }
                                        for b in 0..<nb { sdst[b * NR + j] = 0 }
                                    }
                                }
                            }
                            let acc = bi > 0
                            for mp in mp0..<mp1 {
                                let xpan = xv + b0 * B * mPad + mp * MR * nb * B
                                let xspan = xs + b0 * mPad + mp * MR * nb
                                let i0 = mp * MR, mv = min(MR, m - i0)
                                for p in p0..<p1 {
                                    let j0 = p * NR, nv = min(NR, n - j0)
                                    let wpan = UnsafePointer(wbuf + (p - p0) * NR * nb * B)
                                    let wspan = UnsafePointer(wsb + (p - p0) * NR * nb)
                                    kernel(nb, B, xpan, wpan, xspan, wspan, tmp)
                                    for r in 0..<mv {
                                        let yr = y + (i0 + r) * ldy + j0, tr = tmp + r * NR
                                        if acc { for c in 0..<nv { yr[c] = yr[c] + tr[c] } } else { yr.update(from: tr, count: nv) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Kernels {
    /// MX × MX: `Y[M,N] = Q(X) · decode(W)ᵀ`, X [M,K] row-major fp32 quantized on the fly
    /// row by row to `acts` (blocks along K; `acts.block` must equal W's block size),
    /// W packed MX [N,K]. Overwrites Y.
    ///
    /// M > 8: each block pair contributes (both scales) × (block sum of element products);
    /// for MXINT × MXINT the block sums are exact integers. M ≤ 8: dequant GEMV on Q(X). The result equals the fake-quant
    /// fp32 computation (`mxFakeQuantize` on X, decoded W) up to fp32 reassociation.
    /// Thread-count invariant.
    ///
    /// MXINT8 × MXINT4/MXINT8 at block 32 (`intMXApplies`) runs the integer kernels
    /// (`intmxgemm`, IntKernels.swift: bit-identical to the block-scaled path for every M)
    /// unless `integer` is false (benchmarks and tests of the unit-value fp32 path).
    public static func mxmxgemm(m: Int, x: UnsafePointer<Float>, acts: MXConfig, w: MXTensor,
                                y: UnsafeMutablePointer<Float>, threads: Int? = nil, ldx: Int? = nil, ldy: Int? = nil,
                                integer: Bool = true) {
        let n = w.rows, k = w.cols
        precondition(acts.block == w.config.block, "mxmxgemm: activation block \(acts.block) differs from weight block \(w.config.block)")
        let ldx = ldx ?? k, ldy = ldy ?? n
        precondition(m >= 0 && ldx >= k && ldy >= n, "mxmxgemm: bad M or leading dimension")
        if m == 0 || n == 0 { return }
        let t = max(1, threads ?? Parallel.defaultThreads)
        if integer && intMXApplies(acts: acts, weights: w.config) {
            intmxgemm(m: m, x: x, acts: acts, w: w, y: y, threads: t, ldx: ldx, ldy: ldy)
            return
        }
        let xq: MXTensor
        if ldx == k {
            xq = MXTensor(encoding: UnsafeBufferPointer(start: x, count: m * k), rows: m, cols: k, config: acts, threads: t)
        } else {
            var xc = [Float](repeating: 0, count: m * k)
            for i in 0..<m { for kk in 0..<k { xc[i * k + kk] = x[i * ldx + kk] } }
            xq = MXTensor(encoding: xc, rows: m, cols: k, config: acts, threads: t)
        }
        if m <= 8 {
            // GEMV regime (bound by W's bytes): the dequant GEMV on the decoded Q(X). Each
            // element product is exact; sums are fp32, so again equal up to reassociation.
            let xd = xq.decoded(threads: 1)
            xd.withUnsafeBufferPointer { xb in withPacked(w) { pw in
                mxGemv(m: m, x: xb.baseAddress!, ldx: k, w: pw, y: y, ldy: ldy, threads: t)
            } }
            return
        }
        withPacked(xq) { px in withPacked(w) { pw in
            blockScaledGemm(xq: px, w: pw, y: y, ldy: ldy, threads: t)
        } }
    }

    /// Array convenience for `mxmxgemm`: `x` is [M*K]; returns Y [M*N].
    public static func mxmxgemm(m: Int, x: [Float], acts: MXConfig, w: MXTensor, threads: Int? = nil) -> [Float] {
        precondition(x.count == m * w.cols, "mxmxgemm: x has \(x.count) values, expected M·K = \(m * w.cols)")
        var y = [Float](repeating: 0, count: m * w.rows)
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
            mxmxgemm(m: m, x: xb.baseAddress!, acts: acts, w: w, y: yb.baseAddress!, threads: threads)
        } }
        return y
    }
}

extension KernelsReference {
    /// Reference for `Kernels.mxmxgemm`: fake-quantizes X with MXFormats (`mxFakeQuantize`),
    /// decodes W, then the scalar product (Double accumulation, one rounding).
    public static func mxmxgemm(m: Int, x: UnsafePointer<Float>, acts: MXConfig, w: MXTensor,
                                y: UnsafeMutablePointer<Float>, threads: Int? = nil) {
        var xq = Array(UnsafeBufferPointer(start: x, count: m * w.cols))
        _ = xq.withUnsafeMutableBufferPointer { mxFakeQuantize($0, rows: m, cols: w.cols, config: acts, threads: 1) }
        let wd = w.decoded(threads: 1)
        xq.withUnsafeBufferPointer { xb in wd.withUnsafeBufferPointer { wb in
            sgemm(m: m, n: w.rows, k: w.cols, x: xb.baseAddress!, w: wb.baseAddress!, y: y)
        } }
    }
}
