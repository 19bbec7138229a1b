import Foundation
import Support

// Packed, cache-blocked fp32 GEMM shared by every matrix product of the module.
//
// Scheme (BLIS-style, vectors along N because Y is row-major):
//   * X [M, K] is read in place by the micro-kernel (MR rows at a time); only a partial
//     last row panel is copied (zero-padded), or all of X when its row stride is a
//     multiple of 4 KiB (then MR-row packed panels `xp[k * MR + r]`).
//   * W is packed per task into NR-column micro-panels (`wp[k * NR + j]`) by a
//     caller-supplied closure (plain transpose for Y = X·Wᵀ, row copy for Y = X·B,
//     block decode for packed MX weights), zero-padded to NR columns.
//   * A micro-kernel keeps an MR × NR tile of Y in registers, streams the W
//     micro-panel (L2) against one X micro-panel (L1).
//
// Determinism: K is cut into blocks that depend on K only. Each Y element is
// (((0 + Σ_{k∈block 0}) ) + Σ_{k∈block 1}) + …, every partial sum taken in increasing
// k by the build's multiply-add (MulAdd.swift), whatever the thread count, task split or tile position.

/// One register-tile configuration (micro-kernel and its shape).
@usableFromInline
struct TileConfig: @unchecked Sendable {
    @usableFromInline let mr: Int
    @usableFromInline let nr: Int
    /// Columns of W kept in the per-thread packed block (sized for L2).
    @usableFromInline let blockCols: Int
    @usableFromInline let name: String
    @usableFromInline let kernel: (Int, UnsafePointer<Float>, Int, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Bool) -> Void

    /// 8×48, SIMD16 accumulators (AVX-512: 32 vector registers of 16 lanes).
    static func wide<P: MulAdd>(_: P.Type) -> TileConfig {
        TileConfig(mr: 8, nr: 48, blockCols: 384, name: "8x48 (SIMD16, AVX-512, \(P.name))",
                   kernel: { microKernel8x48(P.self, $0, $1, $2, $3, $4, $5, $6, $7) })
    }
    /// 6×16, SIMD8 accumulators (AVX2: 16 registers of 8 lanes).
    static func mid<P: MulAdd>(_: P.Type) -> TileConfig {
        TileConfig(mr: 6, nr: 16, blockCols: 128, name: "6x16 (SIMD8, AVX2, \(P.name))",
                   kernel: { microKernel6x16(P.self, $0, $1, $2, $3, $4, $5, $6, $7) })
    }
    /// 6×8, SIMD4 accumulators (baseline SSE2 / NEON: 16 registers of 4 lanes).
    static func narrow<P: MulAdd>(_: P.Type) -> TileConfig {
        TileConfig(mr: 6, nr: 8, blockCols: 128, name: "6x8 (SIMD4, portable, \(P.name))",
                   kernel: { microKernel6x8(P.self, $0, $1, $2, $3, $4, $5, $6, $7) })
    }

    /// 6×8 in scalar code with multiply-then-add: bitwise the same results as
    /// `narrow(SplitMA.self)`; the tile of debug builds (see `microKernel6x8Scalar`).
    static let scalar = TileConfig(mr: 6, nr: 8, blockCols: 128, name: "6x8 (scalar, debug, mul+add)",
                                   kernel: microKernel6x8Scalar)

    static let avx512 = wide(BuildMA.self)
    static let avx2 = mid(BuildMA.self)
    static let portable = narrow(BuildMA.self)

    /// The tile for this build and machine. Native builds (`-DMXQ_NATIVE_FMA`, compiled for
    /// the CPU at hand): 8×48 when the CPU reports AVX-512F, else 6×16. Other builds
    /// (portable): 6×8, whose SIMD4 vectors are native on every 64-bit target. Debug builds
    /// (`swift build`/`swift test` without -c release, no FMA): the scalar 6×8, same bits as
    /// the SIMD 6×8, because unoptimized generic SIMD code is far slower than scalar code.
    /// `MXQ_TILE=8x48|6x16|6x8|scalar` overrides (the result is bitwise the same within a
    /// multiply-add policy; only speed differs).
    @usableFromInline
    static let current: TileConfig = {
        if let s = ProcessInfo.processInfo.environment["MXQ_TILE"] {
            if s == "8x48" { return .avx512 }
            if s == "6x16" { return .avx2 }
            if s == "6x8" { return .portable }
            if s == "scalar" && BuildMA.self == SplitMA.self { return .scalar }
        }
        #if MXQ_NATIVE_FMA
        return CPUInfo.flags.contains("avx512f") ? .avx512 : .avx2
        #elseif DEBUG
        return .scalar
        #else
        return .portable
        #endif
    }()
}

/// CPU model and feature flags read from /proc/cpuinfo (empty elsewhere).
public enum CPUInfo {
    public static let model: String = {
        for line in cpuinfoLines where line.hasPrefix("model name") {
            if let c = line.firstIndex(of: ":") { return line[line.index(after: c)...].trimmingCharacters(in: .whitespaces) }
        }
        return "unknown"
    }()
    public static let flags: Set<String> = {
        for line in cpuinfoLines where line.hasPrefix("flags") {
            if let c = line.firstIndex(of: ":") { return Set(line[line.index(after: c)...].split(separator: " ").map(String.init)) }
        }
        return []
    }()
    private static let cpuinfoLines: [String] = {
        guard let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        var out: [String] = []
        for line in s.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }   // first processor only
            out.append(String(line))
        }
        return out
    }()
    /// The micro-kernel tile in use, e.g. "8x48 (SIMD16, AVX-512)".
    public static var gemmTile: String { TileConfig.current.name }
    /// "fma" when built with `-DMXQ_NATIVE_FMA` (Makefile native build), else "mul+add".
    public static var multiplyAdd: String { BuildMA.name }
}

/// K blocks `(k0, kc)`: at most 640 long, near-equal, a function of `k` only.
@usableFromInline
func gemmKBlocks(_ k: Int) -> [(k0: Int, kc: Int)] {
    let nb = max(1, (k + 639) / 640)
    var out: [(k0: Int, kc: Int)] = []
    var k0 = 0
    for b in 0..<nb {
        let k1 = k * (b + 1) / nb
        out.append((k0, k1 - k0))
        k0 = k1
    }
    return out
}

/// Packs one NR-column micro-panel: `dst[k * nr + j]` = W element (column `j0 + j`,
/// reduction index `k0 + k`) for `j < jn`, zero for `jn ≤ j < nr`.
@usableFromInline
typealias PackWPanel = (_ dst: UnsafeMutablePointer<Float>, _ j0: Int, _ jn: Int, _ k0: Int, _ kc: Int, _ nr: Int) -> Void

/// Y[M,N] = X[M,K] · (packed W)[K,N] with the packing supplied by `packW`. Overwrites Y.
///
/// `upper` (a symmetric product such as XᵀX, M = N): only the register tiles that reach the
/// diagonal or lie above it are computed — every Y[i, j] with j ≥ i, plus the parts of those
/// tiles below the diagonal; tiles wholly below it are not written. Each element computed is
/// bitwise the full product's (same K blocks, same order), and W is still packed once per task.
///
/// `xTransposed`: X is given as its transpose, element (i, k) at `x[k * ldx + i]` (e.g. XᵀX from a
/// row-major X); X is then packed into MR-row panels from contiguous runs of MR values — no
/// separate transpose — and the products are bitwise those of the transposed copy.
@usableFromInline
func packedGemm(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int,
                y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int,
                tile: TileConfig = TileConfig.current, upper: Bool = false, xTransposed: Bool = false,
                packW: PackWPanel) {
    precondition(!upper || m == n, "packedGemm: the upper-triangle mode needs M = N")
    if m <= 0 || n <= 0 { return }
    if k <= 0 {
        for i in 0..<m { (y + i * ldy).update(repeating: 0, count: n) }
        return
    }
    let MR = tile.mr, NR = tile.nr
    let T = max(1, threads)
    let kb = gemmKBlocks(k)
    let kcMax = kb.map(\.kc).max()!
    let mPanels = (m + MR - 1) / MR, mPad = mPanels * MR
    let nPanels = (n + NR - 1) / NR

    // 1. X: read in place by the micro-kernel (rs = ldx, ks = 1), except a last partial
    //    row panel (copied, zero-padded) and leading dimensions that are multiples of
    //    4 KiB (8 rows in one L1 set): then all of X is packed into MR-row panels.
    let packX = xTransposed || (ldx * 4) % 4096 == 0
    let xRows = packX ? mPad : MR
    let xbuf = Scratch.take(bytes: xRows * k * 4)
    defer { Scratch.give(xbuf) }
    let xp = xbuf.0.bindMemory(to: Float.self, capacity: xRows * k)
    if packX {
        Parallel.forRanges(mPanels, threads: T, minChunk: 4) { range in
            for p in range {
                for (k0, kc) in kb {
                    let dst = xp + k0 * mPad + p * MR * kc
                    if xTransposed {
                        let i0 = p * MR, rv = min(MR, m - i0)
                        for kk in 0..<kc {
                            let src = x + (k0 + kk) * ldx + i0, d = dst + kk * MR
                            d.update(from: src, count: rv)
                            if rv < MR { (d + rv).update(repeating: 0, count: MR - rv) }
                        }
                        continue
                    }
                    for r in 0..<MR {
                        let i = p * MR + r
                        if i < m {
                            let src = x + i * ldx + k0
                            for kk in 0..<kc { dst[kk * MR + r] = src[kk] }
                        } else {
                            for kk in 0..<kc { dst[kk * MR + r] = 0 }
                        }
                    }
                }
            }
        }
    } else if m % MR != 0 {
        let i0 = (mPanels - 1) * MR
        for r in 0..<MR {
            if i0 + r < m { (xp + r * k).update(from: x + (i0 + r) * ldx, count: k) }
            else { (xp + r * k).update(repeating: 0, count: k) }
        }
    }

    // 2. Tasks: blocks of W columns (× chunks of rows when N is too small to split).
    let panelsPerBlockMax = max(1, tile.blockCols / NR)
    let plan = PanelTaskPlan(nPanels: nPanels, mPanels: mPanels, panelsPerBlockMax: panelsPerBlockMax, threads: T)
    let pPerBlock = plan.pPerBlock, mChunks = plan.mChunks, mpPerChunk = plan.mpPerChunk
    let tasks = plan.tasks, workers = plan.workers
    let counter = WorkQueue(count: tasks)
    let kernel = tile.kernel
    let xpAddr = Int(bitPattern: xp)

    Parallel.forEach(workers, threads: workers) { t in
                let xp = UnsafePointer<Float>(bitPattern: xpAddr)!
        let wb = Scratch.take(bytes: (pPerBlock * NR * kcMax + MR * NR) * 4)
        defer { Scratch.give(wb) }
        let wbuf = wb.0.bindMemory(to: Float.self, capacity: pPerBlock * NR * kcMax + MR * NR)
        let tmp = wbuf + pPerBlock * NR * kcMax
        while let claimed = counter.next() {
            // upper: later column blocks reach more rows, so they are claimed first (balance)
            let task = upper ? tasks - 1 - claimed : claimed
            let nb = task / mChunks, mc = task % mChunks
            let p0 = nb * pPerBlock, p1 = min(nPanels, p0 + pPerBlock)
            let mp0 = mc * mpPerChunk
            // upper: row panels that start left of the block's last column
            let mpEnd = upper ? min(mPanels, (p1 * NR + MR - 1) / MR) : mPanels
            let mp1 = min(mpEnd, mp0 + mpPerChunk)
            if mp0 >= mp1 { continue }
            for (bi, (k0, kc)) in kb.enumerated() {
                for p in p0..<p1 {
                    let j0 = p * NR
                    packW(wbuf + (p - p0) * NR * kc, j0, min(NR, n - j0), k0, kc, NR)
                }
                let acc = bi > 0
                for mp in mp0..<mp1 {
                    let i0 = mp * MR, mv = min(MR, m - i0)
                    let xpan: UnsafePointer<Float>, rs: Int, ks: Int
                    if packX { xpan = xp + k0 * mPad + mp * MR * kc; rs = 1; ks = MR }
                    else if mv < MR { xpan = xp + k0; rs = k; ks = 1 }
                    else { xpan = x + i0 * ldx + k0; rs = ldx; ks = 1 }
                    // upper: skip panels wholly left of this row panel's first row
                    let pFirst = upper ? max(p0, i0 / NR) : p0
                    for p in pFirst..<max(pFirst, p1) {
                        let j0 = p * NR, nv = min(NR, n - j0)
                        let wpan = UnsafePointer(wbuf + (p - p0) * NR * kc)
                        if mv == MR && nv == NR {
                            kernel(kc, xpan, rs, ks, wpan, y + i0 * ldy + j0, ldy, acc)
                        } else {
                            kernel(kc, xpan, rs, ks, wpan, tmp, NR, false)
                            for r in 0..<mv {
                                let yr = y + (i0 + r) * ldy + j0, tr = tmp + r * NR
                                if acc { for c in 0..<nv { yr[c] = yr[c] + tr[c] } } else { for c in 0..<nv { yr[c] = tr[c] } }
                            }
                        }
                    }
                }
            }
        }
    }
}

// MARK: - fp32 GEMV (M = 1…8), Y = X · Wᵀ reading W rows directly

@inline(__always) @usableFromInline
func hsum16(_ v: SIMD16<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// Dot products of `xr` rows (1 or 2) with 4 W rows, k in 0..<kLen; 16-lane partial
/// sums in increasing k, tree-reduced, then the tail k ≥ 16⌊K/16⌋ added in order.
@inline(__always) @usableFromInline
func gemvTile(rows: Int, k: Int, x0: UnsafePointer<Float>, x1: UnsafePointer<Float>,
              w0: UnsafePointer<Float>, w1: UnsafePointer<Float>, w2: UnsafePointer<Float>, w3: UnsafePointer<Float>,
              y0: UnsafeMutablePointer<Float>, y1: UnsafeMutablePointer<Float>, wn: Int) {
    typealias V = SIMD16<Float>
    let kv = k & ~15
    let rx0 = UnsafeRawPointer(x0), rx1 = UnsafeRawPointer(x1)
    let r0 = UnsafeRawPointer(w0), r1 = UnsafeRawPointer(w1), r2 = UnsafeRawPointer(w2), r3 = UnsafeRawPointer(w3)
    var a0 = V(), a1 = V(), a2 = V(), a3 = V()
    var b0 = V(), b1 = V(), b2 = V(), b3 = V()
    var o = 0
    if rows == 2 {
        while o < kv * 4 {
            let xa = rx0.loadUnaligned(fromByteOffset: o, as: V.self)
            let xb = rx1.loadUnaligned(fromByteOffset: o, as: V.self)
            let v0 = r0.loadUnaligned(fromByteOffset: o, as: V.self)
            let v1 = r1.loadUnaligned(fromByteOffset: o, as: V.self)
            let v2 = r2.loadUnaligned(fromByteOffset: o, as: V.self)
            let v3 = r3.loadUnaligned(fromByteOffset: o, as: V.self)
            madd(&a0, xa, v0); madd(&a1, xa, v1); madd(&a2, xa, v2); madd(&a3, xa, v3)
            madd(&b0, xb, v0); madd(&b1, xb, v1); madd(&b2, xb, v2); madd(&b3, xb, v3)
            o += 64
        }
    } else {
        while o < kv * 4 {
            let xa = rx0.loadUnaligned(fromByteOffset: o, as: V.self)
            madd(&a0, xa, r0.loadUnaligned(fromByteOffset: o, as: V.self))
            madd(&a1, xa, r1.loadUnaligned(fromByteOffset: o, as: V.self))
            madd(&a2, xa, r2.loadUnaligned(fromByteOffset: o, as: V.self))
            madd(&a3, xa, r3.loadUnaligned(fromByteOffset: o, as: V.self))
            o += 64
        }
    }
    var s0 = hsum16(a0), s1 = hsum16(a1), s2 = hsum16(a2), s3 = hsum16(a3)
    for kk in kv..<k {
        let xv = x0[kk]
        s0 = madd(s0, xv, w0[kk]); s1 = madd(s1, xv, w1[kk])
        s2 = madd(s2, xv, w2[kk]); s3 = madd(s3, xv, w3[kk])
    }
    y0[0] = s0
    if wn > 1 { y0[1] = s1 }
    if wn > 2 { y0[2] = s2 }
    if wn > 3 { y0[3] = s3 }
    if rows == 2 {
        var t0 = hsum16(b0), t1 = hsum16(b1), t2 = hsum16(b2), t3 = hsum16(b3)
        for kk in kv..<k {
            let xv = x1[kk]
            t0 = madd(t0, xv, w0[kk]); t1 = madd(t1, xv, w1[kk])
            t2 = madd(t2, xv, w2[kk]); t3 = madd(t3, xv, w3[kk])
        }
        y1[0] = t0
        if wn > 1 { y1[1] = t1 }
        if wn > 2 { y1[2] = t2 }
        if wn > 3 { y1[3] = t3 }
    }
}

/// Y[M,N] = X[M,K]·W[N,K]ᵀ for small M: W rows read once (per group of 4) from memory.
@usableFromInline
func gemvNT(m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>, ldw: Int,
            y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int) {
    let groups = (n + 3) / 4
    // Chunks of 64 groups, handed out dynamically (concurrentPerform).
    let chunk = 64, chunks = (groups + chunk - 1) / chunk
    Parallel.forEach(chunks, threads: threads) { c in
        for g in (c * chunk)..<min(groups, (c + 1) * chunk) {
            let j0 = g * 4
            gemvGroup(m: m, k: k, x: x, ldx: ldx, w: w + j0 * ldw, ldw: ldw, wn: min(4, n - j0), y: y + j0, ldy: ldy)
        }
    }
}

/// Y[0..<M, 0..<wn] = X[M,K] · Wᵀ for one group of `wn` ≤ 4 W rows (`w`, row stride `ldw`; Y's
/// first column at `y`): X rows in pairs through `gemvTile`. Rows past `wn` alias the last valid
/// row; their results are not stored.
@inline(__always) @usableFromInline
func gemvGroup(m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>, ldw: Int, wn: Int,
               y: UnsafeMutablePointer<Float>, ldy: Int) {
    let w0 = w
    let w1 = w + min(1, wn - 1) * ldw
    let w2 = w + min(2, wn - 1) * ldw
    let w3 = w + min(3, wn - 1) * ldw
    var i = 0
    while i < m {
        let rows = min(2, m - i)
        gemvTile(rows: rows, k: k, x0: x + i * ldx, x1: x + (i + rows - 1) * ldx,
                 w0: w0, w1: w1, w2: w2, w3: w3,
                 y0: y + i * ldy, y1: y + (i + rows - 1) * ldy, wn: wn)
        i += rows
    }
}
